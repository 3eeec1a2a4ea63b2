"""The kernel's chat client: POST a prompt, read the answer as SSE, resume it if the stream is cut.

What a chat page does with ``fetch`` (see :mod:`rtlab.net.chat` for the wire), in aiohttp::

    answer = ask(server.url, "What is SSE?")           # blocks the cell until the answer is done
    answer.text, answer.connections, answer.resumed_at  # the words; 1 connection, or more if cut

A stream that ends before ``done`` (the network dropped it, the server was cut, or
``drop_after=`` made this client hang up on purpose) is resumed with ``GET`` and
``Last-Event-ID: <answer>-<n>``, the id of the last token received, after the server's
``retry:`` delay. Each token is taken only if its number is the next one expected, so a
server that repeated one would not show it twice — and :attr:`ChatAnswer.repeats` counts it.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import aiohttp

from .. import lab
from ..wire.sse import SSEParser
from .chat import parse_event_id

__all__ = ["ChatAnswer", "ChatError", "ask", "ask_async"]

ACCEPT = {"Accept": "text/event-stream"}  # exactly this: jupyter-server-proxy streams only it


class ChatError(RuntimeError):
    """The server refused the prompt or the resume (its status and reason are in the message)."""


@dataclass
class ChatAnswer:
    """An answer as one client received it."""

    id: str = ""
    tokens: list[str] = field(default_factory=list)
    done: bool = False
    connections: int = 0  # 1 = the POST alone; each resume adds one
    resumed_at: list[int] = field(default_factory=list)  # the token each resume started from
    waited_ms: list[float] = field(default_factory=list)  # the retry: waited before each resume
    repeats: int = 0  # tokens that arrived twice (dropped, not shown twice)
    first_token_ms: float | None = None  # from sending the POST to the first token
    total_ms: float | None = None  # from sending the POST to done

    @property
    def text(self) -> str:
        return "".join(self.tokens)


async def _read(response: aiohttp.ClientResponse, parser: SSEParser, answer: ChatAnswer,
                started: float, drop_after: int | None,
                on_token: Callable[[int, str], None] | None) -> None:
    """Read one stream into ``answer`` with this connection's ``parser``.

    ``drop_after``: hang up after that many tokens in total (the first stream only).
    """
    async for chunk in response.content.iter_any():
        for message in parser.feed(chunk):
            answer_id, n = parse_event_id(message.id)
            answer.id = answer.id or answer_id
            if message.event == "done":
                answer.done = True
                answer.total_ms = (time.perf_counter() - started) * 1000
                return
            if message.event != "token":
                continue
            if n != len(answer.tokens):  # not the next one: a repeat (or a gap, which SSE ids prevent)
                answer.repeats += n < len(answer.tokens)
                continue
            text = json.loads(message.data)["text"]
            answer.tokens.append(text)
            if answer.first_token_ms is None:
                answer.first_token_ms = (time.perf_counter() - started) * 1000
            if on_token is not None:
                on_token(n, text)
            if drop_after is not None and len(answer.tokens) >= drop_after:
                response.close()  # hang up mid-answer, as a dropped connection would
                return


async def ask_async(url: str, prompt: str, *, drop_after: int | None = None,
                    max_resumes: int = 10, timeout: float = 60.0,
                    on_token: Callable[[int, str], None] | None = None) -> ChatAnswer:
    """Ask ``prompt`` at ``url`` (the server's ``/chat``), resuming after a cut, until done.

    Args:
        url: the chat endpoint, e.g. ``server.url`` of a :class:`~rtlab.net.chat.ChatServer`.
        prompt: the question.
        drop_after: hang up the first stream after this many tokens, to show the resume.
        max_resumes: give up (``ChatError``) after this many resumes without ``done``.
        timeout: seconds the whole answer may take.
        on_token: called with ``(n, text)`` for every new token, on the client loop.
    """
    answer = ChatAnswer()
    started = time.perf_counter()
    retry_s = 1.0
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session:
        while not answer.done:
            if answer.connections > max_resumes:
                raise ChatError(f"answer {answer.id} not done after {max_resumes} resumes")
            if answer.connections == 0:
                request = session.post(url, json={"prompt": prompt}, headers=ACCEPT)
            else:
                answer.waited_ms.append(retry_s * 1000)
                await asyncio.sleep(retry_s)
                last = f"{answer.id}-{len(answer.tokens) - 1}"
                answer.resumed_at.append(len(answer.tokens))
                request = session.get(url, headers={**ACCEPT, "Last-Event-ID": last})
            answer.connections += 1
            parser = SSEParser()
            try:
                async with request as response:
                    if response.status == 204:
                        answer.done = True  # the server says we have it all
                        break
                    if response.status != 200:
                        raise ChatError(f"{response.method} {url}: HTTP {response.status} "
                                        f"{(await response.text()).strip()}")
                    answer.id = answer.id or response.headers.get("X-Answer-Id", "")
                    await _read(response, parser, answer, started,
                                drop_after if answer.connections == 1 else None, on_token)
            except (aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError,
                    aiohttp.ClientConnectionError):
                pass  # cut mid-answer: resume from the last token received
            finally:
                # The server's latest retry:, kept until it sends another (as EventSource keeps
                # its reconnection time), whether the stream ended or was cut.
                if parser.retry_ms is not None:
                    retry_s = parser.retry_ms / 1000
            if not answer.id:
                raise ChatError(f"POST {url}: the stream was cut before it named its answer")
    return answer


def ask(url: str, prompt: str, **options: object) -> ChatAnswer:
    """:func:`ask_async` from synchronous code (a notebook cell, a script): runs on rtlab's client loop."""
    timeout = float(options.get("timeout", 60.0))  # type: ignore[arg-type]
    return lab.client_loop().run(ask_async(url, prompt, **options), timeout=timeout + 5)  # type: ignore[arg-type]
