"""Cases for ``chainrule/ops/nn_ops.py``: convolution and pooling through
``nn.functional`` (stride, padding incl. 'same'/'valid', dilation, groups, ceil_mode)."""

from __future__ import annotations

import numpy as np

from ._case import Case
from ._harness import NO_FD


def _conv(name, sx, sw, bias=True, **kw):
    if bias:
        fn = lambda lib, x, w, b: lib.nn.functional.conv2d(x, w, b, **kw)
        shapes = [sx, sw, (sw[0],)]
    else:
        fn = lambda lib, x, w: lib.nn.functional.conv2d(x, w, **kw)
        shapes = [sx, sw]
    return Case(op="convolution", fn=fn, shapes=shapes, name=name)


def _ties(rng):
    # integer values: windows hold equal maxima (the gradient goes to the first one)
    return [rng.integers(0, 3, size=(2, 2, 5, 6)).astype(np.float64)]


def _f(name, **kw):
    return lambda lib, x: getattr(lib.nn.functional, name)(x, **kw)


CASES = [
    # ---- convolution ---------------------------------------------------------------
    _conv("basic", (2, 3, 6, 5), (4, 3, 3, 2)),
    _conv("no_bias", (2, 3, 5, 5), (4, 3, 3, 3), bias=False),
    _conv("stride_padding", (2, 3, 7, 6), (4, 3, 3, 3), stride=2, padding=1),
    _conv("asymmetric_args", (1, 2, 7, 8), (3, 2, 3, 2), stride=(2, 1), padding=(1, 2)),
    _conv("dilation", (2, 2, 8, 7), (3, 2, 3, 2), dilation=2, padding=1),
    _conv("groups", (2, 4, 5, 5), (6, 2, 3, 3), groups=2),
    _conv("depthwise", (2, 3, 5, 6), (3, 1, 3, 3), groups=3, padding=1),
    _conv("same_even_kernel", (2, 3, 6, 5), (2, 3, 2, 4), padding="same"),
    _conv("same_dilated", (1, 2, 7, 7), (2, 2, 3, 3), padding="same", dilation=2),
    _conv("valid", (2, 3, 5, 5), (2, 3, 3, 3), padding="valid"),
    _conv("one_by_one", (2, 5, 4, 3), (3, 5, 1, 1)),
    _conv("kernel_is_input", (3, 2, 3, 4), (5, 2, 3, 4)),
    _conv("strided_dilated_groups", (2, 4, 9, 9), (4, 2, 3, 3), stride=2, dilation=2,
          groups=2, padding=2),
    Case(op="convolution", fn=lambda lib, x, w, b: lib.nn.functional.conv2d(x, w, b),
         shapes=[(3, 5, 5), (2, 3, 3, 3), (2,)], name="unbatched"),
    Case(op="convolution", fn=lambda lib, x, w, b: lib.nn.functional.conv1d(
        x, w, b, stride=2, padding=1), shapes=[(2, 3, 9), (4, 3, 3), (4,)], name="conv1d"),
    Case(op="convolution", fn=lambda lib, x, w: lib.nn.functional.conv1d(
        x, w, padding="same", dilation=2, groups=2), shapes=[(2, 4, 8), (2, 2, 2)],
        name="conv1d_same_groups"),
    Case(op="convolution", fn=lambda lib, x, w, b: lib.nn.functional.conv2d(x, w, b).relu()
         .sum(dim=(2, 3)), shapes=[(2, 3, 6, 6), (4, 3, 3, 3), (4,)], name="composed"),
    # ---- max pooling ---------------------------------------------------------------
    Case(op="max_pool2d", fn=_f("max_pool2d", kernel_size=2), shapes=[(2, 3, 6, 6)],
         name="k2"),
    Case(op="max_pool2d", fn=_f("max_pool2d", kernel_size=3, stride=2, padding=1),
         shapes=[(2, 2, 7, 6)], name="k3_s2_p1"),
    Case(op="max_pool2d", fn=_f("max_pool2d", kernel_size=(2, 3), stride=(1, 2)),
         shapes=[(1, 2, 5, 7)], name="rect"),
    Case(op="max_pool2d", fn=_f("max_pool2d", kernel_size=2, dilation=2),
         shapes=[(2, 2, 6, 7)], name="dilation"),
    Case(op="max_pool2d", fn=_f("max_pool2d", kernel_size=3, stride=2, ceil_mode=True),
         shapes=[(2, 2, 8, 7)], name="ceil_mode"),
    Case(op="max_pool2d", fn=_f("max_pool2d", kernel_size=2, padding=1, ceil_mode=True,
                                stride=2),
         shapes=[(1, 2, 5, 5)], name="ceil_mode_padding"),
    Case(op="max_pool2d", fn=_f("max_pool2d", kernel_size=2), shapes=[(3, 6, 5)],
         name="unbatched"),
    Case(op="max_pool2d", fn=_f("max_pool2d", kernel_size=2, stride=1), make=_ties,
         name="ties", tags=(NO_FD,)),
    Case(op="max_pool2d", fn=_f("max_pool1d", kernel_size=3, stride=2, padding=1),
         shapes=[(2, 3, 9)], name="pool1d"),
    # ---- average pooling -----------------------------------------------------------
    Case(op="avg_pool2d", fn=_f("avg_pool2d", kernel_size=2), shapes=[(2, 3, 6, 6)],
         name="k2"),
    Case(op="avg_pool2d", fn=_f("avg_pool2d", kernel_size=3, stride=2, padding=1),
         shapes=[(2, 2, 7, 6)], name="include_pad"),
    Case(op="avg_pool2d", fn=_f("avg_pool2d", kernel_size=3, stride=2, padding=1,
                                count_include_pad=False),
         shapes=[(2, 2, 7, 6)], name="exclude_pad"),
    Case(op="avg_pool2d", fn=_f("avg_pool2d", kernel_size=(2, 3), stride=2, ceil_mode=True),
         shapes=[(1, 2, 7, 8)], name="ceil_mode"),
    Case(op="avg_pool2d", fn=_f("avg_pool2d", kernel_size=3, stride=2, padding=1,
                                ceil_mode=True, count_include_pad=False),
         shapes=[(1, 2, 6, 6)], name="ceil_exclude_pad"),
    Case(op="avg_pool2d", fn=_f("avg_pool2d", kernel_size=2, divisor_override=3),
         shapes=[(2, 2, 4, 4)], name="divisor_override"),
    Case(op="avg_pool2d", fn=_f("avg_pool1d", kernel_size=3, stride=2, padding=1),
         shapes=[(2, 3, 8)], name="pool1d"),
    Case(op="avg_pool2d", fn=_f("adaptive_avg_pool2d", output_size=(1, 1)),
         shapes=[(2, 3, 5, 4)], name="adaptive_global"),
    Case(op="avg_pool2d", fn=_f("adaptive_avg_pool2d", output_size=(3, 2)),
         shapes=[(2, 3, 6, 4)], name="adaptive_even"),
    Case(op="matmul", fn=_f("adaptive_avg_pool2d", output_size=(3, 4)),
         shapes=[(2, 2, 7, 5)], name="adaptive_avg_pool2d_uneven"),
    # activations with PyTorch's kink conventions (Note [elu at 0]); random inputs stay
    # away from the kinks, the special-points fuzzer covers them
    Case(op="elu", fn=_f("elu", alpha=1.5), shapes=[(3, 4)]),
    Case(op="elu", fn=_f("selu"), shapes=[(5,)], name="selu"),
    Case(op="elu", fn=_f("celu", alpha=0.7), shapes=[(2, 3)], name="celu"),
    Case(op="elu", fn=_f("elu"), shapes=[()], name="0d"),
    Case(op="hardtanh", fn=_f("hardtanh", min_val=-0.5, max_val=1.0), shapes=[(3, 4)]),
    Case(op="hardtanh", fn=_f("relu6"), shapes=[(6,)], domain=(-3.0, 8.0), name="relu6"),
]


