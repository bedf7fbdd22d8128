"""Optimizers and lr schedulers against PyTorch.

Parity: the same float64 parameters and the same sequence of gradients, fed to both
libraries' optimizers, give the same parameters after 10 steps (to rounding); every
scheduler gives torch's lr sequence.  Then state dicts, param groups, hooks and errors.
"""

import pickle

import numpy as np
import pytest
from conftest import TESTING_TORCH, Raised, assert_mirrors, to_np

SHAPES = [(3, 4), (4,), (2, 3, 2), ()]
STEPS = 10
RTOL, ATOL = 1e-12, 1e-14


def _data(seed=0, steps=STEPS):
    rng = np.random.default_rng(seed)
    init = [rng.standard_normal(s) for s in SHAPES]
    grads = [[rng.standard_normal(s) for s in SHAPES] for _ in range(steps)]
    return init, grads


def run_steps(lib, name, kwargs, steps=STEPS, groups=False, skip=None):
    """``steps`` optimizer steps with fixed gradients; ``skip(k, i)`` leaves param i
    without a gradient at step k."""
    init, grads = _data(steps=steps)
    params = [lib.tensor(a, dtype=lib.float64, requires_grad=True) for a in init]
    if groups:
        spec = [{"params": params[:2]}, {"params": params[2:], "lr": 0.05}]
    else:
        spec = params
    opt = getattr(lib.optim, name)(spec, **kwargs)
    for k in range(steps):
        opt.zero_grad()
        for i, (p, g) in enumerate(zip(params, grads[k])):
            if skip is None or not skip(k, i):
                p.grad = lib.tensor(g, dtype=lib.float64)
        opt.step()
    return [to_np(p).copy() for p in params], opt


CASES = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.3)),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
    ("SGD", dict(lr=0.1, weight_decay=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.5, weight_decay=0.01, maximize=True)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.1, maximize=True)),
    ("Adam", dict()),
    ("Adam", dict(lr=0.01, amsgrad=True)),
    ("Adam", dict(lr=0.01, weight_decay=0.1)),
    ("Adam", dict(lr=0.01, maximize=True)),
    ("Adam", dict(lr=0.01, amsgrad=True, weight_decay=0.1, maximize=True)),
    ("Adam", dict(lr=0.02, betas=(0.3, 0.8), eps=1e-3)),
    ("AdamW", dict()),
    ("AdamW", dict(lr=0.01, amsgrad=True)),
    ("AdamW", dict(lr=0.01, weight_decay=0.1, maximize=True)),
    ("RMSprop", dict()),
    ("RMSprop", dict(lr=0.01, momentum=0.9)),
    ("RMSprop", dict(lr=0.01, centered=True)),
    ("RMSprop", dict(lr=0.01, centered=True, momentum=0.5, weight_decay=0.1)),
    ("RMSprop", dict(lr=0.01, alpha=0.3, centered=True, maximize=True)),
    ("RMSprop", dict(lr=0.01, eps=1e-2, weight_decay=0.01)),
    ("Adagrad", dict()),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01)),
    ("Adagrad", dict(lr=0.1, weight_decay=0.1)),
    ("Adagrad", dict(lr=0.1, initial_accumulator_value=0.5, eps=1e-5)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.1, maximize=True)),
]


def _case_id(case):
    name, kwargs = case
    return name + "-" + "-".join(f"{k}={v}" for k, v in kwargs.items())


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_parity_after_ten_steps(cr, torch, case):
    name, kwargs = case
    ours, _ = run_steps(cr, name, kwargs)
    theirs, _ = run_steps(torch, name, kwargs)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("name", ["SGD", "Adam", "RMSprop", "Adagrad"])
def test_parity_with_groups_and_missing_grads(cr, torch, name):
    kwargs = dict(lr=0.01, momentum=0.9) if name in ("SGD", "RMSprop") else dict(lr=0.01)

    def skip(k, i):
        return (k + i) % 3 == 0

    ours, _ = run_steps(cr, name, kwargs, groups=True, skip=skip)
    theirs, _ = run_steps(torch, name, kwargs, groups=True, skip=skip)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL)


