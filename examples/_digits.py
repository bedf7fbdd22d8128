"""Shared parts of the digits examples: data, a text progress bar, the training loop.

Every function takes the library module as its ``torch`` argument, so the same code
runs on chainrule (``import chainrule as torch``) and on PyTorch (``--lib torch``).
"""

from __future__ import annotations

import argparse
import functools
import importlib
import os
import sys
import tempfile
import time

import numpy as np

N_TEST = 360  # of the 1797 images; the split is fixed, seeds vary init and shuffling


def load_digits_tensors(torch, image_shape):
    """``(x_train, y_train, x_test, y_test)``: scikit-learn's 8x8 digits scaled to
    [0, 1], reshaped to ``image_shape`` per sample, split by a fixed permutation."""
    images, y = _digits_arrays()
    x = (images.astype(np.float32) / 16.0).reshape((-1,) + tuple(image_shape))
    order = np.random.default_rng(0).permutation(len(y))
    test, train = order[:N_TEST], order[N_TEST:]
    return (torch.tensor(x[train]), torch.tensor(y[train]),
            torch.tensor(x[test]), torch.tensor(y[test]))


@functools.lru_cache(maxsize=1)
def _digits_arrays():
    from sklearn.datasets import load_digits
    digits = load_digits()
    return digits.images, digits.target.astype(np.int64)


class ProgressBar:
    """``epoch  3/20 [##########----------] 23/45  loss 0.1234  acc 0.9652``, redrawn
    in place on a terminal; on a pipe only the finished line is printed."""

    def __init__(self, total: int, prefix: str, width: int = 24, stream=None,
                 quiet: bool = False) -> None:
        self.total, self.prefix, self.width = total, prefix, width
        self.stream = stream or sys.stdout
        self.live = not quiet and self.stream.isatty()
        self.quiet = quiet
        self.start = time.perf_counter()

    def _line(self, done: int, metrics: dict) -> str:
        filled = self.width * done // max(self.total, 1)
        bar = "#" * filled + "-" * (self.width - filled)
        stats = "  ".join(f"{k} {v:.4f}" for k, v in metrics.items())
        return f"{self.prefix} [{bar}] {done}/{self.total}  {stats}"

    def update(self, done: int, **metrics) -> None:
        if self.live:
            self.stream.write("\r" + self._line(done, metrics))
            self.stream.flush()

    def close(self, **metrics) -> None:
        if self.quiet:
            return
        line = self._line(self.total, metrics)
        line += f"  {time.perf_counter() - self.start:.2f}s"
        self.stream.write(("\r" if self.live else "") + line + "\n")
        self.stream.flush()


def train_epoch(torch, model, loader, optimizer, loss_fn, bar=None):
    """One pass over ``loader``; returns (mean loss, accuracy) over the epoch."""
    model.train()
    total_loss, correct, seen = 0.0, 0, 0
    for i, (xb, yb) in enumerate(loader, 1):
        optimizer.zero_grad()
        logits = model(xb)
        loss = loss_fn(logits, yb)
        loss.backward()
        optimizer.step()
        n = yb.shape[0]
        total_loss += loss.item() * n
        correct += (logits.argmax(dim=1) == yb).sum().item()
        seen += n
        if bar is not None:
            bar.update(i, loss=total_loss / seen, acc=correct / seen)
    return total_loss / seen, correct / seen


def accuracy(torch, model, x, y) -> float:
    model.eval()
    with torch.no_grad():
        return (model(x).argmax(dim=1) == y).float().mean().item()


def parse_args(argv, description, epochs, lr):
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--epochs", type=int, default=epochs)
    parser.add_argument("--lr", type=float, default=lr)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--checkpoint", help="where to save the model (default: a "
                        "temporary directory)")
    parser.add_argument("--lib", default="chainrule", choices=["chainrule", "torch"],
                        help="run on chainrule (default) or on PyTorch")
    parser.add_argument("--quiet", action="store_true", help="no progress output")
    parser.add_argument("--compile", action="store_true",
                        help="compile the model (model.compile(), as torch.compile)")
    return parser.parse_args(argv)


def run(make_model, image_shape, args) -> float:
    """Train, save the model, load it into a fresh one, and return its test accuracy."""
    torch = importlib.import_module(args.lib)
    nn = torch.nn
    torch.manual_seed(args.seed)
    x_train, y_train, x_test, y_test = load_digits_tensors(torch, image_shape)
    data = torch.utils.data
    loader = data.DataLoader(data.TensorDataset(x_train, y_train),
                             batch_size=args.batch_size, shuffle=True,
                             generator=torch.Generator().manual_seed(args.seed))
    model = make_model(nn)
    if args.compile:
        model.compile()  # in place: the state_dict keys stay the model's
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs)
    loss_fn = nn.CrossEntropyLoss()
    say = (lambda *a: None) if args.quiet else print
    say(f"{args.lib}: {sum(p.numel() for p in model.parameters())} parameters, "
        f"{len(x_train)} training / {len(x_test)} test images")
    for epoch in range(1, args.epochs + 1):
        bar = ProgressBar(len(loader), f"epoch {epoch:>3}/{args.epochs}", quiet=args.quiet)
        loss, acc = train_epoch(torch, model, loader, optimizer, loss_fn, bar)
        scheduler.step()
        bar.close(loss=loss, acc=acc)

    with tempfile.TemporaryDirectory() as tmp:
        path = args.checkpoint or os.path.join(tmp, "digits.pt")
        torch.save({"model": model.state_dict(), "epochs": args.epochs}, path)
        restored = make_model(nn)
        restored.load_state_dict(torch.load(path)["model"])
    test_acc = accuracy(torch, restored, x_test, y_test)
    say(f"test accuracy (model reloaded from the checkpoint): {test_acc:.4f}")
    return test_acc
