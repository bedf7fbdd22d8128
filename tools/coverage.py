"""How much of PyTorch's public API chainrule has, measured instead of guessed.

    python tools/coverage.py                 # the summary table
    python tools/coverage.py --missing       # also list what is missing, by group
    python tools/coverage.py --json out.json

Four groups are read from PyTorch 2.13 itself (``import torch``): top-level callables
(``torch.xxx``), ``Tensor`` methods and properties, ``nn`` modules and
``nn.functional`` functions.  Each group is counted twice:

- **public**: every name not starting with ``_``;
- **that matters**: public names minus those that cannot mean anything in a NumPy/CuPy/
  Dask autograd library, by one rule per kind, listed in ``OUT_OF_SCOPE`` (quantization,
  sparse and nested tensors, complex-only functions, backend-specific kernels such as
  cudnn/mkldnn/fbgemm/miopen, TorchScript/compiler internals, storage and memory-format
  plumbing, deprecated aliases PyTorch itself hides).  A name counts as present when
  ``chainrule`` (or ``chainrule.Tensor``, ``chainrule.nn``, ``chainrule.nn.functional``)
  has an attribute of that name.  PyTorch's C++/TorchScript type objects exposed at the
  top level (``AliasDb``, ``FutureType`` ...) are out of scope too.
"""

from __future__ import annotations

import argparse
import inspect
import json
import re
import sys

OUT_OF_SCOPE = {
    "quantization": r"quant|qint|quint|qscheme|q_per|q_scale|q_zero|dequant|fake_quant|"
                    r"int_repr|fbgemm|qnnpack",
    "sparse / nested / complex": r"sparse|nested|coo|csr|csc|bsr|bsc|to_dense|coalesce|"
                                 r"complex|conj|imag|real|polar|angle|view_as_real|"
                                 r"view_as_complex|resolve_neg|is_neg",
    "backend kernels": r"cudnn|mkldnn|miopen|mps|xpu|hip|vulkan|ipu|hpu|mtia|nnpack|"
                       r"fused|_native|native_|cufft|xnnpack|onednn",
    "compiler / TorchScript / export": r"^(compile|compiled_with_cxx11_abi|jit|fx|export|"
                                       r"onnx|sym_|Sym|cond|vmap_impl|library|ops|"
                                       r"classes|overrides|_C|autocast|get_autocast|"
                                       r"set_autocast|is_autocast|clear_autocast)",
    "storage / layout / memory": r"storage|Storage|pin_memory|is_pinned|share_memory|"
                                 r"memory_format|channels_last|untyped|data_ptr|"
                                 r"record_stream|is_shared|ipc|from_file|layout|"
                                 r"set_flush_denormal|set_warn_always|is_warn_always",
    "distributed / named tensors": r"distributed|rpc|refine_names|rename|align_to|"
                                   r"align_as|names|unflatten_names",
}
_RULES = {k: re.compile(v) for k, v in OUT_OF_SCOPE.items()}


def out_of_scope(name: str, obj=None):
    for kind, rule in _RULES.items():
        if rule.search(name):
            return kind
    if inspect.isclass(obj) and (type(obj).__name__ == "pybind11_type" or (
            getattr(obj, "__module__", "") or "").startswith(
            ("torch.jit", "torch._dynamo", "torch.cuda", "torch.futures"))):
        return "compiler / TorchScript / export"  # the C++/JIT type objects (AliasDb ...)
    return None


def groups():
    import torch
    import torch.nn as tnn
    import torch.nn.functional as tF

    import chainrule
    import chainrule.nn
    import chainrule.nn.functional

    top = sorted(n for n in dir(torch) if not n.startswith("_")
                 and callable(getattr(torch, n, None))
                 and not isinstance(getattr(torch, n), torch.dtype)
                 and not inspect.ismodule(getattr(torch, n)))
    tensor = sorted(n for n in dir(torch.Tensor) if not n.startswith("_"))
    modules = sorted(n for n in dir(tnn) if not n.startswith("_")
                     and inspect.isclass(getattr(tnn, n))
                     and issubclass(getattr(tnn, n), tnn.Module))
    functional = sorted(n for n in dir(tF) if not n.startswith("_")
                        and callable(getattr(tF, n)) and not inspect.isclass(getattr(tF, n))
                        and getattr(getattr(tF, n), "__module__", "").startswith("torch"))
    return [("top-level callables", top, chainrule),
            ("Tensor methods and properties", tensor, chainrule.Tensor),
            ("nn modules", modules, chainrule.nn),
            ("nn.functional functions", functional, chainrule.nn.functional)]


def has(obj, name) -> bool:
    try:
        return hasattr(obj, name)
    except Exception:  # a lazy attribute that raises on purpose (torch.onnx) counts
        return True


def measure():
    out = []
    import torch
    where = {"top-level callables": torch, "Tensor methods and properties": torch.Tensor,
             "nn modules": torch.nn, "nn.functional functions": torch.nn.functional}
    for title, names, ours in groups():
        src = where[title]
        matters = [n for n in names if out_of_scope(n, getattr(src, n, None)) is None]
        present = [n for n in matters if has(ours, n)]
        out.append({"group": title, "public": len(names), "matters": len(matters),
                    "present": len(present), "present_public": sum(has(ours, n) for n in names),
                    "missing": sorted(set(matters) - set(present))})
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--missing", action="store_true", help="list the missing names")
    p.add_argument("--json", help="write the figures here")
    args = p.parse_args(argv)
    import torch
    rows = measure()
    print(f"PyTorch {torch.__version__}: what chainrule has")
    print(f"{'group':32s} {'public':>7s} {'that matters':>13s} {'chainrule has':>14s}")
    for r in rows:
        pct = 100 * r["present"] / max(r["matters"], 1)
        print(f"{r['group']:32s} {r['public']:7d} {r['matters']:13d} "
              f"{r['present']:8d} ({pct:3.0f}%)")
    if args.missing:
        for r in rows:
            print(f"\nmissing {r['group']} ({len(r['missing'])}):")
            print("  " + ", ".join(r["missing"]))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"torch": torch.__version__, "groups": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
