"""06 real networks: predict what a fresh connection costs before its first event."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...net.path_model import NetworkPath
from .claims import passed, within

HINT = ("count round trips: the TCP handshake is one, TLS adds path.tls more, and the HTTP request "
        "(or WebSocket's Upgrade) with its answer one more; each costs path.rtt_ms.")


def _not_yet(message: str) -> bool:
    print(f"✗ not yet: {message}\nHint: {HINT}")
    return False


def check_first_event(predict: Callable[[str, NetworkPath], Any], measured: dict[str, float],
                      path: NetworkPath) -> bool:
    """Check ``predict(transport, path) -> ms`` against :func:`rtlab.lessons.networks.first_event`.

    Prints the verdict and returns ``True`` or ``False``; it never raises, whatever
    ``predict`` does (a stub that returns ``None`` gets a "not yet").
    """
    for transport, got_ms in measured.items():
        try:
            want = predict(transport, path)
        except Exception as exc:  # noqa: BLE001 - the learner's code: say what happened
            return _not_yet(f"predict({transport!r}, path) raised {exc!r}.")
        if not isinstance(want, int | float):
            return _not_yet(f"predict({transport!r}, path) returned {want!r}, not a number of milliseconds.")
        if not within(got_ms, want, 0.25):
            return _not_yet(f"for {transport} you predict {want:.0f} ms; the lab measured {got_ms:.0f} ms "
                            f"on {path.summary()} (accepted: ±25 %).")
    passed("your prediction matches every technique's first event: "
           + ", ".join(f"{t} {ms:.0f} ms" for t, ms in measured.items())
           + f". On {path.name} a reconnect pays all of it again.")
    return True
