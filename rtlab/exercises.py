"""The checkers behind the notebooks' claims and "Your turn" exercises.

Two kinds of check:

* :func:`claim` — what the notebook told the learner they would observe. It prints one
  ``✓`` line with the measured numbers, or raises :class:`ClaimFailed` with the numbers
  and what that means, so a broken lab fails CI.
* exercise checkers (``check_*``) — run the learner's code against a real server and say
  precisely what is wrong, as a learner would want to hear it.
"""

from __future__ import annotations

import http.client
import itertools
from collections.abc import Callable
from typing import Any


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
def _get_state(conn: http.client.HTTPConnection, path: str,
               headers: dict[str, str]) -> tuple[int, str | None]:
    """One short poll on a kept-alive connection: (status, ETag). The body is read and dropped."""
    conn.request("GET", path, headers=headers)
    response = conn.getresponse()
    response.read()
    return response.status, response.getheader("ETag")


def check_conditional_headers(build_headers: Callable[[str | None], dict[str, str]],
                              polls: int = 20) -> None:
    """Poll a real short-polling server with and without the learner's headers; report bytes saved.

    ``build_headers(previous_etag)`` must return the request headers for the next poll:
    ``If-None-Match: <etag>`` once an ETag is known, nothing special before.
    """
    from . import scenarios, short_polling

    first = build_headers(None)
    if not isinstance(first, dict):
        raise not_yet(f"build_headers(None) returned {first!r}, not a dict of headers",
                      "return {} when there is no ETag yet")
    if any(key.lower() == "if-none-match" for key in first):
        raise not_yet(f"build_headers(None) returned {first!r}: with no ETag yet there is nothing to "
                      "compare with, and the server would read that value as an ETag",
                      "send If-None-Match only when previous_etag is not None")

    server = short_polling.Server(name="exercise-conditional").start()
    try:
        for type_, data in itertools.islice(scenarios.football(seed=7), 12):  # a real scoreboard
            server.publish(type_, data)
        conn = http.client.HTTPConnection(server.host, server.port, timeout=5)
        path = f"{server.path}?client=exercise"
        status, etag = _get_state(conn, path, {})
        while etag != '"12"':  # publish() hops threads: wait until the 12 events are in
            status, etag = _get_state(conn, path, {})
        assert etag is not None

        def bytes_for(headers_for_poll: Callable[[], dict[str, str]]) -> tuple[int, list[int]]:
            before = server.stats()
            statuses = [_get_state(conn, path, headers_for_poll())[0] for _ in range(polls)]
            after = server.stats()
            return after.bytes_in + after.bytes_out - before.bytes_in - before.bytes_out, statuses

        plain_bytes, _ = bytes_for(dict)
        headers = build_headers(etag)
        cond_bytes, statuses = bytes_for(lambda: build_headers(etag))
        if not isinstance(headers, dict):
            raise not_yet(f"build_headers({etag!r}) returned {headers!r}, not a dict of headers")
        if statuses.count(304) != polls:
            raise not_yet(
                f"with your headers {headers!r} the server answered {sorted(set(statuses))}, not 304. "
                f"It answers 304 Not Modified only when If-None-Match equals the ETag it sent, "
                f"{etag} — character for character, quotes included",
                "send the ETag of the last response back, as it came, in an If-None-Match header")

        # Something changes: the old ETag must now bring the new state, and the new ETag a 304.
        server.publish("goal", {"minute": 12, "team": "Rovers", "score": {"Rovers": 9, "United": 0}})
        status, new_etag = _get_state(conn, path, build_headers(etag))
        while status == 304:  # the goal may still be on its way to the server's loop
            status, new_etag = _get_state(conn, path, build_headers(etag))
        if status != 200 or new_etag == etag or new_etag is None:
            raise not_yet(f"after a new event, a poll with your headers got {status} and ETag {new_etag}")
        status_after, _ = _get_state(conn, path, build_headers(new_etag))
        if status_after != 304:
            raise not_yet(f"build_headers({new_etag!r}) got {status_after}: the headers must use the "
                          "ETag you are given, not a fixed one")
        conn.close()
    finally:
        server.stop()
    saved = plain_bytes - cond_bytes
    passed(f"{polls} polls with nothing new: {plain_bytes:,} B on the wire without your headers, "
           f"{cond_bytes:,} B with them — {saved / polls:.0f} B saved per poll "
           f"({saved / plain_bytes:.0%}). All {polls} came back 304 Not Modified, and after a goal "
           f"the old ETag {etag} brought the new state ({new_etag}).")


