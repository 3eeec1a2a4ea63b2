"""Run notebooks headless and print every verdict they show, to read each ✓ beside its figure.

A claim's words must say what its check checks (issue 10, "every ✓ is true"). The notebooks
assert their claims, so a run that finishes has no false ✓ by its own test — but whether the
*words* match the figure printed in brackets is for a reader to judge. This prints, per
notebook and cell, every line that starts with ✓, ✗ or ≈ (claims, exercise verdicts, the
regenerated article table), so that one pass of reading covers them all.

Usage::

    python benchmarks/claims_report.py                      # all notebooks, ~2 minutes
    python benchmarks/claims_report.py notebooks/05_showdown.ipynb

For the same lines under load, over a whole test run (both xdist workers, the browser's
kernels), set ``RTLAB_CLAIMS_LOG=/tmp/claims.log`` before ``pytest``: every ``claim()`` in every
kernel appends its line there (``rtlab/lessons/exercises/claims.py``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
MARKS = ("✓", "✗", "≈", "| ")


def verdicts(path: Path) -> list[tuple[int, str]]:
    """``(cell index, line)`` for every verdict line a fresh run of ``path`` prints or displays."""
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=300, resources={"metadata": {"path": str(path.parent)}}).execute()
    found = []
    for index, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            text = output.get("text") or data.get("text/markdown") or data.get("text/plain") or ""
            found += [(index, line) for line in text.splitlines() if line.lstrip().startswith(MARKS)]
    return found


def main(argv: list[str]) -> int:
    paths = [Path(p) for p in argv] or sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    for path in paths:
        print(f"== {path.name}")
        for index, line in verdicts(path):
            print(f"  [{index}] {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
