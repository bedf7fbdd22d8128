"""``chainrule.compile``: trace once, run generated NumPy code (Note [compiled calls]).

The pieces: ``backend/trace.py`` (the recording array library), ``externals.py`` (what a
function reads besides its arguments), ``tracing.py`` (one traced run, forward and
backward), ``codegen.py`` (the generated Python source) and ``compiled.py`` (the cache,
the guards and the call)."""

from __future__ import annotations

from .compiled import CompiledFunction, CompiledFunctionBackward

__all__ = ["compile", "CompiledFunction", "CompiledFunctionBackward"]

_BACKENDS = ("inductor", "eager", "aot_eager", "cudagraphs", "chainrule")
_MODES = ("default", "lite", "reduce-overhead", "max-autotune-no-cudagraphs", "max-autotune")


def compile(model=None, *, fullgraph=False, dynamic=None, backend=None, mode=None,
            options=None, disable=False, recompile_limit=None):
    """Compile ``model`` (a function or an ``nn.Module``): PyTorch 2.13's signature,
    also as a decorator (``@chainrule.compile`` or ``@chainrule.compile(...)``).

    The first call traces the function on its real inputs and generates a forward and a
    backward as plain Python over NumPy (``compiled.source`` shows them); later calls
    whose guards hold run that code.  ``backend``, ``mode`` and ``options`` are checked
    as PyTorch checks them and otherwise ignored: there is one compiler.  ``dynamic``:
    shapes are always specialized (a new shape is a new trace), as ``dynamic=False``."""
    if mode is not None and options is not None:
        raise RuntimeError("Either mode or options can be specified, but both can't be "
                           "specified at the same time.")
    if mode is not None and mode not in _MODES:
        raise RuntimeError(f"Unrecognized mode={mode}, should be one of: "
                           f"{', '.join(_MODES)}")
    if backend is not None and not callable(backend) and backend not in _BACKENDS:
        raise RuntimeError(f"Invalid backend: {backend!r}, see `torch._dynamo.list_backends()` "
                           f"for available backends. (chainrule.compile has one compiler; any "
                           f"of {', '.join(map(repr, _BACKENDS))} names it.)")
    if backend is not None and callable(backend):
        raise RuntimeError("chainrule.compile: a backend function (a compiler for PyTorch "
                           "FX graphs) cannot be used; leave backend=None")
    if options is not None and not isinstance(options, dict):
        raise RuntimeError(f"options must be a dict, got {type(options).__name__}")

    def wrap(fn):
        if disable:
            return fn
        from ..nn.modules.module import Module
        if isinstance(fn, Module):
            from .module import OptimizedModule
            return OptimizedModule(fn, fullgraph=fullgraph, dynamic=dynamic,
                                   recompile_limit=recompile_limit)
        if not callable(fn):
            raise RuntimeError(f"compile: expected a function or an nn.Module, got "
                               f"{type(fn).__name__}")
        return CompiledFunction(fn, fullgraph=fullgraph, dynamic=dynamic,
                                recompile_limit=recompile_limit)

    if model is None:
        return wrap
    return wrap(model)


