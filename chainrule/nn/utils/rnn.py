"""``nn.utils.rnn``: padded batches of variable-length sequences, and PyTorch's packed form.

A ``PackedSequence`` holds the steps of a batch of sequences sorted by length (longest
first), time step by time step: ``data`` is ``(sum(lengths), *)``, ``batch_sizes[t]`` how
many sequences are still running at step ``t``, and ``sorted_indices`` the batch order
that sorting made (``None`` when the batch was already sorted).  ``RNN``/``LSTM``/``GRU``
take one and run each sequence only over its own length (the recurrent state of a
finished sequence stops changing), as PyTorch's do.  Packing and unpacking are indexing,
so gradients flow through them.
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np

from ... import _creation
from ..._tensor import Tensor

__all__ = ["PackedSequence", "pack_padded_sequence", "pad_packed_sequence", "pad_sequence",
           "pack_sequence", "unpad_sequence", "unpack_sequence"]


class PackedSequence(namedtuple("PackedSequence",
                                ["data", "batch_sizes", "sorted_indices", "unsorted_indices"])):
    """``(data, batch_sizes, sorted_indices, unsorted_indices)``, as PyTorch's."""

    def __new__(cls, data, batch_sizes=None, sorted_indices=None, unsorted_indices=None):
        if unsorted_indices is None and sorted_indices is not None:
            unsorted_indices = _inverse(sorted_indices)
        return super().__new__(cls, data, batch_sizes, sorted_indices, unsorted_indices)

    def to(self, *args, **kwargs):
        data = self.data.to(*args, **kwargs)
        return self if data is self.data else type(self)(
            data, self.batch_sizes, self.sorted_indices, self.unsorted_indices)

    @property
    def is_cuda(self) -> bool:
        return self.data.is_cuda

    def is_pinned(self) -> bool:
        return self.data.is_pinned()


def _inverse(order: Tensor) -> Tensor:
    o = order.numpy()
    inv = np.empty_like(o)
    inv[o] = np.arange(o.size, dtype=o.dtype)
    return _creation.tensor(inv)


def _lengths(lengths) -> np.ndarray:
    if isinstance(lengths, Tensor):
        lengths = lengths.tolist()
    out = np.asarray(lengths, dtype=np.int64).reshape(-1)
    return out


def pack_padded_sequence(input, lengths, batch_first=False, enforce_sorted=True):
    """Pack a padded batch ``(T, B, *)`` (``(B, T, *)`` with ``batch_first``) whose
    sequence ``b`` has ``lengths[b]`` steps."""
    if not isinstance(input, Tensor):
        raise TypeError(f"pack_padded_sequence(): argument 'input' must be Tensor, not "
                        f"{type(input).__name__}")
    n = _lengths(lengths)
    if batch_first:
        input = input.transpose(0, 1)
    if n.size != input.shape[1]:
        raise RuntimeError(f"Expected `len(lengths)` to be equal to batch_size, but got "
                           f"{n.size} (batch_size={input.shape[1]})")
    if enforce_sorted:
        if np.any(n[:-1] < n[1:]):
            raise RuntimeError("`lengths` array must be sorted in decreasing order when "
                               "`enforce_sorted` is True. You can pass `enforce_sorted=False` "
                               "to pack_padded_sequence and/or pack_sequence to sidestep this "
                               "requirement if you do not need ONNX exportability.")
        order = np.arange(n.size)
        sorted_indices = None
    else:
        order = np.argsort(-n, kind="stable")
        sorted_indices = _creation.tensor(order.astype(np.int64))
    if n.size and n.min() <= 0:
        raise RuntimeError("Length of all samples has to be greater than 0, but found an "
                           "element in 'lengths' that is <= 0")
    if n.size and n.max() > input.shape[0]:
        raise RuntimeError(f"pack_padded_sequence: a length {int(n.max())} exceeds the "
                           f"padded input's {input.shape[0]} steps")
    sorted_n = n[order]
    steps = int(sorted_n[0]) if n.size else 0
    batch_sizes = np.array([(sorted_n > t).sum() for t in range(steps)], np.int64)
    # the rows of input.reshape(T * B, *) in packed order: step by step, sorted batch order
    rows = np.concatenate([t * n.size + order[:k] for t, k in enumerate(batch_sizes)]) \
        if steps else np.zeros(0, np.int64)
    flat = input.reshape(input.shape[0] * input.shape[1], *input.shape[2:])
    data = flat[_creation.tensor(rows.astype(np.int64))]
    return PackedSequence(data, _creation.tensor(batch_sizes), sorted_indices, None)


