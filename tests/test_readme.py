"""Every Python example in README.md runs, so the README cannot drift from the code."""

from __future__ import annotations

import contextlib
import io
import pathlib
import re

import pytest

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


def test_readme_has_examples():
    assert len(BLOCKS) >= 3


@pytest.mark.parametrize("code", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_readme_example_runs(code, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, str(README), "exec"), {"__name__": "__readme__"})
    # printed values quoted in a trailing comment must be what the code prints
    for line in code.splitlines():
        m = re.match(r"\s*print\(.*\)\s*#\s*(tensor\(.*)$", line)
        if m:
            expected = m.group(1).split("  =")[0].strip()
            assert expected in out.getvalue(), f"README says {expected!r}"