# ---- losses (chainrule/ops/losses.py) ----------------------------------------------------

def _loss(op, fname, shapes, name, **kw):
    return Case(op=op, fn=lambda lib, *a: getattr(lib.nn.functional, fname)(*a, **kw),
                shapes=shapes, name=name)


CASES += [
    _loss("mse_loss", "mse_loss", [(3, 4), (3, 4)], ""),
    _loss("mse_loss", "mse_loss", [(3, 4), (3, 4)], "sum", reduction="sum"),
    _loss("mse_loss", "mse_loss", [(3, 4), (3, 4)], "none", reduction="none"),
    _loss("mse_loss", "mse_loss", [(2, 3, 4), (2, 3, 4)], "3d"),
    _loss("mse_loss", "mse_loss", [(), ()], "0d"),
]


def _bcel(lib, x, t, *rest, reduction="mean", w=False, pw=False):
    rest = list(rest)
    weight = rest.pop(0) if w else None
    pos_weight = rest.pop(0) if pw else None
    return lib.nn.functional.binary_cross_entropy_with_logits(
        x, t, weight=weight, pos_weight=pos_weight, reduction=reduction)


def _probs(*shapes, extra=()):
    # logits in [-4, 4], targets in [0, 1], weights positive
    def make(rng):
        return ([rng.uniform(-4, 4, size=shapes[0])]
                + [rng.uniform(0, 1, size=s) for s in shapes[1:]]
                + [rng.uniform(0.2, 2, size=s) for s in extra])
    return make


