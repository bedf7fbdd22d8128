"""nn.utils.rnn: padding and packing variable-length sequences, and RNNs over packed
batches, compared with PyTorch on the same data and weights (values and every .grad)."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.nn.utils import rnn as crnn

torch = pytest.importorskip("torch")
trnn = torch.nn.utils.rnn

SEQS = [np.random.default_rng(0).standard_normal((n, 4)) for n in (3, 5, 1, 5, 2)]
LENGTHS = [len(s) for s in SEQS]


def _leaves():
    return ([torch.tensor(s, requires_grad=True) for s in SEQS],
            [cr.tensor(s, requires_grad=True) for s in SEQS])


def _same(a, b, tol=0.0):
    np.testing.assert_allclose(b.detach().numpy(), a.detach().numpy(), rtol=tol,
                               atol=tol * 1e-2)


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("side", ["right", "left"])
def test_pad_sequence(batch_first, side):
    ts, cs = _leaves()
    _same(trnn.pad_sequence(ts, batch_first, -1.0, side),
          crnn.pad_sequence(cs, batch_first, -1.0, side))


@pytest.mark.parametrize("enforce_sorted", [False, True])
def test_pack_and_unpack_round_trip(enforce_sorted):
    ts, cs = _leaves()
    order = np.argsort([-n for n in LENGTHS], kind="stable") if enforce_sorted else \
        range(len(SEQS))
    ts, cs = [ts[i] for i in order], [cs[i] for i in order]
    lengths = [LENGTHS[i] for i in order]
    tp = trnn.pack_padded_sequence(trnn.pad_sequence(ts), lengths,
                                   enforce_sorted=enforce_sorted)
    cp = crnn.pack_padded_sequence(crnn.pad_sequence(cs), lengths,
                                   enforce_sorted=enforce_sorted)
    for a, b in zip(tp, cp):
        assert (a is None) == (b is None)
        if a is not None:
            _same(a, b)
    for total in (None, 7):
        for a, b in zip(trnn.pad_packed_sequence(tp, True, 9.0, total),
                        crnn.pad_packed_sequence(cp, True, 9.0, total)):
            _same(a, b)
    for a, b in zip(trnn.unpack_sequence(tp), crnn.unpack_sequence(cp)):
        _same(a, b)
    if enforce_sorted:
        _same(trnn.pack_sequence(ts).data, crnn.pack_sequence(cs).data)


@pytest.mark.parametrize("kind,kw", [("LSTM", dict(num_layers=2, bidirectional=True)),
                                     ("GRU", dict(bidirectional=True)),
                                     ("RNN", dict(num_layers=2)),
                                     ("LSTM", dict(proj_size=2))],
                         ids=["lstm_2l_bidir", "gru_bidir", "rnn_2l", "lstm_proj"])
def test_rnns_run_packed_batches_as_pytorch(kind, kw):
    """Each sequence runs over its own steps: the packed output, the final states (in the
    batch's original order) and every gradient equal PyTorch's."""
    ts, cs = _leaves()
    tm = getattr(torch.nn, kind)(4, 3, **kw).double()
    cm = getattr(cr.nn, kind)(4, 3, **kw).double()
    cm.load_state_dict({k: cr.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()})
    tp = trnn.pack_padded_sequence(trnn.pad_sequence(ts), LENGTHS, enforce_sorted=False)
    cp = crnn.pack_padded_sequence(crnn.pad_sequence(cs), LENGTHS, enforce_sorted=False)
    to, th = tm(tp)
    co, ch = cm(cp)
    assert isinstance(co, crnn.PackedSequence)
    for a, b in zip(to, co):
        _same(a, b, 1e-10)
    th = th if isinstance(th, tuple) else (th,)
    ch = ch if isinstance(ch, tuple) else (ch,)
    for a, b in zip(th, ch):
        _same(a, b, 1e-10)
    (to.data.sum() + sum((h * (i + 2)).sum() for i, h in enumerate(th))).backward()
    (co.data.sum() + sum((h * (i + 2)).sum() for i, h in enumerate(ch))).backward()
    for a, b in zip(ts, cs):
        _same(a.grad, b.grad, 1e-9)
    for (name, p), (_, q) in zip(tm.named_parameters(), cm.named_parameters()):
        np.testing.assert_allclose(q.grad.numpy(), p.grad.numpy(), rtol=1e-9, atol=1e-12,
                                   err_msg=name)


def test_packing_errors_match_pytorch():
    for lib, mod in ((torch, trnn), (cr, crnn)):
        x = lib.zeros(5, 3, 2)
        with pytest.raises(RuntimeError, match="must be sorted in decreasing order"):
            mod.pack_padded_sequence(x, [2, 3, 1])
        with pytest.raises(RuntimeError, match="greater than 0"):
            mod.pack_padded_sequence(x, [3, 0, 0])
        packed = mod.pack_padded_sequence(x, [3, 2, 1])
        with pytest.raises(ValueError, match="total_length to be at least"):
            mod.pad_packed_sequence(packed, total_length=2)
