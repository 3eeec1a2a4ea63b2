"""01 short polling: conditional requests, and predicting latency and cost."""

from __future__ import annotations

import http.client
import itertools
from collections.abc import Callable
from typing import Any

from ..i18n import t
from .claims import Check, ClaimFailed, graded, not_yet, passed, within


def _get_state(conn: http.client.HTTPConnection, path: str,
               headers: dict[str, str]) -> tuple[int, str | None]:
    """One short poll on a kept-alive connection: (status, ETag). The body is read and dropped."""
    conn.request("GET", path, headers=headers)
    response = conn.getresponse()
    response.read()
    return response.status, response.getheader("ETag")


@graded
def check_conditional_headers(build_headers: Callable[[str | None], dict[str, str]],
                              polls: int = 20) -> Check:
    """Poll a real short-polling server with and without the learner's headers; report bytes saved.

    ``build_headers(previous_etag)`` must return the request headers for the next poll:
    ``If-None-Match: <etag>`` once an ETag is known, nothing special before.
    """
    from ...net import short_polling
    from .. import scenarios

    first = build_headers(None)
    if not isinstance(first, dict):
        raise not_yet(t("build_headers(None) returned {first!r}, not a dict of headers", first=first),
                      t("return {} when there is no ETag yet"))
    if any(key.lower() == "if-none-match" for key in first):
        raise not_yet(t("build_headers(None) returned {first!r}: with no ETag yet there is nothing to "
                        "compare with, and the server would read that value as an ETag", first=first),
                      t("send If-None-Match only when previous_etag is not None"))

    server = short_polling.Server(name="exercise-conditional").start()
    try:
        for type_, data in itertools.islice(scenarios.football(seed=7), 12):  # a real scoreboard
            server.publish(type_, data)
        conn = http.client.HTTPConnection(server.host, server.port, timeout=5)
        path = f"{server.path}?client=exercise"
        status, etag = _get_state(conn, path, {})
        want = f'"{server.read(lambda s: s.hub.token(12))}"'  # "<stream id>-12": see rtlab.hub
        while etag != want:  # publish() hops threads: wait until the 12 events are in
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
            raise not_yet(t("build_headers({etag!r}) returned {headers!r}, not a dict of headers",
                            etag=etag, headers=headers))
        if statuses.count(304) != polls:
            raise not_yet(
                t("with your headers {headers!r} the server answered {statuses}, not 304. "
                  "It answers 304 Not Modified only when If-None-Match matches the ETag it sent, "
                  "{etag} — character for character, quotes included",
                  headers=headers, statuses=sorted(set(statuses)), etag=etag),
                t("send the ETag of the last response back, as it came, in an If-None-Match header"))

        # Something changes: the old ETag must now bring the new state, and the new ETag a 304.
        server.publish("goal", {"minute": 12, "team": "Rovers", "score": {"Rovers": 9, "United": 0}})
        status, new_etag = _get_state(conn, path, build_headers(etag))
        while status == 304:  # the goal may still be on its way to the server's loop
            status, new_etag = _get_state(conn, path, build_headers(etag))
        if status != 200 or new_etag == etag or new_etag is None:
            raise not_yet(t("after a new event, a poll with your headers got {status} and ETag {new_etag}",
                            status=status, new_etag=new_etag))
        status_after, _ = _get_state(conn, path, build_headers(new_etag))
        if status_after != 304:
            raise not_yet(t("build_headers({new_etag!r}) got {status_after}: the headers must use the "
                            "ETag you are given, not a fixed one",
                            new_etag=new_etag, status_after=status_after))
        conn.close()
    finally:
        server.stop()
    saved = plain_bytes - cond_bytes
    return passed(t("{polls} polls with nothing new: {plain_bytes:,} B on the wire without your headers, "
                    "{cond_bytes:,} B with them — {per_poll:.0f} B saved per poll "
                    "({share:.0%}). All {polls} came back 304 Not Modified, and after a goal "
                    "the old ETag {etag} brought the new state ({new_etag}).",
                    polls=polls, plain_bytes=plain_bytes, cond_bytes=cond_bytes, per_poll=saved / polls,
                    share=saved / plain_bytes, etag=etag, new_etag=new_etag))


