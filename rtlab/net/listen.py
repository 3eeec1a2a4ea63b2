"""``python -m rtlab listen URL``: any rtlab client, one JSON line per event and per switch.

What a learner runs in a second terminal, beside ``python -m rtlab serve``::

    $ python -m rtlab serve auto --rate 5
    {"transport": "auto", "url": "http://127.0.0.1:40919/auto", ...}
    $ python -m rtlab listen http://127.0.0.1:40919/auto
    {"seq": 1, "type": "price", "transport": "long-polling", "latency_ms": 3.1}
    {"switched": {"from": "long-polling", "to": "websocket", "why": "probe answered: upgraded"}}
    {"seq": 2, "type": "price", "transport": "websocket", "latency_ms": 0.4}

The URL is the ``"url"`` that ``serve`` prints; the technique is read from it (``/auto``,
``/events``, ``/poll``, ``/state``, ``ws://…/ws``) unless ``--transport`` names one.
``latency_ms`` is now minus the event's ``sent_ns``, the server's ``time.monotonic_ns()`` at
publish — one clock for every process on one machine, which is where rtlab's servers are.
"""

from __future__ import annotations

import json
import sys
import threading
import time
import urllib.request
from typing import Any, TextIO
from urllib.parse import urlsplit

from .. import lab
from ..hub import Event
from . import NEGOTIATING, TRANSPORTS, transport_module
from .client import Client

__all__ = ["CHOICES", "guess_transport", "listen"]

CHOICES = (*NEGOTIATING, *TRANSPORTS)


def guess_transport(url: str) -> str:
    """The technique a ``serve`` URL belongs to, from its scheme and path; ``ValueError`` if unclear."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https", "ws", "wss") or not parts.netloc:
        raise ValueError(f"not a server URL: {url!r:.80} (give the \"url\" that `python -m rtlab serve` "
                         "prints, e.g. http://127.0.0.1:40919/auto)")
    if parts.scheme in ("ws", "wss"):
        return "websocket"
    path = parts.path.rstrip("/")
    for name in CHOICES:
        if path.endswith(transport_module(name).Server.path):
            return name
    raise ValueError(f"cannot tell the technique from {parts.path or '/'!r}: add --transport "
                     f"({', '.join(CHOICES)})")


def latest_seq(url: str) -> int:
    """The server's latest seq (its ``GET /clock``), to start listening from now; 0 if it will not say."""
    parts = urlsplit(url)
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    try:
        with urllib.request.urlopen(f"{scheme}://{parts.netloc}/clock", timeout=5) as resp:
            return int(json.loads(resp.read())["seq"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0


def listen(url: str, transport: str | None = None, *, count: int | None = None,
           seconds: float | None = None, from_start: bool = False, stop: threading.Event | None = None,
           out: TextIO | None = None) -> dict[str, Any]:
    """Print one JSON line per event (and per switch, for ``"auto"``) until told to stop.

    Args:
        url: the server's URL, as ``serve`` prints it.
        transport: one of :data:`CHOICES`; ``None`` reads it from ``url``.
        count: stop after this many events.
        seconds: stop after this many seconds.
        from_start: begin with every event the server still keeps (its replay buffer), not
            with the next one published (as ``tail -f`` does).
        stop: stop when this is set (the CLI sets it on Ctrl-C and SIGTERM).
        out: where the lines go (stdout by default).

    Returns a summary: events, switches, the client's counters, and its failure if it failed.
    """
    name = guess_transport(url) if transport is None else transport_module(transport).Client.transport
    if count is not None and count < 1:
        raise ValueError(f"count must be at least 1; got {count}")
    if seconds is not None and not seconds > 0:
        raise ValueError(f"seconds must be positive; got {seconds}")
    stop = stop or threading.Event()
    out = out or sys.stdout
    lock = threading.Lock()
    seen = [0]

    def write(line: dict[str, Any]) -> None:
        with lock:
            try:
                out.write(json.dumps(line, ensure_ascii=False) + "\n")
                out.flush()
            except (BrokenPipeError, ValueError):  # `| head -3` closed the pipe: time to go
                stop.set()

    client: Client | None = None

    def on_event(event: Event) -> None:
        if count is not None and seen[0] >= count:
            return  # the rest of a batch that went past --count
        latency_ms = round((time.monotonic_ns() - event.sent_ns) / 1e6, 3)
        write({"seq": event.seq, "type": event.type, "transport": getattr(client, "transport", name),
               "latency_ms": latency_ms})
        seen[0] += 1
        if count is not None and seen[0] >= count:
            stop.set()

    options: dict[str, Any] = {"on_event": on_event, "name": f"listen-{name}",
                               "since": 0 if from_start else latest_seq(url)}
    if name == "auto":
        options["on_switch"] = lambda switch: write({"switched": switch.to_dict()})
    client = transport_module(name).Client(url, **options)
    client.start()
    deadline = None if seconds is None else time.monotonic() + seconds
    try:
        while not stop.wait(0.05):
            if client.failure is not None or (deadline is not None and time.monotonic() >= deadline):
                break
    finally:
        client.stop()
        lab.stop_all()
    return {"events": seen[0], "transport": client.transport,
            "switches": len(getattr(client, "switches", [])), **client.recorder.counters(),
            **({"failure": str(client.failure)} if client.failure is not None else {})}