def test_float32_parameters_stay_float32(cr, torch):
    for lib in (cr, torch):
        p = lib.ones(3, requires_grad=True)
        opt = lib.optim.Adam([p], lr=0.1)
        p.grad = lib.ones(3)
        opt.step()
        assert str(p.dtype).endswith("float32")
        assert str(opt.state[p]["exp_avg"].dtype).endswith("float32")
    np.testing.assert_allclose(to_np(p), [0.9] * 3, rtol=1e-6)


# ---------------------------------------------------------------------------- LBFGS

def _rosenbrock_run(lib, kwargs, steps=3, x0=(-1.5, 2.0, 0.5, -0.5)):
    x = lib.tensor(list(x0), dtype=lib.float64, requires_grad=True)
    opt = lib.optim.LBFGS([x], **kwargs)
    losses = []

    def closure():
        opt.zero_grad()
        a, b = x[:-1], x[1:]
        loss = (100 * (b - a * a) ** 2 + (1 - a) ** 2).sum()
        loss.backward()
        return loss

    for _ in range(steps):
        losses.append(float(opt.step(closure).detach()))
    state = opt.state[x]
    return to_np(x).copy(), losses, state["func_evals"], state["n_iter"]


@pytest.mark.parametrize("kwargs", [
    dict(lr=1, max_iter=20, history_size=10, line_search_fn="strong_wolfe"),
    dict(lr=0.1, max_iter=5, history_size=3),
    dict(lr=1, max_iter=50, history_size=2, line_search_fn="strong_wolfe",
         tolerance_grad=1e-5, tolerance_change=1e-7),
], ids=["strong_wolfe", "fixed_step", "short_history"])
def test_lbfgs_parity(cr, torch, kwargs):
    x1, l1, fe1, it1 = _rosenbrock_run(cr, kwargs)
    x2, l2, fe2, it2 = _rosenbrock_run(torch, kwargs)
    np.testing.assert_allclose(x1, x2, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(l1, l2, rtol=1e-8, atol=1e-12)
    assert (fe1, it1) == (fe2, it2)


def test_lbfgs_strong_wolfe_minimizes_rosenbrock(cr):
    x, losses, _, _ = _rosenbrock_run(cr, dict(lr=1, max_iter=100,
                                               line_search_fn="strong_wolfe"),
                                     steps=3, x0=(-1.2, 1.0))
    np.testing.assert_allclose(x, np.ones(2), atol=1e-4)
    assert losses[-1] < 1e-8


@pytest.mark.chainrule_only
def test_lbfgs_needs_a_closure(cr):
    x = cr.zeros(2, requires_grad=True)
    with pytest.raises(TypeError, match="closure"):
        cr.optim.LBFGS([x]).step()


# ------------------------------------------------------------------ optimizer API

def test_state_dict_matches_torch_format(cr, torch):
    _, ours = run_steps(cr, "Adam", dict(lr=0.01, amsgrad=True), groups=True)
    _, theirs = run_steps(torch, "Adam", dict(lr=0.01, amsgrad=True), groups=True)
    a, b = ours.state_dict(), theirs.state_dict()
    assert a["param_groups"] == b["param_groups"]
    assert a["state"].keys() == b["state"].keys()
    for k in b["state"]:
        assert a["state"][k].keys() == b["state"][k].keys()
        for key, value in b["state"][k].items():
            assert str(a["state"][k][key].dtype) == str(value.dtype)
            np.testing.assert_allclose(to_np(a["state"][k][key]), value.numpy(),
                                       rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("name,kwargs", [("SGD", dict(lr=0.1, momentum=0.9)),
                                         ("Adam", dict(lr=0.01)),
                                         ("RMSprop", dict(lr=0.01, centered=True)),
                                         ("Adagrad", dict(lr=0.1))])
def test_load_state_dict_resumes_exactly(cr, torch, name, kwargs):
    """Five steps, state_dict through pickle, a fresh optimizer loads it, five more:
    the same parameters as ten uninterrupted steps in torch."""
    init, grads = _data()
    params = [cr.tensor(a, dtype=cr.float64, requires_grad=True) for a in init]
    opt = getattr(cr.optim, name)(params, **kwargs)
    for k in range(STEPS):
        if k == 5:
            sd = pickle.loads(pickle.dumps(opt.state_dict()))
            opt = getattr(cr.optim, name)(params, lr=123.0)
            opt.load_state_dict(sd)
            assert opt.param_groups[0]["lr"] == kwargs["lr"]
        for p, g in zip(params, grads[k]):
            p.grad = cr.tensor(g)
        opt.step()
    theirs, _ = run_steps(torch, name, kwargs)
    for p, b in zip(params, theirs):
        np.testing.assert_allclose(to_np(p), b, rtol=RTOL, atol=ATOL)


def test_load_state_dict_errors(cr, torch):
    def script(lib):
        p, q = lib.zeros(2, requires_grad=True), lib.zeros(3, requires_grad=True)
        opt = lib.optim.SGD([p, q], lr=0.1)
        other = lib.optim.SGD([p], lr=0.1)
        other.load_state_dict(opt.state_dict())
    assert_mirrors(script, cr, torch)

    def script2(lib):
        p = lib.zeros(2, requires_grad=True)
        opt = lib.optim.SGD([p], lr=0.1)
        sd = opt.state_dict()
        sd["param_groups"].append(dict(sd["param_groups"][0]))
        opt.load_state_dict(sd)
    assert_mirrors(script2, cr, torch)


def test_zero_grad(cr, torch):
    def script(lib):
        p = lib.ones(2, requires_grad=True)
        opt = lib.optim.SGD([p], lr=0.1)
        (p * 3).sum().backward()
        opt.zero_grad(set_to_none=False)
        zeros = p.grad.clone()
        opt.zero_grad()
        return zeros, p.grad is None
    assert_mirrors(script, cr, torch)


def test_step_bumps_version_and_stale_graph_is_refused(cr, torch):
    def script(lib):
        p = lib.ones(2, requires_grad=True)
        opt = lib.optim.SGD([p], lr=0.1)
        y = (p * p).sum()
        p.grad = lib.ones(2)
        v0 = p._version
        opt.step()
        assert p._version > v0
        y.backward()
    ours = assert_mirrors(script, cr, torch)
    assert isinstance(ours, Raised) and "modified by an inplace operation" in ours.message


def test_closure_runs_with_grad_enabled(cr, torch):
    def script(lib):
        p = lib.ones(2, requires_grad=True)
        opt = lib.optim.SGD([p], lr=0.1)

        def closure():
            opt.zero_grad()
            loss = (p * p).sum()
            loss.backward()
            return loss
        with lib.no_grad():
            loss = opt.step(closure)
        return loss.detach(), p.detach()
    assert_mirrors(script, cr, torch)


def test_param_groups_and_add_param_group(cr, torch):
    def script(lib):
        a, b = lib.ones(2, requires_grad=True), lib.ones(3, requires_grad=True)
        opt = lib.optim.SGD([a], lr=0.1, momentum=0.9)
        opt.add_param_group({"params": b, "lr": 0.5})
        groups = [{k: v for k, v in g.items() if k != "params"} for g in opt.param_groups]
        a.grad, b.grad = lib.ones(2), lib.ones(3)
        opt.step()
        return groups, a.detach(), b.detach()
    assert_mirrors(script, cr, torch)


def test_named_parameters(cr, torch):
    def script(lib):
        a = lib.ones(2, requires_grad=True)
        opt = lib.optim.Adam([("a", a)], lr=0.1)
        return opt.state_dict()["param_groups"][0]["param_names"]
    assert_mirrors(script, cr, torch)


@pytest.mark.parametrize("make", [
    lambda lib, p: lib.optim.SGD(p, lr=0.1),                       # a tensor, not a list
    lambda lib, p: lib.optim.SGD([], lr=0.1),                      # empty
    lambda lib, p: lib.optim.SGD([{"params": {p}}], lr=0.1),       # a set
    lambda lib, p: lib.optim.SGD([p * 2], lr=0.1),                 # non-leaf
    lambda lib, p: lib.optim.SGD([p, 3.0], lr=0.1),                # not a tensor
    lambda lib, p: lib.optim.SGD([p], lr=-1),
    lambda lib, p: lib.optim.SGD([p], lr=0.1, momentum=-1),
    lambda lib, p: lib.optim.SGD([p], lr=0.1, nesterov=True),
    lambda lib, p: lib.optim.Adam([p], betas=(1.0, 0.9)),
    lambda lib, p: lib.optim.Adam([p], eps=-1),
    lambda lib, p: lib.optim.RMSprop([p], alpha=-1),
    lambda lib, p: lib.optim.Adagrad([p], lr_decay=-1),
    lambda lib, p: lib.optim.LBFGS([{"params": [p]}, {"params": [p * 1]}]),
    lambda lib, p: lib.optim.SGD([{"params": [p]}, {"params": [p]}], lr=0.1),
], ids=["tensor", "empty", "set", "non_leaf", "not_tensor", "lr", "momentum", "nesterov",
        "betas", "eps", "alpha", "lr_decay", "lbfgs_groups", "shared_param"])
def test_constructor_errors_mirror_torch(cr, torch, make):
    def script(lib):
        p = lib.ones(2, requires_grad=True)
        make(lib, p)
    assert isinstance(assert_mirrors(script, cr, torch), Raised)


@pytest.mark.chainrule_only
def test_integer_parameters_are_refused(cr):
    p = cr.tensor([1, 2, 3], requires_grad=True)
    with pytest.raises(TypeError, match="floating-point.*int64"):
        cr.optim.SGD([p], lr=0.1)


def test_step_hooks(cr, torch):
    def script(lib):
        p = lib.ones(1, requires_grad=True)
        opt = lib.optim.SGD([p], lr=0.1)
        seen = []
        h1 = opt.register_step_pre_hook(lambda o, a, k: seen.append("pre"))
        opt.register_step_post_hook(lambda o, a, k: seen.append("post"))
        p.grad = lib.ones(1)
        opt.step()
        h1.remove()
        opt.step()
        return seen
    assert_mirrors(script, cr, torch)


def test_repr(cr, torch):
    def script(lib):
        return repr(lib.optim.SGD([lib.ones(1, requires_grad=True)], lr=0.1))
    assert_mirrors(script, cr, torch)


# -------------------------------------------------------------------- schedulers

def _lr_sequence(lib, make, epochs=30, metrics=None, opt_name="SGD", opt_kwargs=None,
                 groups=False):
    p = lib.zeros(2, requires_grad=True)
    q = lib.zeros(2, requires_grad=True)
    spec = [{"params": [p]}, {"params": [q], "lr": 0.3}] if groups else [p, q]
    opt = getattr(lib.optim, opt_name)(spec, **(opt_kwargs or dict(lr=0.1, momentum=0.9)))
    sched = make(lib.optim.lr_scheduler, opt)
    seq = [list(sched.get_last_lr())]
    extra = []
    for e in range(epochs):
        opt.step()
        if metrics is None:
            sched.step()
        else:
            sched.step(metrics[e])
        seq.append(list(sched.get_last_lr()))
        extra.append([g.get("momentum", g.get("betas")) for g in opt.param_groups])
    return seq, extra


SCHEDULERS = {
    "StepLR": lambda S, o: S.StepLR(o, step_size=7, gamma=0.5),
    "MultiStepLR": lambda S, o: S.MultiStepLR(o, milestones=[3, 8, 8, 20], gamma=0.3),
    "ExponentialLR": lambda S, o: S.ExponentialLR(o, gamma=0.9),
    "CosineAnnealingLR": lambda S, o: S.CosineAnnealingLR(o, T_max=10, eta_min=0.001),
    "LambdaLR": lambda S, o: S.LambdaLR(o, lambda e: 1.0 / (1 + e)),
    "LambdaLR_list": lambda S, o: S.LambdaLR(o, [lambda e: 0.9 ** e, lambda e: e % 3]),
    "OneCycleLR": lambda S, o: S.OneCycleLR(o, max_lr=1.0, total_steps=30),
    "OneCycleLR_3phase_linear": lambda S, o: S.OneCycleLR(
        o, max_lr=[1.0, 2.0], epochs=3, steps_per_epoch=10, anneal_strategy="linear",
        three_phase=True, pct_start=0.25),
}


@pytest.mark.parametrize("name", list(SCHEDULERS))
@pytest.mark.parametrize("groups", [False, True], ids=["one_group", "two_groups"])
def test_scheduler_lr_sequence(cr, torch, name, groups):
    if not groups and name in ("LambdaLR_list", "OneCycleLR_3phase_linear"):
        pytest.skip("per-group arguments need two groups")
    ours = _lr_sequence(cr, SCHEDULERS[name], groups=groups)
    theirs = _lr_sequence(torch, SCHEDULERS[name], groups=groups)
    np.testing.assert_allclose(np.array(ours[0]), np.array(theirs[0]), rtol=1e-15)
    np.testing.assert_allclose(np.array(ours[1]), np.array(theirs[1]), rtol=1e-15)


def test_one_cycle_cycles_adam_beta1(cr, torch):
    make = SCHEDULERS["OneCycleLR"]
    ours = _lr_sequence(cr, make, opt_name="Adam", opt_kwargs=dict(lr=0.1))
    theirs = _lr_sequence(torch, make, opt_name="Adam", opt_kwargs=dict(lr=0.1))
    np.testing.assert_allclose(np.array(ours[0]), np.array(theirs[0]), rtol=1e-15)
    np.testing.assert_allclose(np.array(ours[1]), np.array(theirs[1]), rtol=1e-15)


def test_one_cycle_too_many_steps(cr, torch):
    def script(lib):
        _lr_sequence(lib, lambda S, o: S.OneCycleLR(o, max_lr=1.0, total_steps=5),
                     epochs=6)
    assert isinstance(assert_mirrors(script, cr, torch), Raised)


@pytest.mark.parametrize("kwargs", [
    dict(patience=2, factor=0.5),
    dict(mode="max", patience=1, threshold=0.1, threshold_mode="abs", cooldown=2),
    dict(patience=0, min_lr=[0.01, 0.05], factor=0.2),
])
def test_reduce_lr_on_plateau(cr, torch, kwargs):
    metrics = [1.0, 0.9, 0.95, 0.96, 0.97, 0.8, 0.81, 0.82, 0.83, 0.84, 0.85] * 2

    def make(S, o):
        return S.ReduceLROnPlateau(o, **kwargs)
    ours = _lr_sequence(cr, make, epochs=len(metrics), metrics=metrics, groups=True)
    theirs = _lr_sequence(torch, make, epochs=len(metrics), metrics=metrics, groups=True)
    assert ours[0] == theirs[0]


def test_scheduler_state_dict_round_trip(cr, torch):
    def script(lib):
        p = lib.zeros(1, requires_grad=True)
        opt = lib.optim.SGD([p], lr=1.0)
        sched = lib.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=8)
        for _ in range(3):
            opt.step()
            sched.step()
        sd = sched.state_dict()
        opt2 = lib.optim.SGD([p], lr=1.0)
        opt2.load_state_dict(opt.state_dict())
        sched2 = lib.optim.lr_scheduler.CosineAnnealingLR(opt2, T_max=8)
        sched2.load_state_dict(sd)
        out = []
        for _ in range(4):
            opt2.step()
            sched2.step()
            out.append(sched2.get_last_lr()[0])
        return out, sorted(k for k in sd if not k.startswith("_"))
    assert_mirrors(script, cr, torch)


def test_scheduler_step_before_optimizer_step_warns(cr, torch):
    for lib in (cr, torch):
        p = lib.zeros(1, requires_grad=True)
        opt = lib.optim.SGD([p], lr=1.0)
        sched = lib.optim.lr_scheduler.StepLR(opt, 2)
        with pytest.warns(UserWarning, match="before `optimizer.step"):
            sched.step()


@pytest.mark.skipif(TESTING_TORCH, reason="chainrule import-time check")
def test_optim_is_imported_lazily():
    import subprocess
    import sys
    code = ("import sys, chainrule; assert 'chainrule.optim' not in sys.modules; "
            "import chainrule as torch; torch.optim.SGD; "
            "assert 'chainrule.optim' in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)
