"""``chainrule.nn`` against PyTorch: layers, containers and the Module API.

Layer parity: the same module is built in both libraries, PyTorch's initialized weights
are copied into ours through ``state_dict`` -> NumPy -> ``load_state_dict``, and in
float64 the outputs, input gradients and parameter gradients must agree (as must the
parameter names and the module's repr).  Losses are in ``test_nn_losses.py``.
"""

from __future__ import annotations

import subprocess
import sys
import warnings
from collections import OrderedDict

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F
from chainrule import nn

torch = pytest.importorskip("torch")


def _copy_weights(theirs, ours):
    ours.load_state_dict({k: cr.tensor(v.detach().numpy().copy())
                          for k, v in theirs.state_dict().items()})


def _flat(lib, out):
    """A module's output (tensor, or tuple/nested tuple of tensors) as one vector."""
    if isinstance(out, lib.Tensor):
        return out.reshape(-1)
    return lib.cat([_flat(lib, o) for o in out])


def _parity(make, shapes, seed=0, kwargs=None):
    """Forward/backward of ``make(lib)`` in both libraries on the same weights."""
    theirs = make(torch).double()
    ours = make(cr).double()
    _copy_weights(theirs, ours)
    assert repr(ours) == repr(theirs)
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(s) for s in shapes]
    t_in = [torch.tensor(a, requires_grad=True) for a in arrays]
    c_in = [cr.tensor(a, requires_grad=True) for a in arrays]
    t_out = _flat(torch, theirs(*t_in, **(kwargs or {})))
    c_out = _flat(cr, ours(*c_in, **(kwargs or {})))
    np.testing.assert_allclose(c_out.detach().numpy(), t_out.detach().numpy(), rtol=1e-10,
                               atol=1e-12, err_msg="output")
    v = rng.standard_normal(tuple(t_out.shape))
    t_out.backward(torch.tensor(v))
    c_out.backward(cr.tensor(v))
    for k, (a, b) in enumerate(zip(t_in, c_in)):
        np.testing.assert_allclose(b.grad.numpy(), a.grad.numpy(), rtol=1e-9, atol=1e-12,
                                   err_msg=f"grad of input {k}")
    t_params = list(theirs.named_parameters())
    c_params = list(ours.named_parameters())
    assert [n for n, _ in c_params] == [n for n, _ in t_params]
    for (name, p), (_, q) in zip(t_params, c_params):
        if p.grad is None:
            assert q.grad is None, name
            continue
        np.testing.assert_allclose(q.grad.numpy(), p.grad.numpy(), rtol=1e-9, atol=1e-12,
                                   err_msg=f"grad of {name}")
    return theirs, ours


