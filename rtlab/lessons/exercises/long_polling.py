"""02 long polling: the cursor, and choosing a hold time."""

from __future__ import annotations

import http.client
from collections.abc import Callable
from typing import Any

from ..i18n import N_, t
from .claims import Check, graded, not_yet, passed


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
        return t("none")
    return f"{seqs[0]}" if seqs[0] == seqs[-1] else f"{seqs[0]}..{seqs[-1]}"


@graded
def check_next_cursor(next_cursor: Callable[[int, dict[str, Any]], int], changes: int = 1_000,
                      per_answer: int = 100) -> Check:
    """Long-poll a real server through a burst of ``changes`` with the learner's cursor logic.

    Half the changes are waiting before the first poll (so answers are full: at most
    ``per_answer`` events each), half arrive while the loop polls. Every change must be seen
    exactly once, in order. ``next_cursor(cursor, body)`` gets the cursor the poll was sent
    with and the parsed 200 answer; 204s are handled here (ask again, same cursor).
    """
    import time

    from ...net import long_polling
    from .. import scenarios
    from ..feed import Feed

    server = long_polling.Server(name="exercise-cursor", hold=2.0, max_events=per_answer).start()
    items = scenarios.config_changes(seed=3)
    feed = None
    try:
        for _ in range(changes // 2):
            server.publish(*next(items))
        server.stats()  # runs after the publishes on the server's loop: they are all in
        feed = Feed(server, items, rate=2_000, count=changes - changes // 2).start()
        conn = http.client.HTTPConnection(server.host, server.port, timeout=10)
        cursor, seen, answers = 0, [], 0
        deadline = time.monotonic() + 30
        while len(seen) < changes and time.monotonic() < deadline:
            status, body = _poll(conn, f"{server.path}?since={cursor}&client=exercise")
            if status == 204:
                if not feed.running and cursor >= changes:
                    raise not_yet(
                        t("you polled with since={cursor}, but the newest change is {changes}: the "
                          "server holds such a poll until a change newer than the cursor exists, "
                          "and answers 204 when the hold ends. Nothing will ever come.",
                          cursor=cursor, changes=changes),
                        t("the cursor is the seq of the last event you received"))
                continue
            if status != 200:
                raise not_yet(t("the server answered {status} to since={cursor!r}: {body}",
                                status=status, cursor=cursor, body=body),
                              t("next_cursor must return a non-negative int"))
            answers += 1
            if "reset" in body:
                raise not_yet(
                    t("you polled with since={cursor}, but the newest change on the server was "
                      "{latest}: a cursor ahead of the stream can only come from "
                      "another stream, so the server answered \"reset\" (start over from 1).",
                      cursor=cursor, latest=body["reset"]["latest"]),
                    t("the cursor is the seq of the last event you received, never more"))
            got = [e["seq"] for e in body["events"]]
            last = seen[-1] if seen else 0
            if got and got[0] <= last:
                again = [q for q in got if q <= last]
                raise not_yet(
                    t("you polled with since={cursor} and got events {again} again: you had "
                      "already seen up to {last}. After an answer, the cursor must move past every "
                      "event in it, or the next poll brings them back (a duplicate is a config "
                      "change applied twice).", cursor=cursor, again=_span(again), last=last),
                    t("the cursor is the seq of the last event you received"))
            if got and got[0] > last + 1:
                raise not_yet(
                    t("changes {lost} never arrived: after an answer whose last "
                      "event was {last}, next_cursor returned {cursor}, so the server skipped them. "
                      "If you used body['seq']: that is the newest change on the server, but one "
                      "answer carries at most {per_answer} events, so the rest were never sent.",
                      lost=_span([last + 1, got[0] - 1]), last=last, cursor=cursor, per_answer=per_answer),
                    t("body['seq'] is the newest change on the server, not the newest one you have: "
                      "where in the answer is the last change you actually received?"))
            seen.extend(got)
            new = next_cursor(cursor, body)
            if isinstance(new, bool) or not isinstance(new, int):
                raise not_yet(
                    t("next_cursor({cursor}, <answer with events {got}>) returned {new!r}; "
                      "it must return an int: the since= of the next poll",
                      cursor=cursor, got=_span(got), new=new),
                    t("return a number: the seq of a change, taken from the answer"))
            cursor = new
        conn.close()
    finally:
        if feed is not None:
            feed.stop()
        server.stop()
    if seen != list(range(1, changes + 1)):
        raise not_yet(t("after 30 s you had seen {seen} of {changes} changes (the last one {last})",
                        seen=len(seen), changes=changes, last=seen[-1] if seen else t("none")))
    return passed(t("{changes:,} changes, each seen exactly once and in order, in {answers} answers "
                    "(at most {per_answer} per answer; {waiting} were waiting before the first poll, "
                    "{arrived} arrived while you polled)", changes=changes, answers=answers,
                    per_answer=per_answer, waiting=changes // 2, arrived=changes - changes // 2))


HOLD_CASES = [
    (30.0, 300.0, N_("Nacos 1.x: the client gives up after 30 s; jupyter-server-proxy cuts at 300 s")),
    (90.0, 300.0, N_("Apollo: the client reads for 90 s")),
    (30.0, 20.0, N_("a proxy that cuts requests after 20 s, in front of a 30 s client")),
    (1.0, 60.0, N_("this lab's real test: a client that gives up after 1 s")),
]


@graded
def check_hold_time(choose_hold: Callable[[float, float], float]) -> Check:
    """``choose_hold(client_timeout_s, proxy_timeout_s)`` -> seconds the server holds an idle poll.

    It must answer before the first of the two gives up, with a margin for the trip back (0.5 s,
    or 10 % of that limit if less) — and hold at least half the limit, since every idle answer
    costs a new request.
    The last case is run for real: a poll held that long, read with a 1 s client timeout.
    """
    import time

    from ...net import long_polling

    for client_timeout, proxy_timeout, who in HOLD_CASES:
        hold = choose_hold(client_timeout, proxy_timeout)
        if isinstance(hold, bool) or not isinstance(hold, int | float):
            raise not_yet(t("choose_hold({client:g}, {proxy:g}) returned {hold!r}, not a number of seconds",
                            client=client_timeout, proxy=proxy_timeout, hold=hold))
        limit = min(client_timeout, proxy_timeout)
        if hold > limit - min(0.5, 0.1 * limit):
            raise not_yet(
                t("choose_hold({client:g}, {proxy:g}) = {hold:g} s ({who}): the "
                  "request is cut after {limit:g} s, and the 204 must travel back before that; "
                  "leave at least {margin:g} s. Too late, and the client sees an "
                  "error instead of 'nothing new' (and a proxy may log it as a failure).",
                  client=client_timeout, proxy=proxy_timeout, hold=hold, who=t(who), limit=limit,
                  margin=min(0.5, 0.1 * limit)),
                t("answer a little before the first of the two limits: Nacos 1.x held 29.5 s for 30 s"))
        if hold < 0.5 * limit:
            raise not_yet(
                t("choose_hold({client:g}, {proxy:g}) = {hold:g} s ({who}): safe, "
                  "but an idle watcher then asks {rate:.2g} times a second where "
                  "{enough:.2g} would do; with 10,000 watchers that is "
                  "{total:,.0f} requests/s for nothing.",
                  client=client_timeout, proxy=proxy_timeout, hold=hold, who=t(who),
                  rate=1 / max(hold, 1e-9), enough=1 / limit, total=10_000 / max(hold, 1e-9)),
                t("hold as long as you safely can: just under the smaller of the two limits"))

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
                t("for real: a poll held {hold:g} s, read with a {client:g} s timeout, timed "
                  "out before the 204 came back — the margin was too small for this machine",
                  hold=hold, client=client_timeout),
                t("leave more room between the hold and the client's timeout")) from exc
        elapsed = time.perf_counter() - started
        conn.close()
    finally:
        server.stop()
    if status != 204:
        raise not_yet(t("for real: the idle poll answered {status}, expected 204 No Content", status=status))
    nacos = choose_hold(30.0, 300.0)
    return passed(t("all {cases} cases hold between half the limit and the limit minus a margin; "
                    "for real, a poll held {hold:g} s came back 204 after {ms:.0f} ms, inside the "
                    "{client:g} s timeout. At your Nacos-style hold ({nacos:g} s) 10,000 idle watchers "
                    "make {total:,.0f} requests/s.", cases=len(HOLD_CASES), hold=hold, ms=elapsed * 1e3,
                    client=client_timeout, nacos=nacos, total=10_000 / nacos))


