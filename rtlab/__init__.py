"""rtlab: short polling, long polling, Server-Sent Events and WebSocket — run, watched and measured.

The face of the lab: what a notebook needs, in one place::

    import rtlab
    server = rtlab.serve("sse")                     # a real server, on its own thread
    client = rtlab.connect("sse", server.url)       # a real client
    server.publish("tick", {"i": 1})
    print(rtlab.table(rtlab.compare(clients=2, events=40, rate=20)))

The package is laid out in three layers, each importing only the ones below it:

* :mod:`rtlab.wire` — the wire formats, pure (no sockets): read it first;
* :mod:`rtlab.hub`, :mod:`rtlab.metrics`, :mod:`rtlab.lab` — the event stream, the
  measurements, the loop threads; then :mod:`rtlab.net` — the servers and clients;
* :mod:`rtlab.lessons` — scenarios, experiments, plots, widgets, exercises, the article.

Names are loaded when first used (PEP 562), so ``import rtlab`` is quick and imports no
networking or plotting library until a name needs it.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# name -> (module, attribute); attribute None means the module itself
_FACE: dict[str, tuple[str, str | None]] = {
    # running things
    "serve": ("rtlab.net", "serve"),
    "connect": ("rtlab.net", "connect"),
    "TRANSPORTS": ("rtlab.net", "TRANSPORTS"),
    "Feed": ("rtlab.lessons.feed", "Feed"),
    "stop_all": ("rtlab.lab", "stop_all"),
    "running_servers": ("rtlab.lab", "running_servers"),
    "running_clients": ("rtlab.lab", "running_clients"),
    "wait_until": ("rtlab.lab", "wait_until"),
    "NetworkPath": ("rtlab.net.path_model", "NetworkPath"),  # serve(..., network=NetworkPath(rtt_ms=150))
    "NETWORKS": ("rtlab.net.path_model", "PROFILES"),  # the named profiles: "lan", "4g", "3g" ...
    # measuring them
    "measure": ("rtlab.lessons.experiments", "measure"),
    "measure_async": ("rtlab.lessons.experiments", "measure_async"),
    "compare": ("rtlab.lessons.experiments", "compare"),
    "compare_async": ("rtlab.lessons.experiments", "compare_async"),
    "scale": ("rtlab.lessons.experiments", "scale"),
    "table": ("rtlab.lessons.experiments", "table"),
    "burst": ("rtlab.lessons.experiments", "burst"),
    "Result": ("rtlab.lessons.experiments", "Result"),
    "Recorder": ("rtlab.metrics", "Recorder"),
    "Summary": ("rtlab.metrics", "Summary"),
    "summarize": ("rtlab.metrics", "summarize"),
    "language": ("rtlab.lessons.i18n", "language"),
    "claim": ("rtlab.lessons.exercises.claims", "claim"),
    "within": ("rtlab.lessons.exercises.claims", "within"),
    # the stream
    "Event": ("rtlab.hub", "Event"),
    "Gap": ("rtlab.hub", "Gap"),
    "Hub": ("rtlab.hub", "Hub"),
    # modules a notebook imports by name: `from rtlab import plots, widgets`
    "article": ("rtlab.lessons.article", None),
    "browser": ("rtlab.lessons.browser", None),
    "exercises": ("rtlab.lessons.exercises", None),
    "experiments": ("rtlab.lessons.experiments", None),
    "networks": ("rtlab.lessons.networks", None),
    "plots": ("rtlab.lessons.plots", None),
    "quiz": ("rtlab.lessons.quiz", None),
    "scenarios": ("rtlab.lessons.scenarios", None),
    "widgets": ("rtlab.lessons.widgets", None),
    "probes": ("rtlab.net.probes", None),
    "wire": ("rtlab.wire", None),
    "short_polling": ("rtlab.net.short_polling", None),
    "long_polling": ("rtlab.net.long_polling", None),
    "sse": ("rtlab.net.sse", None),
    "websocket": ("rtlab.net.websocket", None),
}

__all__ = sorted(_FACE)


def __getattr__(name: str) -> Any:
    """Load a name of the face on first use (``rtlab.serve``, ``from rtlab import plots``)."""
    if name not in _FACE:
        raise AttributeError(f"module 'rtlab' has no attribute {name!r}")
    module, attribute = _FACE[name]
    value = importlib.import_module(module)
    if attribute is not None:
        value = getattr(value, attribute)
    globals()[name] = value  # the next lookup finds it directly
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_FACE))
