"""Per-sample gradients and model ensembles with ``vmap``, the two ``torch.func`` recipes.

1. Differentially-private-style SGD: every example's gradient is clipped to norm ``C``
   before the batch is averaged, so each step needs the gradient of EACH example, not of
   the batch mean.  ``vmap(grad(loss), in_dims=(None, 0, 0))`` computes all of them in
   one batched pass; the script checks them against a Python loop of ``grad``.
2. An ensemble of five small models trained at once: their parameters stacked with
   ``func.stack_module_state``, one ``vmap`` over the stack, a base model on the
   ``meta`` device (no memory) for ``functional_call``.

The data: two interleaved half-moons (NumPy), no download.

    python examples/per_sample_gradients.py
    python examples/per_sample_gradients.py --lib torch     # the same script on PyTorch
"""

import argparse
import copy
import importlib

import numpy as np


def moons(n, seed):
    """Two interleaved half circles with noise: (x: (n, 2) float32, y: (n,) int64)."""
    rng = np.random.default_rng(seed)
    t = rng.uniform(0, np.pi, n)
    label = rng.integers(0, 2, n)
    x = np.stack([np.cos(t) + label * 1.0, np.sin(t) * (1 - 2 * label) + label * 0.5], 1)
    x += rng.normal(0, 0.15, x.shape)
    return x.astype(np.float32), label.astype(np.int64)


def make_model(torch):
    nn = torch.nn
    return nn.Sequential(nn.Linear(2, 32), nn.Tanh(), nn.Linear(32, 2))


def private_sgd(torch, steps=300, batch=64, clip=1.0, lr=0.5, log=print):
    """Part 1: SGD on per-sample gradients clipped to norm ``clip``.  Returns the final
    accuracy and the largest difference between vmap's per-sample gradients and a loop."""
    from_func = torch.func
    x_all, y_all = moons(1024, 0)
    x_all, y_all = torch.tensor(x_all), torch.tensor(y_all)
    model = make_model(torch)
    params = {k: v.detach() for k, v in model.named_parameters()}

    def loss(p, xb, yb):  # ONE example's loss
        out = from_func.functional_call(model, p, (xb[None],))
        return torch.nn.functional.cross_entropy(out, yb[None])
    per_sample = from_func.vmap(from_func.grad(loss), in_dims=(None, 0, 0))
    rng = np.random.default_rng(1)
    worst = 0.0
    for step in range(steps):
        idx = torch.tensor(rng.choice(len(y_all), batch, replace=False))
        xb, yb = x_all[idx], y_all[idx]
        grads = per_sample(params, xb, yb)  # {name: (batch, *shape)}
        if step == 0:  # the batched pass equals one grad per example
            for i in range(4):
                one = from_func.grad(loss)(params, xb[i], yb[i])
                worst = max(worst, max(float((grads[k][i] - one[k]).abs().max())
                                       for k in one))
        norms = torch.stack([g.flatten(1).norm(dim=1) for g in grads.values()]).norm(dim=0)
        scale = (clip / (norms + 1e-6)).clamp(max=1.0)  # each example's clipping factor
        with torch.no_grad():
            params = {k: p - lr * (grads[k] * scale.view(-1, *[1] * p.dim())).mean(0)
                      for k, p in params.items()}
        if step % 100 == 99:
            log(f"  step {step + 1}  mean clipped norm {float((norms * scale).mean()):.3f}")
    with torch.no_grad():
        pred = from_func.functional_call(model, params, (x_all,)).argmax(1)
    acc = float((pred == y_all).float().mean())
    log(f"  accuracy {acc:.3f} (per-sample grads vs a loop: max |diff| {worst:.1e})")
    return acc, worst


def ensemble(torch, members=5, steps=300, lr=0.5, log=print):
    """Part 2: ``members`` models trained at once with one vmap.  Returns each member's
    accuracy."""
    func = torch.func
    x_all, y_all = moons(1024, 2)
    x_all, y_all = torch.tensor(x_all), torch.tensor(y_all)
    models = [make_model(torch) for _ in range(members)]
    params, buffers = func.stack_module_state(models)  # {name: (members, *shape)}
    base = copy.deepcopy(models[0]).to("meta")  # shapes only: functional_call fills it

    def member_loss(p, b, x, y):
        return torch.nn.functional.cross_entropy(func.functional_call(base, (p, b), (x,)), y)
    grads_of = func.vmap(func.grad(member_loss), in_dims=(0, 0, None, None))
    for _ in range(steps):
        grads = grads_of(params, buffers, x_all, y_all)
        with torch.no_grad():
            params = {k: p - lr * grads[k] for k, p in params.items()}
    logits = func.vmap(lambda p, b: func.functional_call(base, (p, b), (x_all,)))(
        params, buffers)  # (members, n, 2)
    accs = (logits.argmax(-1) == y_all).float().mean(1)
    log("  member accuracies " + " ".join(f"{float(a):.3f}" for a in accs))
    return [float(a) for a in accs]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lib", default="chainrule", choices=["chainrule", "torch"])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    torch = importlib.import_module(args.lib)
    torch.manual_seed(args.seed)
    log = (lambda *a: None) if args.quiet else print
    log(f"{args.lib}: private SGD with per-sample gradients (vmap(grad))")
    acc, worst = private_sgd(torch, steps=args.steps, log=log)
    log(f"{args.lib}: an ensemble of 5 models trained with one vmap")
    accs = ensemble(torch, steps=args.steps, log=log)
    return acc, worst, accs


if __name__ == "__main__":
    main()
