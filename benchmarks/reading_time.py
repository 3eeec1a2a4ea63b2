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

Each notebook's "Time" line (and its zh-CN twin's "时长" line) and the tables of
``docs/instructors.md`` and ``docs/instructors.zh-CN.md`` quote these figures: ``--check`` says
where a quoted figure no longer matches the notebook (tests/test_reading_time.py runs it), and
``--update`` rewrites the quoted figures in place after the prose has changed.

Usage::

    python benchmarks/reading_time.py                 # a table for notebooks/NN_*.ipynb
    python benchmarks/reading_time.py --explain       # the constants, then the table
    python benchmarks/reading_time.py notebooks/03_websocket.ipynb --json
    python benchmarks/reading_time.py --check         # exit 1 if a quoted figure is stale
    python benchmarks/reading_time.py --update        # rewrite the quoted figures
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


# --- where the figures are quoted ---------------------------------------------------------------
DOCS = NOTEBOOKS.parent / "docs"
# "about 40 minutes to read, run and do — 2,232 words of prose, 1 exercise"
EN_TIME = re.compile(r"(\*\*Time:\*\* about )(\d+)( minutes to [^—]*— )([\d,]+)( words of prose, )"
                     r"(no exercises|\d+ exercises?)")
# "大约 40 分钟——英文版正文 2,232 词，1 道练习" / "没有练习"
ZH_TIME = re.compile(r"(\*\*时长：\*\* [^大]*大约 )(\d+)( 分钟——英文版正文 )([\d,]+)( 词，)"
                     r"(没有练习|\d+ 道练习)")
# "| 06 Real networks | 2,343 | 185 | 5 | 1 | 2 | 40 | 50 |"
TABLE_ROW = re.compile(r"^\| (\d\d) ([^|]+)\| ([\d,]+) \| (\d+) \| (\d+) \| ([^|]+) \| (\d+) \| "
                       r"(\d+) \| (\d+) \|$", re.MULTILINE)
CLASS_FACTOR = 1.25  # docs/instructors.md: "add about 25 % on top for questions and stragglers"


def _with_class(minutes: int) -> int:
    return 5 * math.floor(minutes * CLASS_FACTOR / 5 + 0.5)  # to the nearest 5, halves up


def _exercises(n: int, zh: bool) -> str:
    if zh:
        return "没有练习" if n == 0 else f"{n} 道练习"
    return "no exercises" if n == 0 else f"{n} exercise" + ("s" if n > 1 else "")


def _quoted_time(text: str, e: Estimate, zh: bool) -> tuple[str, list[str]]:
    """``text`` with its Time line set to ``e``, and what differed (empty: nothing stale)."""
    stale: list[str] = []

    def fix(m: re.Match[str]) -> str:
        minutes, words, exercises = int(m[2]), int(m[4].replace(",", "")), m[6]
        want = _exercises(e.exercises, zh)
        if minutes != e.minutes:
            stale.append(f"says {minutes} minutes, the estimate is {e.minutes}")
        if words != e.prose_words:
            stale.append(f"says {words:,} words, the English notebook has {e.prose_words:,}")
        # "0 exercises" and "no exercises" both say none
        if exercises != want and not (e.exercises == 0 and exercises == "0 exercises"):
            stale.append(f"says {exercises!r}, the notebook has {want!r}")
        return f"{m[1]}{e.minutes}{m[3]}{e.prose_words:,}{m[5]}{exercises if not stale else want}"

    pattern = ZH_TIME if zh else EN_TIME
    if not pattern.search(text):
        return text, ["has no Time line in the expected form"]
    return pattern.sub(fix, text, count=1), stale


def _quoted_table(text: str, estimates: dict[str, Estimate]) -> tuple[str, list[str]]:
    stale: list[str] = []

    def fix(m: re.Match[str]) -> str:
        e = next((v for k, v in estimates.items() if k.startswith(m[1] + "_")), None)
        if e is None:
            return m[0]
        want = [f"{e.prose_words:,}", str(e.code_lines), str(e.plot_cells), None,
                str(e.self_checks), str(e.minutes), str(_with_class(e.minutes))]
        have = [m[3], m[4], m[5], None, m[7], m[8], m[9]]
        names = ["words", "code lines", "plots", None, "self-checks", "estimate", "with a class"]
        for name, h, w in zip(names, have, want, strict=True):
            if name and h != w:
                stale.append(f"row {m[1]}: {name} {h}, now {w}")
        exercises = m[6]
        if not exercises.strip().startswith(str(e.exercises)):
            stale.append(f"row {m[1]}: exercises {exercises.strip()}, now {e.exercises}")
            exercises = str(e.exercises) + exercises.strip()[1:]
        return (f"| {m[1]} {m[2]}| {want[0]} | {want[1]} | {want[2]} | {exercises.strip()} | "
                f"{want[4]} | {want[5]} | {want[6]} |")

    return TABLE_ROW.sub(fix, text), stale


def check(update: bool = False) -> list[str]:
    """Every quoted figure against the estimate: what is stale (after ``update``, what was)."""
    estimates = {p.stem: estimate(p) for p in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))}
    problems: list[str] = []
    for stem, e in estimates.items():
        for path, zh in ((NOTEBOOKS / f"{stem}.ipynb", False), (NOTEBOOKS / "zh-CN" / f"{stem}.ipynb", True)):
            if not path.exists():
                continue
            nb = json.loads(path.read_text(encoding="utf-8"))
            for cell in nb["cells"]:
                source = "".join(cell["source"])
                if cell["cell_type"] != "markdown" or ("时长" if zh else "**Time:**") not in source:
                    continue
                fixed, stale = _quoted_time(source, e, zh)
                problems += [f"{path.relative_to(NOTEBOOKS.parent)}: {s}" for s in stale]
                if update and fixed != source:
                    lines = fixed.split("\n")
                    cell["source"] = [line + "\n" for line in lines[:-1]] + [lines[-1]]
                    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
                break
            else:
                problems.append(f"{path.relative_to(NOTEBOOKS.parent)}: has no Time line")
    for doc in (DOCS / "instructors.md", DOCS / "instructors.zh-CN.md"):
        if doc.exists():
            text = doc.read_text(encoding="utf-8")
            fixed, stale = _quoted_table(text, estimates)
            problems += [f"{doc.relative_to(NOTEBOOKS.parent)}: {s}" for s in stale]
            if update and fixed != text:
                doc.write_text(fixed, encoding="utf-8")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", type=Path, help="notebooks (default: notebooks/NN_*.ipynb)")
    parser.add_argument("--json", action="store_true", help="one JSON object per notebook")
    parser.add_argument("--explain", action="store_true", help="print the constants first")
    parser.add_argument("--check", action="store_true",
                        help="compare the figures the notebooks and docs/instructors*.md quote "
                             "with the estimate; exit 1 if one is stale")
    parser.add_argument("--update", action="store_true", help="rewrite the quoted figures in place")
    args = parser.parse_args(argv)
    if args.check or args.update:
        problems = check(update=args.update)
        for line in problems:
            print(("updated: " if args.update else "stale: ") + line)
        if not problems:
            print("every quoted reading-time figure matches the notebooks")
        return 1 if problems and not args.update else 0
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
