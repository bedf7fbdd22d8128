"""The generated docs pages match what their scripts produce now.

docs/ops.md comes from the op table, docs/api.md from the docstrings and
docs/performance.md from docs/bench.json; each script's ``--check`` runs in a fresh
interpreter, so nothing a test imported or patched leaks into the page.
"""

from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


@pytest.mark.parametrize("script", ["gen_ops.py", "gen_api.py", "gen_performance.py"])
def test_generated_page_is_up_to_date(script):
    # the checkout under test, not whatever chainrule is installed
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, str(DOCS / script), "--check"],
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr or proc.stdout


def test_ops_page_lists_every_row():
    import chainrule.nn  # noqa: F401  (registers the convolution and pooling rows)
    from chainrule.ops import all_ops
    text = (DOCS / "ops.md").read_text(encoding="utf-8")
    for name, op in all_ops().items():
        assert f"| `{name}` | `{op.node_cls.__name__}` |" in text, name


def test_nav_lists_every_page_and_images_exist():
    config = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    nav = set(re.findall(r"^\s+- [^:]+: (\S+\.md)$", config, re.M))
    assert nav == {p.name for p in DOCS.glob("*.md")}
    for image in ("seed_graph.svg", "seed_graph.png", "performance.png"):
        assert (DOCS / image).read_bytes()[:4] in (b"\x89PNG", b"<?xm"), image


@pytest.mark.parametrize("script", sorted(p.name for p in DOCS.glob("*.py")))
def test_docs_scripts_answer_help_without_writing(script):
    """``--help`` prints the script's purpose and changes no file."""
    before = {p: p.stat().st_mtime_ns for p in DOCS.iterdir() if p.is_file()}
    res = subprocess.run([sys.executable, str(DOCS / script), "--help"], capture_output=True,
                         text=True, timeout=60)
    assert res.returncode == 0 and res.stdout.strip(), res.stderr
    after = {p: p.stat().st_mtime_ns for p in DOCS.iterdir() if p.is_file()}
    assert before == after
