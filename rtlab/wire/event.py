"""One event, and its JSON form on the wire — checked once, when it is published.

Every technique carries the same four fields; only the framing around them differs::

    {"seq": 7, "type": "price", "data": {"symbol": "ACME", "price": 101.2}, "sent_ns": 81234...}

``seq`` numbers the stream (1, 2, 3, ...) and is what a client resumes from; ``sent_ns`` is
``time.monotonic_ns()`` when the application published it, so a client on the same machine
can tell how long the event travelled.

**Validated and encoded once, at publish.** :func:`encode_payload` turns the payload into
its JSON text in the *publisher's* thread, and refuses what cannot travel with a
:class:`BadEvent` that names the field. A production server does the same (validate at
the edge, never in the fan-out): encoding later, per connection, meant that one bad
payload broke every stream that met it, long after ``publish()`` had returned normally and
far from the line that caused it. What is refused, and why:

* a payload ``json`` cannot encode (a ``set``, an object, a circular reference, nesting
  deeper than Python's recursion limit);
* ``NaN`` and ``±Infinity``: Python writes them as ``NaN``/``Infinity``, which is not JSON —
  a browser's ``JSON.parse`` throws on them. Refused rather than mapped to ``null``, because
  a silent ``null`` hides the bug that produced the NaN;
* text UTF-8 cannot encode (a lone surrogate such as ``"\\ud800"``);
* an event ``type`` that is not a non-empty string of one line: SSE sends it on an
  ``event:`` line, where a line break would end the field (and could inject others).

The JSON text is also the payload's frozen copy: the event carries ``json.loads`` of it, so
a dict the learner keeps changing in a loop does not change events already published.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

__all__ = ["MAX_TYPE_CHARS", "BadEvent", "Event", "check_type", "checked", "encode_payload", "freeze"]

MAX_TYPE_CHARS = 200  # an event type is a short name ("price", "question"), not a payload


class BadEvent(ValueError):
    """An event that cannot go on the wire. ``field`` is ``"type"``, ``"data"`` or ``"sent_ns"``."""

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        super().__init__(f"bad event {field}: {problem}")


def check_type(type: Any) -> str:
    """``type`` if it can be an event type on every wire, else :class:`BadEvent` naming ``type``."""
    if not isinstance(type, str):
        raise BadEvent("type", f"must be a string, got {type.__class__.__name__} {type!r:.40}")
    if not type or len(type) > MAX_TYPE_CHARS:
        raise BadEvent("type", f"must be 1 to {MAX_TYPE_CHARS} characters, got {len(type)}")
    if any(c in type for c in "\r\n\0"):
        raise BadEvent("type", f"cannot contain CR, LF or NUL (SSE writes it on one 'event:' line): "
                               f"{type!r:.60}")
    try:
        type.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise BadEvent("type", f"is not encodable as UTF-8 ({exc.reason} at {exc.start})") from None
    return type


def encode_payload(data: Any) -> str:
    """The payload's compact JSON text, or :class:`BadEvent` naming ``data`` and what is wrong."""
    try:
        text = json.dumps(data, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except RecursionError:
        raise BadEvent("data", "is nested too deeply to encode as JSON") from None
    except ValueError as exc:  # NaN/Infinity (allow_nan=False), or a circular reference
        hint = (" — NaN and Infinity are not JSON (a browser's JSON.parse throws); send null or a string"
                if "float" in str(exc) else "")
        raise BadEvent("data", f"{exc}{hint}") from None
    except TypeError as exc:  # a set, bytes, a datetime, any object
        raise BadEvent("data", f"{exc}: only dicts, lists, strings, numbers, booleans and None "
                               "are JSON") from None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise BadEvent("data", f"contains {text[exc.start:exc.end]!r}, a lone surrogate UTF-8 "
                               "cannot encode") from None
    return text


def freeze(data_json: str) -> Any:
    """A private copy of the payload, rebuilt from its JSON text (what every client will see)."""
    try:
        return json.loads(data_json)
    except RecursionError:  # deep enough to encode, too deep to decode again here
        raise BadEvent("data", "is nested too deeply for JSON") from None


def checked(type: Any, data: Any, sent_ns: Any = None) -> tuple[Any, str]:
    """Everything :func:`check_type`, :func:`encode_payload` and :func:`freeze` check, at once:
    ``(the payload's private copy, its JSON text)``, or :class:`BadEvent`."""
    check_type(type)
    data_json = encode_payload(data)
    if sent_ns is not None and (isinstance(sent_ns, bool) or not isinstance(sent_ns, int)):
        raise BadEvent("sent_ns", f"must be an int of time.monotonic_ns(), got {sent_ns!r:.40}")
    return freeze(data_json), data_json


@dataclass(frozen=True)
class Event:
    """One event: its number in the stream, its type, a JSON payload, when it was published.

    ``data_json`` is the payload's JSON text when the event was checked at publish (the hub
    always does); :meth:`to_json` then only wraps it, so a payload is encoded once, not once
    per answer or per connection.
    """

    seq: int
    type: str
    data: Any
    sent_ns: int  # time.monotonic_ns() at publish: comparable across processes on one machine
    data_json: str | None = field(default=None, compare=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "type": self.type, "data": self.data, "sent_ns": self.sent_ns}

    def to_json(self) -> str:
        """The event as compact JSON (UTF-8 kept as is: ``ensure_ascii=False``)."""
        if self.data_json is None:
            return json.dumps(self.to_dict(), separators=(",", ":"), ensure_ascii=False)
        # The same bytes json.dumps would write, without encoding the payload again.
        return (f'{{"seq":{self.seq},"type":{json.dumps(self.type, ensure_ascii=False)},'
                f'"data":{self.data_json},"sent_ns":{self.sent_ns}}}')

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Event:
        return cls(int(d["seq"]), str(d["type"]), d.get("data"), int(d["sent_ns"]))
