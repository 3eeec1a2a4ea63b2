"""A reconnect storm at scale: 1,000 clients lose their server at once, three ways of coming back.

For each technique that holds a connection (long polling, SSE, WebSocket) and each reconnect
policy (:mod:`rtlab.net.retry`: immediate, fixed 1 s, exponential backoff with full jitter from
1 s), :func:`rtlab.lessons.storm.storm` connects the clients, cuts every connection with a
TCP reset (``server.crash()``), opens the port again at once, and records when each reconnect
reached the server and when all were back. Every client must end with every event once.

Usage::

    python benchmarks/storm.py                      # 1,000 clients, all three techniques
    python benchmarks/storm.py --clients 300 --transport websocket --png storm.png

Not a pass/fail target: the figures are what a server sees (peak reconnects per second in
50 ms bins, and the time until everyone is back), on this machine, with clients and server
sharing its cores. Jitter trades a later return for a flat load.
"""

from __future__ import annotations

import argparse
import json
import sys

from rtlab import lab
from rtlab.lessons import plots
from rtlab.lessons.storm import STORM_POLICIES, storms


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--transport", action="append", choices=["long-polling", "sse", "websocket"])
    parser.add_argument("--png", help="also save the plot of the last technique here")
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args()
    rows = []
    print(f"{args.clients} clients; policies: " + ", ".join(f"{k} {v}" for k, v in STORM_POLICIES.items()))
    print(f"{'transport':<14} {'policy':<12} {'back (s)':>9} {'peak /s':>9} {'arrivals':>9} {'once':>5}")
    for transport in args.transport or ["long-polling", "sse", "websocket"]:
        result = storms(transport, args.clients, timeout=60)
        for name, s in result.items():
            print(f"{transport:<14} {name:<12} {s.back_s:>9.2f} {s.peak_per_s():>9.0f} "
                  f"{len(s.arrivals_s):>9} {'yes' if s.exactly_once else 'NO':>5}", flush=True)
            rows.append({"transport": transport, "policy": name, "back_s": s.back_s,
                         "peak_per_s": s.peak_per_s(), "arrivals": len(s.arrivals_s),
                         "exactly_once": s.exactly_once})
        if args.png:
            with open(args.png, "wb") as f:
                f.write(plots.figure_to_png(plots.storm(result)))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)
    lab.stop_all()
    return 0 if all(r["exactly_once"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
