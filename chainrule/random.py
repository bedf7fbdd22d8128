"""``torch.random``: the global generator's seed and state (see ``chainrule.Generator``)."""

from __future__ import annotations

from ._creation import default_generator, initial_seed, manual_seed, seed


def get_rng_state():
    """The global generator's state (pass it to ``set_rng_state`` to replay draws)."""
    return default_generator.get_state()


def set_rng_state(new_state) -> None:
    default_generator.set_state(new_state)


__all__ = ["manual_seed", "seed", "initial_seed", "get_rng_state", "set_rng_state",
           "default_generator"]
