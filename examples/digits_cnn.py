"""Train a small convolutional network on scikit-learn's handwritten digits.

    pip install -e ".[examples]"                  # scikit-learn (the digits data)
    python examples/digits_cnn.py                 # 15 epochs
    python examples/digits_cnn.py --lib torch     # the same script on PyTorch

Two 3x3 convolutions with max-pooling, then a linear classifier, trained with Adam and
``CrossEntropyLoss``; a text progress bar shows the loss and accuracy of each epoch, and
the model goes through ``chainrule.save`` / ``chainrule.load`` into a fresh model whose
test accuracy is printed (about 0.98-0.99).

Note: ``manual_seed`` makes a chainrule run repeatable, but it does not reproduce
PyTorch's random streams: the same seed gives different initial weights and a different
shuffling order than PyTorch, so the numbers of the two libraries differ run by run.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _digits import parse_args, run


def make_model(nn):
    """(N, 1, 8, 8) -> conv 16 -> pool -> conv 32 -> pool -> 10 classes."""
    return nn.Sequential(
        nn.Conv2d(1, 16, kernel_size=3, padding=1),  # 16 x 8 x 8
        nn.ReLU(),
        nn.MaxPool2d(2),                             # 16 x 4 x 4
        nn.Conv2d(16, 32, kernel_size=3, padding=1),  # 32 x 4 x 4
        nn.ReLU(),
        nn.MaxPool2d(2),                             # 32 x 2 x 2
        nn.Flatten(),
        nn.Linear(32 * 2 * 2, 10),
    )


def main(argv=None) -> float:
    args = parse_args(argv, "Digits CNN", epochs=15, lr=3e-3)
    return run(make_model, (1, 8, 8), args)


if __name__ == "__main__":
    main()
