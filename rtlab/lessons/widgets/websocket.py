"""03 WebSocket: the live quiz, as one player sees it."""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as w

from ...metrics import summarize
from ..i18n import t
from .refresher import hook, live


class QuizView(w.VBox):
    """The live quiz, as one player sees it: the question, answer buttons, live tally, result.

    Events from the server (``question``, ``tally``, ``result``, see
    :class:`rtlab.lessons.quiz.QuizHost`) are stored by the client's ``on_event``; the server's
    replies to this player (``ack``) by its ``on_message``; the refresher draws both. A
    button click sends ``{"type": "answer", ...}`` up the same WebSocket.
    """

    def __init__(self, client: Any, *, name: str = "quiz", hz: float = 8.0) -> None:
        self.client = client
        self.question: dict[str, Any] | None = None
        self.tally: dict[str, Any] | None = None
        self.result: dict[str, Any] | None = None
        self.reply: dict[str, Any] | None = None
        self.chosen: int | None = None
        self._version = 0  # bumped on every change; the refresher draws only when it moved
        self._drawn = -1
        self.title = w.HTML()
        self.buttons = [w.Button(layout=w.Layout(width="auto")) for _ in range(4)]
        for index, button in enumerate(self.buttons):
            button.on_click(lambda _, i=index: self.answer(i))
        self.bars = w.HTML()
        self.status = w.HTML()
        super().__init__([self.title, w.HBox(self.buttons), self.bars, self.status])

        def on_event(event: Any) -> None:  # on the client loop: store, never draw
            if event.type == "question":
                self.question, self.tally, self.result, self.chosen = event.data, None, None, None
                self.reply = None
            elif event.type == "tally":
                self.tally = event.data
            elif event.type == "result":
                self.result = event.data
            self._version += 1

        def on_message(message: dict[str, Any]) -> None:
            self.reply = message
            if message.get("type") == "ack" and message.get("accepted"):
                self.chosen = message["choice"]  # also when the answer was sent from code
            self._version += 1

        hook(client, "on_event", name, on_event)
        hook(client, "on_message", name, on_message)
        live(name, self.refresh, hz)

    def answer(self, choice: int) -> None:
        """What a button does: send this player's answer to the server."""
        if self.question is None:
            return
        self.chosen = choice
        self._version += 1
        try:
            self.client.send({"type": "answer", "data": {"question": self.question["id"], "choice": choice}})
        except Exception as exc:  # noqa: BLE001 - a click must not raise into the widget log
            self.reply = {"type": "error", "error": f"could not send: {exc!r}"}

    def refresh(self) -> None:
        if self._drawn == self._version:
            return
        self._drawn = self._version
        q, result = self.question, self.result
        if q is None:
            self.title.value = "<i>Waiting for the host to ask a question…</i>"
            for button in self.buttons:
                button.layout.display = "none"
            return
        self.title.value = f"<b>Question {q['id']}.</b> {html.escape(q['text'])}"
        for index, button in enumerate(self.buttons):
            shown = index < len(q["choices"])
            button.layout.display = None if shown else "none"
            button.description = q["choices"][index] if shown else ""
            button.disabled = self.chosen is not None or result is not None
            style = ""
            if result is not None and index == result["answer"]:
                style = "success"
            elif result is not None and index == self.chosen:
                style = "danger"
            elif index == self.chosen:
                style = "info"
            button.button_style = style
        counts = (result or self.tally or {}).get("counts") or [0] * len(q["choices"])
        most = max(max(counts), 1)
        rows = "".join(
            f"<tr><td style='padding-right:8px'>{html.escape(choice)}</td><td style='width:220px'>"
            f"<div style='background:#4c78a8;height:12px;width:{100 * n / most:.0f}%'></div></td>"
            f"<td style='padding-left:6px;font-family:monospace'>{n}</td></tr>"
            for choice, n in zip(q["choices"], counts, strict=False))
        self.bars.value = f"<table>{rows}</table>"
        parts = []
        if self.reply is not None:
            if self.reply.get("type") == "ack":
                parts.append(t("server: answer accepted") if self.reply.get("accepted")
                             else t("server: not counted ({reason})",
                                    reason=html.escape(str(self.reply.get("reason")))))
            else:
                parts.append(html.escape(str(self.reply.get("error", self.reply))))
        if result is not None:
            right = self.client.name in result["right"]
            you = "✓ " + t("you were right") if right else "✗ " + t("not this time")
            board = " · ".join(f"{html.escape(p)} {s}" for p, s in result["leaderboard"][:6])
            parts.append("<b>" + t("{right}/{answered} right", right=len(result["right"]),
                                        answered=result["answered"]) + f"</b> — {you}<br>"
                         + t("leaderboard: {board}", board=board))
        rec = self.client.recorder
        s = summarize(rec.latencies_ms(last=200))
        parts.append(f"<span style='color:#666'>events received {rec.count} · latency p50 "
                     f"{'–' if s.count == 0 else f'{s.p50:.3g} ms'} · connections {rec.connections}</span>")
        self.status.value = "<br>".join(parts)


def quiz(client: Any, *, name: str = "quiz", hz: float = 8.0) -> QuizView:
    """The live quiz for the learner's WebSocket ``client``: click a choice to answer."""
    return QuizView(client, name=name, hz=hz)


