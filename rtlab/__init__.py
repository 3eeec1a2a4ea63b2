"""rtlab: short polling, long polling, Server-Sent Events and WebSocket — run, watched and measured."""

from . import long_polling, short_polling, sse, websocket
from .hub import Event, Gap, Hub
from .lab import running_servers, stop_all
from .measure import Recorder, Summary, summarize

__version__ = "0.1.0"

__all__ = [
    "Event", "Gap", "Hub", "Recorder", "Summary", "long_polling", "running_servers",
    "short_polling", "sse", "stop_all", "summarize", "websocket",
]
