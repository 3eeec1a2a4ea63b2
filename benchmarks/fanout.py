"""How long does one rtlab server take to push one event to 1,000 clients, next to bare aiohttp?

One run measures two pairs of servers, WebSocket then SSE, each server with ``--clients``
(1,000) connections and ``--broadcasts`` (50) events sent one at a time. Within a pair the
broadcasts alternate, bare then rtlab, so that a busy moment on the machine hits both:

* **bare WebSocket**: a minimal aiohttp server that keeps a list of ``WebSocketResponse``
  objects and ``await ws.send_str(text)`` to each in turn, for each event;
* **bare SSE**: a minimal aiohttp handler that keeps a list of ``StreamResponse`` objects
  and ``await response.write(data)`` to each;
* **rtlab WebSocket** and **rtlab SSE**: ``rtlab.websocket.Server`` and ``rtlab.sse.Server``,
  whose broadcast writes each event straight to the connections that are caught up, and
  queues it (waking that connection's task) only for those that are behind
  (:mod:`rtlab.net.fanout`).

The bare servers send exactly the bytes rtlab sends (the same JSON, the same SSE fields),
run on their own loop thread and publish through ``call_soon_threadsafe`` as rtlab does.

Each server runs in a **process of its own** (so its memory is its own: RSS before and
after the clients connect gives the server's cost per client, and ``ru_maxrss`` its peak),
and the clients in **another process**: raw asyncio sockets, one ``Protocol`` per
connection, that read the HTTP head, then SSE text or WebSocket frames (answering pings),
and check that the ``seq`` numbers follow each other. For each event the client process
notes the ``time.monotonic_ns()`` at which the *last* client got it; the server process
stamps the same clock just before publishing. Fan-out time = last arrival - stamp.

On a 2-core machine the clients compete with the server for the cores, so the fan-out
time moves with whatever else runs. The server process's CPU time per broadcast does
not: it is reported too, and is the steadier figure on a busy machine.

Usage::

    python benchmarks/fanout.py                       # 1,000 clients, 50 broadcasts
    python benchmarks/fanout.py --clients 2000 --json fanout.json

Targets, per transport, against the bare server measured in the same run: rtlab's p50 fan-out
time within 1.2x, and its server CPU time per broadcast within 1.3x. Reported as PASS or MISS;
the exit status is 0 either way.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import multiprocessing
import os
import platform
import re
import resource
import statistics
import sys
import time
import urllib.parse
from typing import Any

import aiohttp
import psutil
from aiohttp import web

from rtlab import lab
from rtlab.hub import Event
from rtlab.net import long_polling, short_polling, sse, websocket
from rtlab.net.server import LOOPBACK
from rtlab.wire.sse import encode_rtlab_event
from rtlab.wire.websocket import read_server_frame

TARGET_RATIO = 1.2  # rtlab's p50 fan-out time may be at most this multiple of bare aiohttp's
CPU_TARGET_RATIO = 1.3  # and its server CPU time per broadcast at most this multiple
SEQ = re.compile(rb'"seq":(\d+)')  # both transports carry the event as JSON with its seq
CONNECT_AT_ONCE = 200  # connections opening at the same time: keeps the listen backlog happy


def raise_file_limit() -> int:
    """Every connection is a file descriptor: lift the soft limit to the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def rss_bytes() -> int:
    return psutil.Process().memory_info().rss


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


# -- the baselines: bare aiohttp broadcast loops -----------------------------------------------------
class BareServer:
    """An aiohttp app on its own loop thread that writes each event to a list of connections."""

    transport = "bare"
    path = "/"

    def __init__(self) -> None:
        self.seq = 0
        self.connections: list[Any] = []
        self._loop_thread = lab.LoopThread(f"bare-{self.transport}")
        self.port = self._loop_thread.run(self._start())

    async def _start(self) -> int:
        app = web.Application()
        app.router.add_get(self.path, self.handle)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, LOOPBACK, 0, backlog=1024)
        await site.start()
        return self._runner.addresses[0][1]

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}{self.path}"

    async def handle(self, request: web.Request) -> web.StreamResponse:
        raise NotImplementedError

    def publish(self, type: str, data: Any = None, sent_ns: int | None = None) -> None:
        stamp = time.monotonic_ns() if sent_ns is None else sent_ns
        self._loop_thread.loop.call_soon_threadsafe(self._publish, type, data, stamp)

    def _publish(self, type: str, data: Any, sent_ns: int) -> None:
        self.seq += 1
        asyncio.get_running_loop().create_task(self.broadcast(Event(self.seq, type, data, sent_ns)))

    async def broadcast(self, event: Event) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        self._loop_thread.run(self._runner.cleanup(), timeout=10)
        self._loop_thread.stop()


