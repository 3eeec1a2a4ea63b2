"""The quiz in Protocol Buffers: binary WebSocket frames, as the article's gateway speaks.

The schema, as a ``.proto`` file would say it (every field ``optional``)::

    syntax = "proto2";
    package rtlab.quiz;
    message Question  { uint32 id = 1; string text = 2; repeated string choices = 3; }
    message Countdown { uint32 question = 1; uint32 left = 2; }
    message Result    { uint32 question = 1; uint32 answer = 2;
                        repeated uint32 counts = 3; uint32 answered = 4; }
    message Tally     { uint32 question = 1; repeated uint32 counts = 2; uint32 answered = 3; }
    message Event {                       // server -> client, one per binary frame
      uint64 seq = 1; string type = 2; uint64 sent_ns = 3;
      oneof body { Question question = 4; Countdown countdown = 5; Result result = 6;
                   Tally tally = 7; bytes json = 15; }   // json: any other event, as JSON
    }
    message Answer { uint32 question = 1; uint32 choice = 2; }   // client -> server

proto2, not proto3, for one reason: a proto2 field remembers whether it was set, so
``{"answer": 0}`` comes back as ``{"answer": 0}`` and a field that was never there stays
absent (proto3 cannot tell 0 from "not sent"). An event whose payload does not fit its
message — an extra field, an empty list, a negative number — travels as JSON in ``json``.

**Why built at run time, not generated.** ``protoc`` (or PyPI ``grpcio-tools``) turns a
``.proto`` into a ``_pb2.py`` module; that file is generated code tied to the protobuf
version that made it, and a build step the learner would have to run. The schema above is
small, so :func:`_build` writes the same descriptor with ``descriptor_pb2`` — what ``protoc``
would have produced — and ``message_factory`` makes the classes from it. The bytes on the
wire are exactly those of generated code (``protoc --decode rtlab.quiz.Event`` reads them).

Why it is smaller than JSON: field *numbers* instead of names, varints (``seq`` 7 is one
byte), no quotes or braces. :func:`sizes` measures it against the same events as JSON.
"""

from __future__ import annotations

import json
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from .event import Event

__all__ = ["SUBPROTOCOL", "Answer", "EventMessage", "decode_answer", "decode_event", "encode_answer",
           "encode_event"]

SUBPROTOCOL = "rtlab.quiz.protobuf"  # Sec-WebSocket-Protocol: the RFC 6455 way to agree on a format

_F = descriptor_pb2.FieldDescriptorProto
_SCHEMA: dict[str, list[tuple[str, int, int, int, str]]] = {
    # message: [(field, number, type, label, message type)]
    "Question": [("id", 1, _F.TYPE_UINT32, _F.LABEL_OPTIONAL, ""),
                 ("text", 2, _F.TYPE_STRING, _F.LABEL_OPTIONAL, ""),
                 ("choices", 3, _F.TYPE_STRING, _F.LABEL_REPEATED, "")],
    "Countdown": [("question", 1, _F.TYPE_UINT32, _F.LABEL_OPTIONAL, ""),
                  ("left", 2, _F.TYPE_UINT32, _F.LABEL_OPTIONAL, "")],
    "Result": [("question", 1, _F.TYPE_UINT32, _F.LABEL_OPTIONAL, ""),
               ("answer", 2, _F.TYPE_UINT32, _F.LABEL_OPTIONAL, ""),
               ("counts", 3, _F.TYPE_UINT32, _F.LABEL_REPEATED, ""),
               ("answered", 4, _F.TYPE_UINT32, _F.LABEL_OPTIONAL, "")],
    "Tally": [("question", 1, _F.TYPE_UINT32, _F.LABEL_OPTIONAL, ""),
              ("counts", 2, _F.TYPE_UINT32, _F.LABEL_REPEATED, ""),
              ("answered", 3, _F.TYPE_UINT32, _F.LABEL_OPTIONAL, "")],
    "Event": [("seq", 1, _F.TYPE_UINT64, _F.LABEL_OPTIONAL, ""),
              ("type", 2, _F.TYPE_STRING, _F.LABEL_OPTIONAL, ""),
              ("sent_ns", 3, _F.TYPE_UINT64, _F.LABEL_OPTIONAL, ""),
              ("question", 4, _F.TYPE_MESSAGE, _F.LABEL_OPTIONAL, ".rtlab.quiz.Question"),
              ("countdown", 5, _F.TYPE_MESSAGE, _F.LABEL_OPTIONAL, ".rtlab.quiz.Countdown"),
              ("result", 6, _F.TYPE_MESSAGE, _F.LABEL_OPTIONAL, ".rtlab.quiz.Result"),
              ("tally", 7, _F.TYPE_MESSAGE, _F.LABEL_OPTIONAL, ".rtlab.quiz.Tally"),
              ("json", 15, _F.TYPE_BYTES, _F.LABEL_OPTIONAL, "")],
    "Answer": [("question", 1, _F.TYPE_UINT32, _F.LABEL_OPTIONAL, ""),
               ("choice", 2, _F.TYPE_UINT32, _F.LABEL_OPTIONAL, "")],
}
BODIES = ("question", "countdown", "result", "tally")  # event types with a message of their own


