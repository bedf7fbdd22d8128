"""The ``meta`` device: shape-only tensors, ``Module.to_empty`` and the model-ensembling
recipe, against PyTorch (same shapes, dtypes, devices and errors)."""

from __future__ import annotations

import copy

import numpy as np
import pytest

import chainrule as cr

torch = pytest.importorskip("torch")


def _both(fn):
    return [fn(lib) for lib in (cr, torch)]


@pytest.mark.parametrize("fn", [
    lambda lib: lib.empty(3, 4, device="meta") * 2 + 1,
    lambda lib: lib.zeros(2, 5, device="meta", dtype=lib.float64).sum(0),
    lambda lib: lib.empty(2, 3, device="meta") @ lib.empty(3, 7, device="meta"),
    lambda lib: lib.nn.functional.softmax(lib.empty(4, 6, device="meta"), -1)[1:, ::2],
    lambda lib: lib.nn.Linear(6, 3, device="meta")(lib.empty(5, 6, device="meta")),
    lambda lib: lib.nn.Conv2d(3, 8, 3, device="meta")(lib.empty(2, 3, 9, 9, device="meta")),
    lambda lib: lib.randn(3, 3).to("meta").t().reshape(9),
    lambda lib: lib.empty_like(lib.empty(2, 2, device="meta")),
])
def test_ops_on_meta_give_pytorchs_shapes(fn):
    c, t = _both(fn)
    assert tuple(c.shape) == tuple(t.shape)
    assert str(c.dtype) == str(t.dtype)
    assert str(c.device) == str(t.device) == "meta"
    assert repr(c).startswith("tensor(..., device='meta', size=")


@pytest.mark.parametrize("fn", [
    lambda lib: lib.empty(3, device="meta").tolist(),
    lambda lib: lib.empty((), device="meta").item(),
    lambda lib: bool(lib.empty((), device="meta")),
    lambda lib: lib.empty(3, device="meta").numpy(),
    lambda lib: lib.empty(3, device="meta").to("cpu"),
    lambda lib: lib.empty(3, device="meta") + lib.ones(3),
])
def test_reading_meta_values_fails_as_in_pytorch(fn):
    errors = []
    for lib in (cr, torch):
        with pytest.raises(Exception) as info:
            fn(lib)
        errors.append(type(info.value))
    assert errors[0] is errors[1]


def test_module_on_meta_then_to_empty():
    for lib in (cr, torch):
        lib.manual_seed(0)
        m = lib.nn.Sequential(lib.nn.Linear(3, 4), lib.nn.BatchNorm1d(4))
        meta = copy.deepcopy(m).to("meta")
        assert meta[0].weight.device.type == "meta" and meta[1].running_mean.device.type == "meta"
        assert meta.to_empty(device="cpu") is meta
        w = meta[0].weight
        assert w.device.type == "cpu" and w.requires_grad and isinstance(w, lib.nn.Parameter)
        assert tuple(meta[1].running_var.shape) == (4,)
        built = lib.nn.Linear(5, 2, device="meta")  # initializers skip meta tensors
        assert built.weight.device.type == "meta"


def test_ensembling_recipe_with_a_meta_base_model():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 3))
    weights = [(rng.standard_normal((2, 3)), rng.standard_normal(2)) for _ in range(4)]
    outs = []
    for lib in (cr, torch):
        models = []
        for w, b in weights:
            m = lib.nn.Linear(3, 2).double()
            with lib.no_grad():
                m.weight.copy_(lib.tensor(w))
                m.bias.copy_(lib.tensor(b))
            models.append(m)
        params, buffers = lib.func.stack_module_state(models)
        base = copy.deepcopy(models[0]).to("meta")

        def fmodel(p, bu, xb, base=base, lib=lib):
            return lib.func.functional_call(base, (p, bu), (xb,))
        outs.append(lib.vmap(fmodel, in_dims=(0, 0, None))(params, buffers, lib.tensor(x))
                    .detach().numpy())
    np.testing.assert_allclose(outs[0], outs[1], rtol=1e-12)


def _meta_outputs(lib, case):
    from opinfo._harness import flat_outputs
    args = [lib.tensor(a).to("meta") for a in case.arrays(0)]
    return [(tuple(o.shape), str(o.dtype).split(".")[-1], str(o.device))
            for o in flat_outputs(lib, case.fn(lib, *args))]


def _op_cases():
    from opinfo import ALL_CASES
    return ALL_CASES


@pytest.mark.parametrize("case", _op_cases(), ids=lambda c: c.id)
def test_every_op_table_case_on_meta_gives_pytorchs_shapes(case):
    """Every op-table case with its inputs on the meta device: where PyTorch's meta
    kernels give a result, chainrule gives the same shapes, dtypes and device."""
    try:
        want = _meta_outputs(torch, case)
    except Exception:  # noqa: BLE001 - PyTorch has no meta kernel, or the op reads values
        return
    assert _meta_outputs(cr, case) == want
