"""The checkers behind the notebooks' claims and "Your turn" exercises.

Two kinds of check:

* :func:`claim` — what the notebook told the learner they would observe. It prints one
  ``✓`` line with the measured numbers, or raises :class:`ClaimFailed` with the numbers
  and what that means, so a broken lab fails CI.
* exercise checkers (``check_*``) — run the learner's code against a real server and say
  precisely what is wrong, as a learner would want to hear it.
"""

from __future__ import annotations


class ClaimFailed(AssertionError):
    """A measurement disagreed with what the notebook says the learner should observe."""


class NotYet(AssertionError):
    """A "Your turn" exercise is not solved yet; the message says what to fix."""


def claim(statement: str, holds: bool, measured: str) -> None:
    """Print ``✓ statement (measured)`` or raise :class:`ClaimFailed`."""
    if not holds:
        raise ClaimFailed(f"✗ {statement} — measured: {measured}. If the machine was very busy, "
                          "re-run the experiment cell; if it fails again, something is broken.")
    print(f"✓ {statement} ({measured})")


def within(measured: float, expected: float, tolerance: float) -> bool:
    """``measured`` is within ``tolerance`` (a fraction, 0.3 = ±30 %) of ``expected``."""
    return abs(measured - expected) <= tolerance * abs(expected)


def passed(message: str) -> None:
    print(f"✓ {message}")


def not_yet(message: str, hint: str = "") -> NotYet:
    return NotYet(f"✗ {message}" + (f"\nHint: {hint}" if hint else ""))


# --- 01 short polling ---
# --- 02 long polling ---
# --- 03 websocket ---
# --- 04 sse ---
# --- 05 showdown ---