class BareWebSocketServer(BareServer):
    transport = "websocket"
    path = "/ws"

    async def handle(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(heartbeat=websocket.DEFAULT_HEARTBEAT_S)
        await ws.prepare(request)
        self.connections.append(ws)
        try:
            async for _ in ws:  # nothing to read; ends when the client hangs up
                pass
        finally:
            self.connections.remove(ws)
        return ws

    async def broadcast(self, event: Event) -> None:
        text = event.to_json()  # what rtlab's WebSocket server sends
        for ws in list(self.connections):
            await ws.send_str(text)


class BareSSEServer(BareServer):
    transport = "sse"
    path = "/events"

    async def handle(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                               "Cache-Control": "no-cache"})
        await response.prepare(request)
        self.connections.append(response)
        try:
            await asyncio.Event().wait()  # held open until the server stops
        finally:
            self.connections.remove(response)
        return response

    async def broadcast(self, event: Event) -> None:
        data = encode_rtlab_event(event)  # what rtlab's SSE server sends
        for response in list(self.connections):
            await response.write(data)


def make_server(name: str) -> Any:
    """``bare-websocket``, ``bare-sse``, or ``rtlab-<transport>``: started, with a ``.url``."""
    if name == "bare-websocket":
        return BareWebSocketServer()
    if name == "bare-sse":
        return BareSSEServer()
    modules = {"rtlab-websocket": websocket, "rtlab-sse": sse,
               "rtlab-short-polling": short_polling, "rtlab-long-polling": long_polling}
    return modules[name].Server(name=name).start()


def server_process(conn: Any, names: list[str]) -> None:
    """The server side: start the servers, then obey ``publish`` / ``rss`` / ``stop`` from ``conn``."""
    raise_file_limit()
    servers = [make_server(name) for name in names]
    conn.send({"urls": [s.url for s in servers], "rss": rss_bytes()})
    try:
        while conn.poll(3600):
            command, *args = conn.recv()
            if command == "publish":
                stamp = time.monotonic_ns()  # the clock starts just before the hop to the loop
                for server in servers:
                    server.publish("tick", {"i": args[0]}, stamp)
                conn.send(stamp)
            elif command == "rss":
                conn.send(rss_bytes())
            elif command == "cpu":  # seconds of CPU this process has used, all its threads
                times = psutil.Process().cpu_times()
                conn.send(times.user + times.system)
            else:  # "stop"
                break
    finally:
        peak = max(peak_rss_bytes(), rss_bytes())
        for server in servers:
            server.stop()
        conn.send({"peak_rss": peak})


# -- the clients: raw asyncio sockets --------------------------------------------------------------
class RawClient(asyncio.Protocol):
    """One connection, spoken by hand: an HTTP request, then SSE text or WebSocket frames.

    Calls ``on_seq(seq, recv_ns)`` for each event and checks that seqs follow each other.
    """

    def __init__(self, kind: str, url: str, on_seq: Any) -> None:
        self.kind = kind  # "sse" or "websocket"
        self.url = urllib.parse.urlsplit(url)
        self.on_seq = on_seq
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.head_done = False
        self.last_seq = 0
        self.events = 0
        self.missed = 0
        self.duplicates = 0
        self.lost_connection = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        lines = [f"GET {self.url.path} HTTP/1.1", f"Host: {self.url.netloc}"]
        if self.kind == "sse":
            lines += ["Accept: text/event-stream", "Cache-Control: no-cache"]
        else:
            key = base64.b64encode(os.urandom(16)).decode()
            lines += ["Upgrade: websocket", "Connection: Upgrade", f"Sec-WebSocket-Key: {key}",
                      "Sec-WebSocket-Version: 13"]
        self.transport.write(("\r\n".join(lines) + "\r\n\r\n").encode())

    def data_received(self, data: bytes) -> None:
        recv_ns = time.monotonic_ns()
        self.buffer += data
        if not self.head_done:
            head, sep, rest = self.buffer.partition(b"\r\n\r\n")
            if not sep:
                return
            status = head.split(b" ", 2)[1]
            if status not in (b"200", b"101"):
                self.ready.set_exception(RuntimeError(f"HTTP {status.decode()}"))
                self.transport.close()  # type: ignore[union-attr]
                return
            self.head_done, self.buffer = True, rest
            self.ready.set_result(None)
        if self.kind == "sse":
            self._read_sse(recv_ns)
        else:
            self._read_frames(recv_ns)

    def _read_sse(self, recv_ns: int) -> None:
        # A blank line ends each event; the chunked-encoding lines around it do no harm.
        *events, self.buffer = self.buffer.split(b"\n\n")
        for text in events:
            match = SEQ.search(text)
            if match:
                self._seq(int(match.group(1)), recv_ns)

    def _read_frames(self, recv_ns: int) -> None:
        buf = self.buffer
        while (frame := read_server_frame(buf)) is not None:
            opcode, payload, buf = frame
            if opcode == 0x1:
                match = SEQ.search(payload)
                if match:
                    self._seq(int(match.group(1)), recv_ns)
            elif opcode == 0x9 and self.transport is not None:  # ping: answer with a masked pong
                self.transport.write(bytes([0x8A, 0x80 | len(payload)]) + b"\0\0\0\0" + payload)
        self.buffer = buf

    def _seq(self, seq: int, recv_ns: int) -> None:
        if seq <= self.last_seq:
            self.duplicates += 1
            return
        self.missed += seq - self.last_seq - 1
        self.last_seq = seq
        self.events += 1
        self.on_seq(seq, recv_ns)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost_connection = True
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(f"closed before the answer: {exc!r}"))


