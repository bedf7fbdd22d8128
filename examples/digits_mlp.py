"""Train a small MLP on scikit-learn's handwritten digits with chainrule.

    pip install -e ".[examples]"                  # scikit-learn (the digits data)
    python examples/digits_mlp.py                 # 20 epochs, about a second
    python examples/digits_mlp.py --lib torch     # the same script on PyTorch

An ordinary PyTorch training loop (``DataLoader``, ``nn.Sequential``, ``Adam``,
``CrossEntropyLoss``, a cosine learning-rate schedule), a text progress bar with the
loss and accuracy of each epoch, then the model goes through ``chainrule.save`` /
``chainrule.load`` into a fresh model whose test accuracy is printed (about 0.98).

Note: ``manual_seed`` makes a chainrule run repeatable, but it does not reproduce
PyTorch's random streams: the same seed gives different initial weights and a different
shuffling order than PyTorch, so the numbers of the two libraries differ run by run.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _digits import parse_args, run


def make_model(nn):
    """64 pixels -> 128 -> 10 classes."""
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(64, 128),
        nn.ReLU(),
        nn.Linear(128, 10),
    )


def main(argv=None) -> float:
    args = parse_args(argv, "Digits MLP", epochs=20, lr=3e-3)
    return run(make_model, (8, 8), args)


if __name__ == "__main__":
    main()
