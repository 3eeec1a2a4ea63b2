"""05 showdown: predict what a quiet feed costs each technique."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .claims import not_yet, passed

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


def check_quiet_prediction(predict: Callable[[str, dict[str, Any]], float], results: dict[str, Any],
                           clients: int = 1000) -> dict[str, float]:
    """Check ``predict(transport, results) -> bytes per event per client`` for the quiet feed."""
    reference = quiet_feed_bytes(results)
    hints = {
        "short-polling": "a poll every 5 s and an event every 60 s: 12 requests per event; bytes per "
                         "request = (server.bytes_in + server.bytes_out) / server.requests.",
        "long-polling": "a request is answered when an event comes or when the hold (30 s) runs out: "
                        "60 / 30 = 2 requests per event, each about as big as the ones you measured.",
        "sse": "one event costs what it cost here (results['sse'].bytes_per_event); add the keep-alive "
               f"comments sent in the silence: 60 / 15 = 4 of {SSE_KEEPALIVE_BYTES} bytes.",
        "websocket": "one event costs what it cost here; add the pings: 60 / 10 = 6 ping/pong pairs "
                     f"of {WS_PING_PONG_BYTES} bytes.",
    }
    for name, want in reference.items():
        try:
            got = predict(name, results)
        except Exception as exc:  # noqa: BLE001 - tell the learner what happened
            raise not_yet(f"predict({name!r}, results) raised {exc!r}.", hints[name]) from exc
        if got is None:
            raise not_yet(f"predict({name!r}, results) returned None.", hints[name])
        # Push techniques: leaving out the keep-alives is a small error, so it is accepted.
        low = 0.9 * results[name].bytes_per_event if name in ("sse", "websocket") else 0.65 * want
        if not low <= got <= 1.35 * want:
            raise not_yet(f"predict({name!r}, results) = {got:.0f} bytes per event; the lab's estimate "
                          f"is {want:.0f} (accepted: {low:.0f}..{1.35 * want:.0f}).", hints[name])
    winner = min(reference, key=reference.get)
    per_minute = ", ".join(f"{n} {v * clients / 1e6:.2g} MB" for n, v in reference.items())
    passed(f"your estimates match. At one event a minute {winner} sends the fewest bytes; for "
           f"{clients} clients that is, per minute: {per_minute}.")
    return reference
