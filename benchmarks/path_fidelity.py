"""Does the emulated network path (rtlab.net.path) do what its settings say?

Four measurements, one after the other, with a plain blocking TCP echo server on a thread
as the far end (no HTTP, no rtlab server: only the relay is measured):

* **delay**: round trips of a 5-byte message on one open connection (TCP_NODELAY) through a
  relay set to ``--rtt-ms`` (100): the p50 against the setting. Target: within ±5 % (the
  stricter ±1 ms is reported too).
* **loopback**: ``serve("sse", network="loopback")`` puts no relay in the path at all:
  ``server.url == server.direct_url`` and ``server.relay is None``.
* **overhead**: the same round trips through a relay set to 0 ms, interleaved with round
  trips straight to the echo server; each round trip crosses the relay twice (one chunk each
  way), so the relay's own cost per chunk is (p50 through − p50 direct) / 2, in µs.
* **bandwidth**: ``--bytes`` (1 MB) sent up uncapped and echoed back through a relay capped at
  ``--kbit`` (2000 kbit/s) down; the rate from the first byte back to the last, against the
  cap. Target: within ±10 %.

Usage::

    python benchmarks/path_fidelity.py
    python benchmarks/path_fidelity.py --rtt-ms 170 --kbit 1600 --json fidelity.json

Each target is printed PASS or MISS; the exit status is 0 either way.
"""

from __future__ import annotations

import argparse
import json
import platform
import socket
import statistics
import sys
import threading
import time
from typing import Any

from rtlab import lab
from rtlab.net import serve
from rtlab.net.path import Relay
from rtlab.net.path_model import NetworkPath


class EchoServer:
    """A blocking TCP echo server, one thread per connection."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=self._echo, args=(conn,), daemon=True).start()

    @staticmethod
    def _echo(conn: socket.socket) -> None:
        with conn:
            try:
                while data := conn.recv(65536):
                    conn.sendall(data)
            except OSError:
                pass

    def close(self) -> None:
        self.sock.close()


def dial(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def round_trip(sock: socket.socket, message: bytes = b"hello") -> float:
    t0 = time.perf_counter()
    sock.sendall(message)
    got = 0
    while got < len(message):
        got += len(sock.recv(65536))
    return time.perf_counter() - t0


def measure_delay(echo: EchoServer, rtt_ms: float, count: int) -> dict[str, Any]:
    relay = Relay(NetworkPath(rtt_ms=rtt_ms), "127.0.0.1", echo.port).start()
    try:
        with dial(relay.port) as sock:
            setup = round_trip(sock)  # pays the handshake's RTT too
            rtts = [round_trip(sock) * 1000 for _ in range(count)]
    finally:
        relay.stop()
    p50 = statistics.median(rtts)
    return {"rtt_ms": rtt_ms, "count": count, "p50_ms": p50, "min_ms": min(rtts), "max_ms": max(rtts),
            "first_ms": setup * 1000, "error_ms": p50 - rtt_ms, "error_pct": 100 * (p50 - rtt_ms) / rtt_ms,
            "pass_5pct": abs(p50 - rtt_ms) <= 0.05 * rtt_ms, "pass_1ms": abs(p50 - rtt_ms) <= 1.0}


def measure_loopback() -> dict[str, Any]:
    server = serve("sse", name="fidelity-loopback", network="loopback")
    try:
        return {"relay": repr(server.relay), "url_is_direct": server.url == server.direct_url,
                "pass": server.relay is None and server.url == server.direct_url}
    finally:
        server.stop()


def measure_overhead(echo: EchoServer, count: int) -> dict[str, Any]:
    relay = Relay(NetworkPath(), "127.0.0.1", echo.port).start()  # 0 ms: only the relay's own cost
    try:
        with dial(relay.port) as through, dial(echo.port) as direct:
            for _ in range(50):  # warm up both
                round_trip(through)
                round_trip(direct)
            t_through, t_direct = [], []
            for _ in range(count):
                t_through.append(round_trip(through) * 1e6)
                t_direct.append(round_trip(direct) * 1e6)
    finally:
        relay.stop()
    p50_through, p50_direct = statistics.median(t_through), statistics.median(t_direct)
    return {"count": count, "p50_direct_us": p50_direct, "p50_through_us": p50_through,
            "per_chunk_us": (p50_through - p50_direct) / 2}


def measure_bandwidth(echo: EchoServer, kbit: float, nbytes: int) -> dict[str, Any]:
    path = NetworkPath(down_kbit=kbit)  # up uncapped: only the way back is measured
    relay = Relay(path, "127.0.0.1", echo.port).start()
    data = b"x" * nbytes
    try:
        with dial(relay.port) as sock:
            sender = threading.Thread(target=sock.sendall, args=(data,), daemon=True)
            sender.start()
            got, first_t, first_n, last_t = 0, 0.0, 0, 0.0
            while got < nbytes:
                n = len(sock.recv(65536))
                now = time.perf_counter()
                if not got:
                    first_t, first_n = now, n
                got += n
                last_t = now
            sender.join()
    finally:
        relay.stop()
    # From the first byte back to the last: the first chunk (the bucket's burst) is free.
    rate_kbit = (nbytes - first_n) * 8 / 1000 / (last_t - first_t)
    return {"cap_kbit": kbit, "bytes": nbytes, "seconds": last_t - first_t, "rate_kbit": rate_kbit,
            "error_pct": 100 * (rate_kbit - kbit) / kbit, "pass": abs(rate_kbit - kbit) <= 0.10 * kbit}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rtt-ms", type=float, default=100.0)
    parser.add_argument("--count", type=int, default=100, help="round trips per delay measurement")
    parser.add_argument("--overhead-count", type=int, default=2000)
    parser.add_argument("--kbit", type=float, default=2000.0)
    parser.add_argument("--bytes", type=int, default=1_000_000)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)

    echo = EchoServer()
    try:
        results = {
            "delay": measure_delay(echo, args.rtt_ms, args.count),
            "loopback": measure_loopback(),
            "overhead": measure_overhead(echo, args.overhead_count),
            "bandwidth": measure_bandwidth(echo, args.kbit, args.bytes),
            "machine": {"python": sys.version.split()[0], "platform": platform.platform()},
        }
    finally:
        echo.close()
        lab.stop_all()

    def verdict(ok: bool) -> str:
        return "PASS" if ok else "MISS"

    d, lo, o, b = (results[k] for k in ("delay", "loopback", "overhead", "bandwidth"))
    print(f"delay      RTT set {d['rtt_ms']:g} ms: echo p50 {d['p50_ms']:.2f} ms ({d['error_ms']:+.2f} ms, "
          f"{d['error_pct']:+.2f} %), min {d['min_ms']:.2f}, max {d['max_ms']:.2f}; first (with handshake) "
          f"{d['first_ms']:.1f} ms   ±5 %: {verdict(d['pass_5pct'])}, ±1 ms: {verdict(d['pass_1ms'])}")
    print(f"loopback   relay {lo['relay']}, url == direct_url: {lo['url_is_direct']}   {verdict(lo['pass'])}")
    print(f"overhead   at 0 ms: echo p50 direct {o['p50_direct_us']:.0f} µs, "
          f"through {o['p50_through_us']:.0f} µs -> {o['per_chunk_us']:.0f} µs per chunk (p50)")
    print(f"bandwidth  cap {b['cap_kbit']:g} kbit/s: {b['rate_kbit']:.0f} kbit/s over {b['seconds']:.2f} s "
          f"({b['error_pct']:+.1f} %)   ±10 %: {verdict(b['pass'])}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