_BCEL = "binary_cross_entropy_with_logits"
CASES += [
    Case(op=_BCEL, fn=_bcel, make=_probs((3, 4), (3, 4))),
    Case(op=_BCEL, fn=lambda lib, x, t: _bcel(lib, x, t, reduction="sum"),
         make=_probs((3, 4), (3, 4)), name="sum"),
    Case(op=_BCEL, fn=lambda lib, x, t: _bcel(lib, x, t, reduction="none"),
         make=_probs((2, 3, 4), (2, 3, 4)), name="none"),
    Case(op=_BCEL, fn=lambda lib, x, t, w: _bcel(lib, x, t, w, w=True),
         make=_probs((3, 4), (3, 4), extra=[(4,)]), nondiff=(2,), name="weight"),
    Case(op=_BCEL, fn=lambda lib, x, t, pw: _bcel(lib, x, t, pw, pw=True, reduction="none"),
         make=_probs((3, 4), (3, 4), extra=[(4,)]), nondiff=(2,), name="pos_weight"),
    Case(op=_BCEL, fn=lambda lib, x, t, w, pw: _bcel(lib, x, t, w, pw, w=True, pw=True,
                                                      reduction="sum"),
         make=_probs((3, 4), (3, 4), extra=[(3, 1), (4,)]), nondiff=(2, 3),
         name="both_weights"),
]


def _classes(xshape, tshape, weight=False, ignore=None):
    # log-probabilities (any reals: nll_loss is linear in them), class targets, optional
    # positive class weights; ``ignore`` sets the first target to that class
    def make(rng):
        t = rng.integers(0, xshape[1] if len(xshape) > 1 else xshape[0], size=tshape)
        if ignore is not None:
            t.flat[0] = ignore
        out = [rng.uniform(-3, 0, size=xshape), t.astype(np.int64)]
        return out + ([rng.uniform(0.2, 2, size=xshape[1] if len(xshape) > 1 else xshape[0])]
                      if weight else [])
    return make


def _nll(fname="nll_loss", **kw):
    return lambda lib, x, t, *w: getattr(lib.nn.functional, fname)(
        x, t, *(w or [None]), **kw)


CASES += [
    Case(op="nll_loss", fn=_nll(), make=_classes((4, 5), (4,)), nondiff=(1,)),
    Case(op="nll_loss", fn=_nll(reduction="sum"), make=_classes((4, 5), (4,)), nondiff=(1,),
         name="sum"),
    Case(op="nll_loss", fn=_nll(reduction="none"), make=_classes((4, 5), (4,)), nondiff=(1,),
         name="none"),
    Case(op="nll_loss", fn=_nll(), make=_classes((4, 5), (4,), weight=True), nondiff=(1, 2),
         name="weight"),
    Case(op="nll_loss", fn=_nll(ignore_index=2), make=_classes((4, 5), (4,), True, 2),
         nondiff=(1, 2), name="ignore_index"),
    Case(op="nll_loss", fn=_nll(), make=_classes((5,), ()), nondiff=(1,), name="unbatched"),
    Case(op="nll_loss", fn=_nll(reduction="none"), make=_classes((2, 4, 3), (2, 3)),
         nondiff=(1,), name="3d_none"),
    Case(op="nll_loss", fn=_nll(), make=_classes((2, 4, 3, 2), (2, 3, 2), True, -100),
         nondiff=(1, 2), name="4d"),
    Case(op="nll_loss", fn=_nll(reduction="none"), make=_classes((2, 4, 3, 2), (2, 3, 2)),
         nondiff=(1,), name="4d_none"),
    Case(op="nll_loss", fn=_nll(reduction="sum"), make=_classes((2, 3, 2, 2, 2), (2, 2, 2, 2)),
         nondiff=(1,), name="5d"),
    Case(op="nll_loss", fn=_nll("cross_entropy"), make=_classes((4, 5), (4,), True),
         nondiff=(1, 2), name="cross_entropy"),
    Case(op="nll_loss", fn=_nll("cross_entropy", reduction="none"),
         make=_classes((2, 4, 3, 2), (2, 3, 2)), nondiff=(1,), name="cross_entropy_4d"),
    Case(op="nll_loss", fn=_nll("cross_entropy", label_smoothing=0.2, ignore_index=1),
         make=_classes((4, 5), (4,), True, 1), nondiff=(1, 2), name="label_smoothing"),
]


