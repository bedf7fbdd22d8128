"""``torch.backends``: the flags scripts set or query.  chainrule's CPU kernels are
NumPy's; the flags are recorded and read back, and the ``is_available()`` answers say
what this machine has."""

from __future__ import annotations

from types import SimpleNamespace


class _Flags(SimpleNamespace):
    def is_available(self) -> bool:
        return self._available()


def _cuda():
    from .. import cuda
    return cuda.is_available()


cudnn = _Flags(enabled=True, benchmark=False, deterministic=False, allow_tf32=True,
               _available=_cuda)
cudnn.version = lambda: None
mps = _Flags(_available=lambda: False)
mps.is_built = lambda: False
cuda = _Flags(_available=_cuda, matmul=SimpleNamespace(allow_tf32=False,
                                                       allow_fp16_reduced_precision_reduction=True))
cuda.is_built = _cuda
mkldnn = _Flags(enabled=True, _available=lambda: False)
openmp = _Flags(_available=lambda: False)
mkl = _Flags(_available=lambda: False)

__all__ = ["cudnn", "mps", "cuda", "mkldnn", "openmp", "mkl"]
