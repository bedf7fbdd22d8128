"""Run the Python examples of the docs pages and keep their printed output in the pages.

Each page's ```python blocks run in order in one namespace (a page reads like one
session).  A block that prints is followed by a ```text block holding exactly what it
printed; this script writes those blocks, so no output in the docs is typed by hand:

    python docs/run_examples.py            # rewrite the output blocks of docs/*.md
    python docs/run_examples.py --check    # exit 1 if any output block is stale

tests/test_docs_examples.py runs every block of every page and compares the outputs.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import pathlib
import re
import subprocess
import sys
import tempfile
import traceback

HERE = pathlib.Path(__file__).resolve().parent
# a python block, then (after one blank line) the text block that shows its output
BLOCK = re.compile(r"```python\n(?P<code>.*?)```\n(?:\n```text\n(?P<out>.*?)```\n)?", re.S)
FILENAME = "example.py"  # what tracebacks and chainrule's creation sites call the code


def pages() -> list[pathlib.Path]:
    return sorted(HERE.glob("*.md"))


def blocks(text: str) -> list[re.Match]:
    return list(BLOCK.finditer(text))


def _child(path: str) -> None:
    """Run one page's blocks in this (fresh) interpreter; print their outputs as JSON."""
    namespace = {"__name__": "__main__"}
    outputs, stdout = [], sys.stdout
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)  # examples may write files (graph.svg, checkpoints)
        for i, m in enumerate(blocks(pathlib.Path(path).read_text(encoding="utf-8"))):
            out = io.StringIO()
            try:
                with contextlib.redirect_stdout(out):
                    exec(compile(m["code"], FILENAME, "exec"), namespace)
            except BaseException:
                outputs.append({"block": i, "error": traceback.format_exc()})
                break
            outputs.append({"block": i, "out": out.getvalue()})
    stdout.write(json.dumps(outputs))


def run_page(page: pathlib.Path) -> list[tuple[str, str | None, str]]:
    """``(code, output shown in the page or None, output printed now)`` per block.

    The page runs in a fresh interpreter, so node numbers, random streams and global
    modes do not depend on what ran before; an exception in a block raises here."""
    text = page.read_text(encoding="utf-8")
    proc = subprocess.run([sys.executable, __file__, "--child", str(page)],
                          capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"{page.name}: the examples' process failed:\n{proc.stderr}")
    results = []
    for m, r in zip(blocks(text), json.loads(proc.stdout)):
        if "error" in r:
            raise RuntimeError(f"{page.name}, python block {r['block'] + 1}:\n"
                               f"{m['code']}\n{r['error']}")
        results.append((m["code"], m["out"], r["out"]))
    return results


def updated(page: pathlib.Path) -> str:
    """The page with every output block set to what its python block prints."""
    printed = iter(r[2] for r in run_page(page))

    def replace(m):
        out = next(printed)
        shown = f"\n```text\n{out.rstrip()}\n```\n" if out.strip() else ""
        return f"```python\n{m['code']}```\n{shown}"
    return BLOCK.sub(replace, page.read_text(encoding="utf-8"))


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if "-h" in argv or "--help" in argv:
        print(__doc__.strip())
        return 0
    if argv[:1] == ["--child"]:
        _child(argv[1])
        return 0
    stale = []
    for page in pages():
        text = page.read_text(encoding="utf-8")
        if not blocks(text):
            continue
        new = updated(page)
        if new != text:
            stale.append(page.name)
            if "--check" not in argv:
                page.write_text(new, encoding="utf-8")
    if "--check" in argv and stale:
        print(f"stale output blocks in {', '.join(stale)}: run python docs/run_examples.py",
              file=sys.stderr)
        return 1
    print(f"updated: {', '.join(stale) or 'nothing'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