def _lookups(ishape, v=6, d=3):
    def make(rng):
        i = rng.integers(0, v, size=ishape)
        return [i.astype(np.int64), rng.uniform(-2, 2, size=(v, d))]
    return make


CASES += [
    Case(op="embedding", fn=lambda lib, i, w: lib.nn.functional.embedding(i, w),
         make=_lookups((4,)), nondiff=(0,)),
    Case(op="embedding", fn=lambda lib, i, w: lib.nn.functional.embedding(i, w),
         make=_lookups((2, 5), v=3), nondiff=(0,), name="repeats_2d"),
    Case(op="embedding", fn=lambda lib, i, w: lib.nn.functional.embedding(i, w),
         make=_lookups(()), nondiff=(0,), name="0d_index"),
    # (padding_idx cuts the gradient but not the tangent, as PyTorch: no case here, where
    # the JVP must be the VJP's transpose; tests/test_nn.py compares it with PyTorch)
]


CASES += [
    _loss("smooth_l1_loss", "smooth_l1_loss", [(3, 4), (3, 4)], ""),
    _loss("smooth_l1_loss", "smooth_l1_loss", [(3, 4), (3, 4)], "beta", beta=0.7,
          reduction="sum"),
    _loss("smooth_l1_loss", "smooth_l1_loss", [(2, 3, 4), (2, 3, 4)], "none",
          reduction="none", beta=2.0),
    # beta=0 is PyTorch's l1_loss: the abs row, then mean
    _loss("abs", "smooth_l1_loss", [(3, 4), (3, 4)], "smooth_l1_beta0", beta=0.0),
    # l1_loss is a composite in PyTorch too: abs, then mean or sum
    _loss("abs", "l1_loss", [(3, 4), (3, 4)], "l1_loss_none", reduction="none"),
    _loss("abs", "l1_loss", [(3, 4), (3, 4)], "l1_loss_sum", reduction="sum"),
    _loss("huber_loss", "huber_loss", [(3, 4), (3, 4)], ""),
    _loss("huber_loss", "huber_loss", [(3, 4), (3, 4)], "delta", delta=0.6, reduction="sum"),
    _loss("huber_loss", "huber_loss", [(2, 3, 4), (2, 3, 4)], "none", reduction="none",
          delta=1.5),
]


def _bce_make(*shapes, weight=None):
    # probabilities away from 0 and 1 (where the loss has its clamps), targets in [0, 1]
    def make(rng):
        out = [rng.uniform(0.05, 0.95, size=shapes[0])]
        out += [rng.uniform(0, 1, size=s) for s in shapes[1:]]
        return out + ([rng.uniform(0.2, 2, size=weight)] if weight is not None else [])
    return make


def _bce(lib, x, t, w=None, **kw):
    return lib.nn.functional.binary_cross_entropy(x, t, weight=w, **kw)


CASES += [
    Case(op="binary_cross_entropy", fn=_bce, make=_bce_make((3, 4), (3, 4))),
    Case(op="binary_cross_entropy", fn=lambda lib, x, t: _bce(lib, x, t, reduction="sum"),
         make=_bce_make((3, 4), (3, 4)), name="sum"),
    Case(op="binary_cross_entropy", fn=lambda lib, x, t: _bce(lib, x, t, reduction="none"),
         make=_bce_make((2, 3, 4), (2, 3, 4)), name="none"),
    Case(op="binary_cross_entropy", fn=_bce, make=_bce_make((3, 4), (3, 4), weight=(4,)),
         nondiff=(2,), name="weight"),
    Case(op="binary_cross_entropy", fn=lambda lib, x, t, w: _bce(lib, x, t, w,
                                                                 reduction="none"),
         make=_bce_make((3, 4), (3, 4), weight=(3, 4)), nondiff=(2,), name="weight_none"),
]
