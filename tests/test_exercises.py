"""Every "Your turn" grades the learner: the stub as shipped gets "not yet", the stored solution passes.

The stubs are read from the notebooks themselves (the code cell tagged ``exercise-stub``, whose
``metadata.rtlab.exercise`` names the exercise), the solutions from ``notebooks/solutions/``.
A checker never raises on a wrong answer: it returns a :class:`~rtlab.lessons.exercises.claims.Check`
that displays "✗ not yet — …" with a hint, so that Run All goes on to the end.

The self-check questions are tested here too: answers not always in one position, every wrong
option explained.
"""

from __future__ import annotations

import ast
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbformat
import pytest

import rtlab
from rtlab import article, exercises, widgets
from rtlab.lessons.middleboxes import TYPICAL_SYMPTOMS

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
SOLUTIONS = NOTEBOOKS / "solutions"


def _stubs() -> dict[str, str]:
    found = {}
    for path in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            if "exercise-stub" in cell.metadata.get("tags", []):
                found[cell.metadata["rtlab"]["exercise"]] = cell.source
    return found


STUBS = _stubs()


def _function(source: str, origin: str) -> Callable[..., Any]:
    """The one function ``source`` defines, run as a notebook cell would run it."""
    names = [node.name for node in ast.parse(source).body if isinstance(node, ast.FunctionDef)]
    assert len(names) == 1, f"{origin} defines {names}, expected one function"
    namespace: dict[str, Any] = {"rtlab": rtlab}
    exec(compile(source, origin, "exec"), namespace)  # noqa: S102 - the lab's own files
    return namespace[names[0]]


@pytest.fixture(scope="module")
def showdown() -> dict[str, Any]:
    """A small four-technique run for 05's checker (it extrapolates from any run)."""
    return rtlab.compare(clients=2, events=6, rate=10, interval=0.1, seed=1)


CHECKERS: dict[str, Callable[[Callable[..., Any], dict[str, Any]], Any]] = {
    "01_conditional_headers": lambda f, _: exercises.check_conditional_headers(f),
    "01_predict": lambda f, _: exercises.check_prediction(f),
    "01_empty_per_event": lambda f, _: exercises.check_empty_per_event(f),
    "02_next_cursor": lambda f, _: exercises.check_next_cursor(f),
    "02_choose_hold": lambda f, _: exercises.check_hold_time(f),
    "03_heartbeat_for": lambda f, _: exercises.check_heartbeat(f, notice_within_s=1.0),
    "03_origin_allowed": lambda f, _: exercises.check_origin_allowed(f),
    "04_my_encode": lambda f, _: exercises.check_encoder(f),
    "04_events_to_replay": lambda f, _: exercises.check_replay(f),
    "05_predict": lambda f, results: exercises.check_quiet_prediction(f, results),
    # 06 compares with what notebook 06 measured; here, figures of that size (4g + TLS 1.3: 3 × 170 ms)
    "06_predict": lambda f, _: exercises.check_first_event(
        f, {"short-polling": 516.0, "long-polling": 514.0, "sse": 515.0, "websocket": 518.0},
        rtlab.NETWORKS["4g"].with_(tls=1)),
    # 07 names each middlebox from what a raw client saw; here, what the lab typically sees
    "07_diagnose": lambda f, _: exercises.check_diagnosis(f, TYPICAL_SYMPTOMS),
}


def test_every_exercise_has_a_stub_a_solution_and_a_checker() -> None:
    solutions = {p.stem for p in SOLUTIONS.glob("[0-9][0-9]_*.py")}
    assert set(STUBS) == set(CHECKERS) == solutions


def test_no_solution_runs_in_a_notebook() -> None:
    for path in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")):
        for index, cell in enumerate(nbformat.read(path, as_version=4).cells):
            assert "solution" not in cell.metadata.get("tags", []), f"{path.name} cell {index}"


@pytest.mark.parametrize("name", sorted(CHECKERS))
def test_the_stub_as_shipped_gets_not_yet(name: str, request: pytest.FixtureRequest) -> None:
    results = request.getfixturevalue("showdown") if name.startswith("05") else {}
    check = CHECKERS[name](_function(STUBS[name], f"{name} stub"), results)
    assert isinstance(check, exercises.Check), f"{name}: the checker returned {check!r}"
    assert not check.passed and str(check).startswith("✗ not yet — "), str(check)
    assert check.hint, f"{name}: a 'not yet' without a hint: {check}"
    assert "Traceback" not in str(check) and "def " not in str(check)
    assert "not yet" in check._repr_html_()


