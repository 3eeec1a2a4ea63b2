"""Server-Sent Events: the encoder, the spec parser (WHATWG HTML §9.2), the server, the client.

The server is checked end to end with an independent parser (``httpx`` + ``httpx-sse``),
so rtlab's parser is not the only judge of rtlab's server.
"""

from __future__ import annotations

import json
import time

import httpx
import pytest
from aiohttp import web
from httpx_sse import connect_sse
from rtlab_support import TIMEOUT, publish_and_wait, wait_seq, wait_until

from rtlab.net import sse
from rtlab.wire.sse import SSEMessage, SSEParser, encode_comment, encode_event


def parse(*chunks: bytes, parser: SSEParser | None = None) -> list[SSEMessage]:
    parser = parser or SSEParser()
    return [m for chunk in chunks for m in parser.feed(chunk)]


# -- the encoder ----------------------------------------------------------------------------------
def test_encode_event_fields_and_blank_line():
    assert encode_event("hi", id=7, event="token", retry=500) == (
        b"retry: 500\nid: 7\nevent: token\ndata: hi\n\n")
    assert encode_event("x") == b"data: x\n\n"
    assert encode_comment("ka") == b": ka\n\n"


def test_encode_event_multi_line_payload_becomes_several_data_lines():
    wire = encode_event("one\ntwo\r\nthree\rfour")
    assert wire == b"data: one\ndata: two\ndata: three\ndata: four\n\n"
    assert parse(wire) == [SSEMessage("message", "one\ntwo\nthree\nfour", "")]


@pytest.mark.parametrize("bad_id", ["1\n2", "1\r", "a\r\nb", "nul\0"])
def test_encode_event_rejects_line_breaks_in_id(bad_id):
    with pytest.raises(ValueError, match="id"):
        encode_event("x", id=bad_id)


def test_encode_event_rejects_line_breaks_in_event_type():
    with pytest.raises(ValueError, match="event type"):
        encode_event("x", event="a\nb")


def test_encode_then_parse_round_trip_keeps_unicode_and_empty_lines():
    payload = "héllo €\n\nlast 😀"
    assert parse(encode_event(payload, id=3, event="t")) == [SSEMessage("t", payload, "3")]


# -- the parser ------------------------------------------------------------------------------------
@pytest.mark.parametrize("eol", ["\r\n", "\r", "\n"])
def test_parser_accepts_each_line_ending(eol):
    stream = eol.join(["event: a", "data: 1", "data: 2", "", "data: 3", "", ""]).encode()
    assert parse(stream) == [SSEMessage("a", "1\n2", ""), SSEMessage("message", "3", "")]


def test_parser_mixed_line_endings_in_one_stream():
    assert parse(b"data: a\rdata: b\r\ndata: c\n\r\n") == [SSEMessage("message", "a\nb\nc", "")]


# One stream with every feature in it; any chunking must give the same messages.
EVERYTHING = (
    "\ufeff: a comment first\r\n"
    "retry: 2500\r\n"
    "id: 1\r\nevent: token\r\ndata: héllo € 😀\r\n\r\n"
    "data: no id field, id persists\rdata:second line\r\r"
    "id\n"  # an empty id resets the last event id
    "data:  two spaces keep one\n\n"
    "event: lonely\n\n"  # no data: not dispatched, and the type is forgotten
    "id: 9\0\ndata: NUL in id is ignored\n\n"
    "unknown: field\ndata\n\n"  # "data" without a colon: an empty data line
    "data: unfinished, never dispatched"
).encode("utf-8")

EXPECTED = [
    SSEMessage("token", "héllo € 😀", "1"),
    SSEMessage("message", "no id field, id persists\nsecond line", "1"),
    SSEMessage("message", " two spaces keep one", ""),
    SSEMessage("message", "NUL in id is ignored", ""),
    SSEMessage("message", "", ""),
]


def test_parser_whole_stream():
    parser = SSEParser()
    assert parse(EVERYTHING, parser=parser) == EXPECTED
    assert parser.retry_ms == 2500


def test_parser_one_byte_at_a_time():
    # Splits inside every UTF-8 multibyte character, inside the BOM, and between CR and LF.
    chunks = [EVERYTHING[i:i + 1] for i in range(len(EVERYTHING))]
    assert parse(*chunks) == EXPECTED


