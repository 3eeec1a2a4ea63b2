"""How many short-poll requests per second does rtlab's server answer, next to bare aiohttp?

Two servers, each on its own loop thread in this process, answer ``GET /state?since=N``
with the same JSON (``{"seq": .., "state": {..}, "events": []}``, with ``ETag`` and
``Cache-Control``):

* **bare aiohttp**: one handler that builds that body from a dict and returns
  ``web.json_response``; no middleware, aiohttp's plain protocol;
* **rtlab**: ``rtlab.short_polling.Server``, with what rtlab adds to every request: the
  middleware that tracks handlers and client names, the byte counter wrapped around
  each connection, the hub, the cursor check.

The load generator is ``wrk`` (``apt-get install -y wrk``), a C program in its own process:
``--connections`` keep-alive connections (64) from one thread, ``--duration`` seconds
each (5). The rounds alternate bare / rtlab ``--rounds`` times (3), so that a noisy
moment on the machine hits both; the verdict uses the medians.

Usage::

    python benchmarks/polling_rps.py
    python benchmarks/polling_rps.py --rounds 5 --duration 10 --json rps.json

Target: rtlab ≥ 0.8 × bare requests per second. Reported as PASS or MISS; the exit
status is 0 either way (2 if ``wrk`` is missing).
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
from typing import Any

import aiohttp
from aiohttp import web

from rtlab import lab
from rtlab.net import short_polling
from rtlab.net.server import LOOPBACK

TARGET_RATIO = 0.8  # rtlab must answer at least this share of bare aiohttp's requests per second


class BareStateServer:
    """The least an aiohttp server can do to answer a short poll with the same JSON."""

    def __init__(self, seq: int, state: dict[str, Any]) -> None:
        self.seq, self.state = seq, state
        self._loop_thread = lab.LoopThread("bare-short-polling")
        self.port = self._loop_thread.run(self._start())

    async def _start(self) -> int:
        app = web.Application()
        app.router.add_get("/state", self.handle_state)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, LOOPBACK, 0, backlog=1024).start()
        return self._runner.addresses[0][1]

    async def handle_state(self, request: web.Request) -> web.Response:
        since = int(request.query.get("since", "0"))
        events: list[Any] = []  # the load generator is always up to date: nothing after its cursor
        assert since >= self.seq
        body = {"seq": self.seq, "state": self.state, "events": events}
        return web.json_response(body, headers={"ETag": f'"{self.seq}"', "Cache-Control": "no-cache"})

    def cpu_s(self) -> float:
        """CPU time of this server's thread so far."""
        return self._loop_thread.run(thread_time())

    def stop(self) -> None:
        self._loop_thread.run(self._runner.cleanup(), timeout=10)
        self._loop_thread.stop()


async def thread_time() -> float:
    return time.thread_time()  # run on a server's loop: the CPU time of that thread alone


def wrk(url: str, connections: int, duration: float) -> dict[str, Any]:
    """Run ``wrk`` against ``url``; its requests per second and how many answers were not 2xx."""
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{duration:g}s", "--latency", url],
        capture_output=True, text=True, timeout=duration + 30, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*", out)
    p50 = re.search(r"50%\s+([\d.]+\w+)", out)
    return {"rps": rps, "requests": requests, "non_2xx": int(bad.group(1)) if bad else 0,
            "socket_errors": errors.group(0) if errors else "", "p50": p50.group(1) if p50 else ""}


def same_body(url_a: str, url_b: str) -> bool:
    """Both servers must answer the very same JSON, or the comparison means nothing."""
    async def fetch_both() -> tuple[Any, Any]:
        async with aiohttp.ClientSession() as session:
            bodies = []
            for url in (url_a, url_b):
                async with session.get(url) as resp:
                    bodies.append(await resp.json())
            return bodies[0], bodies[1]

    a, b = lab.client_loop().run(fetch_both())
    return a == b


