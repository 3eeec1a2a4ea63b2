"""Which hub a server gets: the stream in this process (the default), or in a broker.

:class:`rtlab.net.server.Server` asks :func:`open_hub` once, when it starts. Without
``broker=`` it is a plain :class:`~rtlab.hub.Hub`: nothing to install or start. With a broker
URL it is a :class:`rtlab.net.broker.LogHub`, filled from the broker's log by a follower task
(the design is in :mod:`rtlab.net.broker`); redis is imported only then.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ..hub import Hub

__all__ = ["open_hub"]


async def open_hub(server: Any, app: web.Application) -> Hub:
    """The hub for ``server`` (its ``broker``, ``replay``, ``queue_size``), on the server's loop.

    With a broker this also routes ``GET /broker`` (the link's status) on ``app`` and closes the
    link when the app is cleaned up (the server stopping).
    """
    if not server.broker:
        return Hub(replay=server.replay, queue_size=server.queue_size)
    from .broker import BrokerLink

    link = await BrokerLink.open(server.broker, replay=server.replay, queue_size=server.queue_size,
                                 name=server.name)
    app.router.add_get("/broker", link.handle_status)

    async def close(_app: web.Application) -> None:
        await link.close()

    app.on_cleanup.append(close)
    return link.hub
