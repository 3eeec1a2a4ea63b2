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

from types import ModuleType
from typing import Any

from . import long_polling, short_polling, sse, websocket
from .client import Client
from .server import Server

__all__ = ["TRANSPORTS", "Client", "Server", "connect", "serve", "transport_module"]

TRANSPORTS: dict[str, ModuleType] = {
    "short-polling": short_polling,
    "long-polling": long_polling,
    "sse": sse,
    "websocket": websocket,
}


def transport_module(name: str) -> ModuleType:
    """The module of a technique, by name (``"sse"``, ``"long_polling"``, ``"long-polling"`` ...)."""
    key = name.strip().lower().replace("_", "-")
    if key not in TRANSPORTS:
        raise ValueError(f"unknown transport {name!r}: choose one of {', '.join(TRANSPORTS)}")
    return TRANSPORTS[key]


def serve(transport: str, **options: Any) -> Server:
    """Start a server for ``transport`` on 127.0.0.1 (a port the OS picks) and return it.

    Calling it again with the same transport (a re-run cell) replaces the running server.

    Args:
        transport: ``"short-polling"``, ``"long-polling"``, ``"sse"`` or ``"websocket"``.
        **options: the server's keyword arguments (see :class:`rtlab.net.server.Server` and
            each technique's server: ``hold=``, ``retry_ms=``, ``heartbeat=`` ...).
    """
    return transport_module(transport).Server(**options).start()


def connect(transport: str, url: str, **options: Any) -> Client:
    """Start a client for ``transport`` pointed at ``url`` and return it.

    Calling it again with the same ``name=`` (a re-run cell) stops the old client first
    (see :func:`rtlab.lab.register_client`).

    Args:
        transport: as for :func:`serve`.
        url: the server's URL (``server.url``).
        **options: the client's keyword arguments (``name=``, ``on_event=``, ``interval=``
            for short polling, ``hold=`` for long polling ...).
    """
    return transport_module(transport).Client(url, **options).start()
