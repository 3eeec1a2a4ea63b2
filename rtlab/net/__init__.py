"""The networking layer: real servers and clients for the four techniques, on loopback.

Everything that touches a socket lives here, on top of the pure formats in :mod:`rtlab.wire`
and the event hub in :mod:`rtlab.hub`:

* :mod:`~rtlab.net.meter` counts every byte at the socket; :mod:`~rtlab.net.server` and
  :mod:`~rtlab.net.client` are what every server and client share (:mod:`~rtlab.net.push`
  and :mod:`~rtlab.net.requests` small pieces of it);
* one module per technique, each holding only its server and its client, short enough to
  read in a notebook: :mod:`~rtlab.net.short_polling`, :mod:`~rtlab.net.long_polling`,
  :mod:`~rtlab.net.sse`, :mod:`~rtlab.net.websocket`;
* :mod:`~rtlab.net.probes` speaks HTTP and WebSocket by hand over bare sockets, to show
  the bytes.

:func:`serve` and :func:`connect` pick the module by the technique's name.
"""

from __future__ import annotations

import hashlib
import sys
from types import ModuleType
from typing import Any

from . import auto, long_polling, short_polling, sse, websocket
from .client import Client
from .server import Server

__all__ = ["NEGOTIATING", "TRANSPORTS", "Client", "Server", "connect", "serve", "transport_module"]

TRANSPORTS: dict[str, ModuleType] = {
    "short-polling": short_polling,
    "long-polling": long_polling,
    "sse": sse,
    "websocket": websocket,
}

# The negotiating technique (rtlab.net.auto): one session that moves between three of the four.
# Kept out of TRANSPORTS, which lists the four techniques that compare() runs side by side.
NEGOTIATING: dict[str, ModuleType] = {"auto": auto}


def transport_module(name: str) -> ModuleType:
    """The module of a technique, by name (``"sse"``, ``"long_polling"``, ``"long-polling"`` ...)."""
    key = name.strip().lower().replace("_", "-")
    if key not in TRANSPORTS and key not in NEGOTIATING:
        names = ", ".join([*TRANSPORTS, *NEGOTIATING])
        raise ValueError(f"unknown transport {name!r}: choose one of {names}")
    return TRANSPORTS.get(key) or NEGOTIATING[key]


def serve(transport: str, **options: Any) -> Server:
    """Start a server for ``transport`` on 127.0.0.1 (a port the OS picks) and return it.

    Calling it again with the same transport (a re-run cell) replaces the running server.

    Args:
        transport: ``"short-polling"``, ``"long-polling"``, ``"sse"`` or ``"websocket"``; or
            ``"auto"``: one session over long polling, SSE and WebSocket (:mod:`rtlab.net.auto`).
        **options: the server's keyword arguments (see :class:`rtlab.net.server.Server` and
            each technique's server: ``hold=``, ``retry_ms=``, ``heartbeat=`` ...).
            ``broker="redis://..."`` keeps the stream in that broker, shared by every server on
            it; ``broker="auto"`` (or ``True``) starts a local one first. ``middlebox="buffering"``
            (``"compressing"``, ``"idle-timeout=5"``, ``"no-upgrade"``, ``"transparent"``, or
            several joined by commas) puts that proxy on the path, with or without ``network=``
            (:mod:`rtlab.net.middlebox`); ``server.middlebox`` is it, switchable while it runs.
    """
    broker = options.get("broker")
    if broker is True or broker == "auto":  # start a broker for the learner (rtlab.net.broker_process)
        from .broker_process import start_broker

        options["broker"] = start_broker().url
    middlebox = options.pop("middlebox", None)
    server = transport_module(transport).Server(**options)
    server.set_middlebox(middlebox)
    return server.start()


def connect(transport: str, url: str, **options: Any) -> Client:
    """Start a client for ``transport`` pointed at ``url`` and return it.

    Calling it again with the same ``name=`` (a re-run cell) stops the old client first
    (see :func:`rtlab.lab.register_client`). **Without** ``name=``, in a notebook, the client
    is named after the cell that made it and its place among that cell's ``connect()`` calls
    (``sse-cell3f9a1c02-1``, ``-2`` ...): re-running the cell replaces the clients its last
    run made, one for one, and stops any it no longer makes — so a cell re-run 200 times
    still has its one client, and a loop that connects three keeps three. The cell is the
    one JupyterLab names in its request (``cellId``: the same cell after an edit), else the
    code's file name, which ipykernel derives from the cell's text. Outside a notebook (a
    script, pytest) nothing is re-run, and every unnamed client gets a name of its own.

    Args:
        transport: as for :func:`serve`.
        url: the server's URL (``server.url``).
        **options: the client's keyword arguments (``name=``, ``on_event=``, ``interval=``
            for short polling, ``hold=`` for long polling ...).
    """
    if options.get("name") is None:
        cell = _calling_cell()
        if cell is not None:
            options["name"] = _cell_client_name(transport, *cell)
    return transport_module(transport).Client(url, **options).start()


# cell key -> (the execution that last connected from it, the names of the clients it made)
_CELL_CLIENTS: dict[str, tuple[int, list[str]]] = {}


def _calling_cell() -> tuple[str, int] | None:
    """``(cell key, execution count)`` of the notebook cell calling :func:`connect`, if any."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None  # type: ignore[attr-defined]
    if shell is None:
        return None
    cell_id = None
    kernel = getattr(shell, "kernel", None)
    try:
        parent = kernel.get_parent() if kernel is not None else {}
        cell_id = (parent.get("metadata") or {}).get("cellId")
    except Exception:  # noqa: BLE001 - an old or odd kernel: fall back to the code's file name
        cell_id = None
    if not cell_id:
        frame = sys._getframe(2)  # the caller of connect()
        while frame is not None and str(frame.f_globals.get("__name__", "")).startswith("rtlab"):
            frame = frame.f_back  # type: ignore[assignment]
        if frame is None:
            return None
        cell_id = frame.f_code.co_filename
    return cell_id, int(getattr(shell, "execution_count", 0))


def _cell_client_name(transport: str, cell: str, execution: int) -> str:
    from .. import lab

    digest = hashlib.sha1(cell.encode("utf-8", "replace")).hexdigest()[:8]
    last_run, names = _CELL_CLIENTS.get(cell, (execution, []))
    if last_run != execution:  # the cell runs again: what its last run made goes
        for name in names:
            old = lab.running_clients().get(name)
            if old is not None:
                old.stop()
        names = []
    name = f"{transport}-cell{digest}-{len(names) + 1}"
    names.append(name)
    _CELL_CLIENTS[cell] = (execution, names)
    if len(_CELL_CLIENTS) > 1_000:  # cells of a long session: forget the oldest
        del _CELL_CLIENTS[next(iter(_CELL_CLIENTS))]
    return name