LAYERS = [
    ("linear", lambda L: L.nn.Linear(4, 3), [(5, 4)]),
    ("linear_3d_no_bias", lambda L: L.nn.Linear(4, 3, bias=False), [(2, 5, 4)]),
    ("bilinear", lambda L: L.nn.Bilinear(3, 4, 2), [(5, 3), (5, 4)]),
    ("conv2d", lambda L: L.nn.Conv2d(3, 4, 3, stride=2, padding=1), [(2, 3, 7, 7)]),
    ("conv2d_groups_dilation", lambda L: L.nn.Conv2d(4, 6, (3, 2), dilation=(2, 1),
                                                     groups=2, bias=False), [(2, 4, 8, 6)]),
    ("conv2d_same_reflect", lambda L: L.nn.Conv2d(2, 4, (2, 3), padding="same",
                                                  padding_mode="reflect"), [(2, 2, 6, 7)]),
    ("conv2d_circular", lambda L: L.nn.Conv2d(2, 4, 3, padding=1, padding_mode="circular"),
     [(2, 2, 6, 7)]),
    ("conv2d_valid", lambda L: L.nn.Conv2d(2, 3, 2, padding="valid"), [(1, 2, 4, 4)]),
    ("conv1d", lambda L: L.nn.Conv1d(3, 4, 3, dilation=2, padding=2), [(2, 3, 9)]),
    ("maxpool2d", lambda L: L.nn.MaxPool2d(3, 2, 1), [(2, 3, 7, 7)]),
    ("maxpool2d_ceil", lambda L: L.nn.MaxPool2d(2, ceil_mode=True), [(2, 3, 5, 7)]),
    ("maxpool1d", lambda L: L.nn.MaxPool1d(2), [(2, 3, 8)]),
    ("avgpool2d", lambda L: L.nn.AvgPool2d(3, 2, 1, count_include_pad=False), [(2, 3, 7, 7)]),
    ("avgpool1d", lambda L: L.nn.AvgPool1d(3, 2, 1), [(2, 3, 8)]),
    ("adaptive_avgpool2d", lambda L: L.nn.AdaptiveAvgPool2d((3, 5)), [(2, 3, 7, 7)]),
    ("adaptive_avgpool2d_global", lambda L: L.nn.AdaptiveAvgPool2d(1), [(2, 3, 5, 4)]),
    ("adaptive_avgpool1d", lambda L: L.nn.AdaptiveAvgPool1d(3), [(2, 3, 7)]),
    ("batchnorm1d", lambda L: L.nn.BatchNorm1d(3), [(5, 3)]),
    ("batchnorm1d_3d_no_affine", lambda L: L.nn.BatchNorm1d(3, affine=False), [(5, 3, 4)]),
    ("batchnorm2d_cumulative", lambda L: L.nn.BatchNorm2d(3, momentum=None), [(4, 3, 2, 5)]),
    ("batchnorm2d_eval", lambda L: L.nn.BatchNorm2d(3).eval(), [(4, 3, 2, 5)]),
    ("batchnorm2d_untracked", lambda L: L.nn.BatchNorm2d(3, track_running_stats=False),
     [(4, 3, 2, 2)]),
    ("layernorm", lambda L: L.nn.LayerNorm((3, 4)), [(2, 3, 4)]),
    ("layernorm_no_affine", lambda L: L.nn.LayerNorm(4, elementwise_affine=False), [(3, 4)]),
    ("groupnorm", lambda L: L.nn.GroupNorm(2, 4), [(3, 4, 5)]),
    ("groupnorm_4d", lambda L: L.nn.GroupNorm(3, 6, eps=1e-3), [(2, 6, 3, 2)]),
    ("flatten", lambda L: L.nn.Flatten(), [(2, 3, 4)]),
    ("unflatten", lambda L: L.nn.Unflatten(1, (2, 2)), [(3, 4)]),
    ("rnn", lambda L: L.nn.RNN(3, 4, 2), [(5, 2, 3)]),
    ("rnn_relu_bidirectional", lambda L: L.nn.RNN(3, 4, nonlinearity="relu",
                                                  batch_first=True, bidirectional=True),
     [(2, 5, 3)]),
    ("lstm", lambda L: L.nn.LSTM(3, 4, 2, bidirectional=True), [(5, 2, 3)]),
    ("lstm_unbatched_no_bias", lambda L: L.nn.LSTM(3, 4, bias=False), [(5, 3)]),
    ("gru", lambda L: L.nn.GRU(3, 4, 2, batch_first=True), [(2, 5, 3)]),
    ("gru_h0", lambda L: L.nn.GRU(3, 4), [(5, 2, 3), (1, 2, 4)]),
    ("rnncell", lambda L: L.nn.RNNCell(3, 4), [(2, 3)]),
    ("lstmcell", lambda L: L.nn.LSTMCell(3, 4), [(2, 3)]),
    ("grucell", lambda L: L.nn.GRUCell(3, 4), [(2, 3), (2, 4)]),
    ("cnn", lambda L: L.nn.Sequential(L.nn.Conv2d(1, 4, 3), L.nn.BatchNorm2d(4), L.nn.ReLU(),
                                      L.nn.MaxPool2d(2), L.nn.Flatten(), L.nn.Linear(36, 3)),
     [(2, 1, 8, 8)]),
] + [(f"activation_{a}", lambda L, a=a: eval("L.nn." + a), [(3, 4)])
     for a in ["ReLU()", "ReLU6()", "LeakyReLU(0.2)", "ELU(0.5)", "GELU()", "GELU('tanh')",
               "SiLU()", "Softplus(2, 3)", "Tanh()", "Sigmoid()", "LogSigmoid()",
               "Hardtanh(-0.5, 0.5)", "Softmax(1)", "LogSoftmax(-1)", "Softmin(0)",
               "Identity()", "Dropout(0.3).eval()"]]


@pytest.mark.parametrize("name,make,shapes", LAYERS, ids=[x[0] for x in LAYERS])
def test_layer_matches_torch(name, make, shapes):
    _parity(make, shapes)


def test_lstm_with_initial_state_matches_torch():
    _parity(lambda L: _LSTMWithState(L), [(4, 2, 3), (2, 2, 5), (2, 2, 5)])


class _LSTMWithState:
    """A Module of either library whose forward passes (h0, c0) to an LSTM."""

    def __new__(cls, L):
        class M(L.nn.Module):
            def __init__(self):
                super().__init__()
                self.lstm = L.nn.LSTM(3, 5, 2)

            def forward(self, x, h, c):
                return self.lstm(x, (h, c))
        return M()