def check_prediction(predict: Callable[[float, float], tuple[float, float]],
                     results: dict[float, Any] | None = None) -> None:
    """``predict(interval_s, rate)`` -> ``(mean_latency_ms, requests_per_s)``: theory, then measurement.

    ``results`` maps interval -> :class:`rtlab.experiments.Result` (the notebook's sweep);
    without it one experiment is run here.
    """
    for interval, rate in [(0.2, 37.0), (1.0, 2.0), (0.05, 100.0), (2.0, 0.1)]:
        got = predict(interval, rate)
        if not isinstance(got, tuple | list) or len(got) != 2 or None in got:
            raise not_yet(f"predict({interval}, {rate}) returned {got!r}; expected two numbers "
                          "(mean_latency_ms, requests_per_s)")
        latency, requests = (float(x) for x in got)
        want_latency, want_requests = interval * 1000 / 2, 1 / interval
        if not (want_latency * 0.95 <= latency <= want_latency * 1.05 + 10):
            hint = "an event arrives at a random moment between two polls; it waits for the next one"
            if abs(latency - interval * 1000) < 1:
                hint = "that is the worst case (an event just after a poll); what is the average wait?"
            elif abs(latency - interval / 2) < 1e-6:
                hint = "right idea, but in milliseconds please"
            raise not_yet(f"predict({interval}, {rate}) says mean latency {latency:g} ms; "
                          f"polling every {interval} s it is about {want_latency:g} ms", hint)
        if not within(requests, want_requests, 0.05):
            hint = "the client polls on a clock"
            if abs(requests - rate) < 1e-9 or abs(requests - rate / interval) < 1e-9:
                hint = "the event rate does not matter: the client polls whether anything happened or not"
            raise not_yet(f"predict({interval}, {rate}) says {requests:g} requests/s; "
                          f"polling every {interval} s makes {want_requests:g}", hint)
    if results is None:
        from .experiments import measure

        results = {0.1: measure("short-polling", interval=0.1, events=70, rate=37)}
    lines = []
    for interval, result in sorted(results.items()):
        latency, requests = predict(interval, result.options.get("rate", 37.0))
        measured_rps = result.server.requests / result.duration_s
        lines.append(f"  every {interval:g} s: mean latency {latency:.0f} ms predicted, "
                     f"{result.summary().mean:.0f} ms measured; requests/s {requests:.1f} predicted, "
                     f"{measured_rps:.1f} measured")
    passed("your theory matches the formulas, and the measurements:\n" + "\n".join(lines))


def check_empty_per_event(empty_per_event: Callable[[float, float], float]) -> None:
    """``empty_per_event(interval_s, rate)``: polls that find nothing, per event (evenly spaced events)."""
    for interval, rate, want in [(0.05, 5.0, 3.0), (0.25, 2.0, 1.0), (1.0, 0.5, 1.0),
                                 (0.1, 20.0, 0.0), (0.5, 10.0, 0.0)]:
        got = empty_per_event(interval, rate)
        if got is None or not isinstance(got, int | float):
            raise not_yet(f"empty_per_event({interval}, {rate}) returned {got!r}; expected a number")
        if abs(got - want) > 0.02:
            hint = ("per second the client makes 1/interval polls and at most `rate` of them "
                    "can carry an event")
            if want == 0 and got < 0:
                hint = "when events come faster than polls, every poll carries something: never below 0"
            raise not_yet(f"empty_per_event({interval}, {rate}) = {got:g}; expected {want:g} "
                          f"({1 / interval:g} polls/s, {rate:g} events/s)", hint)
    from .experiments import measure

    result = measure("short-polling", interval=0.05, events=10, rate=5)
    measured = result.empty_responses / result.events
    predicted = empty_per_event(0.05, 5.0)
    if not within(measured, predicted, 0.35):
        raise ClaimFailed(f"measured {measured:.2f} empty responses per event, predicted {predicted:g}: "
                          "the machine may be very busy, re-run this cell")
    passed(f"formula right; measured at 0.05 s and 5 events/s: {result.empty_responses} empty "
           f"responses for {result.events} events = {measured:.2f} per event (predicted {predicted:g})")


