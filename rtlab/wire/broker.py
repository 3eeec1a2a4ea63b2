"""How an rtlab stream is laid out in a Redis (or Valkey) broker: key names, entry ids, fields.

Pure: no sockets, no event loop, no redis import. :mod:`rtlab.net.broker` does the talking.

One stream ``NAME`` (``"rtlab"`` unless the broker URL says ``?stream=NAME``) is five keys, and a
sixth for the quiz's answers going the other way::

    rtlab:{NAME}:events     a Redis Stream: one entry per event, entry id "<seq>-0"
    rtlab:{NAME}:seq        the counter that numbers events (INCR), so every publisher shares it
    rtlab:{NAME}:state      a hash: the latest payload of each event type (what short polling shows)
    rtlab:{NAME}:epoch      the stream's id, drawn once (SET NX): every gateway hands out the same
    rtlab:{NAME}:producers  a hash: the last batch number each publisher wrote (idempotent retries)
    rtlab:{NAME}:answers    a Redis Stream of answers, gateways to the quiz service (rtlab.net.answers)

The ``{NAME}`` braces are a Redis Cluster *hash tag*: the five keys land in one slot, so the
one script that writes them stays atomic on a cluster too.

**Entry ids are seqs.** Redis numbers stream entries ``<milliseconds>-<n>`` unless told
otherwise; rtlab tells it: event 17 is entry ``17-0``. A client's cursor (its last seq) *is*
then a stream position, and a gateway resumes it with ``XREAD ... STREAMS key 17-0`` (entries
after 17) or ``XRANGE key 18-0 +``, on any gateway, with no table from one to the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from .event import Event, encode_payload, freeze

__all__ = ["APPEND_SCRIPT", "DEFAULT_STREAM", "Keys", "decode_entry", "encode_fields", "entry_id",
           "seq_of", "split_url"]

DEFAULT_STREAM = "rtlab"


@dataclass(frozen=True)
class Keys:
    """The names of one stream's keys (see the module docstring)."""

    stream: str = DEFAULT_STREAM

    def _key(self, what: str) -> str:
        return f"rtlab:{{{self.stream}}}:{what}"

    @property
    def events(self) -> str:
        return self._key("events")

    @property
    def seq(self) -> str:
        return self._key("seq")

    @property
    def state(self) -> str:
        return self._key("state")

    @property
    def epoch(self) -> str:
        return self._key("epoch")

    @property
    def producers(self) -> str:
        return self._key("producers")

    @property
    def answers(self) -> str:
        """The stream of answers going *up*, gateways to the quiz service (:mod:`rtlab.net.answers`)."""
        return self._key("answers")

    def for_script(self) -> list[str]:
        """The keys in the order :data:`APPEND_SCRIPT` takes them."""
        return [self.events, self.seq, self.state, self.producers]


def entry_id(seq: int) -> str:
    """The stream entry id of event ``seq``: ``"17-0"``. ``entry_id(0)`` is ``"0-0"``: before the first."""
    if seq < 0:
        raise ValueError(f"a seq is never negative; got {seq}")
    return f"{seq}-0"


def seq_of(entry: str | bytes) -> int:
    """The seq in an entry id (``"17-0"`` -> 17); ``ValueError`` for an id rtlab did not write."""
    text = entry.decode() if isinstance(entry, bytes) else entry
    ms, sep, n = text.partition("-")
    if not (sep and ms.isdigit() and n == "0"):
        raise ValueError(f"not an rtlab entry id (<seq>-0): {text!r}")
    return int(ms)


def encode_fields(type: str, data: Any, sent_ns: int, data_json: str | None = None) -> list[str]:
    """One event as the ``type, data, sent_ns`` strings the append script takes (data as JSON;
    ``data_json`` when it was already encoded and checked at publish)."""
    return [type, encode_payload(data) if data_json is None else data_json, str(int(sent_ns))]


def decode_entry(entry: str | bytes, fields: dict[Any, Any]) -> Event:
    """An event from one stream entry, as ``XREAD``/``XRANGE`` return it (bytes or str)."""
    def text(key: str) -> str:
        value = fields.get(key, fields.get(key.encode()))
        if value is None:
            raise ValueError(f"stream entry {entry!r} has no {key!r} field")
        return value.decode() if isinstance(value, bytes) else str(value)

    data_json = text("data")  # kept as it came: the event is never encoded again
    return Event(seq_of(entry), text("type"), freeze(data_json), int(text("sent_ns")), data_json)


def split_url(url: str) -> tuple[str, str]:
    """``"redis://h:p/0?stream=quiz"`` -> ``("redis://h:p/0", "quiz")``: the broker and rtlab's stream.

    ``stream`` is rtlab's own parameter (which keys, see :class:`Keys`); the rest of the URL
    goes to redis-py untouched (``redis://``, ``rediss://``, ``unix:///path?db=0``).
    """
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss", "unix", "valkey"):
        raise ValueError(f"a broker URL starts with redis://, rediss:// or unix://; got {url[:60]!r}")
    query = parse_qsl(parts.query)
    stream = next((v for k, v in query if k == "stream"), DEFAULT_STREAM)
    if not stream or not all(c.isalnum() or c in "-_." for c in stream):
        raise ValueError(f"stream names are letters, digits and - _ . ; got {stream!r}")
    rest = urlencode([(k, v) for k, v in query if k != "stream"])
    scheme = "redis" if parts.scheme == "valkey" else parts.scheme
    return urlunsplit((scheme, parts.netloc, parts.path, rest, parts.fragment)), stream


# One Lua script appends a batch of events atomically: the broker runs scripts one at a time,
# so two publishers (two gateways, a quiz service) can never take the same seq, and a reader
# never sees seq 18 before 17. ARGV: maxlen, producer id, the batch's first counter, then
# type, data, sent_ns for each event. A batch whose counter this producer already wrote is
# skipped: a publisher whose connection died before the answer came can simply send again,
# and the event is in the stream once (Kafka's "idempotent producer", in eight lines).
APPEND_SCRIPT = """
local maxlen, producer, first = ARGV[1], ARGV[2], tonumber(ARGV[3])
local done = tonumber(redis.call('HGET', KEYS[4], producer) or '0')
local seqs = {}
local n = (#ARGV - 3) / 3
for i = 0, n - 1 do
  if first + i > done then
    local t, d, s = ARGV[4 + 3 * i], ARGV[5 + 3 * i], ARGV[6 + 3 * i]
    local seq = redis.call('INCR', KEYS[2])
    redis.call('XADD', KEYS[1], 'MAXLEN', '~', maxlen, seq .. '-0', 'type', t, 'data', d, 'sent_ns', s)
    redis.call('HSET', KEYS[3], t, d)
    seqs[#seqs + 1] = seq
  end
end
if first + n - 1 > done then redis.call('HSET', KEYS[4], producer, first + n - 1) end
return seqs
"""
