"""06 real networks: predict what a fresh connection costs before its first event."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...net.path_model import NetworkPath
from ..i18n import N_, t
from .claims import Check, graded, not_yet, passed, within

HINT = N_("count round trips before the answer's first byte can arrive: the TCP handshake, then TLS "
        "(path.tls of them), then the HTTP request — or WebSocket's Upgrade — and its answer; each "
        "costs path.rtt_ms.")  # translated where it is used: t(HINT)


def _summary(path: NetworkPath) -> str:
    """:meth:`NetworkPath.summary` in the language in use (rtlab.net speaks English only)."""
    parts = [t("RTT {ms:g} ms", ms=path.rtt_ms)]
    if path.jitter_ms:
        parts.append(t("jitter {ms:g} ms", ms=path.jitter_ms))
    if path.down_kbit or path.up_kbit:
        parts.append(t("{down}/{up} kbit/s down/up", down=f"{path.down_kbit:g}" if path.down_kbit else "∞",
                       up=f"{path.up_kbit:g}" if path.up_kbit else "∞"))
    if path.loss:
        parts.append(t("loss {percent:g} % of segments", percent=path.loss * 100))
    if path.tls:
        parts.append(t("TLS +{n} RTT", n=path.tls))
    return f"{path.name}: " + t(", ").join(parts)


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
            raise not_yet(t("predict({transport!r}, path) returned {want!r}, not a number of milliseconds.",
                            transport=transport, want=want), t(HINT))
        if not within(got_ms, want, 0.25):
            raise not_yet(t("for {transport} you predict {want:.0f} ms; the lab measured {got:.0f} ms on "
                            "{path} (accepted: ±25 %).", transport=transport, want=want, got=got_ms,
                            path=_summary(path)), t(HINT))
    return passed(t("your prediction matches every technique's first event: {each}. On {path} every "
                    "reconnect pays all of it again.", path=path.name,
                    each=", ".join(f"{name} {ms:.0f} ms" for name, ms in measured.items())))
