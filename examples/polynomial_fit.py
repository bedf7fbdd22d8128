"""Fit sin(x) on [-π, π] with a cubic, the classic PyTorch warm-up, twice:

1. with raw tensors: four scalar weights that require grad, ``loss.backward()``, and a
   hand-written gradient step under ``no_grad``;
2. with ``nn.Linear`` on the features (x, x², x³), ``nn.MSELoss`` and ``optim.SGD``.

    python examples/polynomial_fit.py
    python examples/polynomial_fit.py --lib torch     # the same script on PyTorch

Note: ``manual_seed`` makes a chainrule run repeatable, but it does not reproduce
PyTorch's random streams, so the initial weights differ from PyTorch's.
"""

import argparse
import importlib
import math


def fit_raw(torch, steps=2000, lr=1e-6, log=print):
    """Part 1: raw tensors and a manual update.  Returns (first loss, last loss)."""
    x = torch.linspace(-math.pi, math.pi, 2000)
    y = torch.sin(x)
    a, b, c, d = (torch.randn((), requires_grad=True) for _ in range(4))
    losses = []
    for t in range(steps):
        y_pred = a + b * x + c * x ** 2 + d * x ** 3
        loss = (y_pred - y).pow(2).sum()
        losses.append(loss.item())
        if t % 500 == 499:
            log(f"  step {t + 1:>4}  loss {loss.item():10.3f}")
        loss.backward()
        with torch.no_grad():  # the update itself must not be recorded
            for w in (a, b, c, d):
                w -= lr * w.grad
                w.grad = None
    log(f"  y = {a.item():.4f} + {b.item():.4f} x + {c.item():.4f} x^2 + "
        f"{d.item():.4f} x^3")
    return losses[0], losses[-1]


def fit_nn(torch, steps=2000, lr=1e-6, log=print, compile=False):
    """Part 2: ``nn.Linear`` + ``optim.SGD`` (``compile``: the model compiled).
    Returns (first loss, last loss)."""
    nn = torch.nn
    x = torch.linspace(-math.pi, math.pi, 2000)
    y = torch.sin(x)
    xx = x.unsqueeze(-1).pow(torch.tensor([1, 2, 3]))  # (2000, 3): x, x², x³
    model = nn.Sequential(nn.Linear(3, 1), nn.Flatten(0, 1))
    if compile:
        model.compile()
    loss_fn = nn.MSELoss(reduction="sum")
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    losses = []
    for t in range(steps):
        loss = loss_fn(model(xx), y)
        losses.append(loss.item())
        if t % 500 == 499:
            log(f"  step {t + 1:>4}  loss {loss.item():10.3f}")
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    linear = model[0]
    w = linear.weight.detach().reshape(-1).tolist()
    log(f"  y = {linear.bias.item():.4f} + {w[0]:.4f} x + {w[1]:.4f} x^2 + "
        f"{w[2]:.4f} x^3")
    return losses[0], losses[-1]


def main(argv=None):
    parser = argparse.ArgumentParser(description="Fit sin(x) by a cubic polynomial")
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lib", default="chainrule", choices=["chainrule", "torch"])
    parser.add_argument("--quiet", action="store_true")
    parser.add_argument("--compile", action="store_true", help="compile the nn model")
    args = parser.parse_args(argv)
    torch = importlib.import_module(args.lib)
    torch.manual_seed(args.seed)
    log = (lambda *a: None) if args.quiet else print
    log("raw tensors, manual update under no_grad:")
    raw = fit_raw(torch, args.steps, log=log)
    log("nn.Linear + optim.SGD:")
    with_nn = fit_nn(torch, args.steps, log=log, compile=args.compile)
    return raw, with_nn


if __name__ == "__main__":
    main()
