"""Can one rtlab server process hold 10,000 clients for a minute, in under 1 GB, losing nothing?

**Default run** (``--clients 10000 --seconds 60``): one server process runs an rtlab SSE
server and an rtlab WebSocket server (each on its own loop thread, as always); half the
clients read SSE, half WebSocket. The clients live in ``--processes`` other processes
(raw asyncio sockets, the ones of ``fanout.py``; a process may hold at most 20,000 open
files here, and each raises its soft ``RLIMIT_NOFILE`` to the hard limit). Once every
client is connected, the server publishes ``--rate`` events per second (1/s); every client
checks that the seqs it receives follow each other, and at the end that it has the last
one. The server's RSS is sampled once a second.

Targets: every client connected and still connected at the end, nothing missed or
duplicated, server RSS under 1 GB for the whole run.

**Per technique** (``--transport``): 1,000 clients of each technique in turn — short
polling every 1 s, long polling, SSE, WebSocket — each against a fresh server process
for ``--seconds``, the server's RSS sampled every second. Memory should be flat after
warm-up: the target is growth under 5 % from the end of the first quarter of the run
to the end.

Usage::

    python benchmarks/hold.py                                   # 10,000 clients, 60 s
    python benchmarks/hold.py --clients 10000 --seconds 20
    python benchmarks/hold.py --transport --clients 1000 --seconds 60 --json hold.json

The exit status is 0 whatever the verdicts (a benchmark informs, it does not gate).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import sys
import time
from typing import Any

from fanout import clients_process, raise_file_limit, receive, server_process

RSS_LIMIT_MB = 1024
FLAT_GROWTH = 0.05  # after warm-up, RSS may grow by at most 5 % (technique runs)
TECHNIQUES = ("short-polling", "long-polling", "sse", "websocket")


def hold(kinds: list[str], clients: int, seconds: float, rate: float,
         processes: int) -> dict[str, Any]:
    """``clients`` spread evenly over the ``kinds``, held for ``seconds`` by one server process."""
    context = multiprocessing.get_context("spawn")
    server_end, server_conn = context.Pipe()
    server = context.Process(target=server_process,
                             args=(server_conn, [f"rtlab-{kind}" for kind in kinds]), daemon=True)
    server.start()
    procs, ends = [], []
    try:
        hello = receive(server_end, 30)
        urls = dict(zip(kinds, hello["urls"], strict=True))
        specs = [(kinds[i % len(kinds)], urls[kinds[i % len(kinds)]]) for i in range(clients)]
        for number in range(processes):
            end, conn = context.Pipe()
            proc = context.Process(target=clients_process,
                                   args=(conn, specs[number::processes], 300), daemon=True)
            proc.start()
            procs.append(proc)
            ends.append(end)
        started = time.monotonic()
        connected = sum(receive(end, 320, "ready")[1] for end in ends)
        connect_s = time.monotonic() - started
        time.sleep(1)  # let every handler reach its subscription

        rss_mb: list[tuple[float, float]] = []  # (seconds since the start, server RSS in MB)
        sent_ns: dict[int, int] = {}
        last_arrival: dict[int, list[int]] = {}  # seq -> when each client process's last client had it

        def collect() -> None:  # the "all my clients have it" notes of the client processes
            for end in ends:
                while end.poll():
                    _, seq, last_ns = end.recv()
                    last_arrival.setdefault(seq, []).append(last_ns)

        published = 0
        started = time.monotonic()
        while time.monotonic() - started < seconds:
            published += 1
            server_end.send(("publish", published))
            sent_ns[published] = receive(server_end, 10)
            server_end.send(("rss",))
            rss_mb.append((round(time.monotonic() - started, 2), receive(server_end, 10) / 2**20))
            collect()
            time.sleep(max(0.0, started + published / rate - time.monotonic()))
        deadline = time.monotonic() + 30  # the last event's journey: until every client has it
        while len(last_arrival.get(published, [])) < len(ends) and time.monotonic() < deadline:
            time.sleep(0.05)
            collect()
        delivery_ms = sorted((max(ns) - sent_ns[seq]) / 1e6 for seq, ns in last_arrival.items()
                             if len(ns) == len(ends))
        report: dict[str, dict[str, Any]] = {}
        for end in ends:
            end.send(("stop", published))
            for kind, row in receive(end, 60, "report")[1].items():
                if kind not in report:
                    report[kind] = row
                else:
                    total = report[kind]
                    for key in ("clients", "missed", "duplicates", "lost_connection"):
                        total[key] += row[key]
                    total["events_min"] = min(total["events_min"], row["events_min"])
                    total["events_max"] = max(total["events_max"], row["events_max"])
        server_end.send(("stop",))
        peak_mb = receive(server_end, 30)["peak_rss"] / 2**20
    finally:
        for proc in [*procs, server]:
            proc.join(timeout=15)
            if proc.is_alive():
                proc.kill()

    values = [mb for _, mb in rss_mb]
    warm = values[len(values) // 4]
    lost = sum(r["missed"] + r["duplicates"] for r in report.values())
    dropped = sum(r["lost_connection"] for r in report.values())
    return {
        "kinds": kinds, "clients": clients, "connected": connected, "connect_s": connect_s,
        "rss_idle_mb": hello["rss"] / 2**20,
        "seconds": seconds, "published": published, "by_kind": report,
        "rss_mb": rss_mb, "rss_start_mb": values[0], "rss_warm_mb": warm, "rss_end_mb": values[-1],
        "rss_max_mb": max(values), "peak_rss_mb": peak_mb,
        "growth_after_warmup": values[-1] / warm - 1,
        "lost": lost, "dropped_connections": dropped,
        "delivered_to_all_p50_ms": delivery_ms[len(delivery_ms) // 2] if delivery_ms else None,
        "delivered_to_all_max_ms": delivery_ms[-1] if delivery_ms else None,
        "pass_rss": peak_mb < RSS_LIMIT_MB,
        "pass_nothing_lost": connected == clients and lost == 0 and dropped == 0,
    }


def format_run(r: dict[str, Any]) -> str:
    lines = [f"{'+'.join(r['kinds'])}: {r['connected']}/{r['clients']} clients connected in "
             f"{r['connect_s']:.1f} s, held {r['seconds']:g} s, {r['published']} events published"]
    header = f"  {'clients':<14} {'n':>6} {'events min/max':>15} {'missed':>7} {'dup':>5} {'dropped':>8}"
    lines += [header]
    for kind, row in r["by_kind"].items():
        lines.append(f"  {kind:<14} {row['clients']:>6} {row['events_min']:>7}/{row['events_max']:<7} "
                     f"{row['missed']:>7} {row['duplicates']:>5} {row['lost_connection']:>8}")
    lines.append(f"  server RSS: start {r['rss_start_mb']:.0f} MB, after warm-up {r['rss_warm_mb']:.0f} MB, "
                 f"end {r['rss_end_mb']:.0f} MB, peak {r['peak_rss_mb']:.0f} MB "
                 f"({r['growth_after_warmup']:+.1%} after warm-up); "
                 f"{(r['peak_rss_mb'] - r['rss_idle_mb']) * 1024 / r['clients']:.0f} KB per client "
                 f"above the idle server's {r['rss_idle_mb']:.0f} MB")
    if r["delivered_to_all_p50_ms"] is not None:
        lines.append(f"  publish until every client has the event: "
                     f"p50 {r['delivered_to_all_p50_ms']:.0f} ms, "
                     f"max {r['delivered_to_all_max_ms']:.0f} ms")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=None,
                        help="clients in all (10000), or per technique with --transport (1000)")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long to hold them (60)")
    parser.add_argument("--rate", type=float, default=1.0, help="events per second (1)")
    parser.add_argument("--processes", type=int, default=2, help="client processes (2)")
    parser.add_argument("--transport", action="store_true",
                        help="one run per technique (short polling, long polling, SSE, WebSocket)")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON here")
    args = parser.parse_args(argv)
    raise_file_limit()
    results: dict[str, Any] = {
        "settings": vars(args),
        "machine": {"python": platform.python_version(), "platform": platform.platform(),
                    "cpus": os.cpu_count()},
        "runs": [],
    }
    if args.transport:
        clients = args.clients or 1000
        for kind in TECHNIQUES:
            run = hold([kind], clients, args.seconds, args.rate, args.processes)
            results["runs"].append(run)
            print(format_run(run), flush=True)
            flat = run["growth_after_warmup"] <= FLAT_GROWTH
            print(f"  memory flat after warm-up (growth <= {FLAT_GROWTH:.0%}): "
                  f"{'PASS' if flat else 'MISS'};  nothing lost: "
                  f"{'PASS' if run['pass_nothing_lost'] else 'MISS'}\n", flush=True)
    else:
        run = hold(["sse", "websocket"], args.clients or 10_000, args.seconds, args.rate,
                   args.processes)
        results["runs"].append(run)
        print(format_run(run))
        print(f"  server RSS < {RSS_LIMIT_MB} MB: {'PASS' if run['pass_rss'] else 'MISS'};  "
              f"nothing lost: {'PASS' if run['pass_nothing_lost'] else 'MISS'}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=2)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