def run(connections: int, duration: float, rounds: int) -> dict[str, Any]:
    rtlab_server = short_polling.Server(name="benchmark-rps").start()
    for i in range(3):  # some state worth returning: three event types, a small scoreboard
        rtlab_server.publish(f"type-{i}", {"home": i, "away": i + 1, "minute": 10 * i})
    while rtlab_server.stats().events < 3:
        time.sleep(0.01)
    hub = rtlab_server.hub
    assert hub is not None
    bare = BareStateServer(hub.latest_seq, dict(hub.state))
    urls = {"bare": f"http://{LOOPBACK}:{bare.port}/state?since={hub.latest_seq}",
            "rtlab": f"{rtlab_server.url}?since={hub.latest_seq}"}
    results: dict[str, Any] = {
        "settings": {"connections": connections, "duration_s": duration, "rounds": rounds,
                     "load_generator": "wrk -t1"},
        "machine": {"python": platform.python_version(), "platform": platform.platform(),
                    "aiohttp": aiohttp.__version__},
        "rounds": [],
    }
    try:
        if not same_body(urls["bare"], urls["rtlab"]):
            raise RuntimeError("the two servers answer different JSON")
        # CPU time per request (the server thread's) does not depend on what else the
        # machine is doing, unlike requests per second: the steadier figure on a busy machine.
        cpu = {"bare": bare.cpu_s, "rtlab": lambda: rtlab_server.stats().cpu_s}
        for _ in range(rounds):
            measured = {}
            for name, url in urls.items():
                before = cpu[name]()
                measured[name] = wrk(url, connections, duration)
                measured[name]["cpu_us_per_request"] = ((cpu[name]() - before) * 1e6
                                                        / measured[name]["requests"])
            results["rounds"].append(measured)
    finally:
        bare.stop()
        rtlab_server.stop()
    bare_rps = statistics.median(r["bare"]["rps"] for r in results["rounds"])
    rtlab_rps = statistics.median(r["rtlab"]["rps"] for r in results["rounds"])
    results["median_rps"] = {"bare": bare_rps, "rtlab": rtlab_rps}
    results["ratio"] = rtlab_rps / bare_rps
    results["median_cpu_us_per_request"] = {
        name: statistics.median(r[name]["cpu_us_per_request"] for r in results["rounds"])
        for name in ("bare", "rtlab")}
    results["pass"] = results["ratio"] >= TARGET_RATIO
    return results


def format_table(results: dict[str, Any]) -> str:
    s = results["settings"]
    lines = [f"wrk -t1 -c{s['connections']} -d{s['duration_s']:g}s, rounds alternate bare / rtlab",
             f"{'round':<7} {'bare req/s':>11} {'rtlab req/s':>12} {'ratio':>7} "
             f"{'p50 bare':>9} {'p50 rtlab':>10} {'CPU µs/req bare':>16} {'rtlab':>6}"]
    for number, r in enumerate(results["rounds"], 1):
        lines.append(f"{number:<7} {r['bare']['rps']:>11.0f} {r['rtlab']['rps']:>12.0f} "
                     f"{r['rtlab']['rps'] / r['bare']['rps']:>6.2f}x {r['bare']['p50']:>9} "
                     f"{r['rtlab']['p50']:>10} {r['bare']['cpu_us_per_request']:>16.0f} "
                     f"{r['rtlab']['cpu_us_per_request']:>6.0f}")
        for name in ("bare", "rtlab"):
            if r[name]["non_2xx"] or r[name]["socket_errors"]:
                lines.append(f"        {name}: {r[name]['non_2xx']} non-2xx; {r[name]['socket_errors']}")
    m = results["median_rps"]
    lines.append(f"median  {m['bare']:>11.0f} {m['rtlab']:>12.0f} {results['ratio']:>6.2f}x   "
                 f"target >= {TARGET_RATIO}x  {'PASS' if results['pass'] else 'MISS'}")
    c = results["median_cpu_us_per_request"]
    lines.append(f"server CPU per request: bare {c['bare']:.0f} µs, rtlab {c['rtlab']:.0f} µs "
                 f"(bare/rtlab = {c['bare'] / c['rtlab']:.2f}x: the requests per second rtlab "
                 "would reach, as a share of bare, on an idle core)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=64, help="wrk connections (64)")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per measurement (5)")
    parser.add_argument("--rounds", type=int, default=3, help="bare/rtlab pairs (3)")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON here")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        print("wrk is not installed: apt-get install -y wrk", file=sys.stderr)
        return 2
    try:
        results = run(args.connections, args.duration, args.rounds)
    finally:
        lab.stop_all()
    print(format_table(results))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=2)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
