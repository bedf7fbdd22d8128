"""``torch.jit``: chainrule has no TorchScript.  Model code that asks ``is_scripting()``
or decorates methods with ``@torch.jit.ignore``/``unused``/``export`` keeps working (the
answers are False, the decorators return the function); compiling raises one clear error
(``chainrule.compile`` is the way to speed a function up)."""

from __future__ import annotations


def is_scripting() -> bool:
    return False


def is_tracing() -> bool:
    return False


def _passthrough(fn=None, **kwargs):
    if fn is None:
        return lambda f: f
    return fn


ignore = unused = export = _passthrough


def annotate(the_type, the_value):
    return the_value


def _refuse(name):
    def refuse(*args, **kwargs):
        raise RuntimeError(f"torch.jit.{name}: chainrule has no TorchScript; run the module "
                           f"eagerly (it is plain Python), save it with chainrule.save, "
                           f"or speed it up with chainrule.compile")
    refuse.__name__ = name
    return refuse


script = _refuse("script")
trace = _refuse("trace")
trace_module = _refuse("trace_module")
load = _refuse("load")
save = _refuse("save")
freeze = _refuse("freeze")
optimize_for_inference = _refuse("optimize_for_inference")
