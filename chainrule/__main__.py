"""``python -m chainrule demo``: the founding example, step by step;
``chainrule jacobian EXPR --at x=1 ...``: a Jacobian at a point (``_cli/jacobian.py``).

y = f(x) with f(x1, x2) = (2 x1 + x2², x1² + 2 x2³) at x = (1, 2).  ``y.backward(v)``
adds vᵀJ into ``x.grad``; ``x.grad.zero_()`` resets it; ``retain_graph=True`` keeps the
graph for the next pass.
"""

from __future__ import annotations

import argparse
import sys


def _jacobian_rows(y, x):
    """J computed by backward with each unit vector eᵢ (row i of J = eᵢᵀJ)."""
    import chainrule as torch
    rows = []
    for i in range(y.shape[1]):
        e = torch.zeros(1, y.shape[1])
        e[0, i] = 1
        (g,) = torch.autograd.grad(y, x, grad_outputs=e, retain_graph=True)
        rows.append(g[0].tolist())
    return rows


def demo(out=None) -> None:
    import chainrule as torch
    out = sys.stdout if out is None else out  # looked up now, so redirection works

    def say(*parts):
        print(*parts, file=out)

    say("chainrule demo: the founding example of torch.autograd.backward\n")
    say(">>> x = torch.tensor([[1, 2]], requires_grad=True)")
    x = torch.tensor([[1, 2]], requires_grad=True)
    say(">>> y = torch.zeros(1, 2)")
    y = torch.zeros(1, 2)
    say(">>> y[0, 0] = 2 * x[0, 0] + x[0, 1] ** 2")
    y[0, 0] = 2 * x[0, 0] + x[0, 1] ** 2
    say(">>> y[0, 1] = x[0, 0] ** 2 + 2 * x[0, 1] ** 3")
    y[0, 1] = x[0, 0] ** 2 + 2 * x[0, 1] ** 3
    say(">>> print(x, y)")
    say(x, y)

    J = _jacobian_rows(y, x)
    say("\nThe Jacobian J[i][j] = dy_i/dx_j, computed by backward with each unit vector:")
    say("  J = [[2, 2*x2], [2*x1, 6*x2**2]] at x = (1, 2):")
    for row in J:
        say("     ", [round(v, 6) for v in row])

    say("\ny.backward(v) adds the vector-Jacobian product v^T J into x.grad:")
    for k, v in enumerate(([[1, 0]], [[0, 1]], [[1, 2]], [[2, 1]])):
        if k:
            say(">>> x.grad.zero_()")
            x.grad.zero_()
        say(f">>> y.backward(torch.tensor({v}), retain_graph=True)")
        y.backward(torch.tensor(v), retain_graph=True)
        k1, k2 = v[0]
        vtj = [k1 * J[0][j] + k2 * J[1][j] for j in range(2)]
        say(f"    x.grad = {x.grad}    v^T J = {k1}*{J[0]} + {k2}*{J[1]} = {vtj}")

    say("\nWithout zero_(), gradients accumulate: another backward with v = (2, 1)")
    y.backward(torch.tensor([[2, 1]]), retain_graph=True)
    say(f"    x.grad = {x.grad}    (= [6, 32] + [6, 32])")
    say("\nNote: chainrule lets the integer leaf x require grad (PyTorch 2.x refuses);")
    say("its .grad is floating, so the numbers above are exact.")


class _Parser(argparse.ArgumentParser):
    """argparse, with its error line cut to a bounded length (it echoes arguments)."""

    def error(self, message):
        from ._cli.expr import MESSAGE, _printable
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {_printable(message, MESSAGE)}\n")


def main(argv=None) -> int:
    parser = _Parser(prog="chainrule", description="chainrule command line")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("demo", help="walk through the founding backward(v) example")
    from ._cli import jacobian
    jacobian.add_parser(sub)
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["jacobian"]:
        argv = argv[:1] + jacobian.normalize_argv(argv[1:])
    args = parser.parse_args(argv)
    if args.command == "demo":
        demo()
        return 0
    if args.command == "jacobian":
        return jacobian.run(args)
    parser.print_help()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
