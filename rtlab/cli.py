"""The command line: ``python -m rtlab serve TRANSPORT`` and ``python -m rtlab compare``.

``serve`` starts one server on 127.0.0.1 with a seeded event generator, prints one JSON line
(``{"transport": ..., "url": ...}``) and serves until Ctrl-C or SIGTERM, so that ``curl -N``,
a browser or any other client can be pointed at it::

    $ python -m rtlab serve sse --rate 2
    {"transport": "sse", "url": "http://127.0.0.1:40919/events", ...}
    $ curl -N http://127.0.0.1:40919/events

``compare`` runs all four on one event stream for a few seconds and prints a table.
"""

from __future__ import annotations

import argparse
import json
import signal
import threading

from . import lab
from .lessons.experiments import compare, table
from .lessons.feed import Feed
from .lessons.scenarios import SCENARIOS
from .net import TRANSPORTS, serve

__all__ = ["main"]


def _serve(args: argparse.Namespace) -> int:
    server = serve(args.transport, port=args.port, host=args.host)
    feed = Feed(server, args.scenario, rate=args.rate, seed=args.seed).start()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    # The URL a client connects to: ws:// for WebSocket (what browsers and the websockets
    # library expect), http:// for the three others.
    url = server.url.replace("http://", "ws://", 1) if server.transport == "websocket" else server.url
    print(json.dumps({"transport": server.transport, "url": url, "port": server.port,
                      "rate": args.rate, "scenario": args.scenario}), flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        feed.stop()
        server.stop()
        lab.stop_all()
    print(json.dumps({"stopped": server.transport, "events": feed.published}), flush=True)
    return 0


def _compare(args: argparse.Namespace) -> int:
    events = max(1, int(args.seconds * args.rate))
    results = compare(clients=args.clients, events=events, rate=args.rate, interval=args.interval)
    print(table(results))
    lab.stop_all()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rtlab", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="start one server with a built-in event generator")
    p.add_argument("transport", choices=list(TRANSPORTS))
    p.add_argument("--rate", type=float, default=1.0, help="events per second (default 1)")
    p.add_argument("--port", type=int, default=0, help="port (default: one the OS picks)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default loopback; anything else prints a warning)")
    p.add_argument("--scenario", choices=list(SCENARIOS), default="ticker")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_serve)

    p = sub.add_parser("compare", help="all four techniques on one stream, side by side")
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--rate", type=float, default=20.0, help="events per second (default 20)")
    p.add_argument("--clients", type=int, default=2, help="clients per technique (default 2)")
    p.add_argument("--interval", type=float, default=0.2, help="short-polling interval, s")
    p.set_defaults(func=_compare)

    args = parser.parse_args(argv)
    return args.func(args)
