"""The negotiating client's fall-back, timed: how long to notice a broken path, how long to recover.

For each fault (:func:`rtlab.lessons.negotiation.fall_back`) — the proxy starts refusing
upgrades and cuts the open WebSocket (13a's ``no-upgrade`` middlebox), the stream goes silent
(heartbeat included), the server crashes for 0.5 s — a ``connect("auto")`` client on WebSocket
gets the fault while 200 events a second are published, ``--rounds`` times. Printed per fault:

* **detect** — the fault → the client's switch to long polling;
* **recover** — the fault → the first event delivered after that switch;
* **better** — the fault → on SSE or WebSocket again;
* **once** — every round delivered every event exactly once, in order.

Usage::

    python benchmarks/negotiate.py                   # heartbeat 0.25 s, 5 rounds per fault
    python benchmarks/negotiate.py --ping-interval 1 --rounds 3 --json negotiate.json

Not a pass/fail target. What to expect: a cut WebSocket is noticed at once (its TCP
connection closes); a silent one after two heartbeat intervals, by design; a crash costs
its downtime plus a backoff and a new ``negotiate``. On a busy machine, add tens of ms.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys

from rtlab import lab
from rtlab.lessons.negotiation import FAULTS, fall_back


def _ms(values: list[float]) -> str:
    if not values:
        return "—"
    return f"{statistics.median(values) * 1000:6.0f} [{min(values) * 1000:.0f}–{max(values) * 1000:.0f}]"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--ping-interval", type=float, default=0.25, help="the heartbeat, seconds")
    parser.add_argument("--fault", action="append", choices=FAULTS)
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args()
    print(f"heartbeat {args.ping_interval:g} s (a silent stream is broken after "
          f"{2 * args.ping_interval:g} s); {args.rounds} rounds; ms: median [min–max]")
    print(f"{'fault':<11} {'detect':>18} {'recover':>18} {'better':>18} {'once':>5}  why")
    figures = {}
    ok = True
    for fault in args.fault or FAULTS:
        runs = [fall_back(fault, ping_interval=args.ping_interval) for _ in range(args.rounds)]
        once = all(r.exactly_once for r in runs)
        ok &= once
        figures[fault] = {"detect_s": [r.detect_s for r in runs], "recover_s": [r.recover_s for r in runs],
                          "better_s": [r.upgraded_s for r in runs], "exactly_once": once,
                          "why": runs[-1].why, "events": [r.delivered for r in runs]}
        better = [r.upgraded_s for r in runs if r.upgraded_s is not None]
        print(f"{fault:<11} {_ms([r.detect_s for r in runs]):>18} {_ms([r.recover_s for r in runs]):>18} "
              f"{_ms(better):>18} {'yes' if once else 'NO':>5}  {runs[-1].why}", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"ping_interval_s": args.ping_interval, "faults": figures}, f, indent=1)
    lab.stop_all()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
