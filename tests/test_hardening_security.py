"""Security: the Host check (DNS rebinding) and the quiz's trust in what a client says.

* Before, every server answered ``Host: evil.example`` with the stream: a page on a domain
  that re-binds to 127.0.0.1 could read it. Now a Host that is not loopback, not
  configured (``allowed_hosts=``) and not a request proxied by jupyter-server-proxy gets a 421.
  jupyter-server-proxy 4.x copies the browser's request headers, ``Host`` included
  (``proxy_request_headers`` → ``self.request.headers.copy()``; tornado only sets a Host when
  there is none), so the upstream sees the *Jupyter server's* host: ``localhost:8888`` on a
  laptop, the hub's name on JupyterHub or Binder.
* The quiz took ``?client=`` as identity: one program could answer as anyone, lock the real
  player out and make the server broadcast a tally per vote, and ``choice: true`` counted as 1.
"""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets
from hardening_support import open_socket, parse_response, read_all, read_until, ws_open
from rtlab_support import TIMEOUT, wait_until

from rtlab.lessons.quiz import QuizHost
from rtlab.net import long_polling, short_polling, sse, websocket

SERVERS = {
    "short-polling": (short_polling.Server, "/state"),
    "long-polling": (long_polling.Server, "/poll?since=0&hold=0"),
    "sse": (sse.Server, "/events"),
    "websocket": (websocket.Server, "/ws"),
}


def status_for(server, target: str, host: str, *headers: str) -> tuple[int, bytes]:
    if target.startswith("/ws"):
        sock, head = ws_open(server.port, target, *headers, host=host)
        with sock:
            if head.startswith(b"HTTP/1.1 101"):
                return 101, b""
            length = int(parse_response(head)[1].get("content-length", "0"))
            rest = b""
            while len(rest) < length and (chunk := sock.recv(65536)):
                rest += chunk
        return int(head.split(b" ", 2)[1]), rest
    lines = [f"GET {target} HTTP/1.1", f"Host: {host}", "Connection: close", *headers]
    with open_socket(server.port, timeout=5) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        raw = read_until(sock, b"\r\n\r\n")
        status = int(raw.split(b" ", 2)[1])
        if status >= 400:  # a refusal ends the connection: read its text
            raw += read_all(sock)
    return status, raw.split(b"\r\n\r\n", 1)[1]


@pytest.fixture(scope="module")
def servers():
    started = {name: cls(name=f"hardening-host-{name}", allowed_hosts=["lab.example"]).start()
               for name, (cls, _) in SERVERS.items()}
    yield started
    for server in started.values():
        server.stop()


OK = {"short-polling": 200, "long-polling": 204, "sse": 200, "websocket": 101}


@pytest.mark.parametrize("transport", list(SERVERS))
@pytest.mark.parametrize("host", ["evil.example:{port}", "evil.example", "127.0.0.1.evil.example:{port}",
                                  "lab.example.evil:{port}", "", "10.0.0.1:{port}"])
def test_a_foreign_host_is_refused(servers, transport, host):
    server = servers[transport]
    status, body = status_for(server, SERVERS[transport][1], host.format(port=server.port))
    assert status == 421, f"{transport} answered Host {host!r} with {status}"
    assert b"Host" in body and b"allowed_hosts" in body


@pytest.mark.parametrize("transport", list(SERVERS))
@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "localhost:{port}", "[::1]:{port}",
                                  "LOCALHOST:{port}", "lab.example:{port}", "lab.example"])
def test_loopback_and_configured_hosts_pass(servers, transport, host):
    server = servers[transport]
    status, _ = status_for(server, SERVERS[transport][1], host.format(port=server.port))
    assert status == OK[transport]


@pytest.mark.parametrize("transport", list(SERVERS))
def test_a_request_through_a_local_jupyter_server_proxy_passes(servers, transport):
    """What jupyter-server-proxy 4.6 sends upstream for ``http://localhost:8888/proxy/<port>/...``."""
    server = servers[transport]
    status, _ = status_for(server, SERVERS[transport][1], "localhost:8888",
                           f"X-Forwarded-Context: /proxy/{server.port}",
                           f"X-ProxyContextPath: /proxy/{server.port}")
    assert status == OK[transport]


