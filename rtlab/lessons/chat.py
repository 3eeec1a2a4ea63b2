"""Chat over POST, as a lesson (notebook 07): the kernel asks, the browser asks, both resume.

The server is :class:`rtlab.net.chat.ChatServer` (POST a JSON prompt, read the answer as
``text/event-stream`` on that response; ``GET`` + ``Last-Event-ID`` resumes) and the kernel's
client :func:`rtlab.net.chat_client.ask`. Here:

* :func:`chat_server` starts one for the notebook (a re-run cell replaces it);
* :func:`check_chat` is the claim about two kernel answers, one whole and one cut mid-way;
* :class:`ChatBox` (``chat.js``) asks the same server from the learner's page with ``fetch``,
  through the Jupyter proxy, cuts its own stream after ``drop_after`` tokens and resumes with a
  ``Last-Event-ID`` header; :func:`chat_verdict` is the claim about what the page reported.
"""

from __future__ import annotations

import html
from typing import Any

import anywidget
import ipywidgets as w
import traitlets

from ..net.chat import ChatServer
from ..net.chat_client import ChatAnswer
from .exercises.claims import claim
from .i18n import N_, t
from .i18n import gettext as _
from .page import esm

__all__ = ["ChatBox", "chat_box", "chat_server", "chat_verdict", "check_chat"]

_boxes: list[ChatBox] = []  # the one on show: a re-run cell closes the old one first


def chat_server(**options: Any) -> ChatServer:
    """A started :class:`~rtlab.net.chat.ChatServer` named ``"chat"`` (options as its constructor)."""
    options.setdefault("name", "chat")
    return ChatServer(**options).start()


def check_chat(server: ChatServer, whole: ChatAnswer, cut: ChatAnswer, drop_after: int) -> None:
    """Claim: both answers are the server's answers exactly; the cut one resumed once, at the cut."""
    for answer in (whole, cut):
        said = server.answer_text(answer.id)
        claim(t("answer {id} arrived whole and in order, each token once", id=answer.id),
              answer.done and answer.text == said and answer.repeats == 0,
              t("{n} tokens, {chars} characters, {repeats} repeats, same text as the server's: {same}",
                 n=len(answer.tokens), chars=len(answer.text), repeats=answer.repeats,
                 same=answer.text == said))
    claim(t("the cut answer came back on one more connection, from token {n}", n=drop_after),
          cut.connections == 2 and cut.resumed_at == [drop_after],
          t("{connections} connections, resumed at token(s) {at}", connections=cut.connections,
             at=", ".join(map(str, cut.resumed_at)) or "-"))


class ChatBox(anywidget.AnyWidget):
    """Asks ``prompt`` from the browser that displays it; see the module's docstring."""

    _esm = esm("chat.js")
    port = traitlets.Int().tag(sync=True)
    path = traitlets.Unicode("/chat").tag(sync=True)
    prompt = traitlets.Unicode().tag(sync=True)
    drop_after = traitlets.Int(0).tag(sync=True)  # the page hangs up after this many tokens (0: never)
    # browser -> kernel: answer, tokens, text, done, connections, resumed_at, repeats,
    # requests (method, accept, last_event_id of each), reads (pieces of body that brought
    # tokens), first_token_ms, total_ms, error
    result = traitlets.Dict().tag(sync=True)

    def __init__(self, server: ChatServer, prompt: str, *, drop_after: int = 0, **kwargs: Any) -> None:
        if not server.running:
            raise RuntimeError(f"{server!r} is not running: start it before asking from the browser")
        if not prompt.strip():
            raise ValueError("the prompt is empty")
        super().__init__(port=server.port, path=server.path, prompt=prompt,
                         drop_after=max(0, drop_after), **kwargs)
        self.server = server


def chat_box(server: ChatServer, prompt: str, *, drop_after: int = 0) -> ChatBox:
    """A :class:`ChatBox`; calling it again closes the previous one (a re-run cell)."""
    while _boxes:
        _boxes.pop().close()
    box = ChatBox(server, prompt, drop_after=drop_after)
    _boxes.append(box)
    return box


def _holds(box: ChatBox) -> tuple[bool, str]:
    r = box.result
    said = box.server.answer_text(r.get("answer", ""))
    requests = r.get("requests") or []
    exact_accept = all(q.get("accept") == "text/event-stream" for q in requests)
    resumed_with_header = any(q.get("method") == "GET" and q.get("last_event_id") for q in requests)
    # Streamed, not buffered: a proxy that held the answer back would deliver it in a lump or two.
    streamed = (r.get("reads") or 0) > 2
    holds = (bool(r.get("done")) and r.get("text") == said and r.get("repeats") == 0 and streamed
             and exact_accept and (resumed_with_header or box.drop_after == 0))
    measured = t("{n} tokens in {reads} pieces over {c} connection(s), resumed at {at}, {repeats} "
                  "repeats, same text as the server's: {same}, first token after {first} ms",
                  n=r.get("tokens"), reads=r.get("reads"), c=r.get("connections"),
                  at=", ".join(map(str, r.get("resumed_at") or [])) or "-", repeats=r.get("repeats"),
                  same=r.get("text") == said, first=round(r.get("first_token_ms") or 0))
    return holds, measured


STATEMENT = N_("the page POSTed the prompt with fetch, read the answer as it streamed through the "
             "Jupyter proxy, and resumed the cut stream with a Last-Event-ID header: every token "
             "once, in order")


def chat_verdict(box: ChatBox) -> w.HTML:
    """The claim about the page's answer: ✓/✗ once the page has reported; ≈ until then."""
    line = w.HTML()
    line.add_class("rtlab-chat-verdict")

    def show(_change: Any = None) -> None:
        if box.result.get("error"):
            line.value = html.escape("✗ " + t("the page could not stream the answer: {error}",
                                               error=box.result["error"]))
        elif not box.result.get("done"):
            line.value = "≈ " + _("chat in the browser needs a browser: the page that displays "
                                  "the box above asks the question. Headless no page runs it, so "
                                  "nothing is claimed; in JupyterLab this line turns into the "
                                  "verdict when the answer is done.")
        else:
            holds, measured = _holds(box)
            line.value = html.escape(f"{'✓' if holds else '✗'} {_(STATEMENT)} ({measured})")

    if box.result.get("done"):  # reported already (this cell re-run): claim it now
        claim(_(STATEMENT), *_holds(box))
    box.observe(show, "result")
    show()
    return line