def test_parser_every_two_chunk_split():
    for cut in range(len(EVERYTHING) + 1):
        assert parse(EVERYTHING[:cut], EVERYTHING[cut:]) == EXPECTED, f"split at byte {cut}"


def test_parser_crlf_split_across_chunks_is_one_line_end():
    # If the LF were taken as a second line end, "a" would be dispatched on its own.
    assert parse(b"data: a\r", b"\ndata: b\r\n\r\n") == [SSEMessage("message", "a\nb", "")]


def test_parser_crlf_then_lf_in_three_chunks_is_two_line_ends():
    # Found by the page's JavaScript parser (tests/test_browser_limits_widgets.py): once the LF of a
    # split CRLF is consumed, the next LF is a blank line of its own, and dispatches.
    assert parse(b"data: a\r", b"\n", b"\n", b"data: b\n\n") == [SSEMessage("message", "a", ""),
                                                                SSEMessage("message", "b", "")]


def test_parser_empty_chunk_between_cr_and_lf():
    # aiohttp's iter_any() never yields b"", but other byte sources may.
    assert parse(b"data: a\r", b"", b"\ndata: b\n\n") == [SSEMessage("message", "a\nb", "")]


def test_parser_only_one_leading_bom_is_skipped():
    bom = "\ufeff".encode()
    assert parse(bom + b"data: x\n\n") == [SSEMessage("message", "x", "")]
    # A second BOM is part of the field name "\ufeffdata", an unknown field: ignored.
    assert parse(bom + bom + b"data: x\n\n") == []
    # A BOM later in the stream is not special either.
    assert parse(b"data: a\n\n" + bom + b"data: b\n\n") == [SSEMessage("message", "a", "")]


def test_parser_split_multibyte_character():
    wire = "data: 😀\n\n".encode()
    for cut in range(len(wire)):
        assert parse(wire[:cut], wire[cut:]) == [SSEMessage("message", "😀", "")]


def test_parser_invalid_utf8_becomes_replacement_character():
    assert parse(b"data: a\xffb\n\n") == [SSEMessage("message", "a\ufffdb", "")]


def test_parser_comments_are_ignored():
    assert parse(b": keep-alive\n\n:\n:x\ndata: y\n\n") == [SSEMessage("message", "y", "")]


@pytest.mark.parametrize("value, expected", [
    ("1500", 1500), ("0", 0), (" 1500", 1500),  # the one space after the colon is dropped
    ("15a", None), ("-1", None), ("1.5", None), ("", None), ("١٢", None), ("  7", None),
])
def test_parser_retry_takes_ascii_digits_only(value, expected):
    parser = SSEParser()
    parse(f"retry:{value}\n\n".encode(), parser=parser)
    assert parser.retry_ms == expected


def test_parser_id_with_nul_is_ignored_and_previous_id_kept():
    parser = SSEParser()
    assert parse(b"id: 5\ndata: a\n\nid: 6\x00\ndata: b\n\n", parser=parser) == [
        SSEMessage("message", "a", "5"), SSEMessage("message", "b", "5")]
    assert parser.last_event_id == "5"


def test_parser_no_dispatch_without_data_but_id_is_still_remembered():
    parser = SSEParser()
    assert parse(b"id: 42\nevent: ping\n\n", parser=parser) == []
    assert parser.last_event_id == "42"  # a reconnect would send Last-Event-ID: 42
    assert parse(b"data: z\n\n", parser=parser) == [SSEMessage("message", "z", "42")]


def test_parser_field_without_space_and_colon_in_value():
    assert parse(b"data:a: b\n\n") == [SSEMessage("message", "a: b", "")]


# -- the server, checked with httpx + httpx-sse ----------------------------------------------------
def sse_events(url: str, count: int, headers: dict[str, str] | None = None,
               retries: list[int] | None = None):
    """Read ``count`` events from ``url`` with httpx-sse (not rtlab's parser)."""
    got = []
    retries = [] if retries is None else retries
    with httpx.Client(timeout=TIMEOUT) as http, \
            connect_sse(http, "GET", url, headers=headers or {}) as source:
        for event in source.iter_sse():
            # httpx-sse also yields the server's "retry: N" block as an event with no data,
            # where a browser dispatches nothing (no data line): skip those.
            if event.data == "" and event.retry is not None:
                retries.append(event.retry)
                continue
            got.append(event)
            if len(got) == count:
                break
    return got


