"""One event, and its JSON form on the wire.

Every technique carries the same four fields; only the framing around them differs::

    {"seq": 7, "type": "price", "data": {"symbol": "ACME", "price": 101.2}, "sent_ns": 81234...}

``seq`` numbers the stream (1, 2, 3, ...) and is what a client resumes from; ``sent_ns`` is
``time.monotonic_ns()`` when the application published it, so a client on the same machine
can tell how long the event travelled.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

__all__ = ["Event"]


@dataclass(frozen=True)
class Event:
    """One event: its number in the stream, its type, a JSON payload, when it was published."""

    seq: int
    type: str
    data: Any
    sent_ns: int  # time.monotonic_ns() at publish: comparable across processes on one machine

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "type": self.type, "data": self.data, "sent_ns": self.sent_ns}

    def to_json(self) -> str:
        """The event as compact JSON (UTF-8 kept as is: ``ensure_ascii=False``)."""
        return json.dumps(self.to_dict(), separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Event:
        return cls(int(d["seq"]), str(d["type"]), d.get("data"), int(d["sent_ns"]))
