"""The package's layers (docs/architecture.md, "Layers"): every module imports only from
its own layer or lower ones at import time, and no import-time cycle exists among the
package's modules.

A module is mapped to its layer by ``LAYERS`` below (a module the table does not name
fails the test: add it).  Imports inside functions (lazy imports) that reach a higher
layer are listed in ``LAZY_UP`` with their reason; a new one fails the test.  Imports
under ``if TYPE_CHECKING:`` never run and are not checked.
"""

from __future__ import annotations

import ast
import pathlib

import pytest

pytestmark = pytest.mark.chainrule_only

ROOT = pathlib.Path(__file__).resolve().parent.parent / "chainrule"

# (layer, modules): a name ending in ".*" is a package with all its modules; any
# other name is one module (a package's ``__init__`` is named by the package)
LAYERS = [
    ("base", ["chainrule._dtype", "chainrule._format", "chainrule._strides",
              "chainrule._grad_mode"]),
    ("backend", ["chainrule.backend._windows", "chainrule.backend._replay",
                 "chainrule.backend.array_api", "chainrule.backend.pow_kernels",
                 "chainrule.backend.numpy_backend",
                 "chainrule.backend.registry", "chainrule.backend.batched",
                 "chainrule.backend.batched_namespace", "chainrule.backend.meta",
                 "chainrule.backend._operators", "chainrule.backend.trace"]),
    ("tensor", ["chainrule._tensor", "chainrule._args", "chainrule.autograd.node",
                "chainrule.autograd._saved", "chainrule.autograd._hooks",
                "chainrule.autograd.forward_ad", "chainrule.autograd.anomaly_mode"]),
    ("ops", ["chainrule.ops", "chainrule.ops.*"]),
    ("autograd", ["chainrule.autograd", "chainrule.autograd.*",
                  "chainrule.backend.tensor_backend"]),
    ("api", ["chainrule", "chainrule._creation", "chainrule._functions",
             "chainrule._methods", "chainrule._lazy", "chainrule._serialization",
             "chainrule.linalg", "chainrule.random", "chainrule._compat",
             "chainrule.cuda", "chainrule._ufuncs", "chainrule._dlpack"]),
    ("front", ["chainrule.nn", "chainrule.nn.*", "chainrule.optim", "chainrule.optim.*",
               "chainrule.func", "chainrule._vmap", "chainrule.viz", "chainrule.viz.*",
               "chainrule._cli",
               "chainrule._cli.*", "chainrule.utils", "chainrule.utils.*",
               "chainrule.backends", "chainrule.jit", "chainrule.onnx",
               "chainrule.distributed", "chainrule.__main__", "chainrule._compile",
               "chainrule._compile.*"]),
]
ORDER = [name for name, _ in LAYERS]

# Lazy (function-level) imports that reach a higher layer: (importer, imported module).
# Each is a call back up the stack at run time, kept out of import time on purpose.
LAZY_UP = {
    # chainrule.vmap (torch.vmap) resolves on first use to the front layer's func.vmap
    ("chainrule", "chainrule._vmap"),
    # chainrule.compile (torch.compile) resolves on first use to the front layer's compiler
    ("chainrule", "chainrule._compile"),
    # ---- tensor & recording reach ops or autograd
    # Tensor builds tensors from data (torch.tensor's rules live in the API layer)
    ("chainrule._tensor", "chainrule._creation"),
    # a view whose base was written in place re-records its view steps (ops' dispatch)
    ("chainrule._tensor", "chainrule.ops._record"),
    # argument parsing converts sequences of tensors with the view and copy ops
    ("chainrule._args", "chainrule.ops.views"),
    # a hook over several outputs stacks them; forward AD reshapes and stacks tangents
    ("chainrule.autograd._hooks", "chainrule.ops.shape"),
    ("chainrule.autograd.forward_ad", "chainrule.ops.shape"),
    ("chainrule.autograd.forward_ad", "chainrule.ops.views"),
    # forward AD of a tensor tangent (a JVP under create_graph) runs the rules on Tensors
    ("chainrule.autograd.forward_ad", "chainrule.backend.tensor_backend"),
    # nested forward-mode levels record a linear row's forward on the tangents
    ("chainrule.autograd.forward_ad", "chainrule.ops._record"),
    # saved-tensor hooks switch the recording path's single SAVE_HOOK check (slow saves)
    ("chainrule.autograd._saved", "chainrule.ops._record"),
    # Node.backward()/register_hook and anomaly mode run the engine
    ("chainrule.autograd.node", "chainrule.autograd.engine"),
    # a node of promoted inputs rebuilds its saved values under create_graph
    ("chainrule.autograd.node", "chainrule.autograd._higher"),
    ("chainrule.autograd.anomaly_mode", "chainrule.autograd._higher"),
    ("chainrule.autograd.anomaly_mode", "chainrule.autograd.engine"),
    # ---- base and backend reach up
    # inference mode switches Tensor's wrap() (the no-inference fast path)
    ("chainrule._grad_mode", "chainrule._tensor"),
    # compile's value guards name the user's line that read a traced value
    ("chainrule.backend.trace", "chainrule.autograd.node"),
    # a namespace's to_device is Tensor's (device parsing and the device class live there)
    ("chainrule.backend.array_api", "chainrule._tensor"),
    ("chainrule.backend.numpy_backend", "chainrule._tensor"),
    # ---- ops reach the API and the engine
    # a row's input given as a list or number becomes a tensor (torch.tensor's rules)
    ("chainrule.ops._record", "chainrule._creation"),
    ("chainrule.ops.views", "chainrule._creation"),
    # CopySlices under create_graph runs the op's node differentiably
    ("chainrule.ops._copyslices", "chainrule.autograd._higher"),
    # composite reductions and sorts call the public functions (nanmedian, norms)
    ("chainrule.ops.reductions", "chainrule._functions"),
    ("chainrule.ops.reductions", "chainrule.linalg"),
    ("chainrule.ops.sorting", "chainrule._functions"),
    # kron and cartesian_prod are composites of public functions, as PyTorch builds them
    ("chainrule.ops.linalg", "chainrule._functions"),
    # the Tensor namespace (rules run on Tensors under create_graph) calls the public
    # functions (where, matmul, ...)
    ("chainrule.backend.tensor_backend", "chainrule"),
    # ---- autograd and API reach the front
    # torch.autograd.functional's jacobian/hessian are built on func's transforms
    ("chainrule.autograd.functional", "chainrule.func"),
    # torch.autograd.* names that PyTorch keeps in the compat layer
    ("chainrule.autograd", "chainrule._compat"),
    # torch.load rebuilds nn.Parameter
    ("chainrule._serialization", "chainrule.nn"),
}