def test_server_stream_read_by_httpx_sse_matches_rtlab_client(sse_server, start_client):
    server = sse_server
    ours = start_client(sse.Client, server.url)
    payloads = [{"i": 1}, {"text": "héllo\nwörld"}, {"list": [1, 2]}, None, {"i": 5}]
    for data in payloads:
        server.publish("token", data)
    retries: list[int] = []
    theirs = sse_events(server.url, len(payloads), retries=retries)
    wait_seq(ours, len(payloads))

    epoch = server.read(lambda s: s.hub.epoch)  # ids are <stream>-<seq> (issue 11)
    assert [e.id for e in theirs] == [f"{epoch}-{n}" for n in range(1, 6)]
    assert {e.event for e in theirs} == {"token"}
    bodies = [json.loads(e.data) for e in theirs]
    assert [b["data"] for b in bodies] == payloads
    assert [b["seq"] for b in bodies] == ours.recorder.seqs == [1, 2, 3, 4, 5]
    assert [b["sent_ns"] for b in bodies] == ours.recorder.sent_ns
    assert retries == [100]  # the server's retry_ms
    assert ours.retry_ms == 100
    assert ours.recorder.duplicates == ours.recorder.missed == 0


def test_server_response_headers(sse_server):
    with httpx.Client(timeout=TIMEOUT) as http, http.stream(
            "GET", sse_server.url, headers={"Accept-Encoding": "gzip, deflate, br"}) as resp:
        assert resp.status_code == 200
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        assert resp.headers["Cache-Control"] == "no-cache"
        assert resp.headers["X-Accel-Buffering"] == "no"
        assert "Content-Encoding" not in resp.headers  # compression would buffer the stream
        assert "Content-Length" not in resp.headers


def test_keep_alive_comments_arrive(sse_server):
    comments = []
    with httpx.Client(timeout=TIMEOUT) as http, http.stream("GET", sse_server.url) as resp:
        for line in resp.iter_lines():
            if line.startswith(":"):
                comments.append(line)
            if comments.count(": keep-alive") >= 2:
                break
    assert comments[0] == ": rtlab sse"


def test_last_event_id_resumes_without_missing_anything(sse_server):
    publish_and_wait(sse_server, 10)
    epoch = sse_server.read(lambda s: s.hub.epoch)  # ids are <stream>-<seq> (issue 11)
    got = sse_events(sse_server.url, 6, headers={"Last-Event-ID": f"{epoch}-4"})
    assert [e.id for e in got] == [f"{epoch}-{n}" for n in range(5, 11)]
    # ?since= does the same for a first connection (a browser cannot set headers).
    got = sse_events(sse_server.url + "?since=8", 2)
    assert [e.id for e in got] == [f"{epoch}-9", f"{epoch}-10"]


def test_rtlab_client_stop_start_resumes_from_its_cursor(sse_server, start_client):
    client = start_client(sse.Client, sse_server.url)
    publish_and_wait(sse_server, 5)
    wait_seq(client, 5)
    client.stop()
    publish_and_wait(sse_server, 5)  # published while the client is away
    client.start()
    publish_and_wait(sse_server, 5)
    wait_seq(client, 15)
    assert client.recorder.seqs == list(range(1, 16))
    assert client.recorder.duplicates == client.recorder.missed == 0


def test_gap_is_announced_when_resume_point_is_too_old(start_server, start_client):
    server = start_server(sse.Server, replay=5, keepalive=0.1)
    publish_and_wait(server, 20)
    epoch = server.read(lambda s: s.hub.epoch)  # ids are <stream>-<seq> (issue 11)
    got = sse_events(server.url, 2, headers={"Last-Event-ID": f"{epoch}-2"})
    assert got[0].event == "gap"
    assert json.loads(got[0].data) == {"first_missing": 3, "last_missing": 15}
    assert got[1].id == f"{epoch}-16"
    client = start_client(sse.Client, server.url, since=2)
    wait_seq(client, 20)
    assert client.recorder.seqs == [16, 17, 18, 19, 20]
    assert client.recorder.missed == 13


