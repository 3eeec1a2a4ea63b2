"""Protocol details the independent testers found wrong, each checked against its spec.

* WebSocket (RFC 6455): an unmasked client frame fails the connection with 1002 (§5.1); a
  close code that is reserved or undefined (1005, 1006, 1015, 5000, 65535...) too (§7.4);
  a 5,000-deep JSON message and a disconnect right after a request are answered without a
  traceback.
* SSE (WHATWG HTML §9.2.6): ``last_event_id`` is committed only when an event is dispatched.
* HTTP (RFC 9110): ``If-None-Match`` uses weak comparison over a list and ``*`` (§13.1.2);
  a 304 and a long poll's 204 carry ``Cache-Control``.
* Streams: every hub has a random stream id that travels in every resume token, so a client
  resuming against a *different* stream is reset whether it is behind or ahead of it.
* ``connect()`` re-run in a notebook cell replaces the clients that cell made.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import struct

import httpx
import pytest
import websockets
from hardening_support import (
    open_socket,
    request,
    ws_close_code,
    ws_close_frame,
    ws_frame,
    ws_open,
    ws_read_frame,
)
from rtlab_support import TIMEOUT, publish_and_wait, server_call, wait_seq, wait_until

from rtlab.hub import Hub
from rtlab.net import long_polling, short_polling, sse, websocket
from rtlab.wire.sse import SSEParser


def no_errors(caplog, capfd) -> None:
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, [r.getMessage() for r in errors]
    assert "Traceback" not in capfd.readouterr().err


# -- WebSocket -----------------------------------------------------------------------------------------
def test_an_unmasked_client_frame_fails_the_connection_with_1002(websocket_server):
    sock, head = ws_open(websocket_server.port)
    with sock:
        assert head.startswith(b"HTTP/1.1 101")
        sock.sendall(ws_frame(0x1, b'{"type": "echo"}', masked=False))
        assert ws_close_code(sock) == 1002


@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535])
def test_an_invalid_close_code_is_answered_with_1002(websocket_server, code):
    sock, head = ws_open(websocket_server.port)
    with sock:
        assert head.startswith(b"HTTP/1.1 101")
        sock.sendall(ws_close_frame(code))
        assert ws_close_code(sock) == 1002, f"close code {code} was accepted"


@pytest.mark.parametrize("code", [1000, 1001, 3000, 4999])
def test_a_valid_close_code_is_answered_in_kind(websocket_server, code):
    sock, _ = ws_open(websocket_server.port)
    with sock:
        sock.sendall(ws_close_frame(code))
        assert ws_close_code(sock) in (1000, code)


def test_deeply_nested_json_gets_an_error_message_not_a_traceback(websocket_server, caplog, capfd):
    async def go() -> tuple[dict, dict]:
        async with websockets.connect(websocket_server.url.replace("http", "ws"),
                                      compression=None) as ws:
            await ws.send("[" * 5000 + "]" * 5000)
            error = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
            await ws.send(json.dumps({"type": "echo", "id": 1}))
            echo = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
            return error, echo

    error, echo = asyncio.run(go())
    assert error["type"] == "error" and echo["type"] == "echo"
    no_errors(caplog, capfd)


def test_a_reply_to_a_client_that_already_left_is_not_a_traceback(start_server, caplog, capfd):
    async def slow_reply(name, message):
        await asyncio.sleep(0.05)  # the client is gone by the time the reply is written
        return {"type": "reply"}

    server = start_server(websocket.Server, on_message=slow_reply)
    for _ in range(40):
        sock, head = ws_open(server.port)
        assert head.startswith(b"HTTP/1.1 101")
        sock.sendall(ws_frame(0x1, b'{"type": "echo"}') + ws_frame(0x1, b'{"type": "hello"}'))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()  # a reset, straight after the requests
    wait_until(lambda: server.stats().connections_open == 0, what="all 40 to be gone")
    no_errors(caplog, capfd)


# -- SSE parser: last_event_id ---------------------------------------------------------------------------
def test_an_id_is_committed_only_when_an_event_is_dispatched():
    parser = SSEParser()
    list(parser.feed(b"id: 3\ndata: a\n\nid: 9\n"))
    assert parser.last_event_id == "3"  # id: 9 waits for its blank line
    list(parser.feed(b"\n"))
    assert parser.last_event_id == "9"


def test_an_unterminated_event_leaves_last_event_id_alone():  # a web-platform-tests case
    parser = SSEParser()
    list(parser.feed(b"id: test\ndata: test2\n"))
    assert parser.last_event_id == ""


# -- HTTP conditional requests -----------------------------------------------------------------------------
def _etag(server) -> str:
    status, headers, _ = request(server.port, "/state")
    assert status == 200
    return headers["etag"]


@pytest.mark.parametrize("form", ['"nope", {etag}', "{etag}, \"nope\"", "W/{etag}", "*",
                                  ' {etag} ,"x"', "{etag}"])
def test_if_none_match_uses_weak_comparison_over_a_list(short_polling_server, form):
    publish_and_wait(short_polling_server, 1)
    etag = _etag(short_polling_server)
    status, headers, body = request(short_polling_server.port, "/state",
                                    "If-None-Match: " + form.format(etag=etag))
    assert status == 304, f"If-None-Match: {form.format(etag=etag)} got {status}"
    assert body == b"" and headers.get("etag") == etag
    assert headers.get("cache-control") == "no-cache"


@pytest.mark.parametrize("form", ['"nope"', 'W/"nope"', '"nope", W/"other"'])
def test_if_none_match_without_a_match_gets_the_full_answer(short_polling_server, form):
    publish_and_wait(short_polling_server, 1)
    status, _, _ = request(short_polling_server.port, "/state", "If-None-Match: " + form)
    assert status == 200


def test_a_long_poll_204_carries_cache_control(start_server):
    server = start_server(long_polling.Server)
    status, headers, _ = request(server.port, "/poll?since=0&hold=0.05")
    assert status == 204 and headers.get("cache-control") == "no-cache"


# -- stream identity -------------------------------------------------------------------------------------
def test_every_hub_has_its_own_stream_id():
    ids = {Hub().epoch for _ in range(50)}
    assert len(ids) == 50 and all(isinstance(i, str) and i for i in ids)


def _sse_ids(server, *headers: str, count: int) -> list[tuple[str, str]]:
    """(event type, id) of the first ``count`` events of a raw stream."""
    parser = SSEParser()
    got: list[tuple[str, str]] = []
    with open_socket(server.port) as sock:
        lines = ["GET /events HTTP/1.1", f"Host: 127.0.0.1:{server.port}", *headers]
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        data = b""
        while b"\r\n\r\n" not in data:
            data += sock.recv(4096)
        body = data.split(b"\r\n\r\n", 1)[1]
        from hardening_support import dechunk
        pending = body
        while len(got) < count:
            for message in parser.feed(dechunk(pending)):
                got.append((message.event, message.id))
            if len(got) < count:
                pending = sock.recv(65536)
    return got


def test_a_bare_numeric_last_event_id_from_curl_is_reset(sse_server):
    """``curl -H 'Last-Event-ID: 5'`` against a restarted server: a reset, not ``id: 6``."""
    publish_and_wait(sse_server, 10)
    first = _sse_ids(sse_server, "Last-Event-ID: 5", count=2)
    assert first[0][0] == "reset", first


def test_a_browser_resuming_with_the_id_it_was_given_carries_on(sse_server):
    publish_and_wait(sse_server, 10)
    ids = _sse_ids(sse_server, count=10)
    fifth = ids[4][1]
    assert fifth.endswith("5") and fifth != "5"  # the stream id travels in the id
    resumed = _sse_ids(sse_server, f"Last-Event-ID: {fifth}", count=5)
    assert [i for _, i in resumed] == [i for _, i in ids[5:10]]


TRANSPORTS = {
    "sse": (sse.Server, {"retry_ms": 100}, sse.Client, {}),
    "long-polling": (long_polling.Server, {"hold": 5}, long_polling.Client, {}),
    "websocket": (websocket.Server, {}, websocket.Client, {}),
    "short-polling": (short_polling.Server, {}, short_polling.Client, {"interval": 0.02}),
}


@pytest.mark.parametrize("name", list(TRANSPORTS))
@pytest.mark.parametrize("ahead", [True, False], ids=["new-stream-ahead", "new-stream-behind"])
def test_resuming_against_another_stream_is_a_reset(name, ahead, start_server, start_client):
    """Before: only a new stream *behind* the cursor was noticed; one ahead was spliced in silently."""
    server_cls, server_options, client_cls, client_options = TRANSPORTS[name]
    old = start_server(server_cls, **server_options)
    seen: list = []
    client = start_client(client_cls, old.url, on_event=lambda e: seen.append(e.data), **client_options)
    if name in ("sse", "websocket"):
        wait_until(lambda: server_call(old, lambda: old.hub.subscriber_count) == 1, what="a subscriber")
    for i in range(5):
        old.publish("tick", {"stream": "old", "i": i + 1})
    wait_seq(client, 5)
    client.stop()
    port = old.port
    old.stop()
    new = start_server(server_cls, port=port, **server_options)
    count = 8 if ahead else 3
    for i in range(count):
        new.publish("tick", {"stream": "new", "i": i + 1})
    wait_until(lambda: server_call(new, lambda: new.hub.latest_seq) == count, what="the new stream")
    client.start()  # resumes from its cursor, which came from the old stream
    wait_until(lambda: client.recorder.resets == 1, what="the client to be told to start over")
    wait_seq(client, count)
    news = [d for d in seen if d["stream"] == "new"]
    if name == "short-polling":
        assert news and news[-1]["i"] == count
    else:
        assert [d["i"] for d in news] == list(range(1, count + 1)), f"{name}: {seen}"


# -- connect() in a re-run cell ---------------------------------------------------------------------------
@pytest.mark.timeout(120)
def test_re_running_a_cell_that_connects_does_not_pile_up_clients():
    """A real kernel: the same cell run five times leaves its one client; a loop keeps its three."""
    import ipykernel.kernelspec
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    class ThisPython(KernelSpecManager):  # the ipykernel of this interpreter, whatever is installed
        def get_kernel_spec(self, kernel_name):  # type: ignore[no-untyped-def]
            return self.kernel_spec_class(resource_dir=ipykernel.kernelspec.RESOURCES,
                                          **ipykernel.kernelspec.get_kernel_dict())

    km = KernelManager(kernel_name="this-python", kernel_spec_manager=ThisPython())
    km.start_kernel()
    kc = km.client()
    kc.start_channels()
    kc.wait_for_ready(timeout=60)
    try:
        def run(code: str) -> str:
            out: list[str] = []
            reply = kc.execute_interactive(code, timeout=60, output_hook=lambda m: out.append(
                m["content"].get("text", "")) if m["msg_type"] == "stream" else None)
            assert reply["content"]["status"] == "ok", reply["content"]
            return "".join(out)

        run("import rtlab\nfrom rtlab import serve, connect\nserver = serve('sse', name='rerun')")
        for _ in range(5):
            run("client = connect('sse', server.url)")
        assert run("print(len(rtlab.lab.running_clients()))").strip() == "1"
        for _ in range(2):
            run("many = [connect('sse', server.url) for _ in range(3)]")
        assert run("print(len(rtlab.lab.running_clients()))").strip() == "4"
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def test_two_clients_connected_in_a_script_are_two_clients(sse_server):
    from rtlab import connect
    clients = [connect("sse", sse_server.url) for _ in range(2)]
    try:
        assert len({c.name for c in clients}) == 2 and all(c.running for c in clients)
    finally:
        for c in clients:
            c.stop()


def test_httpx_sees_the_cache_control_of_a_304(short_polling_server):  # an independent client
    publish_and_wait(short_polling_server, 1)
    with httpx.Client(timeout=TIMEOUT) as http:
        first = http.get(short_polling_server.url)
        again = http.get(short_polling_server.url, headers={"If-None-Match": f"W/{first.headers['etag']}"})
    assert again.status_code == 304 and again.headers["cache-control"] == "no-cache"


def test_ws_frames_are_read_by_the_helper(websocket_server):  # the helper itself works
    sock, _ = ws_open(websocket_server.port)
    with sock:
        sock.sendall(ws_frame(0x1, json.dumps({"type": "echo", "id": 7}).encode()))
        opcode, payload = ws_read_frame(sock)
        assert opcode == 0x1 and json.loads(payload)["id"] == 7
