"""Claims and verdicts: what every checker prints.

* :func:`claim` — what the notebook told the learner they would observe. It prints one
  ``✓`` line with the measured numbers, or raises :class:`ClaimFailed` with the numbers
  and what that means, so a broken lab fails CI.
* :func:`passed` / :func:`not_yet` — an exercise's verdict, a :class:`Check`. A checker
  decorated with :func:`graded` never raises on a wrong answer: it returns a Check that
  shows "✗ not yet — …" with a hint, so Run All goes on to the end, and no traceback (and no
  checker source, which would give the answer away) is shown.
"""

from __future__ import annotations

import functools
import html
import linecache
import os
import sys
from collections.abc import Callable
from typing import Any

from ..i18n import gettext as _
from ..i18n import t

__all__ = ["Check", "ClaimFailed", "NotYet", "claim", "graded", "not_yet", "passed", "within"]


class ClaimFailed(AssertionError):
    """A measurement disagreed with what the notebook says the learner should observe."""


class NotYet(AssertionError):
    """A "Your turn" exercise is not solved yet; the message says what to fix."""


def claim(statement: str, holds: bool, measured: str) -> None:
    """Print ``✓ statement (measured)`` or raise :class:`ClaimFailed`.

    With the environment variable ``RTLAB_CLAIMS_LOG`` set to a file's path, each claim's
    line (✓ or ✗, with its numbers) is also appended to that file: a record of how close each
    measurement came to its limit, over many runs (CI, a workshop's machines).
    """
    _log_claim(("✓ " if holds else "✗ ") + f"{statement} ({measured})")
    if not holds:
        raise ClaimFailed("✗ " + t("{statement} — measured: {measured}. If the machine was very busy, "
                                   "re-run the experiment cell; if it fails again, something is broken.",
                                   statement=statement, measured=measured))
    print(f"✓ {statement} ({measured})")


def _log_claim(line: str) -> None:
    path = os.environ.get("RTLAB_CLAIMS_LOG")
    if not path:
        return
    try:
        # One short append per line: lines from kernels running side by side stay whole.
        with open(path, "a", encoding="utf-8") as log:
            log.write(f"{os.getpid()} {line}\n")
    except OSError:
        pass  # a record only: never the reason a notebook fails


def within(measured: float, expected: float, tolerance: float) -> bool:
    """``measured`` is within ``tolerance`` (a fraction, 0.3 = ±30 %) of ``expected``."""
    return abs(measured - expected) <= tolerance * abs(expected)


# --- exercise verdicts: shown, never raised -------------------------------------------------------
class Check:
    """What an exercise checker says about the learner's code: ✓, or ✗ not yet with a hint.

    A checker returns one instead of raising, so that Run All goes on to the end and the
    learner sees a short verdict, not a traceback (which would also show the checker's
    source, and with it the answer). It displays itself in Jupyter (``_repr_html_``) and in
    plain text (``repr``); ``bool(check)`` is whether it passed; ``value`` is anything the
    checker computed for later cells.

    Args:
        passed: the exercise is solved.
        message: what was observed (for ✗: what is wrong, in the learner's terms).
        hint: for ✗, where to look next — a hint, not the answer.
        value: an optional result for the notebook to use.
        verdict: the first words of a failed check: ``"not yet"`` (the learner's code is
            wrong) or ``"could not check"`` (the lab's own measurement failed).
    """

    def __init__(self, passed: bool, message: str, hint: str = "", value: Any = None,
                 verdict: str = "not yet") -> None:
        self.passed, self.message, self.hint, self.value = passed, message, hint, value
        self.verdict = verdict

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        if self.passed:
            return f"✓ {self.message}"
        hint = "\n" + t("Hint: {hint}", hint=self.hint) if self.hint else ""
        return f"✗ {_(self.verdict)} — {self.message}{hint}"

    __repr__ = __str__

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(str(self))

    def _repr_html_(self) -> str:
        if self.passed:
            return (f"<div style='color:#1a7f37'><b>✓</b> {html.escape(self.message)}</div>")
        hint = (f"<div style='color:#555;margin-top:2px'><b>{html.escape(_('Hint:'))}</b> "
                f"{html.escape(self.hint)}</div>" if self.hint else "")
        return (f"<div style='border-left:4px solid #b35900;padding:2px 8px'>"
                f"<b style='color:#b35900'>✗ {html.escape(_(self.verdict))}</b> — "
                f"{html.escape(self.message)}{hint}</div>")


def passed(message: str, value: Any = None) -> Check:
    """A ✓ verdict: the exercise is solved."""
    return Check(True, message, value=value)


def not_yet(message: str, hint: str = "") -> NotYet:
    """A ✗ verdict to ``raise`` inside a checker; :func:`graded` turns it into a :class:`Check`."""
    error = NotYet(f"✗ {message}" + ("\n" + t("Hint: {hint}", hint=hint) if hint else ""))
    error.message, error.hint = message, hint
    return error


def _learner_line(exc: BaseException) -> str:
    """" (line 3 of your code: return x / 0)": the deepest frame that is neither rtlab nor a library."""
    libraries = tuple({sys.prefix, sys.base_prefix, sys.exec_prefix})
    tb, where = exc.__traceback__, ""
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if not filename.startswith(libraries) and f"{os.sep}rtlab{os.sep}" not in filename:
            line = linecache.getline(filename, tb.tb_lineno).strip()
            where = (t(" (line {n} of your code: {line})", n=tb.tb_lineno, line=line) if line
                     else t(" (line {n} of your code)", n=tb.tb_lineno))
        tb = tb.tb_next
    return where


def graded(checker: Callable[..., Check | None]) -> Callable[..., Check]:
    """Make an exercise checker return a :class:`Check` whatever happens in the learner's code.

    Inside, a checker keeps the plain style — ``raise not_yet(message, hint)`` where the
    learner's code is wrong, ``return passed(message)`` at the end. Here, a :class:`NotYet`
    becomes a ✗ verdict, and so does an exception raised by the learner's function (with
    the line it came from). :class:`ClaimFailed` — the lab's own measurement misbehaving —
    becomes "✗ could not check", which a test of the solution still fails on.
    """

    @functools.wraps(checker)
    def run(*args: Any, **kwargs: Any) -> Check:
        try:
            result = checker(*args, **kwargs)
        except NotYet as exc:
            return Check(False, getattr(exc, "message", str(exc)), getattr(exc, "hint", ""))
        except ClaimFailed as exc:  # the lab's measurement, not the learner: say so, no traceback
            return Check(False, str(exc).removeprefix("✗ "), _("the machine may be very busy: run this "
                         "cell again"), verdict="could not check")
        except Exception as exc:  # noqa: BLE001 - the learner's function raised: say so, briefly
            return Check(False, t("your function raised {error}: {exc}{where}", error=type(exc).__name__,
                                  exc=exc, where=_learner_line(exc)),
                         _("read the error, fix the function, and run its cell and this one again"))
        return result if isinstance(result, Check) else passed(_("done"))

    return run