@pytest.mark.parametrize("bad", ["abc", "-1", "1.5", "9" * 30, "٣".encode()])
def test_garbage_last_event_id_is_a_400_with_readable_text(sse_server, bad):
    resp = httpx.get(sse_server.url, headers={"Last-Event-ID": bad}, timeout=TIMEOUT)
    assert resp.status_code == 400
    assert "non-negative integer" in resp.text
    assert resp.headers["Content-Type"].startswith("text/plain")


def test_empty_last_event_id_means_from_the_start(sse_server):
    publish_and_wait(sse_server, 2)
    epoch = sse_server.read(lambda s: s.hub.epoch)  # ids are <stream>-<seq> (issue 11)
    assert [e.id for e in sse_events(sse_server.url, 2, headers={"Last-Event-ID": ""})] == [
        f"{epoch}-1", f"{epoch}-2"]


class RecordingSSEServer(sse.Server):
    """An SSE server that remembers the Last-Event-ID header of every request."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.last_event_ids: list[str | None] = []

    async def handle_stream(self, request: web.Request) -> web.StreamResponse:
        self.last_event_ids.append(request.headers.get("Last-Event-ID"))
        return await super().handle_stream(request)


def test_client_reconnects_with_last_event_id_after_server_restart(start_server, start_client):
    first = start_server(RecordingSSEServer, retry_ms=50, keepalive=0.1)
    client = start_client(sse.Client, first.url)
    publish_and_wait(first, 3)
    wait_seq(client, 3)
    assert first.last_event_ids == [None]
    port, epoch = first.port, first.read(lambda s: s.hub.epoch)
    first.stop()

    # A new server on the same port. Its hub starts again at seq 1: the client's
    # Last-Event-ID (3) is "from the future" to it, so it says "event: reset" and the
    # client starts over from seq 1 instead of silently skipping the new 1..3.
    second = start_server(RecordingSSEServer, port=port, retry_ms=50, keepalive=0.1)
    wait_until(lambda: second.last_event_ids, what="the client to reconnect")
    assert second.last_event_ids[0] == f"{epoch}-3"  # the id names its stream (issue 11)
    assert client.recorder.reconnects >= 1
    wait_until(lambda: client.recorder.resets == 1, what="the reset to arrive")
    publish_and_wait(second, 5)
    wait_seq(client, 5)
    assert client.recorder.seqs == [1, 2, 3, 1, 2, 3, 4, 5]


def test_client_waits_the_servers_retry_on_its_first_reconnect(start_server, start_client):
    # The retry: field arrives on the first connection; the wait after that connection
    # breaks must be the server's 150 ms, not the client's 1,000 ms default it started with
    # (found by notebook 04's claims log: every first reconnect waited 1 s).
    assert sse.DEFAULT_RETRY_MS >= 1000
    server = start_server(RecordingSSEServer, retry_ms=150, keepalive=0.1)
    client = start_client(sse.Client, server.url, trace=True)
    publish_and_wait(server, 2)
    wait_seq(client, 2)
    assert client.retry_ms == 150
    cut_ns = time.monotonic_ns()
    assert server.drop_connections() == 1
    wait_until(lambda: len(server.last_event_ids) == 2, what="the client to reconnect")
    publish_and_wait(server, 1)  # event 3
    wait_seq(client, 3)
    # The delay it chose (its trace says), and that it did wait (a floor: load only adds).
    assert [m.label for m in client.recorder.trace.marks() if m.kind == "reconnect"] == ["retry in 150 ms"]
    assert (client.recorder.recv_ns[-1] - cut_ns) / 1e6 >= 140
    assert client.recorder.reconnects == 1 and client.recorder.seqs == [1, 2, 3]


def test_client_stops_for_good_on_a_non_stream_response(start_server, start_client):
    async def not_a_stream(request: web.Request) -> web.Response:
        return web.Response(text="hello")

    class PlainServer(sse.Server):
        def setup_routes(self, app: web.Application) -> None:
            app.router.add_get(self.path, not_a_stream)

    server = start_server(PlainServer)
    client = start_client(sse.Client, server.url)
    wait_until(lambda: not client.running, what="the client to give up")
    assert "not an event stream" in str(client.failure)
    assert client.recorder.reconnects == 0
