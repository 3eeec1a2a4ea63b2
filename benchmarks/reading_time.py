"""How long does each notebook take a learner? An estimate from what is in it, not a guess.

Method (every constant is stated here and printed with ``--explain``):

* **prose**: the words of the markdown cells (code blocks inside markdown excluded), read at
  ``PROSE_WPM`` = 200 words per minute — a realistic pace for technical text that is being
  understood, not skimmed (silent reading of English non-fiction averages about 240 wpm,
  Brysbaert 2019; text full of new terms and numbers is read more slowly);
* **code**: every non-blank, non-comment-only line of a code cell, and of a fenced code block
  inside markdown, at ``CODE_S_PER_LINE`` = 4 s (reading what it does before running it);
* **running and looking**: ``RUN_S_PER_CELL`` = 10 s per code cell (run it, read its output),
  plus ``PLOT_S`` = 45 s more for a cell that draws a figure (``plots.`` in its source) —
  a figure in this lab is something to read, with a takeaway to check;
* **exercises**: ``EXERCISE_MIN`` = 6 min for each "Your turn" checker call (``check_`` in a
  code cell): read the task, write a few lines, read the verdict, fix, run again;
  ``DESIGN_TASK_MIN`` = 10 min for an open-ended design task (a markdown cell tagged
  ``design-task``); ``SELF_CHECK_S`` = 40 s per self-check question (``self_check(``);
* the total is rounded **up** to the next 5 minutes.

The numbers are a model, not a measurement of a person: they are here so that the "Time"
line of each notebook says what the notebook really contains, and moves when it grows.

Usage::

    python benchmarks/reading_time.py                 # a table for notebooks/NN_*.ipynb
    python benchmarks/reading_time.py --explain       # the constants, then the table
    python benchmarks/reading_time.py notebooks/03_websocket.ipynb --json
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

PROSE_WPM = 200
CODE_S_PER_LINE = 4
RUN_S_PER_CELL = 10
PLOT_S = 45
EXERCISE_MIN = 6
DESIGN_TASK_MIN = 10
SELF_CHECK_S = 40

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
FENCE = re.compile(r"```.*?```", re.DOTALL)
MARKUP = re.compile(r"[#*`|>_\[\]()]+|https?://\S+")


@dataclass
class Estimate:
    notebook: str
    prose_words: int
    code_lines: int
    code_cells: int
    plot_cells: int
    exercises: int
    design_tasks: int
    self_checks: int
    minutes_exact: float
    minutes: int  # rounded up to 5


def _code_lines(text: str) -> int:
    return sum(1 for line in text.splitlines() if line.strip() and not line.strip().startswith("#"))


def estimate(path: Path) -> Estimate:
    """Count what ``path`` contains and turn it into minutes (see the module docstring)."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    words = code_lines = code_cells = plot_cells = exercises = design = checks = 0
    for cell in cells:
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        tags = cell.get("metadata", {}).get("tags", [])
        if cell["cell_type"] == "markdown":
            for block in FENCE.findall(source):
                code_lines += _code_lines(block.strip("`"))
            prose = MARKUP.sub(" ", FENCE.sub(" ", source))
            words += len(re.findall(r"\w[\w'’.,:;-]*", prose))
            if "design-task" in tags:
                design += 1
        elif cell["cell_type"] == "code":
            code_cells += 1
            code_lines += _code_lines(source)
            plot_cells += "plots." in source
            exercises += bool(re.search(r"\bcheck_\w+\(", source))
            checks += source.count("self_check(")
    seconds = (words / PROSE_WPM * 60 + code_lines * CODE_S_PER_LINE + code_cells * RUN_S_PER_CELL
               + plot_cells * PLOT_S + exercises * EXERCISE_MIN * 60 + design * DESIGN_TASK_MIN * 60
               + checks * SELF_CHECK_S)
    minutes = seconds / 60
    return Estimate(path.stem, words, code_lines, code_cells, plot_cells, exercises, design, checks,
                    round(minutes, 1), 5 * math.ceil(minutes / 5))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", type=Path, help="notebooks (default: notebooks/NN_*.ipynb)")
    parser.add_argument("--json", action="store_true", help="one JSON object per notebook")
    parser.add_argument("--explain", action="store_true", help="print the constants first")
    args = parser.parse_args(argv)
    paths = args.paths or sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    if args.explain:
        print(f"prose {PROSE_WPM} wpm · code {CODE_S_PER_LINE} s/line · {RUN_S_PER_CELL} s per code "
              f"cell · +{PLOT_S} s per plot · {EXERCISE_MIN} min per exercise · {DESIGN_TASK_MIN} min "
              f"per design task · {SELF_CHECK_S} s per self-check; total rounded up to 5 min")
    results = [estimate(p) for p in paths]
    if args.json:
        for r in results:
            print(json.dumps(asdict(r)))
        return 0
    header = (f"{'notebook':<20} {'words':>6} {'code ln':>8} {'cells':>6} {'plots':>6} {'exerc.':>7} "
              f"{'design':>7} {'checks':>7} {'minutes':>8} {'rounded':>7}")
    print(header)
    print("-" * len(header))
    for r in results:
        print(f"{r.notebook:<20} {r.prose_words:>6} {r.code_lines:>8} {r.code_cells:>6} {r.plot_cells:>6} "
              f"{r.exercises:>7} {r.design_tasks:>7} {r.self_checks:>7} {r.minutes_exact:>8.1f} "
              f"{r.minutes:>7}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
