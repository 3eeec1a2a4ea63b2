"""The negotiating technique under one name, as :func:`rtlab.net.serve` and :func:`rtlab.net.connect`
expect: ``Server`` is :class:`rtlab.net.negotiate.AutoServer`, ``Client`` is
:class:`rtlab.net.auto_client.AutoClient`."""

from __future__ import annotations

from .auto_client import AutoClient
from .negotiate import AutoServer

__all__ = ["AutoClient", "AutoServer", "Client", "Server"]

Server = AutoServer
Client = AutoClient
