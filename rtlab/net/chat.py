"""Chat over POST: the prompt goes up in a request body, the answer streams back on that response.

This is the article's own SSE scenario, and what every LLM chat page does: ``EventSource``
can only ``GET`` and cannot send a header or a body (whatwg/html#2177), so the page sends the
prompt with ``fetch`` and reads the answer as ``text/event-stream`` from the same response::

    POST /chat HTTP/1.1                       HTTP/1.1 200 OK
    Content-Type: application/json            Content-Type: text/event-stream
    Accept: text/event-stream                 X-Answer-Id: 5c0f2a9e41d3
                                              retry: 1000
    {"prompt": "What is SSE?"}
                                              id: 5c0f2a9e41d3-0
                                              event: token
                                              data: {"index":0,"text":"You "}

                                              id: 5c0f2a9e41d3-1      (one event per token,
                                              ...                      paced as a model emits them)
                                              id: 5c0f2a9e41d3-42
                                              event: done
                                              data: {"answer":"5c0f2a9e41d3","tokens":42}

**Ids and resume.** Every event's id is ``<answer-id>-<n>``: token ``n`` (from 0) of that
answer, and ``n`` = the token count for ``done``. The answer is generated *once*, on the
server, whether or not anyone is reading — as a real chat backend keeps decoding when the
page's connection drops — and kept for a while. A client whose stream was cut resumes with

    GET /chat  +  Last-Event-ID: 5c0f2a9e41d3-17      (or ?last_event_id=5c0f2a9e41d3-17)

and gets token 18 onwards on a new ``text/event-stream``: no token lost, none repeated. Why
``GET`` and not the ``POST`` again: posting the prompt again asks for a *new* answer (POST is
not idempotent); reading what an existing answer has said so far is a ``GET``. A fetch-based
client can send ``Last-Event-ID`` as a header; ``?last_event_id=`` is there for one that
cannot (``new EventSource(url)``, which then sends the header itself on its own reconnects).
Resuming at the very end answers ``204`` (the SSE spec's "stop reconnecting").

**Pacing.** Each answer is produced by one task on the server's loop, with a *time to first
token* (the model reading the prompt: ``first_token``) and then one token every ``per_token``
seconds (its decoding speed; 0.04 s is 25 tokens/s, the order of a hosted model's streaming
speed). The schedule is absolute (token ``n`` is due at ``start + first_token + n·per_token``),
as :class:`rtlab.lessons.feed.Feed` paces its events: a late wake-up does not push every later
token back. The tokens come from a scripted answer (``script(prompt) -> text``): the model is
not the lesson, the transport is.

**Bounds.** A prompt over ``max_prompt_bytes`` gets 413; a body that is not a JSON object with
a string ``"prompt"`` 400; at most ``max_generating`` answers are produced at once (503 with
``Retry-After`` past it); finished answers are kept ``keep_for`` seconds and at most
``max_answers`` of them, oldest dropped first; resuming a dropped or unknown answer is 404.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from ..wire.sse import DEFAULT_RETRY_MS, encode_event
from .server import Server

__all__ = ["Answer", "ChatServer", "DEFAULT_SCRIPT", "parse_event_id", "scripted_answer",
           "split_tokens"]

DEFAULT_SCRIPT = (
    "Here is the answer, streamed the way chat pages stream theirs. Your request was a POST "
    "with the prompt in its body, which EventSource cannot send; the answer comes back on that "
    "same response as text/event-stream, one event per token. Every event has an id made of "
    "the answer's id and the token's number, so if the connection drops, the page asks again "
    "with Last-Event-ID and the server carries on from the next token: nothing lost, nothing "
    "repeated."
)
_ID = re.compile(r"^([0-9a-f]{12})-(\d{1,9})$")


def split_tokens(text: str) -> list[str]:
    """``text`` as word-and-following-space tokens, the way a chat page receives it."""
    return re.findall(r"\S+\s*|\s+", text)


def scripted_answer(prompt: str) -> str:
    """The default script: the prompt quoted back (shortened), then :data:`DEFAULT_SCRIPT`."""
    quoted = " ".join(prompt.split())
    quoted = quoted if len(quoted) <= 60 else quoted[:57] + "..."
    return f'You asked: "{quoted}". {DEFAULT_SCRIPT}'


def parse_event_id(raw: str) -> tuple[str, int]:
    """``"5c0f2a9e41d3-17"`` -> ``("5c0f2a9e41d3", 17)``; anything else raises ``ValueError``."""
    match = _ID.match(raw.strip())
    if match is None:
        raise ValueError(f"not a chat event id (want <12 hex digits>-<n>): {raw[:40]!r}")
    return match.group(1), int(match.group(2))


@dataclass
class Answer:
    """One answer as the server generates it: the tokens so far, and whether it is done."""

    id: str
    tokens: list[str] = field(default_factory=list)
    done: bool = False
    finished_at: float | None = None  # time.monotonic() when done
    grew: asyncio.Event = field(default_factory=asyncio.Event)  # set, then replaced, per token

    def add(self, token: str | None) -> None:
        """Append a token (``None``: the answer is complete) and wake every stream of it."""
        if token is None:
            self.done, self.finished_at = True, time.monotonic()
        else:
            self.tokens.append(token)
        self.grew.set()
        self.grew = asyncio.Event()


class ChatServer(Server):
    """``POST /chat`` a JSON prompt, read the answer as SSE; ``GET /chat`` + ``Last-Event-ID`` resumes."""

    transport = "chat"
    path = "/chat"

    def __init__(self, *, script: Callable[[str], str] = scripted_answer,
                 first_token: float = 0.3, per_token: float = 0.04,
                 max_prompt_bytes: int = 4096, max_generating: int = 32,
                 max_answers: int = 200, keep_for: float = 600.0,
                 retry_ms: int = DEFAULT_RETRY_MS, **kwargs: Any) -> None:
        """A chat server, not yet started.

        Args:
            script: the answer's text for a prompt (called on the server's loop: keep it quick).
            first_token: seconds before the first token (the model reading the prompt).
            per_token: seconds between tokens (the model's decoding speed).
            max_prompt_bytes: the largest ``"prompt"`` accepted, in UTF-8 bytes; larger is 413.
            max_generating: answers produced at once; one more gets 503.
            max_answers, keep_for: how many finished answers are kept for resuming, and for
                how many seconds after they finished.
            retry_ms: the ``retry:`` it announces (how long a client waits before resuming).
            **kwargs: as :class:`rtlab.net.server.Server` (host, port, name, limits).
        """
        for label, value in [("first_token", first_token), ("per_token", per_token),
                             ("keep_for", keep_for)]:
            if not value >= 0:
                raise ValueError(f"{label} must be >= 0 seconds, got {value!r}")
        for label, count in [("max_prompt_bytes", max_prompt_bytes),
                             ("max_generating", max_generating), ("max_answers", max_answers)]:
            if count < 1:
                raise ValueError(f"{label} must be at least 1, got {count!r}")
        kwargs.setdefault("name", "chat")
        kwargs.setdefault("max_request_bytes", max_prompt_bytes + 1024)  # room for the JSON around it
        super().__init__(**kwargs)
        self.script, self.first_token, self.per_token = script, first_token, per_token
        self.max_prompt_bytes, self.max_generating = max_prompt_bytes, max_generating
        self.max_answers, self.keep_for, self.retry_ms = max_answers, keep_for, retry_ms
        self.answers: OrderedDict[str, Answer] = OrderedDict()  # oldest first; on the loop only
        self.resumes: list[tuple[str, int]] = []  # (answer id, first token sent) per resume
        self._generators: set[asyncio.Task[None]] = set()
        self._streams: dict[web.StreamResponse, Any] = {}  # open answer streams -> their transport

    def setup_routes(self, app: web.Application) -> None:
        app.router.add_post(self.path, self.handle_prompt)
        app.router.add_get(self.path, self.handle_resume)
        app.on_shutdown.append(self._end_generators)

    # -- the two requests -------------------------------------------------------------------
    async def handle_prompt(self, request: web.Request) -> web.StreamResponse:
        """``POST /chat``: check the prompt, start its answer, stream it from token 0."""
        if "Last-Event-ID" in request.headers:
            raise web.HTTPBadRequest(text="to resume an answer, GET /chat with Last-Event-ID "
                                          "(a POST asks a new question)\n")
        prompt = await self._prompt(request)
        self._forget_old()
        generating = sum(not a.done for a in self.answers.values())
        if generating >= self.max_generating:
            raise web.HTTPServiceUnavailable(
                text=f"{generating} answers are being generated (max_generating=); retry soon\n",
                headers={"Retry-After": "1"})
        answer = Answer(secrets.token_hex(6))
        self.answers[answer.id] = answer
        task = asyncio.get_running_loop().create_task(self._generate(answer, prompt))
        self._generators.add(task)
        task.add_done_callback(self._generators.discard)
        return await self._stream(request, answer, 0)

    async def handle_resume(self, request: web.Request) -> web.StreamResponse:
        """``GET /chat`` with ``Last-Event-ID: <answer>-<n>``: stream token ``n + 1`` onwards."""
        raw = request.headers.get("Last-Event-ID") or request.query.get("last_event_id", "")
        if not raw:
            raise web.HTTPBadRequest(text="GET /chat resumes an answer: send Last-Event-ID "
                                          "(<answer-id>-<n>); ask with POST /chat\n")
        try:
            answer_id, n = parse_event_id(raw)
        except ValueError as err:
            raise web.HTTPBadRequest(text=f"{err}\n") from None
        self._forget_old()
        answer = self.answers.get(answer_id)
        if answer is None:
            raise web.HTTPNotFound(text=f"no answer {answer_id} here (never, or dropped after "
                                        f"{self.keep_for:g} s / {self.max_answers} answers)\n")
        if answer.done and n >= len(answer.tokens):
            return web.Response(status=204)  # it has all of it: stop reconnecting
        self.resumes.append((answer_id, n + 1))
        return await self._stream(request, answer, n + 1)

    async def _prompt(self, request: web.Request) -> str:
        try:
            body = json.loads(await request.read())
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise web.HTTPBadRequest(text=f"the body is not JSON: {err}\n") from None
        prompt = body.get("prompt") if isinstance(body, dict) else None
        if not isinstance(prompt, str) or not prompt.strip():
            raise web.HTTPBadRequest(text='send a JSON object with a non-empty string "prompt"\n')
        if len(prompt.encode()) > self.max_prompt_bytes:
            raise web.HTTPRequestEntityTooLarge(self.max_prompt_bytes, len(prompt.encode()),
                                                text=f"the prompt is over {self.max_prompt_bytes} "
                                                     "bytes (max_prompt_bytes=)\n")
        return prompt

    # -- generating and streaming ------------------------------------------------------------
    async def _generate(self, answer: Answer, prompt: str) -> None:
        """Produce the answer's tokens on an absolute schedule, then mark it done."""
        loop = asyncio.get_running_loop()
        start = loop.time() + self.first_token
        try:
            for n, token in enumerate(split_tokens(self.script(prompt))):
                await asyncio.sleep(max(0.0, start + n * self.per_token - loop.time()))
                answer.add(token)
        finally:
            answer.add(None)  # also when the server stops: every stream of it ends

    async def _stream(self, request: web.Request, answer: Answer, n: int) -> web.StreamResponse:
        """Write token ``n`` onwards of ``answer``, waiting for each, then ``done``."""
        response = web.StreamResponse(headers={
            "Content-Type": "text/event-stream", "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",  # a buffering proxy (nginx) would hold the tokens back
            "X-Answer-Id": answer.id})
        await response.prepare(request)
        self._streams[response] = request.transport
        try:
            retry: int | None = self.retry_ms  # announced with the first event this stream writes
            while True:
                grew = answer.grew  # taken before looking, so no token slips in between
                while n < len(answer.tokens):
                    data = json.dumps({"index": n, "text": answer.tokens[n]}, ensure_ascii=False,
                                      separators=(",", ":"))  # compact: every byte is sent per token
                    await response.write(encode_event(data, id=f"{answer.id}-{n}", event="token",
                                                      retry=retry))
                    n, retry = n + 1, None
                if answer.done:
                    done = json.dumps({"answer": answer.id, "tokens": len(answer.tokens)},
                                      separators=(",", ":"))
                    await response.write(encode_event(done, id=f"{answer.id}-{n}", event="done",
                                                      retry=retry))
                    break
                await grew.wait()
            await response.write_eof()
        except (ConnectionError, RuntimeError):
            pass  # the client went away (or was cut): the answer goes on; it may resume
        finally:
            self._streams.pop(response, None)
        return response

    def _forget_old(self) -> None:
        """Drop finished answers past ``keep_for``, then the oldest finished past ``max_answers``."""
        now = time.monotonic()
        for answer_id, answer in list(self.answers.items()):
            if answer.done and answer.finished_at is not None and now - answer.finished_at > self.keep_for:
                del self.answers[answer_id]
        finished = [a.id for a in self.answers.values() if a.done]
        for answer_id in finished[:max(0, len(self.answers) - self.max_answers)]:
            del self.answers[answer_id]

    async def _end_generators(self, app: web.Application) -> None:
        for task in list(self._generators):
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*self._generators, return_exceptions=True)

    # -- for lessons and tests ----------------------------------------------------------------
    def cut(self) -> int:
        """Cut every open answer stream at the TCP level, as a dropped network does; how many.

        The answers themselves go on being generated: a client that resumes gets the rest.
        """
        async def on_loop() -> int:
            cut = 0
            for transport in list(self._streams.values()):
                if transport is not None and not transport.is_closing():
                    transport.abort()
                    cut += 1
            return cut
        return self.call(on_loop())

    def answer_text(self, answer_id: str) -> str:
        """What answer ``answer_id`` has said so far (``""`` if unknown)."""
        return self.read(lambda s: "".join(a.tokens) if (a := s.answers.get(answer_id)) else "")
