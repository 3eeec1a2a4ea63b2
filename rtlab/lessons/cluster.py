"""The live quiz beyond one machine: a broker, N gateway processes, a quiz service.

The article's quiz runs on a cluster of gateways behind which a quiz service pushes the
questions. Here, on one machine, the same shape with real processes::

    quiz service (a process, or a BrokerPublisher in the notebook)
         │ XADD "<seq>-0"
         ▼
    broker (valkey-server / redis-server, AOF)  ◄── XREAD from an explicit id ──┐
         ├──────────────────────────┬──────────────────────────┐               │
    gateway 1 (python -m rtlab    gateway 2                  gateway 3  ───────┘
    serve websocket --broker …)       │                          │
         │ ws                         │                          │
    players 1, 4, 7 …             players 2, 5, 8 …          players 3, 6, 9 …

:class:`Cluster` starts it, names every process (``info()`` is the JSON line that
``python -m rtlab cluster`` prints), stops one gateway gently (SIGTERM: it closes its
connections with "going away" so clients move at once) or not at all gently (SIGKILL), and
stops and starts the whole cluster again on the same broker and the same ports. Clients get
:attr:`Cluster.urls` — every gateway — and move to the next one when theirs dies.

A cluster started again under the same name (a re-run cell) replaces the old one; every
cluster stops at interpreter exit.
"""

from __future__ import annotations

import atexit
import itertools
import json
import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ..net.broker_process import BrokerProcess, start_broker
from ..net.broker_publisher import BrokerPublisher
from .quiz_service import QuizService
from .scenarios import QUESTIONS

__all__ = ["Cluster", "Gateway", "quiz_service"]

_clusters: dict[str, Cluster] = {}


def quiz_service(seed: int = 0, countdown: int = 5, first: int = 1) -> Iterator[tuple[str, dict[str, Any]]]:
    """The quiz service's stream, endless: a question, a countdown, the result; the next question.

    Question ids go ``first``, ``first + 1`` … (the questions themselves repeat in a seeded
    order); the right answer is only in the ``result``, never in the ``question``. An answer names
    its question by id, so ids must not repeat within a stream: on a stream that already asked
    questions (a re-run, a restarted service) start from :attr:`QuizService.next_id
    <rtlab.lessons.quiz_service.QuizService.next_id>`.
    """
    order = list(range(len(QUESTIONS)))
    rounds = itertools.count(first)
    rng_order = order[seed % len(order):] + order[:seed % len(order)]
    for number, index in zip(rounds, itertools.cycle(rng_order)):
        text, choices, answer = QUESTIONS[index]
        yield "question", {"id": number, "text": text, "choices": choices}
        for left in range(countdown, 0, -1):
            yield "countdown", {"question": number, "left": left}
        yield "result", {"question": number, "answer": answer}


@dataclass
class Gateway:
    """One gateway process: ``python -m rtlab serve TRANSPORT --broker URL``."""

    index: int
    port: int
    url: str = ""
    process: subprocess.Popen[str] | None = None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


def _first_line(process: subprocess.Popen[str], timeout: float, what: str) -> dict[str, Any]:
    """The JSON line a process prints when it is ready (or a clear error)."""
    assert process.stdout is not None
    # selectors (epoll), not select.select(): a kernel holding thousands of players' sockets has
    # descriptors past 1,024, which select() cannot watch.
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        ready = selector.select(timeout)
    line = process.stdout.readline() if ready else ""
    if not line:
        process.kill()
        raise RuntimeError(f"{what} did not start within {timeout:.0f} s (exit code {process.poll()})")
    return json.loads(line)


