"""Cases of vmap's rows (``add_batch_dim``, ``remove_batch_dim``): a function mapped
with ``vmap``, the same code in PyTorch (torch.vmap)."""

from __future__ import annotations

from ._case import Case


def _mapped(lib, x, w):
    return lib.vmap(lambda row: (row * w).sin().sum(-1), in_dims=1, out_dims=0)(x)


def _nested(lib, x):
    return lib.vmap(lib.vmap(lambda v: v.exp() * v.sum()), in_dims=(2,), out_dims=1)(x)


CASES = [
    Case("add_batch_dim", lambda lib, x: lib.vmap(lambda r: r.tanh() * r[0])(x),
         shapes=[(3, 4)], name="rows"),
    Case("add_batch_dim", _mapped, shapes=[(2, 3, 4), (2, 4)], name="in_dim1_shared"),
    Case("remove_batch_dim", lambda lib, x: lib.vmap(lambda r: r.sum() * r, out_dims=1)(x),
         shapes=[(3, 4)], name="out_dim1"),
    Case("remove_batch_dim", _nested, shapes=[(2, 3, 4)], name="nested"),
    # func.grad inside vmap tracks the shared w per sample (per-sample gradients)
    Case("expand_batch", lambda lib, x, w: lib.vmap(lib.func.grad(
        lambda w_, r: (r @ w_).sin().sum()), in_dims=(None, 0))(w, x),
         shapes=[(5, 3), (3, 2)], name="per_sample_grad"),
    Case("expand_batch", lambda lib, x, w: lib.vmap(lib.func.grad(
        lambda w_, r: (r * w_).exp().sum()), in_dims=(None, 1))(w, x),
         shapes=[(2, 3, 4), (2, 4)], name="per_sample_grad_in_dim1"),
]
