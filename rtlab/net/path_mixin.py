"""What a server gains from ``network=`` and ``middlebox=``: an emulated network path in front
of it, and two URLs.

Kept apart from :mod:`rtlab.net.server` so that the server base stays about serving:
:class:`NetworkPathMixin` holds the server's :class:`~rtlab.net.path.Relay` (started after
the server listens, stopped before it stops; ``crash()``/``recover()`` leave it alone — it is
the network, not the server) and says where clients connect: :attr:`base_url` through the
path when there is one, :attr:`direct_base_url` to the server itself. A middlebox
(:mod:`rtlab.net.middlebox`: a buffering proxy, gzip middleware, an idle timeout, a proxy
that refuses WebSocket) needs a relay too, so ``middlebox=`` alone puts one in front, with no
delay of its own.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from .middlebox import Middlebox, MiddleboxSpec
from .path import LOOPBACK, Relay
from .path_model import NetworkPath, resolve

__all__ = ["NetworkPath", "NetworkPathMixin", "relay_for_url"]


class NetworkPathMixin:
    """Mixed into :class:`rtlab.net.server.Server` (which provides host, port, path and name)."""

    network: NetworkPath | None = None  # None: clients reach the server directly
    middlebox: Middlebox | None = None  # a proxy on the path (also while stopped: it keeps its settings)
    relay: Relay | None = None  # the emulated path in front of it, while running
    host: str
    port: int
    path: str
    name: str

    def set_network(self, network: str | NetworkPath | dict[str, Any] | None) -> None:
        self.network = resolve(network)

    def set_middlebox(self, middlebox: MiddleboxSpec) -> None:
        """Put a middlebox on the path (before :meth:`start`): see :func:`rtlab.net.middlebox.parse`."""
        self.middlebox = Middlebox.parse(middlebox)

    def start_path(self) -> None:
        """Put the relay in front of the (listening) server, if ``network=`` or ``middlebox=`` asked."""
        if (self.network is not None or self.middlebox is not None) and self.relay is None:
            self.relay = Relay(self.network or NetworkPath(name="loopback"), self.host, self.port,
                               name=self.name, middlebox=self.middlebox).start()

    def stop_path(self) -> None:
        relay, self.relay = self.relay, None
        if relay is not None:
            relay.stop()

    @property
    def base_url(self) -> str:
        """Where clients connect: through the emulated network path if there is one."""
        return self.relay.base_url if self.relay is not None else self.direct_base_url

    @property
    def direct_base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def direct_url(self) -> str:
        """The server itself, bypassing any network path."""
        return self.direct_base_url + self.path


def relay_for_url(url: str, network: str | NetworkPath | dict[str, Any] | None, *,
                  name: str = "relay") -> Relay | None:
    """A started relay in front of ``url``'s host and port, or ``None`` if ``network`` emulates nothing."""
    settings = resolve(network)
    if settings is None:
        return None
    parts = urlsplit(url)
    default = 443 if parts.scheme in ("https", "wss") else 80
    return Relay(settings, parts.hostname or LOOPBACK, parts.port or default, name=name).start()