def pad_packed_sequence(sequence, batch_first=False, padding_value=0.0, total_length=None):
    """Undo ``pack_padded_sequence``: ``(padded, lengths)``, in the batch's original
    order; ``total_length`` pads to that many steps."""
    if not isinstance(sequence, PackedSequence):
        raise TypeError(f"pad_packed_sequence(): expected a PackedSequence, got "
                        f"{type(sequence).__name__}")
    data, sizes = sequence.data, sequence.batch_sizes.numpy().astype(np.int64)
    steps, b = sizes.size, int(sizes[0]) if sizes.size else 0
    if total_length is not None:
        if total_length < steps:
            raise ValueError(f"Expected total_length to be at least the length of the "
                             f"longest sequence in input, but got total_length="
                             f"{total_length} and max sequence length being {steps}")
        steps_out = int(total_length)
    else:
        steps_out = steps
    lengths = np.array([(sizes > i).sum() for i in range(b)], np.int64)  # sorted order
    # where each packed row goes in the padded (T * B) layout, sorted batch order
    rows = np.concatenate([t * b + np.arange(k) for t, k in enumerate(sizes)]) if steps \
        else np.zeros(0, np.int64)
    padded = _creation.full((steps_out * b, *data.shape[1:]), padding_value,
                            dtype=data.dtype)
    padded = padded.index_copy(0, _creation.tensor(rows.astype(np.int64)), data)
    padded = padded.reshape(steps_out, b, *data.shape[1:])
    if sequence.unsorted_indices is not None:
        padded = padded.index_select(1, sequence.unsorted_indices)
        lengths = lengths[sequence.unsorted_indices.numpy()]
    if batch_first:
        padded = padded.transpose(0, 1)
    return padded, _creation.tensor(lengths)


def pad_sequence(sequences, batch_first=False, padding_value=0.0, padding_side="right"):
    """Stack tensors of shapes ``(L_i, *)`` into ``(max L, B, *)`` (``(B, max L, *)`` with
    ``batch_first``), filled with ``padding_value`` after (``padding_side='left'``:
    before) each sequence."""
    if isinstance(sequences, Tensor):
        sequences = list(sequences.unbind(0))
    sequences = list(sequences)
    if not sequences:
        raise RuntimeError("received an empty list of sequences")
    if padding_side not in ("left", "right"):
        raise ValueError(f"Expected padding_side to be one of left or right, but got "
                         f"{padding_side}.")
    from ... import cat, stack
    longest = max(s.shape[0] for s in sequences)
    padded = []
    for s in sequences:
        missing = longest - s.shape[0]
        if missing:
            pad = _creation.full((missing, *s.shape[1:]), padding_value, dtype=s.dtype)
            s = cat([s, pad] if padding_side == "right" else [pad, s], 0)
        padded.append(s)
    return stack(padded, 0 if batch_first else 1)


def pack_sequence(sequences, enforce_sorted=True):
    """``pack_padded_sequence(pad_sequence(sequences), lengths)``."""
    lengths = [s.shape[0] for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths,
                                enforce_sorted=enforce_sorted)


def unpad_sequence(padded_sequences, lengths, batch_first=False):
    """The list of sequences in a padded batch, each cut to its length."""
    if not batch_first:
        padded_sequences = padded_sequences.transpose(0, 1)
    return [seq[:int(n)] for seq, n in zip(padded_sequences, _lengths(lengths))]


def unpack_sequence(packed_sequences):
    """The list of sequences in a ``PackedSequence``, in the original order."""
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)