def test_batchnorm_running_stats_and_modes_match_torch():
    theirs, ours = torch.nn.BatchNorm2d(3, momentum=0.3).double(), nn.BatchNorm2d(
        3, momentum=0.3).double()
    rng = np.random.default_rng(0)
    for step in range(3):
        a = rng.standard_normal((4, 3, 2, 2)) * (step + 1) + step
        theirs(torch.tensor(a))
        ours(cr.tensor(a))
    for key in ("running_mean", "running_var", "num_batches_tracked"):
        np.testing.assert_allclose(ours.state_dict()[key].numpy(),
                                   theirs.state_dict()[key].numpy(), rtol=1e-12)
    theirs.eval()
    ours.eval()
    a = rng.standard_normal((2, 3, 2, 2))
    np.testing.assert_allclose(ours(cr.tensor(a)).detach().numpy(),
                               theirs(torch.tensor(a)).detach().numpy(), rtol=1e-12)
    assert ours.num_batches_tracked.item() == 3
    with pytest.raises(ValueError, match="Expected more than 1 value per channel"):
        nn.BatchNorm1d(3)(cr.randn(1, 3))
    with pytest.raises(ValueError, match="expected 4D input"):
        nn.BatchNorm2d(3)(cr.randn(2, 3))


def test_dropout_scales_in_training_and_is_identity_in_eval():
    cr.manual_seed(0)
    drop = nn.Dropout(0.25)
    x = cr.ones(200, 50, requires_grad=True)
    y = drop(x)
    kept = y.detach().numpy() != 0
    np.testing.assert_allclose(y.detach().numpy()[kept], 1 / 0.75)
    assert 0.2 < 1 - kept.mean() < 0.3
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), kept / 0.75)
    drop.eval()
    assert drop(x) is x
    assert (F.dropout(x, 1.0).detach().numpy() == 0).all()
    with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1"):
        nn.Dropout(1.5)


def test_embedding_matches_torch_and_padding_row_gets_no_gradient():
    theirs = torch.nn.Embedding(6, 3, padding_idx=2).double()
    ours = nn.Embedding(6, 3, padding_idx=2).double()
    assert (ours.weight.detach().numpy()[2] == 0).all()
    _copy_weights(theirs, ours)
    idx = np.array([[0, 2, 5], [2, 2, 1]])
    t = theirs(torch.tensor(idx))
    c = ours(cr.tensor(idx))
    np.testing.assert_allclose(c.detach().numpy(), t.detach().numpy())
    v = np.random.default_rng(0).standard_normal(t.shape)
    t.backward(torch.tensor(v))
    c.backward(cr.tensor(v))
    np.testing.assert_allclose(ours.weight.grad.numpy(), theirs.weight.grad.numpy())
    assert (ours.weight.grad.numpy()[2] == 0).all()
    assert repr(ours) == repr(theirs)
    with pytest.raises(IndexError, match="index out of range"):
        ours(cr.tensor([6]))
    with pytest.raises(RuntimeError, match="Long, Int"):
        ours(cr.tensor([1.0]))


def test_one_hot_and_pad_match_torch():
    idx = np.array([[0, 3], [1, 1]])
    np.testing.assert_array_equal(F.one_hot(cr.tensor(idx)).numpy(),
                                  torch.nn.functional.one_hot(torch.tensor(idx)).numpy())
    assert F.one_hot(cr.tensor(idx), 6).shape == (2, 2, 6)
    assert F.one_hot(cr.tensor(idx)).dtype == cr.int64
    a = np.arange(12.0).reshape(3, 4)
    np.testing.assert_array_equal(F.pad(cr.tensor(a), (1, 2), value=-1).numpy(),
                                  torch.nn.functional.pad(torch.tensor(a), (1, 2),
                                                          value=-1).numpy())


def test_functional_softmax_implicit_dim_warns_like_torch():
    x = np.random.default_rng(0).standard_normal((2, 3, 4))
    with pytest.warns(UserWarning, match="Implicit dimension choice for softmax"):
        ours = F.softmax(cr.tensor(x))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = torch.nn.functional.softmax(torch.tensor(x))
    np.testing.assert_allclose(ours.numpy(), theirs.numpy())


