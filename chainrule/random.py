"""``torch.random``: the global generator's seed and state (see ``chainrule.Generator``)."""

from __future__ import annotations

from ._creation import default_generator, initial_seed, manual_seed, seed


def get_rng_state():
    """The global generator's state as a uint8 tensor, as PyTorch's (the bytes encode
    NumPy's generator state; pass it to ``set_rng_state`` to replay draws)."""
    import json

    import numpy as np

    from ._tensor import wrap
    raw = json.dumps(default_generator.get_state()).encode()
    return wrap(np.frombuffer(raw, dtype=np.uint8).copy())


def set_rng_state(new_state) -> None:
    import json

    import numpy as np

    from ._tensor import Tensor
    if not isinstance(new_state, Tensor):
        raise TypeError(f"set_rng_state(): argument 'new_state' must be Tensor, not "
                        f"{type(new_state).__name__}")
    if str(new_state.dtype) != "torch.uint8":
        raise TypeError("RNG state must be a torch.ByteTensor")
    try:
        state = json.loads(np.asarray(new_state._host(), np.uint8).tobytes().decode())
        default_generator.set_state(state)
    except (ValueError, TypeError, KeyError, UnicodeDecodeError):
        raise RuntimeError("set_rng_state: this is not a state from get_rng_state() (the "
                           "bytes do not decode to a generator state)") from None


__all__ = ["manual_seed", "seed", "initial_seed", "get_rng_state", "set_rng_state",
           "default_generator"]
