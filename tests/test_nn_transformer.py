"""``nn.MultiheadAttention`` and the ``nn.Transformer*`` modules against torch: the same
state dict, inputs and masks give the same outputs, attention weights and gradients
(of parameters and inputs)."""

import warnings

import numpy as np
import pytest
import torch

import chainrule
from chainrule import nn

DTYPES = [(torch.float64, chainrule.float64, 1e-10), (torch.float32, chainrule.float32, 2e-5)]


def cr(t):
    return None if t is None else chainrule.tensor(t.detach().numpy())


def copy_weights(tm, cm):
    cm.load_state_dict({k: cr(v) for k, v in tm.state_dict().items()})


def close(a, b, tol):
    if a is None or b is None:
        assert a is None and b is None
        return
    np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=tol, atol=tol)


def run_both(tm, cm, inputs, kwargs, tol, train=False, index=None):
    """Forward both modules on the same inputs (torch tensors; the float ones get
    requires_grad), compare outputs, then backward a weighted sum and compare grads."""
    tm.train(train)
    cm.train(train)
    t_in = [x.clone().requires_grad_(x.is_floating_point()) for x in inputs]
    c_in = [cr(x).requires_grad_(x.is_floating_point()) for x in inputs]
    t_kw = {k: v for k, v in kwargs.items()}
    c_kw = {k: cr(v) if isinstance(v, torch.Tensor) else v for k, v in kwargs.items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t_out = tm(*t_in, **t_kw)
    c_out = cm(*c_in, **c_kw)
    if index is not None:
        for a, b in zip(t_out, c_out):
            close(a, b, tol)
        t_out, c_out = t_out[index], c_out[index]
    close(t_out, c_out, tol)
    w = torch.randn(t_out.shape, dtype=t_out.dtype)
    (t_out * w).sum().backward()
    (c_out * cr(w)).sum().backward()
    for (tn, tp), (cn, cp) in zip(tm.named_parameters(), cm.named_parameters()):
        assert tn == cn
        close(tp.grad, cp.grad, tol * 10)
    for a, b in zip(t_in, c_in):
        close(a.grad, b.grad, tol * 10)
    return t_out, c_out


def mha_pair(tdt, cdt, *args, **kwargs):
    tm = torch.nn.MultiheadAttention(*args, dtype=tdt, **kwargs)
    cm = nn.MultiheadAttention(*args, dtype=cdt, **kwargs)
    copy_weights(tm, cm)
    return tm, cm


@pytest.mark.parametrize("tdt,cdt,tol", DTYPES)
@pytest.mark.parametrize("options", [
    {},
    {"batch_first": True},
    {"bias": False},
    {"add_bias_kv": True},
    {"add_zero_attn": True},
    {"add_bias_kv": True, "add_zero_attn": True, "batch_first": True},
    {"kdim": 3, "vdim": 5},
])
@pytest.mark.parametrize("need_weights,average", [(True, True), (True, False), (False, True)])
def test_mha_matches_torch(tdt, cdt, tol, options, need_weights, average):
    torch.manual_seed(0)
    tm, cm = mha_pair(tdt, cdt, 8, 2, **options)
    L, S, N = 4, 6, 3
    bf = options.get("batch_first", False)
    shape = (lambda n, e: (N, n, e)) if bf else (lambda n, e: (n, N, e))
    q = torch.randn(shape(L, 8), dtype=tdt)
    k = torch.randn(shape(S, options.get("kdim", 8)), dtype=tdt)
    v = torch.randn(shape(S, options.get("vdim", 8)), dtype=tdt)
    run_both(tm, cm, [q, k, v], {"need_weights": need_weights,
                                 "average_attn_weights": average}, tol, index=0)
    # with both kinds of mask
    kpm = torch.zeros(N, S, dtype=torch.bool)
    kpm[0, -2:] = True
    kpm[2, 0] = True
    am = torch.randn(L, S, dtype=tdt)
    run_both(tm, cm, [q, k, v], {"need_weights": need_weights, "key_padding_mask": kpm,
                                 "attn_mask": am, "average_attn_weights": average}, tol,
             index=0)


@pytest.mark.parametrize("tdt,cdt,tol", DTYPES)
@pytest.mark.parametrize("need_weights", [True, False])
@pytest.mark.parametrize("train", [False, True])
def test_mha_masks_match_torch(tdt, cdt, tol, need_weights, train):
    torch.manual_seed(1)
    E, H, L, S, N = 6, 3, 5, 4, 2
    tm, cm = mha_pair(tdt, cdt, E, H)
    q, k, v = (torch.randn(n, N, E, dtype=tdt) for n in (L, S, S))
    kpm_bool = torch.tensor([[False, False, True, False], [False, True, True, False]])
    kpm_float = torch.randn(N, S, dtype=tdt)
    am_bool = torch.rand(L, S) > 0.7
    am_bool[:, 0] = False  # every query keeps a key
    am_float = torch.randn(L, S, dtype=tdt)
    am3_bool = torch.rand(N * H, L, S) > 0.7
    am3_bool[..., 3] = False
    am3_float = torch.randn(N * H, L, S, dtype=tdt)
    cases = [
        {"key_padding_mask": kpm_bool},
        {"key_padding_mask": kpm_float},
        {"attn_mask": am_bool},
        {"attn_mask": am_float},
        {"attn_mask": am3_bool},
        {"attn_mask": am3_float},
        {"attn_mask": am3_float, "key_padding_mask": kpm_float},
        {"attn_mask": am_bool, "key_padding_mask": kpm_bool},
    ]
    for kw in cases:
        run_both(tm, cm, [q, k, v], dict(kw, need_weights=need_weights), tol, train=train,
                 index=0)


@pytest.mark.parametrize("tdt,cdt,tol", DTYPES)
@pytest.mark.parametrize("need_weights", [True, False])
def test_mha_is_causal_and_self_attention_match_torch(tdt, cdt, tol, need_weights):
    torch.manual_seed(2)
    tm, cm = mha_pair(tdt, cdt, 4, 2, batch_first=True)
    x = torch.randn(2, 5, 4, dtype=tdt)
    mask = torch.nn.Transformer.generate_square_subsequent_mask(5, dtype=tdt)
    tm.eval()
    cm.eval()
    # self-attention (query is key is value) with the causal hint
    tx, cx = x.clone().requires_grad_(), cr(x).requires_grad_()
    t_out = tm(tx, tx, tx, attn_mask=mask, is_causal=True, need_weights=need_weights)
    c_out = cm(cx, cx, cx, attn_mask=cr(mask), is_causal=True, need_weights=need_weights)
    for a, b in zip(t_out, c_out):
        close(a, b, tol)
    t_out[0].pow(2).sum().backward()
    c_out[0].pow(2).sum().backward()
    close(tx.grad, cx.grad, tol * 10)
    close(tm.in_proj_weight.grad, cm.in_proj_weight.grad, tol * 10)
    with pytest.raises(RuntimeError, match="Need attn_mask if specifying the is_causal"):
        cm(cr(x), cr(x), cr(x), is_causal=True)


@pytest.mark.parametrize("tdt,cdt,tol", DTYPES)
def test_mha_unbatched_matches_torch(tdt, cdt, tol):
    torch.manual_seed(3)
    tm, cm = mha_pair(tdt, cdt, 4, 2)
    q, k, v = torch.randn(3, 4, dtype=tdt), torch.randn(5, 4, dtype=tdt), \
        torch.randn(5, 4, dtype=tdt)
    kpm = torch.tensor([False, True, False, False, False])
    am3 = torch.randn(2, 3, 5, dtype=tdt)
    for nw in (True, False):
        run_both(tm, cm, [q, k, v], {"need_weights": nw}, tol, index=0)
        run_both(tm, cm, [q, k, v], {"need_weights": nw, "key_padding_mask": kpm,
                                     "attn_mask": am3}, tol, index=0)


def test_mha_state_dict_round_trip_and_names():
    for kw in ({}, {"kdim": 3, "vdim": 5, "add_bias_kv": True}, {"bias": False}):
        tm = torch.nn.MultiheadAttention(6, 2, **kw)
        cm = nn.MultiheadAttention(6, 2, **kw)
        assert list(tm.state_dict()) == list(cm.state_dict())
        assert [n for n, _ in tm.named_parameters()] == [n for n, _ in cm.named_parameters()]
        assert repr(tm) == repr(cm)
        tm.load_state_dict({k: torch.from_numpy(v.numpy().copy())
                            for k, v in cm.state_dict().items()})
        for k, v in tm.state_dict().items():
            np.testing.assert_array_equal(v.numpy(), cm.state_dict()[k].numpy())


def test_mha_errors_match_torch():
    cm = nn.MultiheadAttention(4, 2)
    tm = torch.nn.MultiheadAttention(4, 2)
    x = torch.randn(3, 2, 4)
    bad = [
        ((x, x, x), {"attn_mask": torch.zeros(2, 2)}),
        ((x, x, x), {"attn_mask": torch.zeros(5, 3, 3)}),
        ((x, x, x), {"key_padding_mask": torch.zeros(2, 3, 1, dtype=torch.bool)}),
        ((x, x[0], x), {}),
        ((x[..., :3], x, x), {}),
        ((x, x, x), {"attn_mask": torch.zeros(3, 3, dtype=torch.int64)}),
    ]
    for args, kw in bad:
        with pytest.raises(Exception) as te:
            tm(*args, **kw)
        with pytest.raises(type(te.value)):
            cm(*[cr(a) for a in args], **{k: cr(v) for k, v in kw.items()})
    for args in ((0, 2), (4, 0)):
        with pytest.raises(ValueError, match="embed_dim and num_heads must be greater"):
            nn.MultiheadAttention(*args)
    with pytest.raises(AssertionError, match="divisible"):
        nn.MultiheadAttention(5, 2)


def layer_pair(tcls, ccls, tdt, cdt, *args, **kwargs):
    torch.manual_seed(4)
    tm = tcls(*args, dtype=tdt, **kwargs)
    cm = ccls(*args, dtype=cdt, **kwargs)
    copy_weights(tm, cm)
    return tm, cm


LAYER_OPTIONS = [
    {"dropout": 0.0},
    {"dropout": 0.0, "norm_first": True},
    {"dropout": 0.0, "activation": "gelu", "batch_first": True},
    {"dropout": 0.0, "bias": False, "layer_norm_eps": 1e-3},
]


@pytest.mark.parametrize("tdt,cdt,tol", DTYPES)
@pytest.mark.parametrize("options", LAYER_OPTIONS)
@pytest.mark.parametrize("train", [False, True])
def test_encoder_layer_matches_torch(tdt, cdt, tol, options, train):
    tm, cm = layer_pair(torch.nn.TransformerEncoderLayer, nn.TransformerEncoderLayer, tdt,
                        cdt, 8, 2, dim_feedforward=16, **options)
    bf = options.get("batch_first", False)
    src = torch.randn((2, 5, 8) if bf else (5, 2, 8), dtype=tdt)
    kpm = torch.tensor([[False] * 5, [False, False, False, True, True]])
    mask = torch.nn.Transformer.generate_square_subsequent_mask(5, dtype=tdt)
    run_both(tm, cm, [src], {}, tol, train=train)
    run_both(tm, cm, [src], {"src_mask": mask, "is_causal": True}, tol, train=train)
    run_both(tm, cm, [src], {"src_key_padding_mask": kpm, "src_mask": mask > 0}, tol,
             train=train)


@pytest.mark.parametrize("tdt,cdt,tol", DTYPES)
@pytest.mark.parametrize("options", LAYER_OPTIONS)
@pytest.mark.parametrize("train", [False, True])
def test_decoder_layer_matches_torch(tdt, cdt, tol, options, train):
    tm, cm = layer_pair(torch.nn.TransformerDecoderLayer, nn.TransformerDecoderLayer, tdt,
                        cdt, 8, 2, dim_feedforward=16, **options)
    bf = options.get("batch_first", False)
    tgt = torch.randn((2, 4, 8) if bf else (4, 2, 8), dtype=tdt)
    mem = torch.randn((2, 6, 8) if bf else (6, 2, 8), dtype=tdt)
    mask = torch.nn.Transformer.generate_square_subsequent_mask(4, dtype=tdt)
    mkpm = torch.tensor([[False] * 6, [False, False, False, False, True, True]])
    run_both(tm, cm, [tgt, mem], {}, tol, train=train)
    run_both(tm, cm, [tgt, mem], {"tgt_mask": mask, "tgt_is_causal": True,
                                  "memory_key_padding_mask": mkpm,
                                  "memory_mask": torch.randn(4, 6, dtype=tdt)}, tol,
             train=train)


def test_encoder_layer_callable_activation_and_unbatched():
    tm, cm = layer_pair(torch.nn.TransformerEncoderLayer, nn.TransformerEncoderLayer,
                        torch.float64, chainrule.float64, 4, 2, dim_feedforward=8,
                        dropout=0.0)
    tm.activation = torch.tanh
    cm.activation = chainrule.tanh
    run_both(tm, cm, [torch.randn(3, 4, dtype=torch.float64)], {}, 1e-10)
    t2 = torch.nn.TransformerEncoderLayer(4, 2, activation=torch.nn.GELU())
    c2 = nn.TransformerEncoderLayer(4, 2, activation=nn.GELU())
    assert t2.activation_relu_or_gelu == c2.activation_relu_or_gelu == 2
    assert list(t2.state_dict()) == list(c2.state_dict())
    with pytest.raises(RuntimeError, match="activation should be relu/gelu, not tanh"):
        nn.TransformerEncoderLayer(4, 2, activation="tanh")


@pytest.mark.parametrize("tdt,cdt,tol", DTYPES)
@pytest.mark.parametrize("train", [False, True])
def test_transformer_matches_torch(tdt, cdt, tol, train):
    kw = {"d_model": 8, "nhead": 2, "num_encoder_layers": 2, "num_decoder_layers": 2,
          "dim_feedforward": 16, "dropout": 0.0}
    tm, cm = layer_pair(torch.nn.Transformer, nn.Transformer, tdt, cdt, **kw)
    assert list(tm.state_dict()) == list(cm.state_dict())
    assert repr(tm) == repr(cm)
    src = torch.randn(5, 2, 8, dtype=tdt)
    tgt = torch.randn(4, 2, 8, dtype=tdt)
    tgt_mask = torch.nn.Transformer.generate_square_subsequent_mask(4, dtype=tdt)
    skpm = torch.tensor([[False] * 5, [False, False, False, True, True]])
    run_both(tm, cm, [src, tgt], {}, tol, train=train)
    run_both(tm, cm, [src, tgt], {"tgt_mask": tgt_mask, "src_key_padding_mask": skpm,
                                  "memory_key_padding_mask": skpm}, tol, train=train)


@pytest.mark.parametrize("norm_first", [False, True])
def test_transformer_batch_first_and_stacks_match_torch(norm_first):
    kw = {"d_model": 6, "nhead": 3, "num_encoder_layers": 1, "num_decoder_layers": 2,
          "dim_feedforward": 12, "dropout": 0.0, "batch_first": True,
          "norm_first": norm_first, "activation": "gelu"}
    tm, cm = layer_pair(torch.nn.Transformer, nn.Transformer, torch.float64,
                        chainrule.float64, **kw)
    src = torch.randn(2, 5, 6, dtype=torch.float64)
    tgt = torch.randn(2, 3, 6, dtype=torch.float64)
    mask = nn.Transformer.generate_square_subsequent_mask(3, dtype=chainrule.float64)
    run_both(tm, cm, [src, tgt], {"tgt_mask": torch.from_numpy(mask.numpy())}, 1e-10)
    with pytest.raises(RuntimeError, match="the batch number of src and tgt must be equal"):
        cm(cr(src), cr(tgt[:1]))
    with pytest.raises(RuntimeError, match="the feature number of src and tgt"):
        cm(cr(src[..., :4]), cr(tgt))


def test_encoder_eval_no_grad_matches_torch_without_nested_tensor():
    # torch's eval fast path pads nested-tensor outputs with zeros; without nested
    # tensors (enable_nested_tensor=False) it matches the slow path, as chainrule does
    layer = torch.nn.TransformerEncoderLayer(8, 2, 16, batch_first=True)
    tm = torch.nn.TransformerEncoder(layer, 2, enable_nested_tensor=False).eval()
    cm = nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16, batch_first=True),
                               2).eval()
    copy_weights(tm, cm)
    src = torch.randn(2, 5, 8)
    kpm = torch.tensor([[False] * 5, [False, False, False, True, True]])
    with torch.no_grad():
        t = tm(src, src_key_padding_mask=kpm)
    with chainrule.no_grad():
        c = cm(cr(src), src_key_padding_mask=cr(kpm))
    close(t, c, 2e-5)


def test_generate_square_subsequent_mask_matches_torch():
    for sz in (1, 4):
        t = torch.nn.Transformer.generate_square_subsequent_mask(sz)
        c = nn.Transformer.generate_square_subsequent_mask(sz)
        assert c.dtype == chainrule.float32
        np.testing.assert_array_equal(t.numpy(), c.numpy())
    c = nn.Transformer.generate_square_subsequent_mask(3, dtype=chainrule.float64)
    assert c.dtype == chainrule.float64


def test_transformer_train_dropout_changes_output_and_eval_is_deterministic():
    m = nn.Transformer(8, 2, 1, 1, 16, dropout=0.5)
    src, tgt = chainrule.randn(5, 2, 8), chainrule.randn(4, 2, 8)
    m.eval()
    a, b = m(src, tgt), m(src, tgt)
    np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
    m.train()
    assert not np.allclose(m(src, tgt).detach().numpy(), a.detach().numpy())
