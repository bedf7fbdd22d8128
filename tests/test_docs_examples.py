"""Every Python example in docs/*.md runs, and prints what the page shows under it.

docs/run_examples.py runs each page's ```python blocks in order, in a fresh interpreter;
a block that prints must be followed by a ```text block with exactly that output
(``python docs/run_examples.py`` rewrites them).  No block is skipped.
"""

from __future__ import annotations

import importlib.util
import pathlib

import pytest

DOCS = pathlib.Path(__file__).resolve().parents[1] / "docs"
_spec = importlib.util.spec_from_file_location("run_examples", DOCS / "run_examples.py")
run_examples = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(run_examples)

PAGES = [p for p in run_examples.pages() if run_examples.blocks(p.read_text(encoding="utf-8"))]


def test_pages_have_examples():
    names = {p.name for p in PAGES}
    assert {"index.md", "tutorial.md", "pytorch_users.md", "autograd.md"} <= names


def test_every_python_block_is_seen():
    """A ```python fence the runner's pattern misses would go untested."""
    for page in run_examples.pages():
        text = page.read_text(encoding="utf-8")
        assert text.count("```python") == len(run_examples.blocks(text)), page.name


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_page_examples_run_and_print_what_is_shown(page):
    results = run_examples.run_page(page)
    assert len(results) == len(run_examples.blocks(page.read_text(encoding="utf-8")))
    for i, (_code, shown, printed) in enumerate(results, 1):
        where = f"{page.name}, python block {i} (fix: python docs/run_examples.py)"
        if shown is None:
            assert not printed.strip(), f"{where} prints but the page shows no output"
        else:
            assert printed.rstrip() == shown.rstrip(), f"{where}: the shown output is stale"