def test_conv_errors_match_torch_messages():
    conv = nn.Conv2d(3, 4, 3)
    with pytest.raises(RuntimeError, match=r"expected input\[1, 2, 5, 5\] to have 3 channels"):
        conv(cr.randn(1, 2, 5, 5))
    with pytest.raises(RuntimeError, match="Kernel size can't be greater than actual input"):
        conv(cr.randn(1, 3, 2, 2))
    with pytest.raises(RuntimeError, match="Expected 3D \\(unbatched\\) or 4D \\(batched\\)"):
        conv(cr.randn(3, 5))
    with pytest.raises(ValueError, match="padding='same' is not supported for strided"):
        nn.Conv2d(3, 4, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match="in_channels must be divisible by groups"):
        nn.Conv2d(3, 4, 3, groups=2)


def test_max_pool_return_indices_match_torch():
    x = np.random.default_rng(0).integers(0, 3, (2, 3, 7, 8)).astype(float)  # with ties
    for kw in ({"kernel_size": 3, "stride": 2, "padding": 1},
               {"kernel_size": 2, "dilation": 2, "ceil_mode": True}):
        out, idx = nn.MaxPool2d(return_indices=True, **kw)(cr.tensor(x))
        t_out, t_idx = torch.nn.MaxPool2d(return_indices=True, **kw)(torch.tensor(x))
        np.testing.assert_array_equal(out.numpy(), t_out.numpy())
        np.testing.assert_array_equal(idx.numpy(), t_idx.numpy())
        assert idx.dtype == cr.int64


def test_conv_and_pool_grad_fn_names():
    x = cr.randn(1, 2, 5, 5, requires_grad=True)
    assert type(F.conv2d(x, cr.randn(3, 2, 3, 3)).grad_fn).__name__ == "ConvolutionBackward0"
    assert type(F.max_pool2d(x, 2).grad_fn).__name__ == "MaxPool2DWithIndicesBackward0"
    assert type(F.avg_pool2d(x, 2).grad_fn).__name__ == "AvgPool2DBackward0"


# ---- Module API ----------------------------------------------------------------------------

def _net(L):
    return L.nn.Sequential(OrderedDict([
        ("conv", L.nn.Conv2d(1, 2, 3)), ("bn", L.nn.BatchNorm2d(2)), ("act", L.nn.ReLU()),
        ("flat", L.nn.Flatten()),
        ("head", L.nn.ModuleList([L.nn.Linear(8, 3), L.nn.Linear(8, 3), L.nn.Linear(3, 1)])),
        ("extra", L.nn.ModuleDict({"a": L.nn.Tanh(), "b": L.nn.Dropout(0.1)})),
    ]))


def test_state_dict_keys_order_and_repr_match_torch():
    theirs, ours = _net(torch), _net(cr)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert [n for n, _ in ours.named_buffers()] == [n for n, _ in theirs.named_buffers()]
    assert [n for n, _ in ours.named_modules()] == [n for n, _ in theirs.named_modules()]
    assert [n for n, _ in ours.named_children()] == [n for n, _ in theirs.named_children()]
    assert repr(ours) == repr(theirs)
    sd = ours.state_dict()
    assert not sd["conv.weight"].requires_grad
    assert ours.state_dict(keep_vars=True)["conv.weight"] is ours.conv.weight


def test_reprs_match_torch():
    modules = [
        "Conv2d(3, 8, (3, 5), stride=(2, 1), padding=(1, 2), dilation=2, bias=False)",
        "Conv2d(2, 4, 3, padding='same', padding_mode='reflect')",
        "Conv1d(3, 6, 5, groups=3)", "MaxPool2d(3, stride=1, padding=1, ceil_mode=True)",
        "AvgPool2d((2, 3))", "AdaptiveAvgPool2d((None, 4))", "BatchNorm1d(5, affine=False)",
        "BatchNorm2d(4, eps=1e-3, momentum=None)", "LayerNorm([3, 4], bias=False)",
        "GroupNorm(2, 4, affine=False)", "Embedding(10, 4, padding_idx=0, max_norm=1.0)",
        "Dropout(p=0.2, inplace=True)", "ReLU(inplace=True)", "LeakyReLU(0.1, inplace=True)",
        "ELU(alpha=2.0)", "GELU(approximate='tanh')", "Softplus(beta=2, threshold=10)",
        "Softmax(dim=-1)", "LSTM(3, 4, num_layers=2, batch_first=True, dropout=0.5)",
        "GRU(3, 4, bias=False, bidirectional=True)", "RNN(3, 4, nonlinearity='relu')",
        "RNNCell(3, 4, nonlinearity='relu')", "LSTMCell(3, 4, bias=False)",
        "Bilinear(2, 3, 4)", "Unflatten(1, (2, 3))", "CrossEntropyLoss(label_smoothing=0.1)",
        "BCEWithLogitsLoss()", "Sequential()", "ModuleList()",
        "ModuleList([L.nn.Linear(2, 2), L.nn.Linear(2, 2), L.nn.ReLU(), L.nn.Linear(2, 2)])",
        "ParameterList([L.nn.Parameter(L.zeros(2, 3)), L.nn.Parameter(L.ones(4))])",
    ]
    for m in modules:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ours = eval("L.nn." + m, {"L": cr})
            theirs = eval("L.nn." + m, {"L": torch})
        assert repr(ours) == repr(theirs), m


