"""Render ``docs/seed_graph.svg`` to ``docs/seed_graph.png`` with headless Chromium.

    python docs/render_png.py [IN.svg [OUT.png]]

Needs Debian's ``chromium`` on PATH (``apt-get install -y chromium``); exits 2 without it.
The PNG is committed, so the docs build never needs a browser: CI re-renders only where
``chromium`` is installed.
"""

from __future__ import annotations

import math
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
SCALE = 2  # device pixels per SVG unit: sharp text on high-density screens
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         "--hide-scrollbars"]


def svg_size(svg: pathlib.Path) -> tuple[int, int]:
    """Width and height of the drawing, from the root element's attributes."""
    m = re.search(r'<svg[^>]*\bwidth="([\d.]+)"[^>]*\bheight="([\d.]+)"', svg.read_text())
    if not m:
        raise ValueError(f"{svg}: no width/height on the <svg> element")
    return math.ceil(float(m.group(1))), math.ceil(float(m.group(2)))


def render(svg: pathlib.Path, png: pathlib.Path, browser: str) -> None:
    width, height = svg_size(svg)
    with tempfile.TemporaryDirectory() as profile:
        cmd = [browser, *FLAGS, f"--user-data-dir={profile}",
               f"--window-size={width},{height}", f"--force-device-scale-factor={SCALE}",
               f"--screenshot={png}", svg.as_uri()]
        subprocess.run(cmd, check=True, timeout=120, capture_output=True)
    if not png.exists() or png.stat().st_size == 0:
        raise RuntimeError(f"chromium wrote no screenshot to {png}")


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if "-h" in argv or "--help" in argv:
        print(__doc__.strip())
        return 0
    svg = pathlib.Path(argv[0]) if argv else HERE / "seed_graph.svg"
    png = pathlib.Path(argv[1]) if len(argv) > 1 else svg.with_suffix(".png")
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        print("render_png: chromium is not on PATH (apt-get install -y chromium)",
              file=sys.stderr)
        return 2
    render(svg.resolve(), png.resolve(), browser)
    print(f"wrote {png} ({png.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