def _module_name(path: pathlib.Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def layer_of(module: str) -> int | None:
    for i, (_, names) in enumerate(LAYERS):
        for n in names:
            if module == n or (n.endswith(".*") and module.startswith(n[:-1])):
                return i
    return None


def _is_type_checking(node) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING")


def _imports(module: str, path: pathlib.Path, source: str | None = None):
    """``(target module, lineno, lazy)`` for every import of a chainrule module."""
    is_pkg = path.name == "__init__.py"
    package = module.split(".") if is_pkg else module.split(".")[:-1]
    out = []

    def resolve(base: str, names):
        # ``from base import name``: the module ``base.name`` where it is one
        found = [f"{base}.{a.name}" for a in names if f"{base}.{a.name}" in MODULES]
        return found + ([base] if len(found) < len(names) else [])

    def visit(node, lazy):
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child, lazy)
            return
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name == "chainrule" or a.name.startswith("chainrule."):
                    out.append((a.name, node.lineno, lazy))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level + 1]
                base = ".".join(base + ([node.module] if node.module else []))
            elif node.module and (node.module == "chainrule"
                                  or node.module.startswith("chainrule.")):
                base = node.module
            else:
                return
            for target in resolve(base, node.names):
                out.append((target, node.lineno, lazy))
        lazy = lazy or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        for child in ast.iter_child_nodes(node):
            visit(child, lazy)

    visit(ast.parse(path.read_text() if source is None else source, str(path)), False)
    return out


IMPORTS = {m: _imports(m, p) for m, p in MODULES.items()}


def test_every_module_has_a_layer():
    missing = sorted(m for m in MODULES if layer_of(m) is None)
    assert not missing, (f"modules without a layer: {missing}; add each to LAYERS in "
                         f"tests/test_layers.py (and to docs/architecture.md's list)")


def test_no_top_level_import_goes_up():
    bad = []
    for m, imports in IMPORTS.items():
        for target, line, lazy in imports:
            if not lazy and layer_of(target) > layer_of(m):
                bad.append(f"{m}:{line} ({ORDER[layer_of(m)]}) imports {target} "
                           f"({ORDER[layer_of(target)]})")
    assert not bad, "imports at import time into a higher layer:\n" + "\n".join(bad)


def test_lazy_imports_up_are_listed():
    found = set()
    bad = []
    for m, imports in IMPORTS.items():
        for target, line, lazy in imports:
            if lazy and layer_of(target) > layer_of(m):
                found.add((m, target))
                if (m, target) not in LAZY_UP:
                    bad.append(f"{m}:{line} ({ORDER[layer_of(m)]}) imports {target} "
                               f"({ORDER[layer_of(target)]})")
    assert not bad, ("function-level imports into a higher layer: move the code down, or "
                     "list the pair in LAZY_UP with its reason:\n" + "\n".join(bad))
    stale = sorted(LAZY_UP - found)
    assert not stale, f"LAZY_UP lists imports that no longer exist (remove them): {stale}"


def _ancestors(module: str):
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def import_graph():
    """Edges ``m -> t`` of the imports that run when ``m`` is imported (a target's parent
    packages too, unless ``m`` is inside them: those are already being imported)."""
    graph = {m: set() for m in MODULES}
    for m, imports in IMPORTS.items():
        mine = set(_ancestors(m))
        for target, _, lazy in imports:
            if lazy:
                continue
            for t in [*_ancestors(target), target]:
                if t in MODULES and t not in mine and t != m:
                    graph[m].add(t)
    return graph


def find_cycle(graph):
    """One cycle of ``graph`` as a list of nodes, or None."""
    state = {}
    stack = []

    def dfs(n):
        state[n] = 1
        stack.append(n)
        for t in sorted(graph[n]):
            if state.get(t) == 1:
                return stack[stack.index(t):] + [t]
            if t not in state:
                c = dfs(t)
                if c:
                    return c
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state:
            c = dfs(n)
            if c:
                return c
    return None


def test_no_import_time_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import-time cycle: " + " -> ".join(cycle)


def test_checks_catch_violations():
    """The checks themselves: an upward import and a cycle are found."""
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
    assert layer_of("chainrule.ops._row") > layer_of("chainrule._tensor")
    assert layer_of("chainrule.backend.tensor_backend") == ORDER.index("autograd")
    assert layer_of("chainrule.not_a_module") is None
    src = ("from .._tensor import Tensor\n"
           "from ..ops import _core\n"
           "def f():\n    from ..autograd import engine\n"
           "if TYPE_CHECKING:\n    from ..nn import Module\n")
    found = _imports("chainrule.backend.registry", ROOT / "backend" / "registry.py", src)
    assert found == [("chainrule._tensor", 1, False), ("chainrule.ops._core", 2, False),
                     ("chainrule.autograd.engine", 4, True)]
