"""06 real networks: predict what a fresh connection costs before its first event."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...net.path_model import NetworkPath
from .claims import Check, graded, not_yet, passed, within

HINT = ("count round trips before the answer's first byte can arrive: the TCP handshake, then TLS "
        "(path.tls of them), then the HTTP request — or WebSocket's Upgrade — and its answer; each "
        "costs path.rtt_ms.")


@graded
def check_first_event(predict: Callable[[str, NetworkPath], Any], measured: dict[str, float],
                      path: NetworkPath) -> Check:
    """Check ``predict(transport, path) -> ms`` against :func:`rtlab.lessons.networks.first_event`.

    Returns a :class:`~rtlab.lessons.exercises.claims.Check` (✓, or ✗ not yet with a hint);
    never raises, whatever ``predict`` does.
    """
    for transport, got_ms in measured.items():
        want = predict(transport, path)
        if not isinstance(want, int | float):
            raise not_yet(f"predict({transport!r}, path) returned {want!r}, not a number of milliseconds.",
                          HINT)
        if not within(got_ms, want, 0.25):
            raise not_yet(f"for {transport} you predict {want:.0f} ms; the lab measured {got_ms:.0f} ms on "
                          f"{path.summary()} (accepted: ±25 %).", HINT)
    return passed("your prediction matches every technique's first event: "
                  + ", ".join(f"{t} {ms:.0f} ms" for t, ms in measured.items())
                  + f". On {path.name} every reconnect pays all of it again.")
