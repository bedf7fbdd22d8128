"""tools/coverage.py measures the API coverage the README quotes."""

import json
import pathlib
import re
import subprocess
import sys

import pytest

pytest.importorskip("torch")
ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_readme_quotes_the_figures_the_tool_measures(tmp_path):
    out = tmp_path / "cov.json"
    subprocess.run([sys.executable, str(ROOT / "tools" / "coverage.py"), "--json", str(out)],
                   check=True, capture_output=True, timeout=300)
    groups = json.loads(out.read_text())["groups"]
    readme = (ROOT / "README.md").read_text()
    for g in groups:
        name = {"Tensor methods and properties": "`Tensor` methods and properties",
                "nn modules": "`nn` modules",
                "nn.functional functions": "`nn.functional` functions"}.get(g["group"],
                                                                          g["group"])
        pct = round(100 * g["present"] / g["matters"])
        row = f"| {name} | {g['public']} | {g['matters']} | {g['present']} ({pct}%) |"
        assert row in readme, f"README's coverage row is stale; expected: {row}"
    assert all(re.fullmatch(r"\w+", n) for g in groups for n in g["missing"])
