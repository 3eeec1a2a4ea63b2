"""Claims and verdicts: what every checker prints.

* :func:`claim` — what the notebook told the learner they would observe. It prints one
  ``✓`` line with the measured numbers, or raises :class:`ClaimFailed` with the numbers
  and what that means, so a broken lab fails CI.
* :func:`passed` / :func:`not_yet` — an exercise's verdict.
"""

from __future__ import annotations

__all__ = ["ClaimFailed", "NotYet", "claim", "not_yet", "passed", "within"]


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