def _build() -> dict[str, Any]:
    """The message classes, from a descriptor written by hand (see the module docstring)."""
    proto = descriptor_pb2.FileDescriptorProto(name="rtlab/quiz.proto", package="rtlab.quiz",
                                               syntax="proto2")
    for name, fields in _SCHEMA.items():
        message = proto.message_type.add(name=name)
        if name == "Event":
            message.oneof_decl.add(name="body")
        for field, number, kind, label, type_name in fields:
            f = message.field.add(name=field, number=number, type=kind, label=label)
            if type_name:
                f.type_name = type_name
            if name == "Event" and number >= 4:
                f.oneof_index = 0
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return {name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"rtlab.quiz.{name}"))
            for name in _SCHEMA}


_CLASSES = _build()
EventMessage = _CLASSES["Event"]
Answer = _CLASSES["Answer"]


def encode_event(event: Event) -> bytes:
    """One event as a binary frame's payload. Quiz types get their message; others travel as JSON."""
    message = EventMessage(seq=event.seq, type=event.type, sent_ns=event.sent_ns)
    data = event.data
    body = event.type if event.type in BODIES and isinstance(data, dict) else None
    odd = body is not None and any(v == [] or isinstance(v, bool) for v in data.values())
    if body is not None and (odd or set(data) - _fields(body)):
        body = None  # it would not come back the same: keep everything, as JSON
    if body is not None:
        try:
            getattr(message, body).CopyFrom(_CLASSES[body.capitalize()](**data))
        except (TypeError, ValueError):
            body = None
    if body is None:
        message.json = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()
    return message.SerializeToString()


def _fields(body: str) -> set[str]:
    return {field for field, *_ in _SCHEMA[body.capitalize()]}


def decode_event(payload: bytes) -> Event:
    """A binary frame's payload back as an :class:`~rtlab.wire.event.Event` (``ValueError`` if not one)."""
    message = EventMessage()
    try:
        message.ParseFromString(payload)
    except Exception as exc:  # noqa: BLE001 - protobuf's DecodeError, whichever implementation
        raise ValueError(f"not an rtlab.quiz.Event: {exc}") from None
    body = message.WhichOneof("body")
    if body == "json":
        data = json.loads(message.json)
    elif body is not None:
        data = {field.name: value if isinstance(value, int | str) else list(value)
                for field, value in getattr(message, body).ListFields()}
    else:
        data = None
    return Event(message.seq, message.type, data, message.sent_ns)


def encode_answer(question: int, choice: int) -> bytes:
    """A player's answer, client -> server."""
    return Answer(question=question, choice=choice).SerializeToString()


def decode_answer(payload: bytes) -> dict[str, Any]:
    """A binary frame from a player as the JSON-shaped message the quiz host takes."""
    message = Answer()
    try:
        message.ParseFromString(payload)
    except Exception as exc:  # noqa: BLE001
        raise ValueError(f"not an rtlab.quiz.Answer: {exc}") from None
    return {"type": "answer", "data": {"question": message.question, "choice": message.choice}}