def test_parameter_semantics():
    p = nn.Parameter(cr.tensor([1.0, 2.0]))
    assert repr(p) == repr(torch.nn.Parameter(torch.tensor([1.0, 2.0])))
    assert p.requires_grad and p.is_leaf and isinstance(p, cr.Tensor)
    assert not nn.Parameter(cr.zeros(2), requires_grad=False).requires_grad
    y = p * 2
    assert type(y) is cr.Tensor
    y.sum().backward()
    np.testing.assert_allclose(p.grad.numpy(), [2.0, 2.0])
    import copy
    import pickle
    for q in (copy.deepcopy(p), pickle.loads(pickle.dumps(p))):
        assert isinstance(q, nn.Parameter) and q.requires_grad
        np.testing.assert_allclose(q.detach().numpy(), p.detach().numpy())


def test_setattr_bookkeeping_and_errors():
    m = nn.Module()
    m.w = nn.Parameter(cr.zeros(2))
    m.register_buffer("b", cr.ones(2))
    m.register_buffer("tmp", cr.ones(1), persistent=False)
    m.sub = nn.Linear(2, 2)
    assert list(m._parameters) == ["w"] and list(m._buffers) == ["b", "tmp"]
    assert list(m.state_dict()) == ["w", "b", "sub.weight", "sub.bias"]
    with pytest.raises(TypeError, match="cannot assign 'torch.FloatTensor' as parameter 'w'"):
        m.w = cr.zeros(2)
    with pytest.raises(TypeError, match="cannot assign 'int' as child module 'sub'"):
        m.sub = 3
    with pytest.raises(TypeError, match="cannot assign 'int' as buffer 'b'"):
        m.b = 3
    m.b = cr.zeros(3)
    assert m.b.shape == (3,)
    with pytest.raises(KeyError, match="attribute 'w' already exists"):
        m.register_buffer("w", cr.zeros(1))
    with pytest.raises(KeyError, match="buffer name can.+t contain"):
        m.register_buffer("a.b", cr.zeros(1))
    with pytest.raises(AttributeError, match="'Module' object has no attribute 'nope'"):
        _ = m.nope
    m.w = None
    assert "w" in m._parameters and m.w is None
    del m.sub
    assert "sub" not in m._modules
    with pytest.raises(AttributeError, match="cannot assign parameters before"):
        _Early()


class _Early(nn.Module):
    def __init__(self):
        self.w = nn.Parameter(cr.zeros(1))


def test_load_state_dict_errors_match_torch():
    def err(lib, sd_edit, strict=True):
        m = lib.nn.Sequential(lib.nn.Linear(2, 3), lib.nn.BatchNorm1d(3))
        sd = m.state_dict()
        sd_edit(lib, sd)
        try:
            return repr(m.load_state_dict(sd, strict=strict))
        except RuntimeError as e:
            return str(e)

    def missing_unexpected(lib, sd):
        del sd["0.bias"]
        sd["1.extra"] = lib.zeros(1)
        sd["2.weight"] = lib.zeros(1)

    def size_mismatch(lib, sd):
        sd["0.weight"] = lib.zeros(3, 3)

    for edit in (missing_unexpected, size_mismatch):
        assert err(cr, edit) == err(torch, edit)
    assert err(cr, missing_unexpected, strict=False) == err(torch, missing_unexpected,
                                                             strict=False)
    assert err(cr, lambda lib, sd: None) == "<All keys matched successfully>"


def test_load_state_dict_copies_values_in_place():
    a, b = nn.Linear(3, 2), nn.Linear(3, 2)
    w = b.weight
    b.load_state_dict(a.state_dict())
    assert b.weight is w
    np.testing.assert_array_equal(b.weight.detach().numpy(), a.weight.detach().numpy())
    assert b.weight.requires_grad


