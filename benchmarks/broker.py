"""Beyond one machine: what the broker hop costs, and what N gateways buy (issue 14).

Two measurements, one broker (``valkey-server``/``redis-server`` started here, AOF on):

1. **The broker hop.** One WebSocket server and one client in this process, ``--events``
   events at ``--rate``: first with the in-memory hub, then with ``broker=``. With the
   broker, ``publish`` goes to the broker (a Lua script: INCR + XADD), and the server's
   follower reads it back (``XREAD BLOCK`` from an explicit id) before pushing. The
   difference of the two p50 latencies is the hop.
2. **Many clients over 1 and over 4 gateway processes.** ``--clients`` WebSocket connections
   (raw asyncio sockets in a process of their own, the client of ``benchmarks/fanout.py``),
   spread round robin over the gateways of a :class:`rtlab.lessons.cluster.Cluster`; then
   ``--broadcasts`` events published into the broker one at a time. For each event: time
   from the publish stamp to the *last* client's arrival; at the end each gateway's RSS.
   Every client must have every event (missed and duplicates are reported).

On a 2-core machine, four gateways share two cores with the clients' process and the
broker: more processes do not mean more cores here. What the figure shows is the shape
(each gateway holds a quarter of the connections and of the memory); the time to the last
client is bounded by the cores, not by the gateways.

Usage::

    python benchmarks/broker.py                          # 2,000 clients, 20 broadcasts
    python benchmarks/broker.py --clients 10000 --json broker.json
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fanout import clients_process, raise_file_limit, receive  # noqa: E402 - the same raw clients

from rtlab import lab  # noqa: E402
from rtlab.lessons.cluster import Cluster  # noqa: E402
from rtlab.metrics import percentile  # noqa: E402
from rtlab.net import connect, serve  # noqa: E402
from rtlab.net.broker_process import BrokerProcess  # noqa: E402


def hop(broker_url: str | None, events: int, rate: float) -> dict[str, float]:
    """p50/p99 push latency of one WebSocket client, in-memory hub or broker."""
    options = {"broker": broker_url} if broker_url else {}
    server = serve("websocket", name=f"hop-{'broker' if broker_url else 'memory'}", **options)
    client = connect("websocket", server.url, name="hop-client")
    lab.wait_until(lambda: server.read(lambda s: s.hub.subscriber_count) == 1, 10)
    for i in range(events):
        server.publish("tick", {"i": i})
        time.sleep(1 / rate)
    client.wait_for(events, 20)
    latencies = sorted(client.recorder.latencies_ms())
    client.stop()
    server.stop()
    return {"p50_ms": percentile(latencies, 50), "p99_ms": percentile(latencies, 99),
            "events": len(latencies)}


def scale(broker_url: str, gateways: int, clients: int, broadcasts: int) -> dict[str, Any]:
    """``clients`` over ``gateways`` gateway processes: time to the last client, RSS per gateway."""
    stream = f"{broker_url}?stream=scale-{gateways}-{time.monotonic_ns()}"
    with Cluster(gateways, "websocket", broker=stream, name=f"scale-{gateways}") as cluster:
        cluster.wait_ready()
        rss_before = [psutil.Process(g.pid).memory_info().rss for g in cluster.gateways]
        specs = [("websocket", cluster.urls[i % gateways]) for i in range(clients)]
        parent, child = multiprocessing.Pipe()
        process = multiprocessing.Process(target=clients_process, args=(child, specs), daemon=True)
        process.start()
        _, ready, failures, connect_s = receive(parent, 300, "ready")
        if failures:
            raise RuntimeError(f"{clients - ready} clients failed to connect: {failures}")
        publisher = cluster.publisher()
        times = []
        for seq in range(1, broadcasts + 1):
            sent_ns = time.monotonic_ns()
            publisher.publish("tick", {"i": seq}, sent_ns)
            _, got, last_ns = receive(parent, 60, "all")
            assert got == seq, (got, seq)
            times.append((last_ns - sent_ns) / 1e6)
            time.sleep(0.2)
        rss_after = [psutil.Process(g.pid).memory_info().rss for g in cluster.gateways]
        parent.send(("stop", broadcasts))
        _, report = receive(parent, 60, "report")
        process.join(10)
    row = report["websocket"]
    return {"gateways": gateways, "clients": clients, "connect_s": round(connect_s, 2),
            "last_client_p50_ms": round(statistics.median(times), 2),
            "last_client_max_ms": round(max(times), 2),
            "rss_per_gateway_mib": [round(r / 2**20, 1) for r in rss_after],
            "rss_per_client_kib": round((sum(rss_after) - sum(rss_before)) / clients / 1024, 1),
            "missed": row["missed"], "duplicates": row["duplicates"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000, help="events for the hop (default 1,000)")
    parser.add_argument("--rate", type=float, default=200.0, help="their rate, per second (default 200)")
    parser.add_argument("--clients", type=int, default=2_000)
    parser.add_argument("--broadcasts", type=int, default=20)
    parser.add_argument("--json", help="write the results to this file too")
    args = parser.parse_args(argv)
    raise_file_limit()

    results: dict[str, Any] = {"machine": f"{platform.platform()}, {os.cpu_count()} cores, "
                                          f"Python {platform.python_version()}"}
    with BrokerProcess() as broker:
        memory = hop(None, args.events, args.rate)
        brokered = hop(f"{broker.url}?stream=hop-{time.monotonic_ns()}", args.events, args.rate)
        results["hop"] = {"memory": memory, "broker": brokered,
                          "hop_p50_ms": round(brokered["p50_ms"] - memory["p50_ms"], 3)}
        print(f"push p50: in-memory hub {memory['p50_ms']:.3f} ms, through the broker "
              f"{brokered['p50_ms']:.3f} ms: the broker hop is {results['hop']['hop_p50_ms']:.3f} ms "
              f"(p99 {memory['p99_ms']:.2f} vs {brokered['p99_ms']:.2f} ms)", flush=True)
        results["scale"] = []
        for gateways in (1, 4):
            row = scale(broker.url, gateways, args.clients, args.broadcasts)
            results["scale"].append(row)
            print(f"{row['clients']} clients over {gateways} gateway(s): last client p50 "
                  f"{row['last_client_p50_ms']} ms (max {row['last_client_max_ms']}), RSS per gateway "
                  f"{row['rss_per_gateway_mib']} MiB ({row['rss_per_client_kib']} KiB per client), "
                  f"missed {row['missed']}, duplicates {row['duplicates']}", flush=True)
    lab.stop_all()
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