class PollingClient:
    """One short- or long-polling client on a shared aiohttp session (the same counters)."""

    def __init__(self, kind: str, url: str, on_seq: Any, interval: float = 1.0) -> None:
        self.kind, self.url, self.on_seq, self.interval = kind, url, on_seq, interval
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.last_seq = self.events = self.missed = self.duplicates = 0
        self.lost_connection = False
        self.task: asyncio.Task[None] | None = None

    async def run(self, session: aiohttp.ClientSession) -> None:
        next_poll = time.monotonic()
        while True:
            params = {"since": self.last_seq}
            if self.kind == "long-polling" and not self.ready.done():
                params["hold"] = 0  # the first poll answers at once: the client is connected
            try:
                async with session.get(self.url, params=params) as resp:
                    body = await resp.json() if resp.status == 200 else {}
                    if resp.status not in (200, 204):
                        raise RuntimeError(f"HTTP {resp.status}")
            except (aiohttp.ClientError, asyncio.TimeoutError, RuntimeError) as exc:
                self.lost_connection = True
                if not self.ready.done():
                    self.ready.set_exception(exc)
                await asyncio.sleep(1)
                continue
            recv_ns = time.monotonic_ns()
            if not self.ready.done():
                self.ready.set_result(None)
            for event in body.get("events", []):
                seq = event["seq"]
                if seq <= self.last_seq:
                    self.duplicates += 1
                    continue
                self.missed += seq - self.last_seq - 1
                self.last_seq, self.events = seq, self.events + 1
                self.on_seq(seq, recv_ns)
            if self.kind == "short-polling":  # a fixed 1 s grid; long polling asks again at once
                next_poll += self.interval
                await asyncio.sleep(max(0.0, next_poll - time.monotonic()))


async def _clients_main(conn: Any, specs: list[tuple[str, str]], connect_timeout: float) -> None:
    loop = asyncio.get_running_loop()
    arrivals: dict[int, list[int]] = {}  # seq -> [clients that have it, monotonic_ns of the last one]
    clients: list[Any] = []

    def on_seq(seq: int, recv_ns: int) -> None:
        entry = arrivals.setdefault(seq, [0, 0])
        entry[0] += 1
        entry[1] = max(entry[1], recv_ns)
        if entry[0] == len(clients):  # the last client has it: tell the parent when
            conn.send(("all", seq, entry[1]))
            del arrivals[seq]

    gate = asyncio.Semaphore(CONNECT_AT_ONCE)
    timeout = aiohttp.ClientTimeout(total=None, sock_read=long_polling.MAX_HOLD_S + 10)
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), timeout=timeout)

    async def open_one(kind: str, url: str) -> None:
        async with gate:
            if kind in ("sse", "websocket"):
                client = RawClient(kind, url, on_seq)
                parts = urllib.parse.urlsplit(url)
                await loop.create_connection(lambda: client, parts.hostname, parts.port)
            else:
                client = PollingClient(kind, url, on_seq)
                client.task = loop.create_task(client.run(session))
            clients.append(client)
            await client.ready

    started = time.monotonic()
    results = await asyncio.wait_for(
        asyncio.gather(*(open_one(kind, url) for kind, url in specs), return_exceptions=True),
        connect_timeout)
    failures = [repr(r) for r in results if isinstance(r, BaseException)]
    conn.send(("ready", len(clients) - len(failures), failures[:5], time.monotonic() - started))

    stop = loop.create_future()
    loop.add_reader(conn.fileno(), lambda: stop.done() or stop.set_result(conn.recv()))
    last_published = (await stop)[1]
    loop.remove_reader(conn.fileno())
    report: dict[str, dict[str, Any]] = {}
    for client in clients:
        row = report.setdefault(client.kind, {"clients": 0, "events_min": None, "events_max": 0,
                                              "missed": 0, "duplicates": 0, "lost_connection": 0})
        row["clients"] += 1
        row["events_min"] = client.events if row["events_min"] is None else min(row["events_min"],
                                                                               client.events)
        row["events_max"] = max(row["events_max"], client.events)
        row["missed"] += client.missed + max(0, last_published - client.last_seq)  # incl. the tail
        row["duplicates"] += client.duplicates
        row["lost_connection"] += client.lost_connection
        if isinstance(client, RawClient) and client.transport is not None:
            client.transport.close()
        elif client.task is not None:
            client.task.cancel()
    await session.close()
    conn.send(("report", report))


