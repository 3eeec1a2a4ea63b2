"""The command line: ``python -m rtlab serve TRANSPORT`` and ``python -m rtlab compare``.

``serve`` starts one server on 127.0.0.1 with a seeded event generator, prints one JSON line
(``{"transport": ..., "url": ...}``) and serves until Ctrl-C or SIGTERM, so that ``curl -N``,
a browser or any other client can be pointed at it::

    $ python -m rtlab serve sse --rate 2
    {"transport": "sse", "url": "http://127.0.0.1:40919/events", ...}
    $ curl -N http://127.0.0.1:40919/events

``compare`` runs all four on one event stream for a few seconds and prints a table.
``serve auto`` is the negotiating technique (:mod:`rtlab.net.auto`), and ``listen URL`` a client
for any of them, printing one JSON line per event and per transport switch (:mod:`rtlab.net.listen`).

Both take an emulated network path (:mod:`rtlab.net.path`): ``--network 4g`` (a profile), or
``--rtt-ms``, ``--jitter-ms``, ``--bandwidth-kbit``, ``--loss``, ``--tls`` alone or together
(with a profile they change its figures; alone, everything else is off). ``"url"`` then leads
through the path, ``"direct_url"`` to the server itself::

    $ python -m rtlab serve sse --rtt-ms 100      # events arrive ~50 ms after they are published

``serve --middlebox NAME`` puts a proxy on that path (:mod:`rtlab.net.middlebox`: ``buffering``,
``compressing``, ``idle-timeout=S``, ``no-upgrade``; with or without ``--network``)::

    $ python -m rtlab serve websocket --middlebox no-upgrade   # the handshake gets 403 Forbidden

Beyond one machine (``rtlab.lessons.cluster``): ``serve --broker URL --rate 0`` is one gateway
on a broker's stream, ``publish --broker URL`` the quiz service that feeds it, and ``cluster``
starts a broker (unless ``--broker`` names one), N gateways and a quiz service, prints one
JSON line and runs until Ctrl-C or SIGTERM::

    $ python -m rtlab cluster --gateways 3 --transport websocket --rate 5
    {"broker": "redis://127.0.0.1:41233/0", "gateways": [{"url": "ws://127.0.0.1:...", "pid": ...}, ...], ...}
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from typing import Any

from . import lab
from .lessons.experiments import compare, table
from .lessons.feed import Feed
from .lessons.scenarios import SCENARIOS
from .net import NEGOTIATING, TRANSPORTS, serve
from .net.middlebox import Middlebox, describe_middleboxes
from .net.path_model import PROFILES, NetworkPath, describe_profiles, resolve

__all__ = ["main"]


def network_from(args: argparse.Namespace) -> NetworkPath | None:
    """The path the flags ask for: a profile, changed by any figure given; ``None`` for none."""
    base = PROFILES[args.network] if args.network else NetworkPath()
    changes: dict[str, object] = {}
    if args.rtt_ms is not None:
        changes["rtt_ms"] = args.rtt_ms
    if args.jitter_ms is not None:
        changes["jitter_ms"] = args.jitter_ms
    if args.bandwidth_kbit is not None:
        changes["down_kbit"] = changes["up_kbit"] = args.bandwidth_kbit
    if args.loss is not None:
        changes["loss"] = args.loss
    if args.tls is not None:
        changes["tls"] = args.tls
    if changes and not args.network:
        changes["name"] = "custom"
    return resolve(base.with_(**changes) if changes else base)


def _network_json(network: NetworkPath | None) -> dict[str, object]:
    if network is None:
        return {"name": "loopback"}
    info = network.to_dict()
    info["summary"] = network.summary()
    return info


def _until_signal(exit_with_parent: bool = False) -> threading.Event:
    """An event set by Ctrl-C or SIGTERM — or, with ``exit_with_parent``, when the process that
    started this one is gone (a cluster's gateways must not outlive a killed kernel)."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    if exit_with_parent:
        parent = os.getppid()

        def watch() -> None:
            while not stop.wait(0.5):
                if os.getppid() != parent:
                    stop.set()
        threading.Thread(target=watch, name="rtlab-parent-watch", daemon=True).start()
    return stop


def _serve(args: argparse.Namespace) -> int:
    options = {"broker": args.broker, "replay": args.replay} if args.broker else {}
    if args.name:
        options["name"] = args.name
    server = serve(args.transport, port=args.port, host=args.host, network=network_from(args),
                   middlebox=args.middlebox, **options)
    if args.answers and server.transport == "websocket" and server.broker:
        from .net.answers import AnswerGate  # players' answers go up to the quiz service

        server.call(AnswerGate(server).start())
    feed = Feed(server, args.scenario, rate=args.rate, seed=args.seed).start() if args.rate > 0 else None
    stop = _until_signal(args.exit_with_parent)
    # The URL a client connects to: ws:// for WebSocket (what browsers and the websockets
    # library expect), http:// for the three others.
    def scheme(url: str) -> str:
        return url.replace("http://", "ws://", 1) if server.transport == "websocket" else url

    print(json.dumps({"transport": server.transport, "url": scheme(server.url),
                      "direct_url": scheme(server.direct_url), "port": server.port, "pid": os.getpid(),
                      "rate": args.rate, "scenario": args.scenario,
                      "network": _network_json(server.network), "broker": server.broker,
                      "middlebox": server.middlebox.spec if server.middlebox else None}), flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        if feed is not None:
            feed.stop()
        server.stop()  # SIGTERM drains: every connection is closed with "going away" (WS 1001)
        lab.stop_all()
    print(json.dumps({"stopped": server.transport, "events": feed.published if feed else 0}), flush=True)
    return 0


def _publish(args: argparse.Namespace) -> int:
    from .lessons.cluster import quiz_service
    from .lessons.quiz_service import QuizService
    from .net.broker_publisher import BrokerPublisher

    if args.scenario == "quiz":  # the quiz service: it also scores the answers the gateways forward
        publisher: Any = QuizService(args.broker).start()
    else:
        publisher = BrokerPublisher(args.broker, name="publisher").start()
    scenario = quiz_service(args.seed, first=publisher.next_id) if args.scenario == "quiz" else args.scenario
    feed = Feed(publisher, scenario, rate=args.rate, seed=args.seed).start()
    stop = _until_signal(args.exit_with_parent)
    print(json.dumps({"publisher": os.getpid(), "broker": args.broker, "rate": args.rate,
                      "stream_id": publisher.stream_id}), flush=True)
    try:
        while not stop.wait(0.5) and feed.running:
            pass
    finally:
        feed.stop()
        publisher.stop()
        lab.stop_all()
    return 0


def _cluster(args: argparse.Namespace) -> int:
    from .lessons.cluster import Cluster

    stop = _until_signal()
    cluster = Cluster(args.gateways, args.transport, broker=args.broker, rate=args.rate,
                      quiet=False).start()
    print(json.dumps(cluster.info()), flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        cluster.stop(broker=True)
    print(json.dumps({"stopped": "cluster"}), flush=True)
    return 0


def _listen(args: argparse.Namespace) -> int:
    from .net.listen import listen

    stop = _until_signal()
    try:
        summary = listen(args.url, args.transport, count=args.count, seconds=args.seconds,
                         from_start=args.from_start, stop=stop)
    except ValueError as exc:
        print(f"listen: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({"stopped": "listen", **summary}), file=sys.stderr, flush=True)  # stdout: events only
    return 1 if "failure" in summary else 0


def _compare(args: argparse.Namespace) -> int:
    events = max(1, int(args.seconds * args.rate))
    network = network_from(args)
    results = compare(clients=args.clients, events=events, rate=args.rate, interval=args.interval,
                      network=network)
    if network is not None:
        print(f"network: {network.summary()}")
    print(table(results))
    lab.stop_all()
    return 0


PROFILES_HELP = "network profiles (--network NAME):\n" + describe_profiles()
SERVE_HELP = PROFILES_HELP + "\n\nmiddleboxes (--middlebox NAME):\n" + describe_middleboxes()


def _middlebox(text: str) -> Middlebox | None:
    try:
        return Middlebox.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _network_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("emulated network path (see rtlab.net.path)")
    g.add_argument("--network", choices=list(PROFILES), default=None,
                   help="a named profile (listed below); default: loopback, no path")
    g.add_argument("--rtt-ms", type=float, default=None, help="round-trip time, ms (half each way)")
    g.add_argument("--jitter-ms", type=float, default=None, help="one-way jitter (std dev), ms")
    g.add_argument("--bandwidth-kbit", type=float, default=None,
                   help="bandwidth cap each way, kbit/s")
    g.add_argument("--loss", type=float, default=None,
                   help="probability a TCP segment is lost (a stall of one RTO), e.g. 0.02")
    g.add_argument("--tls", type=int, choices=(0, 1, 2), default=None,
                   help="extra round trips to set up a connection: 1 = TLS 1.3, 2 = TLS 1.2")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rtlab", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="start one server with a built-in event generator",
                       description="Start one server with a built-in event generator.",
                       epilog=SERVE_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("transport", choices=[*TRANSPORTS, *NEGOTIATING])
    p.add_argument("--rate", type=float, default=1.0, help="events per second (default 1; 0: none)")
    p.add_argument("--port", type=int, default=0, help="port (default: one the OS picks)")
    p.add_argument("--broker", help="keep the stream in this broker (redis://...; 'auto' starts one)")
    p.add_argument("--name", help="the server's name (in its log lines)")
    p.add_argument("--answers", action="store_true",
                   help="a WebSocket gateway on a broker: forward players' quiz answers to the quiz service")
    p.add_argument("--replay", type=int, default=10_000, help="events kept for resuming clients")
    p.add_argument("--exit-with-parent", action="store_true", help="stop when the parent process is gone")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default loopback; anything else prints a warning)")
    p.add_argument("--scenario", choices=list(SCENARIOS), default="ticker")
    p.add_argument("--seed", type=int, default=0)
    _network_flags(p)
    p.add_argument("--middlebox", type=_middlebox, default=None, metavar="NAME[,NAME]",
                   help="a proxy on the path: buffering[=SIZE], compressing, idle-timeout=S, no-upgrade "
                        "(see rtlab.net.middlebox; combine with commas)")
    p.set_defaults(func=_serve)

    p = sub.add_parser("compare", help="all four techniques on one stream, side by side",
                       epilog=PROFILES_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--rate", type=float, default=20.0, help="events per second (default 20)")
    p.add_argument("--clients", type=int, default=2, help="clients per technique (default 2)")
    p.add_argument("--interval", type=float, default=0.2, help="short-polling interval, s")
    _network_flags(p)
    p.set_defaults(func=_compare)

    p = sub.add_parser("listen", help="a client: one JSON line per event and per transport switch")
    p.add_argument("url", help="the \"url\" that `serve` prints")
    p.add_argument("--transport", choices=[*NEGOTIATING, *TRANSPORTS], default=None,
                   help="the technique (default: read from the URL)")
    p.add_argument("--count", type=int, default=None, help="stop after N events")
    p.add_argument("--seconds", type=float, default=None, help="stop after S seconds")
    p.add_argument("--from-start", action="store_true",
                   help="begin with the events the server still keeps (default: the next one)")
    p.set_defaults(func=_listen)

    p = sub.add_parser("publish", help="the quiz service: publish into a broker's stream, no server")
    p.add_argument("--broker", required=True, help="redis://host:port/db")
    p.add_argument("--rate", type=float, default=2.0, help="events per second (default 2)")
    p.add_argument("--scenario", choices=["quiz", *SCENARIOS], default="quiz")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--exit-with-parent", action="store_true", help="stop when the parent process is gone")
    p.set_defaults(func=_publish)

    p = sub.add_parser("cluster", help="a broker, N gateway processes and the quiz service")
    p.add_argument("--gateways", type=int, default=3)
    p.add_argument("--transport", choices=["websocket", "sse", "long-polling", "short-polling"],
                   default="websocket")
    p.add_argument("--broker", help="an existing broker (default: start one, with AOF, in a temp folder)")
    p.add_argument("--rate", type=float, default=2.0, help="quiz-service events per second (default 2)")
    p.set_defaults(func=_cluster)

    args = parser.parse_args(argv)
    return args.func(args)