class Cluster:
    """A broker, ``gateways`` gateway processes and (with ``rate``) a quiz-service process."""

    def __init__(self, gateways: int = 3, transport: str = "websocket", *, broker: str | None = None,
                 rate: float = 0.0, name: str = "cluster", replay: int = 10_000,
                 quiet: bool = True) -> None:
        """A cluster, not yet started (:meth:`start`).

        Args:
            gateways: how many gateway processes.
            transport: ``"websocket"``, ``"sse"`` or ``"long-polling"`` (short polling works too).
            broker: a broker URL; ``None`` starts one (:mod:`rtlab.net.broker_process`).
            rate: events per second from a quiz-service process; 0 starts none (publish
                from Python with :meth:`publisher` instead).
            name: a re-run with the same name replaces the running cluster.
            replay: each gateway's replay buffer, in events.
            quiet: send the processes' log lines (broker down, back) to /dev/null rather
                than this process's stderr.
        """
        if gateways < 1:
            raise ValueError("a cluster has at least one gateway")
        self.transport = transport
        self.rate = rate
        self.name = name
        self.replay = replay
        self.quiet = quiet
        self.broker_url = broker
        self.broker: BrokerProcess | None = None  # the one we started, if any
        self.gateways = [Gateway(i, 0) for i in range(gateways)]
        self.quiz: subprocess.Popen[str] | None = None
        self._publisher: BrokerPublisher | None = None
        self._quiz: QuizService | None = None

    # -- life cycle -------------------------------------------------------------------------------
    def start(self) -> Cluster:
        """Start the broker (if none was given), every gateway, and the quiz service (if ``rate``)."""
        old = _clusters.pop(self.name, None)
        if old is not None and old is not self:
            old.stop()
        _clusters[self.name] = self
        if self.broker_url is None:
            self.broker = start_broker()
            self.broker_url = self.broker.url
        starting = [g for g in self.gateways if not g.running]
        for gateway in starting:
            gateway.process = self._spawn(self._gateway_args(gateway))
        for gateway in starting:
            assert gateway.process is not None
            line = _first_line(gateway.process, 30, f"gateway {gateway.index + 1}")
            gateway.url, gateway.port = line["url"], line["port"]
        if self.rate > 0 and (self.quiz is None or self.quiz.poll() is not None):
            self.quiz = self._spawn(["publish", "--broker", self.broker_url, "--rate", str(self.rate)])
            _first_line(self.quiz, 30, "the quiz service")
        return self

    def _gateway_args(self, gateway: Gateway) -> list[str]:
        # On its old port (0 the first time), so that clients' URL lists still hold after a restart;
        # a WebSocket gateway forwards the players' answers to the quiz service (rtlab.net.answers).
        return ["serve", self.transport, "--rate", "0", "--broker", str(self.broker_url),
                "--port", str(gateway.port), "--name", f"gateway-{gateway.index + 1}",
                "--replay", str(self.replay), *(["--answers"] if self.transport == "websocket" else [])]

    def _spawn(self, args: list[str]) -> subprocess.Popen[str]:
        # --exit-with-parent: if this process dies without stopping them (a killed kernel), they go too.
        return subprocess.Popen([sys.executable, "-m", "rtlab", *args, "--exit-with-parent"],
                                stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL if self.quiet else None,
                                text=True, start_new_session=True)

    def stop_gateway(self, index: int, kill: bool = False, timeout: float = 10) -> None:
        """Stop gateway ``index``: SIGTERM drains it (its clients are told "going away" and move),
        ``kill=True`` sends SIGKILL (they find a dead socket, and move)."""
        gateway = self.gateways[index]
        if gateway.process is None or not gateway.running:
            return
        gateway.process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            gateway.process.wait(timeout)
        except subprocess.TimeoutExpired:
            gateway.process.kill()
            gateway.process.wait()

    def start_gateway(self, index: int) -> Gateway:
        """Start gateway ``index`` again, on its old port (so clients' URL lists still hold)."""
        gateway = self.gateways[index]
        if not gateway.running:
            gateway.process = self._spawn(self._gateway_args(gateway))
            line = _first_line(gateway.process, 30, f"gateway {index + 1}")
            gateway.url, gateway.port = line["url"], line["port"]
        return gateway

    def stop(self, broker: bool = False, drain: bool = True) -> None:
        """Stop everything: :meth:`stop_gateways`, the publisher; ``broker=True``: our broker too.

        ``drain=False`` kills the gateways (SIGKILL) instead: for a teardown whose clients have
        already left, where a drain would only spend seconds closing sockets nobody reads.
        """
        self.stop_gateways(drain)
        for service in (self._publisher, self._quiz):
            if service is not None:
                service.stop()
        self._publisher = self._quiz = None
        if broker and self.broker is not None:
            self.broker.stop()
        if _clusters.get(self.name) is self:
            del _clusters[self.name]

    def stop_gateways(self, drain: bool = True) -> None:
        """Stop the quiz service and every gateway (SIGTERM, in parallel; ``drain=False``: SIGKILL);
        the broker keeps the stream."""
        if self.quiz is not None and self.quiz.poll() is None:
            self.quiz.terminate()
            self.quiz.wait(10)
        for gateway in self.gateways:
            if gateway.running:
                assert gateway.process is not None
                gateway.process.send_signal(signal.SIGTERM if drain else signal.SIGKILL)
        for gateway in self.gateways:
            if gateway.process is not None:
                try:
                    gateway.process.wait(10)
                except subprocess.TimeoutExpired:
                    gateway.process.kill()

    def restart(self) -> Cluster:
        """Stop every process but the broker, and start them all again on the same ports."""
        self.stop_gateways()
        return self.start()

    # -- what clients and notebooks use ---------------------------------------------------------
    @property
    def urls(self) -> list[str]:
        """Every gateway's URL (give the list to :func:`rtlab.connect`)."""
        return [g.url for g in self.gateways]

    def publisher(self) -> BrokerPublisher:
        """A publisher into this cluster's stream, in this process (started on first use)."""
        if self._publisher is None or not self._publisher.running:
            self._publisher = BrokerPublisher(str(self.broker_url), name=f"{self.name}-publisher").start()
        return self._publisher

    def service(self) -> QuizService:
        """The quiz service, in this process (started on first use): it publishes into this
        cluster's stream, like :meth:`publisher`, and scores the answers the gateways forward."""
        if self._quiz is None or not self._quiz.running:
            self._quiz = QuizService(str(self.broker_url), name=f"{self.name}-quiz").start()
        return self._quiz

    def info(self) -> dict[str, Any]:
        """What ``python -m rtlab cluster`` prints: the broker, each gateway (url, pid), the quiz service."""
        return {"broker": self.broker_url,
                "broker_pid": self.broker.pid if self.broker is not None else None,
                "transport": self.transport,
                "gateways": [{"url": g.url, "pid": g.pid} for g in self.gateways],
                "publisher": {"pid": self.quiz.pid if self.quiz is not None else None, "rate": self.rate},
                "controller_pid": os.getpid()}

    def wait_ready(self, timeout: float = 10) -> bool:
        """Wait until every running gateway answers HTTP (``GET /broker``)."""
        import urllib.request

        deadline = time.monotonic() + timeout
        for gateway in self.gateways:
            if not gateway.running:
                continue
            while True:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{gateway.port}/broker", timeout=2):
                        break
                except OSError:
                    if time.monotonic() > deadline:
                        return False
                    time.sleep(0.05)
        return True

    def __enter__(self) -> Cluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        up = sum(g.running for g in self.gateways)
        return f"<Cluster {self.name!r} {self.transport}: {up}/{len(self.gateways)} up, {self.broker_url}>"


@atexit.register
def _stop_all() -> None:
    for cluster in list(_clusters.values()):
        cluster.stop()
