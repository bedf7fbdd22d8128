"""Python's operators on the arrays of chainrule's own array libraries (vmap's batched
arrays, the meta device's shape-only arrays), by their Array API function names."""

from __future__ import annotations

# operator name -> the standard's function (each also gets __r<name>__ and __i<name>__)
ARITHMETIC = (("add", "add"), ("sub", "subtract"), ("mul", "multiply"),
              ("truediv", "divide"), ("floordiv", "floor_divide"), ("mod", "remainder"),
              ("pow", "pow"), ("and", "bitwise_and"), ("or", "bitwise_or"),
              ("xor", "bitwise_xor"), ("lshift", "bitwise_left_shift"),
              ("rshift", "bitwise_right_shift"), ("matmul", "matmul"))
COMPARISON = (("eq", "equal"), ("ne", "not_equal"), ("lt", "less"), ("le", "less_equal"),
              ("gt", "greater"), ("ge", "greater_equal"))


def install(cls, function, inplace):
    """Give ``cls`` the operators: ``function(name)`` is the standard function of that
    name for ``cls``'s arrays, ``inplace(f)`` the in-place form of ``f``."""
    for op, name in ARITHMETIC:
        f = function(name)
        setattr(cls, f"__{op}__", lambda self, other, f=f: f(self, other))
        setattr(cls, f"__r{op}__", lambda self, other, f=f: f(other, self))
        setattr(cls, f"__i{op}__", inplace(f))
    for op, name in COMPARISON:
        f = function(name)
        setattr(cls, f"__{op}__", lambda self, other, f=f: f(self, other))
    cls.__hash__ = object.__hash__