@pytest.mark.parametrize("transport", ["sse", "websocket"])
def test_a_request_proxied_on_a_hub_passes(transport, monkeypatch):
    """On JupyterHub/Binder the Host is the hub's name; the proxy's context path says it came through."""
    monkeypatch.setenv("JUPYTERHUB_SERVICE_PREFIX", "/user/ada/")
    cls, target = SERVERS[transport]
    server = cls(name=f"hardening-hub-{transport}").start()
    try:
        proxied = status_for(server, target, "hub.example.org",
                             f"X-Forwarded-Context: /user/ada/proxy/{server.port}")[0]
        direct = status_for(server, target, "hub.example.org")[0]
    finally:
        server.stop()
    assert proxied == OK[transport] and direct == 421


def test_allowed_hosts_from_the_environment(monkeypatch):
    monkeypatch.setenv("RTLAB_ALLOWED_HOSTS", "workshop.example, other.example")
    server = short_polling.Server(name="hardening-env-hosts").start()
    try:
        assert status_for(server, "/state", "workshop.example")[0] == 200
        assert status_for(server, "/state", "evil.example")[0] == 421
    finally:
        server.stop()


# -- the quiz ---------------------------------------------------------------------------------------
@pytest.fixture
def quiz(start_server):
    server = start_server(websocket.Server)
    host = QuizHost(server, tally_interval=0.5)
    yield server, host


def ws_url(server, client: str) -> str:
    return server.url.replace("http://", "ws://") + f"?client={client}"


async def _answer(ws, question: int, choice) -> dict:
    await ws.send(json.dumps({"type": "answer", "data": {"question": question, "choice": choice}}))
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
        if message.get("type") == "ack":
            return message


@pytest.mark.parametrize("choice", [True, False, 1.0, "1", None, -1, 99, [1]])
def test_a_quiz_answer_must_be_an_int_in_range(quiz, choice):
    server, host = quiz
    question = host.ask()

    async def go() -> dict:
        async with websockets.connect(ws_url(server, "Ada"), compression=None) as ws:
            return await _answer(ws, question["id"], choice)

    ack = asyncio.run(go())
    assert ack["accepted"] is False, f"choice {choice!r} was accepted"
    assert host.answers == {}


def test_a_name_someone_else_claims_does_not_lock_the_player_out(quiz):
    server, host = quiz
    question = host.ask()

    async def go() -> tuple[dict, dict, dict]:
        async with websockets.connect(ws_url(server, "Ada"), compression=None) as impostor, \
                websockets.connect(ws_url(server, "Ada"), compression=None) as ada:
            first = await _answer(impostor, question["id"], 0)
            real = await _answer(ada, question["id"], 1)
            again = await _answer(impostor, question["id"], 2)  # one connection, one answer
            return first, real, again

    first, real, again = asyncio.run(go())
    assert first["accepted"] and real["accepted"], (first, real)
    assert not again["accepted"]
    assert sorted(host.answers.values()) == [0, 1]


def test_a_burst_of_answers_makes_a_few_tally_broadcasts_not_one_each(quiz):
    server, host = quiz
    question = host.ask()
    players = 30

    async def go() -> int:
        async with websockets.connect(ws_url(server, "watcher"), compression=None) as watcher:
            sockets = [await websockets.connect(ws_url(server, f"p{i}"), compression=None)
                       for i in range(players)]
            try:
                await asyncio.gather(*(_answer(ws, question["id"], i % 4) for i, ws in enumerate(sockets)))
                tallies = 0
                while True:
                    message = json.loads(await asyncio.wait_for(watcher.recv(), TIMEOUT))
                    if message.get("type") == "tally":
                        tallies += 1
                        if message["data"]["answered"] == players:
                            return tallies
            finally:
                for ws in sockets:
                    await ws.close()

    tallies = asyncio.run(go())
    assert tallies < players / 3, f"{players} answers made {tallies} tally broadcasts"
    wait_until(lambda: len(host.answers) == players, what="every answer counted")
