"""05 showdown: predict what a quiet feed costs each technique."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..i18n import t
from .claims import Check, graded, not_yet, passed

# The quiet feed of the "Your turn": one event a minute, and what each technique sends meanwhile.
QUIET_FEED = {"event_every_s": 60.0, "poll_every_s": 5.0, "hold_s": 30.0,
              "sse_keepalive_s": 15.0, "ws_ping_s": 10.0}
SSE_KEEPALIVE_BYTES = 19  # ": keep-alive\n\n" (14 B) in an HTTP/1.1 chunk ("e\r\n" ... "\r\n")
WS_PING_PONG_BYTES = 8  # a ping frame (2 B header) and the client's masked pong (6 B)


def _bytes_per_request(result: Any) -> float:
    return (result.server.bytes_in + result.server.bytes_out) / max(1, result.server.requests)


def quiet_feed_bytes(results: dict[str, Any]) -> dict[str, float]:
    """Bytes per event per client at :data:`QUIET_FEED`'s pace, extrapolated from ``results``."""
    q, quiet = QUIET_FEED, QUIET_FEED["event_every_s"]  # seconds of silence per event
    return {
        "short-polling": quiet / q["poll_every_s"] * _bytes_per_request(results["short-polling"]),
        "long-polling": quiet / q["hold_s"] * _bytes_per_request(results["long-polling"]),
        "sse": results["sse"].bytes_per_event + quiet / q["sse_keepalive_s"] * SSE_KEEPALIVE_BYTES,
        "websocket": results["websocket"].bytes_per_event + quiet / q["ws_ping_s"] * WS_PING_PONG_BYTES,
    }


@graded
def check_quiet_prediction(predict: Callable[[str, dict[str, Any]], float], results: dict[str, Any],
                           clients: int = 1000) -> Check:
    """Check ``predict(transport, results) -> bytes per event per client`` for the quiet feed."""
    reference = quiet_feed_bytes(results)
    hints = {
        "short-polling": t("how many polls fit in the 60 s between two events, and what does one poll "
                           "cost here? results[...].server has the run's requests and bytes."),
        "long-polling": t("a long poll ends when an event comes or when its hold runs out: how many "
                          "requests does a minute with one event take, at a 30 s hold?"),
        "sse": t("the event itself costs what it cost in this run; what else crosses the wire in a "
                 "minute of silence? (see the task: keep-alive comments)"),
        "websocket": t("the event itself costs what it cost in this run; what else crosses the wire in "
                       "a minute of silence? (see the task: pings)"),
    }
    for name, want in reference.items():
        try:
            got = predict(name, results)
        except Exception as exc:  # noqa: BLE001 - tell the learner what happened
            raise not_yet(t("predict({name!r}, results) raised {exc!r}.", name=name, exc=exc),
                          hints[name]) from exc
        if got is None:
            raise not_yet(t("predict({name!r}, results) returned None.", name=name), hints[name])
        # Push techniques: leaving out the keep-alives is a small error, so it is accepted.
        low = 0.9 * results[name].bytes_per_event if name in ("sse", "websocket") else 0.65 * want
        if not low <= got <= 1.35 * want:
            direction = t("too low") if got < low else t("too high")
            raise not_yet(t("predict({name!r}, results) = {got:.0f} bytes per event: {direction} by more "
                            "than a third, for a minute with one event.", name=name, got=got,
                            direction=direction), hints[name])
    winner = min(reference, key=reference.get)
    per_minute = ", ".join(f"{n} {v * clients / 1e6:.2g} MB" for n, v in reference.items())
    return passed(t("your estimates match. At one event a minute {winner} sends the fewest bytes; for "
                    "{clients} clients that is, per minute: {per_minute}.", winner=winner, clients=clients,
                    per_minute=per_minute), value=reference)