def clients_process(conn: Any, specs: list[tuple[str, str]], connect_timeout: float = 120) -> None:
    """The client side: open every ``(kind, url)`` in ``specs``; report arrivals and, at the end,
    per-kind counts. Told to finish by ``("stop", last_published_seq)`` on ``conn``."""
    raise_file_limit()
    asyncio.run(_clients_main(conn, specs, connect_timeout))


def receive(conn: Any, timeout: float, expect: str | None = None) -> Any:
    """The next message on ``conn`` (of kind ``expect``, skipping others), or ``TimeoutError``."""
    deadline = time.monotonic() + timeout
    while conn.poll(max(0.0, deadline - time.monotonic())):
        message = conn.recv()
        if expect is None or (isinstance(message, tuple) and message[0] == expect):
            return message
    raise TimeoutError(f"no {expect or 'answer'} within {timeout:g} s")


# -- one measurement -------------------------------------------------------------------------------
class Setup:
    """One server process and one client process with ``clients`` connections to it."""

    def __init__(self, server_name: str, clients: int) -> None:
        context = multiprocessing.get_context("spawn")  # no forking of a process that runs threads
        self.name, self.clients, self.kind = server_name, clients, server_name.split("-", 1)[1]
        self.server_end, server_conn = context.Pipe()
        self.client_end, client_conn = context.Pipe()
        self.server = context.Process(target=server_process, args=(server_conn, [server_name]),
                                      daemon=True)
        self.server.start()
        self.client_proc = None
        self.hello = receive(self.server_end, 30)
        self.client_proc = context.Process(
            target=clients_process, args=(client_conn, [(self.kind, self.hello["urls"][0])] * clients),
            daemon=True)
        self.client_proc.start()
        _, connected, failures, self.connect_s = receive(self.client_end, 150, "ready")
        if connected < clients:
            raise RuntimeError(f"{server_name}: only {connected}/{clients} clients connected: {failures}")

    def rss(self) -> int:
        self.server_end.send(("rss",))
        return receive(self.server_end, 10)

    def cpu_s(self) -> float:
        self.server_end.send(("cpu",))
        return receive(self.server_end, 10)

    def broadcast(self, number: int) -> float:
        """Publish event ``number``; milliseconds until the last client had it."""
        self.server_end.send(("publish", number))
        sent_ns = receive(self.server_end, 10)
        _, seq, last_ns = receive(self.client_end, 30, "all")
        assert seq == number, (seq, number)
        return (last_ns - sent_ns) / 1e6

    def finish(self, published: int) -> tuple[dict[str, Any], int]:
        """Stop both processes; the clients' report and the server's peak RSS."""
        try:
            self.client_end.send(("stop", published))
            report = receive(self.client_end, 30, "report")[1][self.kind]
            self.server_end.send(("stop",))
            return report, receive(self.server_end, 30)["peak_rss"]
        finally:
            self.kill()

    def kill(self) -> None:
        for proc in (self.client_proc, self.server):
            if proc is not None:
                proc.join(timeout=10)
                if proc.is_alive():
                    proc.kill()