@pytest.mark.parametrize("name", sorted(CHECKERS))
def test_the_stored_solution_passes(name: str, request: pytest.FixtureRequest) -> None:
    results = request.getfixturevalue("showdown") if name.startswith("05") else {}
    path = SOLUTIONS / f"{name}.py"
    check = CHECKERS[name](_function(path.read_text(encoding="utf-8"), str(path)), results)
    assert isinstance(check, exercises.Check) and check.passed, str(check)
    assert str(check).startswith("✓ ")


def test_an_exception_in_the_learners_code_is_a_verdict_not_a_traceback() -> None:
    def predict(interval: float, rate: float) -> tuple[float, float]:
        return interval / 0, rate  # a learner's slip

    check = exercises.check_prediction(predict)
    assert not check.passed
    assert "ZeroDivisionError" in check.message and "interval / 0" in check.message


# --- self-checks ---------------------------------------------------------------------------------
def _self_checks() -> list[tuple[str, Any]]:
    found = []
    for path in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type == "code" and "widgets.self_check(" in cell.source:
                found.append((path.stem, eval(cell.source, {"widgets": widgets})))  # noqa: S307
    return found


def test_self_checks_shuffle_the_answer_and_explain_every_option() -> None:
    checks = _self_checks()
    assert len(checks) >= 12
    positions = Counter(check.answer for _, check in checks)
    assert max(positions.values()) <= len(checks) / 2, f"answer positions {dict(positions)}"
    longest = sum(len(check.options[check.answer][0]) == max(len(t) for t, _, _ in check.options)
                  for _, check in checks)
    assert longest <= len(checks) / 2, f"the right answer is the longest option in {longest} of {len(checks)}"
    for notebook, check in checks:
        assert len(check.options) >= 3, (notebook, check.question)
        for text, _, why in check.options:
            assert why.strip(), f"{notebook}: option {text!r} of {check.question!r} has no explanation"


def test_a_self_check_explains_a_wrong_pick() -> None:
    check = widgets.self_check("2 + 2?", right=("4", "arithmetic"), wrong=[("5", "one too many"),
                                                                             ("3", "one too few")])
    wrong = next(i for i, (_, correct, _) in enumerate(check.options) if not correct)
    check.buttons.index = wrong
    assert "Not quite" in check.feedback.value and check.options[wrong][2] in check.feedback.value
    check.buttons.index = check.answer
    assert "Right" in check.feedback.value


# --- the article, quoted as written ----------------------------------------------------------------
def test_the_article_is_quoted_verbatim() -> None:
    words = [(article.ARTICLE[t]["realtime"], article.ARTICLE[t]["resources"]) for t in article.ORDER]
    assert words == [("低", "高"), ("中", "中"), ("高", "低"), ("极高", "低")]
    assert article.quoted("极高") == "极高 (very high)"


def test_the_regenerated_table_uses_three_marks(showdown: dict[str, Any]) -> None:
    verdicts = article.regenerate(showdown)
    assert len(verdicts) == 8
    table = article.as_markdown(verdicts)
    for word in ("低 (low)", "中 (medium)", "高 (high)", "极高 (very high)"):
        assert word in table
    assert {v.mark for v in verdicts} <= {"✓", "✗", "≈"}
    for v in verdicts:
        if v.mark == "≈":
            assert v.why, v


def test_advise_applies_each_of_the_four_rules() -> None:
    picks = {
        article.advise(both_directions=True).technique,
        article.advise(compatibility=True).technique,
        article.advise(realtime="medium").technique,
        article.advise(realtime="high").technique,
    }
    assert picks == {"websocket", "short-polling", "long-polling", "sse"}
    assert "中等实时性" in article.advise(realtime="medium").rule
    assert article.advise(realtime="medium").lab_note  # the lab's objection is said


def test_a_claims_log_records_each_claim_with_its_numbers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    from rtlab.lessons.exercises.claims import ClaimFailed, claim

    log = tmp_path / "claims.log"
    monkeypatch.setenv("RTLAB_CLAIMS_LOG", str(log))
    claim("one is small", True, "1 < 2")
    with pytest.raises(ClaimFailed):
        claim("two is small", False, "2 < 1")
    lines = log.read_text(encoding="utf-8").splitlines()
    assert [line.split(" ", 1)[1] for line in lines] == ["✓ one is small (1 < 2)", "✗ two is small (2 < 1)"]
    assert capsys.readouterr().out == "✓ one is small (1 < 2)\n"  # what the learner sees is unchanged
