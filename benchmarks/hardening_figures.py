"""The before/after figures of issue 11 (hardening), one command each.

Not a speed benchmark: each figure counts what a hostile or broken client could do to a
server — memory it could take, slots it could hold, tracebacks it could cause — so the
same script can be run on the commit before the fix and after it::

    python benchmarks/hardening_figures.py            # every figure (about two minutes)
    python benchmarks/hardening_figures.py memory     # one of: memory lockout silent resume
                                                      #   fdlimit traceback etag frames host

Each figure runs in a fresh process of its own (``--one NAME``), so that memory is the
server's own. Only loopback is used; every socket is closed at the end.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import resource
import socket
import struct
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))

try:  # the layout after issue 9
    from rtlab.net import long_polling, short_polling, sse, websocket
except ImportError:  # the commit before it, for the "before" figure
    from rtlab import long_polling, short_polling, sse, websocket  # type: ignore[no-redef]

from hardening_support import (  # noqa: E402 - after the sys.path line above
    open_socket,
    request,
    ws_close_code,
    ws_close_frame,
    ws_frame,
    ws_open,
)


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def wait_seq(server, seq: int) -> None:
    async def latest() -> int:
        return server.hub.latest_seq
    while server.call(latest()) < seq:
        time.sleep(0.01)


def send_head(port: int, target: str, *headers: str, rcvbuf: int | None = None) -> socket.socket:
    sock = open_socket(port, rcvbuf=rcvbuf)
    lines = [f"GET {target} HTTP/1.1", f"Host: 127.0.0.1:{port}", *headers]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    return sock


def status_line(sock: socket.socket) -> int:
    head = b""
    while b"\r\n" not in head:
        chunk = sock.recv(1024)
        if not chunk:
            return 0
        head += chunk
    return int(head.split(b" ", 2)[1])


# -- the figures ----------------------------------------------------------------------------------
def memory() -> str:
    """300 pollers ask for a 10,000 x 2 kB backlog and never read their answers."""
    server = short_polling.Server(name="fig-memory").start()
    for i in range(10_000):
        server.publish("big", {"i": i, "pad": f"{i:06d}" + "p" * 1994})  # distinct strings, as real ones are
    wait_seq(server, 10_000)
    base = rss_mb()
    socks = [send_head(server.port, "/state?since=0", rcvbuf=4096) for _ in range(300)]
    time.sleep(5)
    held = rss_mb()
    for s in socks:
        s.close()
    time.sleep(3)
    after = rss_mb()
    server.stop()
    return (f"RSS {base:.0f} MB -> {held:.0f} MB with 300 never-reading pollers -> "
            f"{after:.0f} MB after they closed")


def lockout() -> str:
    """``max_connections=1000``; 1,000 idle sockets; then 159 normal requests."""
    server = short_polling.Server(name="fig-lockout", max_connections=1000).start()
    idle = [open_socket(server.port) for _ in range(1000)]
    time.sleep(0.5)
    refused = sum(request(server.port, "/state", timeout=10)[0] == 503 for _ in range(159))
    for s in idle:
        s.close()
    server.stop()
    return f"{refused}/159 normal requests got 503 behind 1,000 idle sockets"


def silent() -> str:
    """A WebSocket peer that never reads while events flow: how long until the server closes it."""
    server = websocket.Server(name="fig-silent", heartbeat=1.0, queue_size=100).start()
    sock, _ = ws_open(server.port, rcvbuf=4096)
    start = time.monotonic()
    closed = None
    while time.monotonic() - start < 40:
        for i in range(50):
            server.publish("big", {"i": i, "pad": "y" * 4000})
        time.sleep(0.2)
        if server.stats().connections_open == 0:
            closed = time.monotonic() - start
            break
    sock.close()
    server.stop()
    return (f"never-reading WebSocket peer closed after {closed:.1f} s" if closed is not None
            else "never-reading WebSocket peer still open after 40 s")


def resume() -> str:
    """An SSE server full of 20 streams; 20 clients come back with their Last-Event-ID."""
    server = sse.Server(name="fig-resume", max_connections=20).start()
    server.publish("tick", {"i": 1})
    wait_seq(server, 1)
    probe = send_head(server.port, "/events")
    data = b""
    while b"\nid: " not in data or b"\n" not in data.split(b"\nid: ", 1)[1]:
        data += probe.recv(4096)
    probe.close()
    last_id = data.split(b"\nid: ", 1)[1].split(b"\n", 1)[0].decode()
    time.sleep(0.3)
    streams = [send_head(server.port, "/events") for _ in range(20)]
    time.sleep(0.5)
    refused = 0
    for _ in range(20):
        s = send_head(server.port, "/events", f"Last-Event-ID: {last_id}")
        refused += status_line(s) == 503
        s.close()
    for s in streams:
        s.close()
    server.stop()
    return (f"{refused}/20 resuming SSE clients refused by a full server "
            "(a browser gives up for good on a 503)")


def _limit() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))


def fdlimit() -> str:
    """``python -m rtlab serve`` under ``ulimit -n 1024``, 1,100 idle sockets for 8 s."""
    proc = subprocess.Popen([sys.executable, "-m", "rtlab", "serve", "short-polling", "--rate", "10"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=_limit)
    port = json.loads(proc.stdout.readline())["port"]
    socks = []
    for _ in range(1100):
        try:
            socks.append(open_socket(port, timeout=5))
        except OSError:
            break
    t0 = time.monotonic()
    try:
        status = request(port, "/state", timeout=5)[0]
    except OSError as exc:
        status = f"no answer ({type(exc).__name__})"
    answered = time.monotonic() - t0
    time.sleep(8)
    for s in socks:
        s.close()
    proc.terminate()
    _, err = proc.communicate(timeout=60)
    return (f"normal request: {status} after {answered:.1f} s; stderr {len(err):,} bytes, "
            f"{err.count('Traceback'):,} tracebacks")


def traceback() -> str:
    """40 WebSocket clients that ask for a reply and reset the connection, and 40 deep-JSON messages."""
    errors = []

    class Catch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.levelno >= logging.ERROR:
                errors.append(record)

    logging.getLogger().addHandler(Catch())

    async def slow(name, message):
        await asyncio.sleep(0.05)
        return {"type": "reply"}

    server = websocket.Server(name="fig-tb", on_message=slow).start()
    for _ in range(40):
        sock, _ = ws_open(server.port)
        sock.sendall(ws_frame(0x1, b'{"type": "hello"}'))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
    time.sleep(1)
    resets = len(errors)
    for _ in range(40):
        sock, _ = ws_open(server.port)
        sock.sendall(ws_frame(0x1, b"[" * 5000 + b"]" * 5000))
        time.sleep(0.01)
        sock.close()
    time.sleep(1)
    server.stop()
    return f"tracebacks: {resets}/40 reply-after-reset, {len(errors) - resets}/40 deep JSON"


def etag() -> str:
    server = short_polling.Server(name="fig-etag").start()
    server.publish("x", {"i": 1})
    wait_seq(server, 1)
    tag = request(server.port, "/state")[1]["etag"]
    forms = [f'"a", {tag}', f"W/{tag}", "*", tag]
    answers = [request(server.port, "/state", f"If-None-Match: {f}") for f in forms]
    hits = sum(a[0] == 304 for a in answers)
    cached = sum("cache-control" in a[1] for a in answers if a[0] == 304)
    poll = long_polling.Server(name="fig-204").start()
    s204 = request(poll.port, "/poll?since=0&hold=0.05")
    server.stop()
    poll.stop()
    return (f"If-None-Match list/weak/*/exact: {hits}/4 got 304, {cached} of those with Cache-Control; "
            f"long-poll 204 Cache-Control: {s204[1].get('cache-control')!r}")


def frames() -> str:
    server = websocket.Server(name="fig-frames").start()
    sock, _ = ws_open(server.port)
    sock.sendall(ws_frame(0x1, b'{"type": "echo"}', masked=False))
    sock.settimeout(3)
    unmasked = ws_close_code(sock, timeout=3)
    sock.close()
    codes = {}
    for code in (1005, 1006, 1015, 5000, 65535):
        sock, _ = ws_open(server.port)
        sock.sendall(ws_close_frame(code))
        codes[code] = ws_close_code(sock, timeout=3)
        sock.close()
    server.stop()
    return f"unmasked frame -> close {unmasked} (None: answered, not closed); close codes -> {codes}"


def host() -> str:
    out = []
    for cls, target in ((short_polling.Server, "/state"), (long_polling.Server, "/poll?since=0&hold=0"),
                        (sse.Server, "/events?x=1")):
        server = cls(name=f"fig-host-{cls.transport}").start()
        sock = open_socket(server.port)
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: evil.example:{server.port}\r\n\r\n".encode())
        out.append(f"{cls.transport} {status_line(sock)}")
        sock.close()
        server.stop()
    return "Host: evil.example -> " + ", ".join(out)


def badevent() -> str:
    """A payload with a set in it, published between two good events, with an SSE client listening."""
    from rtlab.lab import client_loop  # noqa: F401 - the clients' loop starts with the first client

    server = sse.Server(name="fig-bad", retry_ms=100).start()
    client = sse.Client(server.url).start()
    time.sleep(0.3)
    server.publish("tick", {"i": 1})
    try:
        server.publish("tick", {"s": {1, 2}})
        raised = "publish() returned normally"
    except ValueError as exc:
        raised = f"publish() raised {type(exc).__name__}"
    server.publish("tick", {"i": 2})
    time.sleep(3)
    got, reconnects = client.last_seq, client.recorder.reconnects
    client.stop()
    server.stop()
    return f"{raised}; after 3 s the SSE client is at seq {got} with {reconnects} reconnects"


def restart() -> str:
    """A client at seq 5; its server replaced by a new one on the same port that is already at 8."""
    out = []
    for cls, client_cls in ((sse.Server, sse.Client), (long_polling.Server, long_polling.Client),
                            (websocket.Server, websocket.Client)):
        old = cls(name=f"fig-old-{cls.transport}").start()
        client = client_cls(old.url).start()
        time.sleep(0.3)
        for i in range(5):
            old.publish("tick", {"stream": "old", "i": i})
        client.wait_for(5, 10)
        client.stop()
        port = old.port
        old.stop()
        new = cls(name=f"fig-new-{cls.transport}", port=port).start()
        for i in range(8):
            new.publish("tick", {"stream": "new", "i": i})
        time.sleep(0.2)
        client.start()
        time.sleep(1.5)
        out.append(f"{cls.transport} resets={client.recorder.resets} seqs={client.recorder.seqs}")
        client.stop()
        new.stop()
    return "; ".join(out)


def parser() -> str:
    from rtlab.wire.sse import SSEParser

    a, b = SSEParser(), SSEParser()
    list(a.feed(b"id: 3\ndata: a\n\nid: 9\n"))
    list(b.feed(b"id: test\ndata: test2\n"))
    return f"last_event_id after 'data: a/blank/id: 9': {a.last_event_id!r}; after 'id: test/data: test2': " \
           f"{b.last_event_id!r} (spec: '3' and '')"


def quiz() -> str:
    """30 connections answer one question at once; one more answers `true`."""
    import websockets

    from rtlab.lessons.quiz import QuizHost

    server = websocket.Server(name="fig-quiz").start()
    host = QuizHost(server)
    question = host.ask()
    url = server.url.replace("http://", "ws://")

    async def go() -> tuple[int, bool]:
        async with websockets.connect(url + "?client=watcher", compression=None) as watcher:
            socks = [await websockets.connect(f"{url}?client=p{i}", compression=None) for i in range(30)]
            for i, ws in enumerate(socks):
                await ws.send(json.dumps({"type": "answer",
                                          "data": {"question": question["id"], "choice": i % 4}}))
            async with websockets.connect(url + "?client=cheat", compression=None) as cheat:
                await cheat.send(json.dumps({"type": "answer",
                                             "data": {"question": question["id"], "choice": True}}))
                while True:
                    ack = json.loads(await cheat.recv())
                    if ack.get("type") == "ack":
                        break
            tallies = 0
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline:
                try:
                    m = json.loads(await asyncio.wait_for(watcher.recv(), 0.5))
                except asyncio.TimeoutError:
                    continue
                tallies += m.get("type") == "tally"
            for ws in socks:
                await ws.close()
            return tallies, ack["accepted"]

    tallies, cheat = asyncio.run(go())
    server.stop()
    return f"30 answers -> {tallies} tally broadcasts; choice: true accepted: {cheat}"


FIGURES = {f.__name__: f for f in (memory, lockout, silent, resume, fdlimit, traceback, etag, frames, host,
                                   badevent, restart, parser, quiz)}


def main(argv: list[str]) -> int:
    if argv[:1] == ["--one"]:
        print(FIGURES[argv[1]](), flush=True)
        os._exit(0)  # servers' threads are daemons; do not wait at exit
    names = argv or list(FIGURES)
    for name in names:
        out = subprocess.run([sys.executable, __file__, "--one", name], capture_output=True, text=True,
                             timeout=300)
        lines = out.stdout.strip().splitlines()
        print(f"{name:10} {lines[-1] if lines else '(failed) ' + out.stderr.strip()[-300:]}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