# --- 02 long polling ---
def _poll(conn: http.client.HTTPConnection, path: str) -> tuple[int, Any]:
    """One long poll on a kept-alive connection: (status, parsed JSON body or None)."""
    import json

    conn.request("GET", path)
    response = conn.getresponse()
    raw = response.read()
    if response.status != 200:
        return response.status, raw.decode(errors="replace").strip()
    return 200, json.loads(raw)


def _span(seqs: list[int]) -> str:
    """"7..9" for [7, 8, 9], "7" for [7] or [7, 7]."""
    if not seqs:
        return "none"
    return f"{seqs[0]}" if seqs[0] == seqs[-1] else f"{seqs[0]}..{seqs[-1]}"


def check_next_cursor(next_cursor: Callable[[int, dict[str, Any]], int], changes: int = 1_000,
                      per_answer: int = 100) -> None:
    """Long-poll a real server through a burst of ``changes`` with the learner's cursor logic.

    Half the changes are waiting before the first poll (so answers are full: at most
    ``per_answer`` events each), half arrive while the loop polls. Every change must be seen
    exactly once, in order. ``next_cursor(cursor, body)`` gets the cursor the poll was sent
    with and the parsed 200 answer; 204s are handled here (ask again, same cursor).
    """
    import time

    from . import long_polling, scenarios

    server = long_polling.Server(name="exercise-cursor", hold=2.0, max_events=per_answer).start()
    items = scenarios.config_changes(seed=3)
    feed = None
    try:
        for _ in range(changes // 2):
            server.publish(*next(items))
        server.stats()  # runs after the publishes on the server's loop: they are all in
        feed = scenarios.Feed(server, items, rate=2_000, count=changes - changes // 2).start()
        conn = http.client.HTTPConnection(server.host, server.port, timeout=10)
        cursor, seen, answers = 0, [], 0
        deadline = time.monotonic() + 30
        while len(seen) < changes and time.monotonic() < deadline:
            status, body = _poll(conn, f"{server.path}?since={cursor}&client=exercise")
            if status == 204:
                if not feed.running and cursor >= changes:
                    raise not_yet(
                        f"you polled with since={cursor}, but the newest change is {changes}: the "
                        "server holds such a poll until a change newer than the cursor exists, "
                        "and answers 204 when the hold ends. Nothing will ever come.",
                        "the cursor is the seq of the last event you received")
                continue
            if status != 200:
                raise not_yet(f"the server answered {status} to since={cursor!r}: {body}",
                              "next_cursor must return a non-negative int")
            answers += 1
            if "reset" in body:
                raise not_yet(
                    f"you polled with since={cursor}, but the newest change on the server was "
                    f"{body['reset']['latest']}: a cursor ahead of the stream can only come from "
                    "another stream, so the server answered \"reset\" (start over from 1).",
                    "the cursor is the seq of the last event you received, never more")
            got = [e["seq"] for e in body["events"]]
            last = seen[-1] if seen else 0
            if got and got[0] <= last:
                again = [q for q in got if q <= last]
                raise not_yet(
                    f"you polled with since={cursor} and got events {_span(again)} again: you had "
                    f"already seen up to {last}. After an answer, the cursor must move past every "
                    "event in it, or the next poll brings them back (a duplicate is a config "
                    "change applied twice).",
                    "the cursor is the seq of the last event you received")
            if got and got[0] > last + 1:
                raise not_yet(
                    f"changes {_span([last + 1, got[0] - 1])} never arrived: after an answer whose last "
                    f"event was {last}, next_cursor returned {cursor}, so the server skipped them. "
                    f"If you used body['seq']: that is the newest change on the server, but one "
                    f"answer carries at most {per_answer} events, so the rest were never sent.",
                    "use the seq of the last event in body['events'], not body['seq']")
            seen.extend(got)
            new = next_cursor(cursor, body)
            if isinstance(new, bool) or not isinstance(new, int):
                raise not_yet(
                    f"next_cursor({cursor}, <answer with events {_span(got)}>) returned {new!r}; "
                    "it must return an int: the since= of the next poll",
                    "start from the stub's signature and return body['events'][-1]['seq'] "
                    "when there are events")
            cursor = new
        conn.close()
    finally:
        if feed is not None:
            feed.stop()
        server.stop()
    if seen != list(range(1, changes + 1)):
        raise not_yet(f"after 30 s you had seen {len(seen)} of {changes} changes "
                      f"(the last one {seen[-1] if seen else 'none'})")
    passed(f"{changes:,} changes, each seen exactly once and in order, in {answers} answers "
           f"(at most {per_answer} per answer; {changes // 2} were waiting before the first poll, "
           f"{changes - changes // 2} arrived while you polled)")


HOLD_CASES = [
    (30.0, 300.0, "Nacos: the client gives up after 30 s; jupyter-server-proxy cuts at 300 s"),
    (90.0, 300.0, "Apollo: the client reads for 90 s"),
    (30.0, 20.0, "a proxy that cuts requests after 20 s, in front of a 30 s client"),
    (1.0, 60.0, "this lab's real test: a client that gives up after 1 s"),
]


def check_hold_time(choose_hold: Callable[[float, float], float]) -> None:
    """``choose_hold(client_timeout_s, proxy_timeout_s)`` -> seconds the server holds an idle poll.

    It must answer before the first of the two gives up, with a margin for the trip back (0.5 s,
    or 10 % of that limit if less) — and hold at least half the limit, since every idle answer
    costs a new request.
    The last case is run for real: a poll held that long, read with a 1 s client timeout.
    """
    import time

    from . import long_polling

    for client_timeout, proxy_timeout, who in HOLD_CASES:
        hold = choose_hold(client_timeout, proxy_timeout)
        if isinstance(hold, bool) or not isinstance(hold, int | float):
            raise not_yet(f"choose_hold({client_timeout:g}, {proxy_timeout:g}) returned {hold!r}, "
                          "not a number of seconds")
        limit = min(client_timeout, proxy_timeout)
        if hold > limit - min(0.5, 0.1 * limit):
            raise not_yet(
                f"choose_hold({client_timeout:g}, {proxy_timeout:g}) = {hold:g} s ({who}): the "
                f"request is cut after {limit:g} s, and the 204 must travel back before that; "
                f"leave at least {min(0.5, 0.1 * limit):g} s. Too late, and the client sees an "
                "error instead of 'nothing new' (and a proxy may log it as a failure).",
                "answer a little before the first of the two limits: Nacos holds 29.5 s for 30 s")
        if hold < 0.5 * limit:
            raise not_yet(
                f"choose_hold({client_timeout:g}, {proxy_timeout:g}) = {hold:g} s ({who}): safe, "
                f"but an idle watcher then asks {1 / max(hold, 1e-9):.2g} times a second where "
                f"{1 / limit:.2g} would do; with 10,000 watchers that is "
                f"{10_000 / max(hold, 1e-9):,.0f} requests/s for nothing.",
                "hold as long as you safely can: just under the smaller of the two limits")

    client_timeout, proxy_timeout, _ = HOLD_CASES[-1]
    hold = float(choose_hold(client_timeout, proxy_timeout))
    server = long_polling.Server(name="exercise-hold").start()
    try:
        conn = http.client.HTTPConnection(server.host, server.port, timeout=client_timeout)
        started = time.perf_counter()
        try:
            status, _ = _poll(conn, f"{server.path}?since=0&hold={hold}&client=exercise")
        except TimeoutError as exc:
            raise not_yet(
                f"for real: a poll held {hold:g} s, read with a {client_timeout:g} s timeout, timed "
                "out before the 204 came back — the margin was too small for this machine",
                "leave more room between the hold and the client's timeout") from exc
        elapsed = time.perf_counter() - started
        conn.close()
    finally:
        server.stop()
    if status != 204:
        raise not_yet(f"for real: the idle poll answered {status}, expected 204 No Content")
    nacos = choose_hold(30.0, 300.0)
    passed(f"all {len(HOLD_CASES)} cases hold between half the limit and the limit minus a margin; "
           f"for real, a poll held "
           f"{hold:g} s came back 204 after {elapsed * 1e3:.0f} ms, inside the {client_timeout:g} s "
           f"timeout. At your Nacos-style hold ({nacos:g} s) 10,000 idle watchers make "
           f"{10_000 / nacos:,.0f} requests/s.")


# --- 03 websocket ---
def check_heartbeat(heartbeat_for: Callable[[float], Any], notice_within_s: float = 1.0) -> None:
    """Exercise: pick the server ``heartbeat`` that drops a vanished client within a deadline.

    First the arithmetic (aiohttp pings after ``heartbeat`` s of silence and gives up
    ``heartbeat / 2`` s later), then the real thing: a server with that heartbeat, a raw
    client that completes the handshake and goes silent, and a live client that must survive.
    """
    import time

    from . import websocket
    from .experiments import connect, serve

    for deadline in (notice_within_s, 30.0):
        h = heartbeat_for(deadline)
        if isinstance(h, bool) or not isinstance(h, int | float) or h <= 0:
            raise not_yet(f"heartbeat_for({deadline:g}) returned {h!r}: return a number of seconds > 0.")
        if 1.5 * h > deadline:
            raise not_yet(
                f"with heartbeat={h:g} s the server pings after {h:g} s of silence, then waits "
                f"{h / 2:g} s for the pong: a vanished client is dropped after about {1.5 * h:g} s, "
                f"later than the {deadline:g} s asked for.",
                "ping after h seconds without data, give up h/2 seconds later: solve h + h/2 ≤ deadline.")
        if h < deadline / 10:
            raise not_yet(
                f"heartbeat_for({deadline:g}) = {h:g} s meets the deadline but pings about "
                f"{deadline / h:.0f} times per deadline; every ping wakes every client (phones too).",
                "aim just under deadline / 1.5.")
    h = float(heartbeat_for(notice_within_s))
    server = serve("websocket", name="exercise-heartbeat", heartbeat=h)
    live = connect("websocket", server.url, name="exercise-live-client")
    try:
        deadline = time.monotonic() + 10
        while "exercise-live-client" not in server.sockets and time.monotonic() < deadline:
            time.sleep(0.01)  # waiting for the live client's handshake, nothing faked
        peer = websocket.silent_peer(server.url, timeout=notice_within_s + 3)
        pings = [t for t, opcode, _ in peer.frames if opcode == "ping"]
        if peer.closed_after_s is None:
            raise not_yet(f"the silent client was still connected after {notice_within_s + 3:g} s "
                          f"(heartbeat={h:g} s, pings it got: {len(pings)}).")
        if peer.closed_after_s > notice_within_s + 0.5:  # 0.5 s of slack for a busy machine
            raise not_yet(f"the silent client was dropped after {peer.closed_after_s:.2f} s, not within "
                          f"{notice_within_s:g} s (heartbeat={h:g} s).")
        if "exercise-live-client" not in server.sockets or live.recorder.reconnects:
            raise not_yet(f"the live client was dropped too (heartbeat={h:g} s): is the heartbeat so "
                          "short that a healthy pong cannot make it in time?")
    finally:
        live.stop()
        server.stop()
    first_ping = f"a ping at {pings[0]:.2f} s, " if pings else ""
    passed(f"heartbeat={h:.2f} s: the silent client got {first_ping}no pong went back, and the server "
           f"dropped it after {peer.closed_after_s:.2f} s (deadline {notice_within_s:g} s); the live "
           "client answered its pings and stayed connected")


ALLOWED_ORIGINS = {"https://quiz.example"}
ORIGIN_CASES = [
    ("https://quiz.example", True, "the quiz's own page"),
    (None, True, "no Origin header: not a browser (curl, a Python client). Origin checks protect "
                 "browser users; a script can send any header it likes anyway"),
    ("https://evil.example", False, "a page on another site, riding on the learner's cookies"),
    ("https://quiz.example.evil.example", False, "a look-alike that merely starts with the allowed origin"),
    ("http://quiz.example", False, "same host over plain http: another scheme is another origin"),
    ("https://quiz.example:8443", False, "same host, another port: another origin"),
    ("null", False, "the origin of a sandboxed iframe or a file:// page"),
]


def check_origin_allowed(origin_allowed: Callable[[str | None, set[str]], Any]) -> None:
    """Exercise: refuse a foreign ``Origin`` (cross-site WebSocket hijacking, RFC 6455 §10.2).

    Tries the function on tricky origins, then plugs it into a real server and opens two
    handshakes by hand: a foreign Origin must get ``403``, the allowed one ``101``.
    """
    from . import websocket

    for origin, expected, why in ORIGIN_CASES:
        got = origin_allowed(origin, set(ALLOWED_ORIGINS))
        if not isinstance(got, bool):
            raise not_yet(f"origin_allowed({origin!r}, {ALLOWED_ORIGINS}) returned {got!r}: "
                          "return True or False.")
        if got != expected:
            raise not_yet(f"origin_allowed({origin!r}, {ALLOWED_ORIGINS}) returned {got}, expected "
                          f"{expected}: {why}.",
                          "compare the whole origin (scheme://host:port) exactly; allow a missing one.")

    class LearnersServer(websocket.WebSocketServer):
        def origin_allowed(self, origin: str | None) -> bool:
            return bool(origin_allowed(origin, set(self.origins or ())))

    server = LearnersServer(name="exercise-origin", origins=ALLOWED_ORIGINS).start()
    try:
        statuses = {origin: websocket.status_code(websocket.handshake(server.url, origin=origin)[1])
                    for origin in ("https://evil.example", "https://quiz.example")}
    finally:
        server.stop()
    if statuses != {"https://evil.example": 403, "https://quiz.example": 101}:
        raise not_yet(f"the real server answered {statuses}; expected 403 for the foreign origin and 101 "
                      "for the allowed one.")
    passed("Origin https://evil.example → HTTP 403 (no WebSocket), https://quiz.example → 101 Switching "
           f"Protocols; {len(ORIGIN_CASES)} tricky origins judged right")


# --- 04 sse ---
# Payloads that break naive encoders: line breaks of all three kinds, empty lines, a
# leading space (the parser eats exactly one), text that looks like a field or a comment,
# non-ASCII, and ids/types that are not plain digits.
SSE_ENCODER_CASES: list[tuple[str, int | str | None, str | None]] = [
    ("Hello", 1, None),
    ("first line\nsecond line", 2, "token"),
    ("", 3, "token"),
    ("para one\n\npara two", 4, None),
    ("ends with a newline\n", 5, None),
    ("windows\r\nline endings", 6, "token"),
    ("old mac\rline ending", 7, None),
    (" leading space", 8, None),
    ("data: not a field\n: not a comment", 9, "token"),
    ("héllo → 世界 🎉", "α-10", "tøken"),
    ('{"no": "id"}', None, None),
]


def _httpx_sse_events(raw: bytes) -> list[tuple[str, str, str]] | None:
    """The events a second, independent parser (httpx-sse) finds in ``raw``; None if not installed."""
    try:
        from httpx_sse._decoders import SSEDecoder, SSELineDecoder
    except ImportError:
        return None
    lines, decoder = SSELineDecoder(), SSEDecoder()
    events = []
    for line in lines.decode(raw.decode("utf-8")) + lines.flush():
        sse = decoder.decode(line)
        if sse is not None:
            events.append((sse.event, sse.data, sse.id))
    return events


def check_encoder(encode: Any) -> None:
    """Check ``encode(data, id, event) -> bytes`` by parsing its output as a browser would."""
    from .sse import SSEParser

    second_opinion = True
    for data, id, event in SSE_ENCODER_CASES:
        call = f"my_encode({data!r}, {id!r}, {event!r})"
        raw = encode(data, id, event)
        if not isinstance(raw, bytes):
            raise not_yet(f"{call} returned {type(raw).__name__}, not bytes.",
                          "build a str, then .encode('utf-8') — the stream is UTF-8 on the wire.")
        want = (event or "message", data.replace("\r\n", "\n").replace("\r", "\n"),
                "" if id is None else str(id))
        got = [(m.event, m.data, m.id) for m in SSEParser().feed(raw)]
        if len(got) != 1:
            raise not_yet(
                f"{call} produced {raw!r}, which a browser reads as {len(got)} events, not 1.",
                "every line of the payload needs its own 'data: ' prefix (a bare line break or a "
                "blank line inside would end or break the event), and the event ends with one blank "
                "line: the bytes end in '\\n\\n'." if got else
                "an event is dispatched only by a blank line: end with '\\n\\n'.")
        for what, g, e in zip(("event type", "data", "id"), got[0], want, strict=True):
            if g != e:
                raise not_yet(
                    f"{call} produced {raw!r}; a browser reads its {what} as {g!r}, expected {e!r}.",
                    "split the payload on CRLF, LF and CR (normalise to '\\n' first), write one "
                    "'data: <line>' per line — with exactly one space after the colon, since the "
                    "parser removes one — and write 'id:'/'event:' only when they are given.")
        other = _httpx_sse_events(raw)
        if other is None:
            second_opinion = False
        elif other != [want]:
            raise not_yet(f"{call} produced {raw!r}: the spec parser is happy, but httpx-sse reads "
                          f"{other!r} (expected [{want!r}]). Keep to the plainest form of each field.")
    also = " and by httpx-sse" if second_opinion else ""
    passed(f"all {len(SSE_ENCODER_CASES)} tricky payloads survive the round trip "
           f"(parsed by rtlab's spec parser{also}).")


def check_replay(events_to_replay: Any) -> None:
    """Check the server side of ``Last-Event-ID``: which events to send a reconnecting client."""
    from .hub import Event, Gap
    from .scenarios import tokens

    answer = [Event(seq, t, d, 0) for seq, (t, d) in enumerate(tokens(), 1)]
    last = answer[-1].seq
    trimmed = answer[40:]  # a replay buffer that only keeps the newest events

    def seqs(events: Any) -> str:
        events = list(events)
        return f"{len(events)} events" + (f" (seq {events[0].seq}..{events[-1].seq})" if events else "")

    cases = [(None, answer, 1, "a first connection sends no Last-Event-ID: it wants the whole answer"),
             ("", answer, 1, "an empty Last-Event-ID means the same as none"),
             ("20", answer, 21, "the client has 1..20"),
             (str(last), answer, last + 1, "the client has everything"),
             ("500", answer, last + 1, "an id newer than anything sent: nothing to replay")]
    for header, buffer, first, why in cases:
        try:
            got = list(events_to_replay(header, buffer))
        except Exception as exc:  # noqa: BLE001 - tell the learner what happened
            raise not_yet(f"events_to_replay({header!r}, buffer) raised {exc!r} ({why}).") from exc
        want = [e for e in buffer if e.seq >= first]
        if [e.seq for e in got] != [e.seq for e in want]:
            raise not_yet(
                f"Last-Event-ID {header!r} ({why}): you replay {seqs(got)}, expected {seqs(want)}.",
                "send the events whose seq is greater than int(Last-Event-ID), oldest first; "
                "no header or an empty one counts as 0.")
    try:
        got = list(events_to_replay("abc", answer))
    except ValueError:
        pass
    else:
        raise not_yet(f"Last-Event-ID 'abc' gave {seqs(got)}: an id this server never sent must "
                      "be refused (raise ValueError — the server answers 400 Bad Request).",
                      "int('abc') already raises ValueError.")
    try:
        got = list(events_to_replay("20", trimmed))
    except Gap as gap:
        if (gap.first_missing, gap.last_missing) != (21, 40):
            raise not_yet(f"right idea, but Gap says {gap.first_missing}..{gap.last_missing} are "
                          "missing; the client has 1..20 and the buffer starts at 41.",
                          "Gap(since, oldest_seq_in_buffer): Gap(20, 41).") from gap
    else:
        raise not_yet(
            f"the buffer only holds seq 41..{last}, the client has 1..20, and you replay "
            f"{seqs(got)}: events 21..40 would vanish without a word.",
            "if since + 1 < buffer[0].seq, raise rtlab.Gap(since, buffer[0].seq): the server "
            "then tells the client what it lost.")
    passed("replay is right: nothing twice, nothing lost, garbage refused, a gap announced.")


# --- 05 showdown ---
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
