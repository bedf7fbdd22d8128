"""``chainrule.utils.dlpack``, as ``torch.utils.dlpack``: ``to_dlpack``, ``from_dlpack`` and
``DLDeviceType`` (Note [DLPack] in chainrule/_dlpack.py)."""

from .._dlpack import DLDeviceType, from_dlpack, to_dlpack

__all__ = ["DLDeviceType", "from_dlpack", "to_dlpack"]