def test_train_eval_zero_grad_requires_grad_apply_to():
    m = _net(cr)
    assert all(x.training for x in m.modules())
    m.eval()
    assert not any(x.training for x in m.modules())
    m.train()
    assert m.extra.b.training
    out = m.head[0](m.flat(m.act(m.bn(m.conv(cr.randn(4, 1, 4, 4))))))
    out.sum().backward()
    assert all(p.grad is not None for p in m.head[0].parameters())
    m.zero_grad(set_to_none=False)
    assert all((p.grad.numpy() == 0).all() for p in m.head[0].parameters())
    m.zero_grad()
    assert all(p.grad is None for p in m.parameters())
    m.requires_grad_(False)
    assert not any(p.requires_grad for p in m.parameters())
    seen = []
    m.apply(lambda mod: seen.append(type(mod).__name__))
    assert seen[-1] == "Sequential" and seen[0] == "Conv2d"
    w = m.conv.weight
    assert m.double() is m and m.conv.weight is w and w.dtype == cr.float64
    assert m.bn.num_batches_tracked.dtype == cr.int64
    m.to(cr.float32)
    assert w.dtype == cr.float32
    with pytest.raises(ValueError, match="training mode is expected to be boolean"):
        m.train("yes")


def test_forward_hooks():
    lin = nn.Linear(2, 2)
    calls = []
    h1 = lin.register_forward_pre_hook(lambda mod, args: (args[0] * 0,))
    h2 = lin.register_forward_hook(lambda mod, args, out: calls.append(out.shape) or out + 1)
    out = lin(cr.ones(1, 2))
    np.testing.assert_allclose(out.detach().numpy(), lin.bias.detach().numpy()[None] + 1)
    assert calls == [(1, 2)]
    h1.remove()
    h2.remove()
    np.testing.assert_allclose(lin(cr.ones(1, 2)).detach().numpy(),
                               F.linear(cr.ones(1, 2), lin.weight, lin.bias).detach().numpy())
    lin.register_forward_pre_hook(lambda mod, args, kwargs: (args, {}), with_kwargs=True)
    lin.register_forward_hook(lambda mod, args, kwargs, out: out * 0, with_kwargs=True)
    assert (lin(cr.ones(1, 2)).detach().numpy() == 0).all()


def test_containers():
    seq = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    assert len(seq) == 3 and isinstance(seq[-1], nn.Linear)
    assert isinstance(seq[1:], nn.Sequential) and len(seq[1:]) == 2
    assert list(seq[1:]._modules) == ["1", "2"]
    seq.append(nn.Sigmoid())
    assert list(seq._modules) == ["0", "1", "2", "3"]
    del seq[1]
    assert list(seq._modules) == ["0", "1", "2"] and isinstance(seq[1], nn.Linear)
    seq.insert(-1, nn.Tanh())
    assert isinstance(seq[2], nn.Tanh)
    with pytest.raises(IndexError, match="index 7 is out of range"):
        seq[7]
    assert seq(cr.randn(4, 2)).shape == (4, 1)
    ml = nn.ModuleList([nn.Linear(2, 2)])
    ml.append(nn.ReLU())
    ml.extend([nn.Tanh()])
    assert len(ml) == 3 and isinstance(ml[-1], nn.Tanh) and len(list(ml.parameters())) == 2
    md = nn.ModuleDict({"b": nn.ReLU(), "a": nn.Linear(1, 1)})
    assert list(md.keys()) == ["b", "a"] and "a" in md and len(md) == 2
    md["c"] = nn.Tanh()
    assert list(md) == ["b", "a", "c"]
    shared = nn.Linear(2, 2)
    twice = nn.Sequential(shared, shared)
    assert len(list(twice.parameters())) == 2 and len(list(twice.modules())) == 2


# ---- nn.init and nn.utils ------------------------------------------------------------------

