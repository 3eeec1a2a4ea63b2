"""When to try again: the reconnect policies, side by side.

After a server restarts, every client notices at once and reconnects. How long each one
waits first decides what the server sees in the next second:

* ``"immediate"`` — no wait. N handshakes land in the same few milliseconds: the reconnect
  storm that takes a freshly restarted server down again (rails/rails#40229 is one report).
* ``"fixed"`` — the same wait for everyone (an EventSource's ``retry:``). The storm merely
  arrives later, still all together.
* ``"exponential"`` — exponential backoff with **full jitter**: before attempt *n* wait a
  random time between 0 and ``min(cap, base · 2ⁿ)`` (Marc Brooker, "Exponential Backoff And
  Jitter", AWS Architecture Blog, 2015). Clients spread out over the window, and a server
  that stays down is asked less and less often.

Pure arithmetic: nothing here sleeps. A client asks :meth:`Retry.delay` and sleeps itself.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

__all__ = ["POLICIES", "Retry"]

POLICIES = ("immediate", "fixed", "exponential")


@dataclass(frozen=True)
class Retry:
    """A reconnect policy.

    Args:
        policy: ``"immediate"``, ``"fixed"`` or ``"exponential"`` (full jitter).
        base: seconds: the fixed wait, or the first exponential window.
        cap: seconds: the largest exponential window.
    """

    policy: str = "exponential"
    base: float = 0.05
    cap: float = 2.0

    def __post_init__(self) -> None:
        if self.policy not in POLICIES:
            raise ValueError(f"retry policy must be one of {', '.join(POLICIES)}; got {self.policy!r}")
        if self.base < 0 or self.cap < self.base:
            raise ValueError("retry needs 0 <= base <= cap (seconds)")

    def window(self, attempt: int) -> float:
        """The longest this policy waits before reconnect number ``attempt`` (0 = the first)."""
        if self.policy == "immediate":
            return 0.0
        if self.policy == "fixed":
            return self.base
        return min(self.cap, self.base * 2 ** min(attempt, 62))

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """How long to wait before reconnect number ``attempt``: the whole window, or (for
        ``"exponential"``) a uniformly random part of it."""
        window = self.window(attempt)
        if self.policy != "exponential":
            return window
        return (rng or random).uniform(0.0, window)

    @classmethod
    def of(cls, value: Retry | str | None, **defaults: float) -> Retry:
        """A policy from a name (``"fixed"``), a :class:`Retry`, or ``None`` (exponential)."""
        if isinstance(value, Retry):
            return value
        return cls(value or "exponential", **defaults)
