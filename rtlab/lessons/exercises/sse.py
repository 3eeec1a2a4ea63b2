"""04 SSE: an encoder checked against two parsers, and replay after a cut."""

from __future__ import annotations

from typing import Any

from ..i18n import N_, t
from .claims import Check, graded, not_yet, passed

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


@graded
def check_encoder(encode: Any) -> Check:
    """Check ``encode(data, id, event) -> bytes`` by parsing its output as a browser would."""
    from ...wire.sse import SSEParser

    second_opinion = True
    for data, id, event in SSE_ENCODER_CASES:
        call = f"my_encode({data!r}, {id!r}, {event!r})"
        raw = encode(data, id, event)
        if not isinstance(raw, bytes):
            raise not_yet(t("{call} returned {kind}, not bytes.", call=call, kind=type(raw).__name__),
                          t("build a str, then .encode('utf-8') — the stream is UTF-8 on the wire."))
        want = (event or "message", data.replace("\r\n", "\n").replace("\r", "\n"),
                "" if id is None else str(id))
        got = [(m.event, m.data, m.id) for m in SSEParser().feed(raw)]
        if len(got) != 1:
            raise not_yet(
                t("{call} produced {raw!r}, which a browser reads as {n} events, not 1.",
                  call=call, raw=raw, n=len(got)),
                t("every line of the payload needs its own 'data: ' prefix (a bare line break or a "
                  "blank line inside would end or break the event), and the event ends with one blank "
                  "line: the bytes end in '\\n\\n'.") if got else
                t("an event is dispatched only by a blank line: end with '\\n\\n'."))
        for what, g, e in zip((N_("event type"), N_("data"), N_("id")), got[0], want, strict=True):
            if g != e:
                raise not_yet(
                    t("{call} produced {raw!r}; a browser reads its {what} as {g!r}, expected {e!r}.",
                      call=call, raw=raw, what=t(what), g=g, e=e),
                    t("which line endings does the parser know (there are three)? Every line of the "
                      "payload needs a field line of its own; and how many spaces after the colon "
                      "does the parser remove?"))
        other = _httpx_sse_events(raw)
        if other is None:
            second_opinion = False
        elif other != [want]:
            raise not_yet(t("{call} produced {raw!r}: the spec parser is happy, but httpx-sse reads "
                            "{other!r} (expected [{want!r}]). Keep to the plainest form of each field.",
                            call=call, raw=raw, other=other, want=want))
    if second_opinion:
        return passed(t("all {n} tricky payloads survive the round trip (parsed by rtlab's spec parser "
                        "and by httpx-sse).", n=len(SSE_ENCODER_CASES)))
    return passed(t("all {n} tricky payloads survive the round trip (parsed by rtlab's spec parser).",
                    n=len(SSE_ENCODER_CASES)))


@graded
def check_replay(events_to_replay: Any) -> Check:
    """Check the server side of ``Last-Event-ID``: which events to send a reconnecting client."""
    from ...hub import Event, Gap
    from ..scenarios import tokens

    answer = [Event(seq, t, d, 0) for seq, (t, d) in enumerate(tokens(), 1)]
    last = answer[-1].seq
    trimmed = answer[40:]  # a replay buffer that only keeps the newest events

    def seqs(events: Any) -> str:
        events = list(events)
        if not events:
            return t("{n} events", n=0)
        return t("{n} events (seq {first}..{last})", n=len(events), first=events[0].seq, last=events[-1].seq)

    cases = [(None, answer, 1, t("a first connection sends no Last-Event-ID: it wants the whole answer")),
             ("", answer, 1, t("an empty Last-Event-ID means the same as none")),
             ("20", answer, 21, t("the client has 1..20")),
             (str(last), answer, last + 1, t("the client has everything")),
             ("500", answer, last + 1, t("an id newer than anything sent: nothing to replay"))]
    for header, buffer, first, why in cases:
        try:
            got = list(events_to_replay(header, buffer))
        except Exception as exc:  # noqa: BLE001 - tell the learner what happened
            raise not_yet(t("events_to_replay({header!r}, buffer) raised {exc!r} ({why}).",
                            header=header, exc=exc, why=why),
                          t("a missing or empty header is not an error: what should it count as?")) from exc
        want = [e for e in buffer if e.seq >= first]
        if [e.seq for e in got] != [e.seq for e in want]:
            raise not_yet(
                t("Last-Event-ID {header!r} ({why}): you replay {got}, expected {want}.",
                  header=header, why=why, got=seqs(got), want=seqs(want)),
                t("the header is the id of the last event the client has: which events does it still "
                  "need, and in what order? (No header at all: what does the client have then?)"))
    try:
        got = list(events_to_replay("abc", answer))
    except ValueError:
        pass
    else:
        raise not_yet(t("Last-Event-ID 'abc' gave {got}: an id this server never sent must "
                        "be refused (raise ValueError — the server answers 400 Bad Request).", got=seqs(got)),
                      t("what happens when you turn 'abc' into a number?"))
    try:
        got = list(events_to_replay("20", trimmed))
    except Gap as gap:
        if (gap.first_missing, gap.last_missing) != (21, 40):
            raise not_yet(t("right idea, but Gap says {first}..{last} are "
                            "missing; the client has 1..20 and the buffer starts at 41.",
                            first=gap.first_missing, last=gap.last_missing),
                          t("Gap takes the client's cursor and the oldest seq still in the buffer.")) from gap
    else:
        raise not_yet(
            t("the buffer only holds seq 41..{last}, the client has 1..20, and you replay "
              "{got}: events 21..40 would vanish without a word.", last=last, got=seqs(got)),
            t("compare the first seq the client needs with the oldest seq the buffer still has; "
              "if it is gone, raise rtlab.Gap and the server tells the client what it lost."))
    return passed(t("replay is right: nothing twice, nothing lost, garbage refused, a gap announced."))