def test_init_formulas_match_torch():
    for nl, param in [("linear", None), ("relu", None), ("tanh", None), ("leaky_relu", 0.2),
                      ("leaky_relu", None), ("selu", None), ("sigmoid", None)]:
        assert nn.init.calculate_gain(nl, param) == torch.nn.init.calculate_gain(nl, param)
    cr.manual_seed(0)
    w = cr.empty(400, 300)
    nn.init.kaiming_uniform_(w, a=5 ** 0.5)
    bound = 1 / np.sqrt(300)
    assert np.abs(w.numpy()).max() <= bound and np.abs(w.numpy()).max() > 0.98 * bound
    nn.init.xavier_uniform_(w)
    assert np.abs(w.numpy()).max() <= np.sqrt(6 / 700)
    nn.init.kaiming_normal_(w, mode="fan_out", nonlinearity="relu")
    assert abs(w.numpy().std() - np.sqrt(2 / 400)) < 0.01 * np.sqrt(2 / 400) * 10
    nn.init.xavier_normal_(w, gain=2.0)
    assert abs(w.numpy().std() - 2 * np.sqrt(2 / 700)) < 0.05 * 2 * np.sqrt(2 / 700)
    nn.init.orthogonal_(w)
    np.testing.assert_allclose(w.numpy().T @ w.numpy(), np.eye(300), atol=1e-5)
    nn.init.constant_(w, 0.5)
    assert (w.numpy() == 0.5).all()
    nn.init.trunc_normal_(w, std=2.0, a=-1.0, b=1.0)
    assert np.abs(w.numpy()).max() <= 1.0
    p = nn.Parameter(cr.zeros(3, 2))
    nn.init.uniform_(p, -1, 1)
    assert p.requires_grad and p.is_leaf and p.grad_fn is None
    lin = nn.Linear(50, 20)
    assert np.abs(lin.bias.detach().numpy()).max() <= 1 / np.sqrt(50)
    with pytest.raises(ValueError, match="Fan in and fan out can not be computed"):
        nn.init.xavier_uniform_(cr.zeros(3))


def test_clip_grad_and_vector_conversion_match_torch():
    rng = np.random.default_rng(0)
    grads = [rng.standard_normal((3, 2)) * 5, rng.standard_normal(4)]
    for norm_type in (2.0, 1.0, float("inf")):
        ps_c = [nn.Parameter(cr.zeros(*g.shape, dtype=cr.float64)) for g in grads]
        ps_t = [torch.nn.Parameter(torch.zeros(*g.shape, dtype=torch.float64)) for g in grads]
        for p, q, g in zip(ps_c, ps_t, grads):
            p.grad = cr.tensor(g)
            q.grad = torch.tensor(g)
        n_c = nn.utils.clip_grad_norm_(ps_c, 1.5, norm_type)
        n_t = torch.nn.utils.clip_grad_norm_(ps_t, 1.5, norm_type)
        np.testing.assert_allclose(n_c.item(), n_t.item(), rtol=1e-12)
        for p, q in zip(ps_c, ps_t):
            np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-12)
    nn.utils.clip_grad_value_(ps_c, 0.1)
    torch.nn.utils.clip_grad_value_(ps_t, 0.1)
    for p, q in zip(ps_c, ps_t):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy())
    lin = nn.Linear(3, 2)
    vec = nn.utils.parameters_to_vector(lin.parameters())
    assert vec.shape == (8,) and vec.requires_grad
    nn.utils.vector_to_parameters(cr.arange(8.0), lin.parameters())
    np.testing.assert_array_equal(lin.weight.detach().numpy(), np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(lin.bias.detach().numpy(), [6.0, 7.0])
    assert isinstance(lin.weight, nn.Parameter) and lin.weight.requires_grad


def test_nn_is_imported_lazily():
    code = ("import sys, chainrule; assert 'chainrule.nn' not in sys.modules; "
            "chainrule.nn.Linear; assert 'chainrule.nn' in sys.modules; "
            "assert 'chainrule.func' not in sys.modules; chainrule.func")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_train_a_small_cnn_decreases_the_loss():
    cr.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(4 * 4 * 4, 3))
    x = cr.randn(12, 1, 8, 8)
    y = cr.tensor(np.arange(12) % 3)
    loss_fn = nn.CrossEntropyLoss()
    first = None
    for _ in range(30):
        model.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        with cr.no_grad():
            for p in model.parameters():
                p -= 0.1 * p.grad
        first = loss.item() if first is None else first
    assert loss.item() < 0.5 * first