@graded
def check_prediction(predict: Callable[[float, float], tuple[float, float]],
                     results: dict[float, Any] | None = None) -> Check:
    """``predict(interval_s, rate)`` -> ``(mean_latency_ms, requests_per_s)``: theory, then measurement.

    ``results`` maps interval -> :class:`rtlab.lessons.experiments.Result` (the notebook's sweep);
    without it one experiment is run here.
    """
    for interval, rate in [(0.2, 37.0), (1.0, 2.0), (0.05, 100.0), (2.0, 0.1)]:
        got = predict(interval, rate)
        if not isinstance(got, tuple | list) or len(got) != 2 or None in got:
            raise not_yet(t("predict({interval}, {rate}) returned {got!r}; expected two numbers "
                            "(mean_latency_ms, requests_per_s)", interval=interval, rate=rate, got=got),
                          t("replace each None with a formula in interval (and rate, if it matters)"))
        latency, requests = (float(x) for x in got)
        want_latency, want_requests = interval * 1000 / 2, 1 / interval
        if not (want_latency * 0.95 <= latency <= want_latency * 1.05 + 10):
            hint = t("an event arrives at a random moment between two polls; it waits for the next one")
            if abs(latency - interval * 1000) < 1:
                hint = t("that is the worst case (an event just after a poll); what is the average wait?")
            elif abs(latency - interval / 2) < 1e-6:
                hint = t("right idea, but in milliseconds please")
            raise not_yet(t("predict({interval}, {rate}) says mean latency {latency:g} ms; "
                            "polling every {interval} s it is about {want:g} ms",
                            interval=interval, rate=rate, latency=latency, want=want_latency), hint)
        if not within(requests, want_requests, 0.05):
            hint = t("the client polls on a clock")
            if abs(requests - rate) < 1e-9 or abs(requests - rate / interval) < 1e-9:
                hint = t("the event rate does not matter: the client polls whether anything happened or not")
            raise not_yet(t("predict({interval}, {rate}) says {requests:g} requests/s; "
                            "polling every {interval} s makes {want:g}",
                            interval=interval, rate=rate, requests=requests, want=want_requests), hint)
    if results is None:
        from ..experiments import measure

        results = {0.1: measure("short-polling", interval=0.1, events=70, rate=37)}
    lines = []
    for interval, result in sorted(results.items()):
        latency, requests = predict(interval, result.options.get("rate", 37.0))
        measured_rps = result.server.requests / result.duration_s
        lines.append(t("  every {interval:g} s: mean latency {latency:.0f} ms predicted, "
                       "{mean:.0f} ms measured; requests/s {requests:.1f} predicted, "
                       "{rps:.1f} measured", interval=interval, latency=latency,
                       mean=result.summary().mean, requests=requests, rps=measured_rps))
    return passed(t("your theory matches the formulas, and the measurements:") + "\n" + "\n".join(lines))


@graded
def check_empty_per_event(empty_per_event: Callable[[float, float], float]) -> Check:
    """``empty_per_event(interval_s, rate)``: polls that find nothing, per event (evenly spaced events)."""
    for interval, rate, want in [(0.05, 5.0, 3.0), (0.25, 2.0, 1.0), (1.0, 0.5, 1.0),
                                 (0.1, 20.0, 0.0), (0.5, 10.0, 0.0)]:
        got = empty_per_event(interval, rate)
        if got is None or not isinstance(got, int | float):
            raise not_yet(t("empty_per_event({interval}, {rate}) returned {got!r}; expected a number",
                            interval=interval, rate=rate, got=got),
                          t("count per second: how many polls, and how many of them can carry an event?"))
        if abs(got - want) > 0.02:
            hint = t("per second the client makes 1/interval polls and at most `rate` of them "
                     "can carry an event")
            if want == 0 and got < 0:
                hint = t("when events come faster than polls, every poll carries something: never below 0")
            raise not_yet(t("empty_per_event({interval}, {rate}) = {got:g}; expected {want:g} "
                            "({polls:g} polls/s, {rate:g} events/s)",
                            interval=interval, rate=rate, got=got, want=want, polls=1 / interval), hint)
    from ..experiments import measure

    result = measure("short-polling", interval=0.05, events=10, rate=5)
    measured = result.empty_responses / result.events
    predicted = empty_per_event(0.05, 5.0)
    if not within(measured, predicted, 0.35):
        raise ClaimFailed(t("measured {measured:.2f} empty responses per event, predicted {predicted:g}: "
                            "the machine may be very busy, re-run this cell",
                            measured=measured, predicted=predicted))
    return passed(t("formula right; measured at 0.05 s and 5 events/s: {empty} empty "
                    "responses for {events} events = {measured:.2f} per event "
                    "(predicted {predicted:g})", empty=result.empty_responses, events=result.events,
                    measured=measured, predicted=predicted))


