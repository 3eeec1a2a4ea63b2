"""03 WebSocket: a heartbeat that notices a silent peer, and the Origin check."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...lab import wait_until
from ...wire.http import status_code
from ..i18n import N_, t
from .claims import Check, graded, not_yet, passed


@graded
def check_heartbeat(heartbeat_for: Callable[[float], Any], notice_within_s: float = 1.0) -> Check:
    """Exercise: pick the server ``heartbeat`` that drops a vanished client within a deadline.

    First the arithmetic (aiohttp pings after ``heartbeat`` s of silence and gives up
    ``heartbeat / 2`` s later), then the real thing: a server with that heartbeat, a raw
    client that completes the handshake and goes silent, and a live client that must survive.
    """

    from ...net import connect, probes, serve

    for deadline in (notice_within_s, 30.0):
        h = heartbeat_for(deadline)
        if isinstance(h, bool) or not isinstance(h, int | float) or h <= 0:
            raise not_yet(t("heartbeat_for({deadline:g}) returned {h!r}: return a number of seconds > 0.",
                            deadline=deadline, h=h))
        if 1.5 * h > deadline:
            raise not_yet(
                t("with heartbeat={h:g} s the server pings after {h:g} s of silence, then waits "
                  "{half:g} s for the pong: a vanished client is dropped after about {drop:g} s, "
                  "later than the {deadline:g} s asked for.", h=h, half=h / 2, drop=1.5 * h,
                  deadline=deadline),
                t("ping after h seconds without data, give up h/2 seconds later: solve h + h/2 ≤ deadline."))
        if h < deadline / 10:
            raise not_yet(
                t("heartbeat_for({deadline:g}) = {h:g} s meets the deadline but pings about "
                  "{times:.0f} times per deadline; every ping wakes every client (phones too).",
                  deadline=deadline, h=h, times=deadline / h),
                t("aim just under deadline / 1.5."))
    h = float(heartbeat_for(notice_within_s))
    server = serve("websocket", name="exercise-heartbeat", heartbeat=h)
    live = connect("websocket", server.url, name="exercise-live-client")
    try:
        # Wait for the live client's handshake (nothing faked): the server's own loop looks.
        wait_until(lambda: server.read(lambda s: "exercise-live-client" in s.sockets), 10)
        peer = probes.silent_peer(server.url, timeout=notice_within_s + 3)
        pings = [t for t, opcode, _ in peer.frames if opcode == "ping"]
        if peer.closed_after_s is None:
            raise not_yet(t("the silent client was still connected after {after:g} s "
                            "(heartbeat={h:g} s, pings it got: {pings}).",
                            after=notice_within_s + 3, h=h, pings=len(pings)))
        if peer.closed_after_s > notice_within_s + 0.5:  # 0.5 s of slack for a busy machine
            raise not_yet(t("the silent client was dropped after {after:.2f} s, not within "
                            "{deadline:g} s (heartbeat={h:g} s).",
                            after=peer.closed_after_s, deadline=notice_within_s, h=h))
        if "exercise-live-client" not in server.sockets or live.recorder.reconnects:
            raise not_yet(t("the live client was dropped too (heartbeat={h:g} s): is the heartbeat so "
                            "short that a healthy pong cannot make it in time?", h=h))
    finally:
        live.stop()
        server.stop()
    first_ping = t("a ping at {at:.2f} s, ", at=pings[0]) if pings else ""
    return passed(t("heartbeat={h:.2f} s: the silent client got {first_ping}no pong went back, and the "
                    "server dropped it after {after:.2f} s (deadline {deadline:g} s); the live "
                    "client answered its pings and stayed connected", h=h, first_ping=first_ping,
                    after=peer.closed_after_s, deadline=notice_within_s))


ALLOWED_ORIGINS = {"https://quiz.example"}
ORIGIN_CASES = [
    ("https://quiz.example", True, N_("the quiz's own page")),
    (None, True, N_("no Origin header: not a browser (curl, a Python client). Origin checks protect "
                    "browser users; a script can send any header it likes anyway")),
    ("https://evil.example", False, N_("a page on another site, riding on the learner's cookies")),
    ("https://quiz.example.evil.example", False,
     N_("a look-alike that merely starts with the allowed origin")),
    ("http://quiz.example", False, N_("same host over plain http: another scheme is another origin")),
    ("https://quiz.example:8443", False, N_("same host, another port: another origin")),
    ("null", False, N_("the origin of a sandboxed iframe or a file:// page")),
]


@graded
def check_origin_allowed(origin_allowed: Callable[[str | None, set[str]], Any]) -> Check:
    """Exercise: refuse a foreign ``Origin`` (cross-site WebSocket hijacking, RFC 6455 §10.2).

    Tries the function on tricky origins, then plugs it into a real server and opens two
    handshakes by hand: a foreign Origin must get ``403``, the allowed one ``101``.
    """
    from ...net import probes, websocket

    for origin, expected, why in ORIGIN_CASES:
        got = origin_allowed(origin, set(ALLOWED_ORIGINS))
        if not isinstance(got, bool):
            raise not_yet(t("origin_allowed({origin!r}, {allowed}) returned {got!r}: return True or False.",
                            origin=origin, allowed=ALLOWED_ORIGINS, got=got))
        if got != expected:
            raise not_yet(t("origin_allowed({origin!r}, {allowed}) returned {got}, expected {expected}: "
                            "{why}.",
                            origin=origin, allowed=ALLOWED_ORIGINS, got=got, expected=expected, why=t(why)),
                          t("compare the whole origin (scheme://host:port) exactly; allow a missing one."))

    class LearnersServer(websocket.WebSocketServer):
        def origin_allowed(self, origin: str | None) -> bool:
            return bool(origin_allowed(origin, set(self.origins or ())))

    server = LearnersServer(name="exercise-origin", origins=ALLOWED_ORIGINS).start()
    try:
        statuses = {origin: status_code(probes.handshake(server.url, origin=origin)[1])
                    for origin in ("https://evil.example", "https://quiz.example")}
    finally:
        server.stop()
    if statuses != {"https://evil.example": 403, "https://quiz.example": 101}:
        raise not_yet(t("the real server answered {statuses}; expected 403 for the foreign origin and 101 "
                        "for the allowed one.", statuses=statuses))
    return passed(t("Origin https://evil.example → HTTP 403 (no WebSocket), https://quiz.example → 101 "
                    "Switching Protocols; {n} tricky origins judged right", n=len(ORIGIN_CASES)))