@pytest.mark.parametrize("rg", [False, True])
@pytest.mark.parametrize("lead", [(), (5,), (2, 5)])
def test_linear_weight_grad_with_leading_dims_matches_torch(lead, rg):
    """The weight gradient of a batched linear layer whose input needs no grad (an RNN's
    data, a frozen feature extractor) reads the weight's shape: it must be saved."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    x0, w0, b0 = rng.standard_normal(lead + (4, 3)), rng.standard_normal((2, 3)), \
        rng.standard_normal(2)
    grads = []
    for lib in (cr, torch):
        x = lib.tensor(x0, requires_grad=rg)
        w, b = lib.tensor(w0, requires_grad=True), lib.tensor(b0, requires_grad=True)
        (lib.nn.functional.linear(x, w, b) ** 2).sum().backward()
        grads.append([w.grad.numpy(), b.grad.numpy()] + ([x.grad.numpy()] if rg else []))
    for ours, theirs in zip(*grads):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12)


def test_rnn_over_70_steps_gives_every_parameter_a_grad():
    torch = pytest.importorskip("torch")
    grads = []
    for lib in (cr, torch):
        lib.manual_seed(0)
        m = lib.nn.RNN(3, 4)
        with lib.no_grad():
            for i, p in enumerate(m.parameters()):
                p.copy_(lib.tensor(np.linspace(-0.5, 0.5, p.numel()).reshape(tuple(p.shape))
                                   * (i + 1) / 4, dtype=lib.float32))
        out, _ = m(lib.tensor(np.sin(np.arange(70 * 2 * 3.0)).reshape(70, 2, 3),
                              dtype=lib.float32))
        out.sum().backward()
        grads.append([p.grad.numpy() for p in m.parameters()])
    for ours, theirs in zip(*grads):
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("kw", [dict(num_layers=2, proj_size=2, bidirectional=True),
                                dict(proj_size=3, batch_first=True),
                                dict(num_layers=3, proj_size=1, bias=False),
                                dict(num_layers=2, bidirectional=True)],
                         ids=["2layer_bidir", "batch_first", "no_bias_3layer", "no_proj"])
def test_lstm_projections_match_torch(kw):
    """LSTM(proj_size=P): h has P features (h_t = (o * tanh c_t) W_hr^T), c keeps
    hidden_size; parameter names and order, repr, outputs, final states and every .grad
    equal PyTorch's on the same weights, with and without an initial state."""
    torch = pytest.importorskip("torch")
    tm = torch.nn.LSTM(4, 5, **kw).double()
    cm = cr.nn.LSTM(4, 5, **kw).double()
    assert [n for n, _ in tm.named_parameters()] == [n for n, _ in cm.named_parameters()]
    cm.load_state_dict({k: cr.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()})
    assert repr(tm) == repr(cm)
    x = np.random.default_rng(1).standard_normal((6, 3, 4))
    tx, cx = torch.tensor(x, requires_grad=True), cr.tensor(x, requires_grad=True)
    dirs = 2 if kw.get("bidirectional") else 1
    layers, n = kw.get("num_layers", 1) * dirs, 6 if kw.get("batch_first") else 3
    h0 = np.random.default_rng(2).standard_normal((layers, n, kw.get("proj_size", 0) or 5))
    c0 = np.random.default_rng(3).standard_normal((layers, n, 5))
    for given in (False, True):
        t_out, (th, tc) = tm(tx, (torch.tensor(h0), torch.tensor(c0))) if given else tm(tx)
        c_out, (ch, cc) = cm(cx, (cr.tensor(h0), cr.tensor(c0))) if given else cm(cx)
        for a, b in ((t_out, c_out), (th, ch), (tc, cc)):
            np.testing.assert_allclose(b.detach().numpy(), a.detach().numpy(), rtol=1e-10,
                                       atol=1e-12)
        (t_out.sum() + 2 * th.sum() + 3 * tc.sum()).backward()
        (c_out.sum() + 2 * ch.sum() + 3 * cc.sum()).backward()
        np.testing.assert_allclose(cx.grad.numpy(), tx.grad.numpy(), rtol=1e-9, atol=1e-12)
        for (name, tp), (_, cp) in zip(tm.named_parameters(), cm.named_parameters()):
            np.testing.assert_allclose(cp.grad.numpy(), tp.grad.numpy(), rtol=1e-9,
                                       atol=1e-12, err_msg=name)
        tx.grad = cx.grad = None
        tm.zero_grad()
        cm.zero_grad()


def test_lstm_projection_errors_match_torch():
    torch = pytest.importorskip("torch")
    for size in (-1, 5, 6):
        for lib in (cr, torch):
            with pytest.raises(ValueError) as err:
                lib.nn.LSTM(3, 5, proj_size=size)
            assert "proj_size" in str(err.value)
    x = np.zeros((4, 2, 3))
    for lib in (cr, torch):
        m = lib.nn.LSTM(3, 5, proj_size=2)
        with pytest.raises(RuntimeError, match=r"Expected hidden\[0\] size \(1, 2, 2\), got "
                                               r"\[1, 2, 5\]"):
            m(lib.tensor(x, dtype=lib.float32), (lib.zeros(1, 2, 5), lib.zeros(1, 2, 5)))
        with pytest.raises(RuntimeError, match=r"Expected hidden\[1\] size \(1, 2, 5\), got "
                                               r"\[1, 2, 2\]"):
            m(lib.tensor(x, dtype=lib.float32), (lib.zeros(1, 2, 2), lib.zeros(1, 2, 2)))
