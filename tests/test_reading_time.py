"""The "Time" line of every notebook, and the instructors' tables, say what the estimate says.

``benchmarks/reading_time.py`` turns what a notebook contains (words, code lines, plots,
exercises) into minutes; the notebooks (English and zh-CN) and ``docs/instructors*.md`` quote
its figures. A paragraph added or an exercise removed changes them: this test says which
quoted figure went stale, and ``python benchmarks/reading_time.py --update`` rewrites them.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_quoted_reading_time_figure_matches_the_estimate() -> None:
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "reading_time.py"), "--check"],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, (
        f"{run.stdout}{run.stderr}\nrun `python benchmarks/reading_time.py --update` to rewrite them")
    assert "every quoted reading-time figure matches" in run.stdout
