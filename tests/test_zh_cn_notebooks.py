"""Each Chinese notebook is its English twin with the learner-facing text translated, nothing else.

``notebooks/zh-CN/NN_name.ipynb`` exists for every English ``notebooks/NN_name.ipynb`` in TWINNED,
and the two have the same code, cell by cell, once string literals and comments are blanked out
(``tokenize``: every STRING token, or run of adjacent ones, becomes one placeholder; COMMENT and
line-continuation NL tokens are dropped). The only code the Chinese twin may add is one
statement, ``rtlab.language("zh-CN")``, in its first code cell — the switch — and it must be there.
Cell tags and the exercise metadata are the same too, so the exercise tests and the notebook
runner treat both alike.
"""

from __future__ import annotations

import io
import re
import tokenize
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
ZH = NOTEBOOKS / "zh-CN"
NUMBERS = ("00", "01", "02", "03", "04", "05", "06", "07", "08")  # the notebooks that have a Chinese twin
TWINNED = [p for p in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")) if p.name[:2] in NUMBERS]
SWITCH = 'rtlab.language("zh-CN")'
SKIP = {tokenize.COMMENT, tokenize.NL, tokenize.ENCODING, tokenize.INDENT, tokenize.DEDENT}


def _code_shape(source: str) -> list[tuple[int, str]]:
    """The tokens of ``source`` with strings blanked and comments dropped (IPython magics kept as text)."""
    lines = [("#%" + line) if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines()]
    shape: list[tuple[int, str]] = []
    for tok in tokenize.generate_tokens(io.StringIO("\n".join(lines) + "\n").readline):
        if tok.type in SKIP or (tok.type == tokenize.NEWLINE and shape and shape[-1][0] == tokenize.NEWLINE):
            continue
        if tok.type == tokenize.STRING:
            if shape and shape[-1] == (tokenize.STRING, "…"):
                continue  # "a" "b" across lines is one literal, however a translation splits it
            shape.append((tokenize.STRING, "…"))
        else:
            shape.append((tok.type, tok.string))
    magics = [(tokenize.OP, line.strip()) for line in lines if line.startswith("#%")]
    return magics + shape


def _without_switch(source: str) -> str:
    kept = [line for line in source.splitlines() if line.split("#")[0].strip() != SWITCH]
    assert len(kept) == len(source.splitlines()) - 1, f"the first code cell must have the line {SWITCH}"
    return "\n".join(kept)


def test_every_english_notebook_has_a_chinese_twin() -> None:
    assert len(TWINNED) == len(NUMBERS)
    missing = [p.name for p in TWINNED if not (ZH / p.name).exists()]
    assert not missing, f"no notebooks/zh-CN/ twin for {missing}"


@pytest.mark.parametrize("english", TWINNED, ids=lambda p: p.stem)
def test_the_twins_have_the_same_code_cell_by_cell(english: Path) -> None:
    chinese = ZH / english.name
    if not chinese.exists():
        pytest.fail(f"{chinese} is missing")
    en = nbformat.read(english, as_version=4).cells
    zh = nbformat.read(chinese, as_version=4).cells
    assert [c.cell_type for c in en] == [c.cell_type for c in zh], "the cells differ in kind or number"
    first = True
    for index, (a, b) in enumerate(zip(en, zh, strict=True)):
        assert a.metadata.get("tags", []) == b.metadata.get("tags", []), f"cell {index}: tags differ"
        assert a.metadata.get("rtlab") == b.metadata.get("rtlab"), f"cell {index}: rtlab metadata differs"
        if a.cell_type != "code":
            continue
        source = _without_switch(b.source) if first else b.source
        first = False
        assert _code_shape(a.source) == _code_shape(source), (
            f"{english.name} cell {index}: the code differs beyond its strings and comments\n"
            f"--- en\n{a.source}\n--- zh-CN\n{b.source}")


@pytest.mark.parametrize("english", TWINNED, ids=lambda p: p.stem)
def test_the_chinese_twin_is_written_in_chinese(english: Path) -> None:
    chinese = ZH / english.name
    if not chinese.exists():
        pytest.fail(f"{chinese} is missing")
    cells = nbformat.read(chinese, as_version=4).cells
    for index, cell in enumerate(cells):
        if cell.cell_type == "markdown" and len(cell.source) > 40:
            han = len(re.findall(r"[\u4e00-\u9fff]", cell.source))
            assert han >= 10, f"{chinese.name} cell {index} reads as untranslated:\n{cell.source[:300]}"
        assert not cell.get("outputs"), f"{chinese.name} cell {index}: stored with outputs"
    text = "\n".join(c.source for c in cells if c.cell_type == "markdown")
    assert "solutions/" not in text.replace("../solutions/", ""), "solutions are at ../solutions/ from zh-CN/"


ROOT = NOTEBOOKS.parent
ZH_BINDER = "https://mybinder.org/v2/gh/rtlab/rtlab/main?urlpath=lab/tree/notebooks/zh-CN/00_start_here.ipynb"


def test_the_chinese_edition_is_installed_and_announced() -> None:
    """One install gives the font and JupyterLab's language pack; both READMEs link the zh Binder."""
    pyproject, environment = (ROOT / "pyproject.toml").read_text(), (ROOT / "environment.yml").read_text()
    for name in ("noto-cjk-sans-otc", "jupyterlab-language-pack-zh-CN"):
        assert name in pyproject and name in environment, name
    assert '"matplotlib>=3.11"' in pyproject and "matplotlib-base>=3.11" in environment
    apt = [line.strip() for line in (ROOT / "binder" / "apt.txt").read_text().splitlines()]
    assert "fonts-noto-cjk" in apt
    for readme in ("README.md", "README.zh-CN.md"):
        text = (ROOT / readme).read_text(encoding="utf-8")
        assert ZH_BINDER in text, readme
        assert "Settings → Language" in text, readme
    assert (ROOT / "docs" / "instructors.md").exists() and (ROOT / "docs" / "instructors.zh-CN.md").exists()