def measure_pair(transport: str, clients: int, broadcasts: int) -> dict[str, dict[str, Any]]:
    """Bare and rtlab side by side, broadcasts alternating, so a busy moment hits both alike."""
    setups: dict[str, Setup] = {}
    try:
        for flavour in ("bare", "rtlab"):
            name = f"{flavour}-{transport}"
            setups[name] = Setup(name, clients)
        time.sleep(0.5)  # let every handler reach its subscription
        rss_connected = {name: setup.rss() for name, setup in setups.items()}
        fanout_ms: dict[str, list[float]] = {name: [] for name in setups}
        # CPU time of the server process: unlike the fan-out time, it does not depend on
        # what else the machine is doing, so it is the steadier figure on a busy machine.
        cpu_ms: dict[str, float] = {name: 0.0 for name in setups}
        for number in range(1, broadcasts + 1):
            for name, setup in setups.items():
                before = setup.cpu_s()
                fanout_ms[name].append(setup.broadcast(number))
                cpu_ms[name] += (setup.cpu_s() - before) * 1000
                time.sleep(0.02)  # a quiet gap: each broadcast is measured on its own
        results = {}
        for name, setup in setups.items():
            report, peak = setup.finish(broadcasts)
            times = fanout_ms[name]
            results[name] = {
                "server": name, "clients": clients, "broadcasts": broadcasts,
                "connect_s": setup.connect_s,
                "fanout_p50_ms": statistics.median(times),
                "fanout_p90_ms": statistics.quantiles(times, n=10)[-1],
                "fanout_max_ms": max(times),
                "fanout_ms": times,
                "server_cpu_ms_per_broadcast": cpu_ms[name] / broadcasts,
                "rss_idle_mb": setup.hello["rss"] / 2**20,
                "rss_connected_mb": rss_connected[name] / 2**20,
                "peak_rss_mb": peak / 2**20,
                "kb_per_client": (rss_connected[name] - setup.hello["rss"]) / clients / 1024,
                "missed": report["missed"], "duplicates": report["duplicates"],
            }
        return results
    finally:
        for setup in setups.values():
            setup.kill()


def run(clients: int, broadcasts: int) -> dict[str, Any]:
    results: dict[str, Any] = {
        "settings": {"clients": clients, "broadcasts": broadcasts},
        "machine": {"python": platform.python_version(), "platform": platform.platform(),
                    "cpus": os.cpu_count(), "aiohttp": aiohttp.__version__},
        "servers": {},
        "verdicts": {},
    }
    for transport in ("websocket", "sse"):
        results["servers"].update(measure_pair(transport, clients, broadcasts))
        bare = results["servers"][f"bare-{transport}"]["fanout_p50_ms"]
        ours = results["servers"][f"rtlab-{transport}"]["fanout_p50_ms"]
        cpu = {flavour: results["servers"][f"{flavour}-{transport}"]["server_cpu_ms_per_broadcast"]
               for flavour in ("bare", "rtlab")}
        cpu_ratio = cpu["rtlab"] / cpu["bare"]
        results["verdicts"][transport] = {"ratio_p50": ours / bare,
                                          "pass": ours / bare <= TARGET_RATIO,
                                          "ratio_cpu": cpu_ratio, "cpu_pass": cpu_ratio <= CPU_TARGET_RATIO}
    return results


def format_table(results: dict[str, Any]) -> str:
    header = (f"{'server':<16} {'p50 ms':>8} {'p90 ms':>8} {'max ms':>8} {'CPU ms':>7} {'RSS MB':>8} "
              f"{'peak MB':>8} {'KB/client':>9} {'lost':>5}")
    lines = [f"{results['settings']['clients']} clients, {results['settings']['broadcasts']} "
             "broadcasts; fan-out = publish until the last client has the event; "
             "CPU = server process CPU time per broadcast", header,
             "-" * len(header)]
    for name, r in results["servers"].items():
        lines.append(f"{name:<16} {r['fanout_p50_ms']:>8.2f} {r['fanout_p90_ms']:>8.2f} "
                     f"{r['fanout_max_ms']:>8.2f} {r['server_cpu_ms_per_broadcast']:>7.2f} "
                     f"{r['rss_connected_mb']:>8.1f} "
                     f"{r['peak_rss_mb']:>8.1f} {r['kb_per_client']:>9.1f} "
                     f"{r['missed'] + r['duplicates']:>5}")
    for transport, v in results["verdicts"].items():
        lines.append(f"{transport:<10} rtlab p50 = {v['ratio_p50']:.2f}x bare (target <= "
                     f"{TARGET_RATIO}x)  {'PASS' if v['pass'] else 'MISS'};  CPU = {v['ratio_cpu']:.2f}x "
                     f"bare (target <= {CPU_TARGET_RATIO}x)  {'PASS' if v['cpu_pass'] else 'MISS'}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=1000, help="connections per server (1000)")
    parser.add_argument("--broadcasts", type=int, default=50, help="events, one at a time (50)")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON here")
    args = parser.parse_args(argv)
    raise_file_limit()
    results = run(args.clients, args.broadcasts)
    print(format_table(results))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=2)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
