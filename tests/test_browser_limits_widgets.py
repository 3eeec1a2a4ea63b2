"""Notebook 07's browser widgets without a browser: the six demo and the chat box, kernel side.

Headless no page runs their JavaScript, so their verdicts must say ≈ (never ✓) and must not
wait; given a page's report, the verdict must follow it. The JavaScript itself runs in
Chromium in tests/browser/test_browser_limits.py; its pure parts (the page-wide budget, the
SSE parser) run here under Node.js when it is installed, against rtlab's Python parser.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from typing import Any

import pytest

from rtlab.lessons import chat, page
from rtlab.lessons.exercises.claims import ClaimFailed
from rtlab.lessons.widgets import six
from rtlab.net.chat import ChatServer
from rtlab.net.chat_client import ask
from rtlab.wire.sse import SSEParser

GOOD_SIX = {"done": True, "opened_ms": [40, 12, 9, 11, 10, 9], "stalled_index": 7,
            "stalled_outcome": "stalled", "stalled_error_fired": False, "others": 0,
            "rest_while_full": "stalled", "websocket_while_full": "open in 8 ms",
            "rest_after": "ok in 20 ms"}


def test_every_widget_module_starts_with_the_shared_page_code() -> None:
    for name in ("browser.js", "six.js", "chat.js"):
        module = page.esm(name)
        assert module.index("function pageBudget") < module.index("export default")
        assert module.count("export default") == 1
    assert "const BUDGET_LIMIT = 2;" in page.esm() and page.BUDGET_LIMIT == 2


def test_six_headless_says_it_needs_a_browser() -> None:
    demo = six.six_demo()
    try:
        verdict = six.six_verdict(demo)
        assert verdict.value.startswith("≈") and "✓" not in verdict.value
        demo.result = GOOD_SIX  # what the page reports, as a comm message would set it
        assert verdict.value.startswith("✓")
        demo.result = {**GOOD_SIX, "rest_while_full": "ok in 5 ms"}  # the REST call did not stall
        assert verdict.value.startswith("✗")
    finally:
        demo.server.stop()
        demo.close()


@pytest.mark.parametrize("change", [
    {"stalled_outcome": "error"}, {"stalled_error_fired": True}, {"opened_ms": []},
    {"opened_ms": [1] * 7}, {"websocket_while_full": "stalled"}, {"rest_after": "stalled"},
])
def test_six_claim_fails_on_any_other_observation(change: dict[str, Any]) -> None:
    demo = six.six_demo()
    try:
        demo.result = {**GOOD_SIX, **change}
        with pytest.raises(ClaimFailed):
            six.six_verdict(demo)  # reported already: claimed on the spot
    finally:
        demo.server.stop()
        demo.close()


def test_a_re_run_six_demo_closes_the_old_one() -> None:
    first = six.six_demo()
    second = six.six_demo()
    assert first.comm is None and second.comm is not None
    assert not first.server.running and second.server.running  # its server replaced, by name
    second.server.stop()
    second.close()


@pytest.fixture
def chat_server(start_server: Callable[..., Any]) -> ChatServer:
    return start_server(ChatServer, first_token=0, per_token=0.001)


def test_chat_box_headless_then_with_a_report(chat_server: ChatServer) -> None:
    box = chat.chat_box(chat_server, "hello?", drop_after=3)
    verdict = chat.chat_verdict(box)
    assert verdict.value.startswith("≈")
    answer = ask(chat_server.url, "hello?")  # the server's text for some answer: the page's report
    report = {"answer": answer.id, "tokens": len(answer.tokens), "text": answer.text, "done": True,
              "connections": 2, "resumed_at": [3], "repeats": 0, "reads": 40, "first_token_ms": 20,
              "requests": [{"method": "POST", "accept": "text/event-stream", "last_event_id": None},
                           {"method": "GET", "accept": "text/event-stream",
                            "last_event_id": f"{answer.id}-2"}]}
    box.result = report
    assert verdict.value.startswith("✓"), verdict.value
    box.result = {**report, "text": answer.text[:-1]}  # a token short
    assert verdict.value.startswith("✗")
    box.result = {**report, "reads": 1}  # all in one piece: a buffering proxy
    assert verdict.value.startswith("✗")
    box.result = {**report, "requests": [{**r, "accept": "text/event-stream, */*"}
                                         for r in report["requests"]]}
    assert verdict.value.startswith("✗")
    box.close()


def test_chat_box_refuses_what_cannot_work(chat_server: ChatServer) -> None:
    with pytest.raises(ValueError, match="empty"):
        chat.chat_box(chat_server, "  ")
    chat_server.stop()
    with pytest.raises(RuntimeError, match="not running"):
        chat.chat_box(chat_server, "hi")


# -- the JavaScript's pure parts, under Node.js ----------------------------------------------
NODE = shutil.which("node")
STREAM = ("retry: 50\r\n\r\nid: a-1\nevent: token\ndata: {\"x\"\r\ndata: 2\n\n: keep-alive\n\n"
          "id: a-2\r\rdata: z\r\n\ndata: no id change\n\nid: bad\0id\ndata: w\n\n")


def _node(script: str) -> Any:
    code = page.esm() + "\n" + script
    out = subprocess.run([NODE, "--input-type=module", "-e", code], capture_output=True, text=True,
                         timeout=30, check=True)
    return json.loads(out.stdout)


@pytest.mark.skipif(NODE is None, reason="Node.js is not installed")
@pytest.mark.parametrize("size", [1, 2, 5, 1000])
def test_the_page_sse_parser_agrees_with_rtlab_parser(size: int) -> None:
    chunks = [STREAM[i:i + size] for i in range(0, len(STREAM), size)]
    got = _node(f"const out = []; const p = sseParser((e) => out.push(e));"
                f"{json.dumps(chunks)}.forEach((c) => p.feed(c));"
                f"console.log(JSON.stringify({{events: out, retry: p.retry, last: p.lastEventId}}));")
    parser = SSEParser()
    expected = [m for c in chunks for m in parser.feed(c.encode())]
    assert got["events"] == [{"event": m.event, "data": m.data, "id": m.id} for m in expected]
    assert got["retry"] == parser.retry_ms and got["last"] == parser.last_event_id


@pytest.mark.skipif(NODE is None, reason="Node.js is not installed")
def test_the_page_budget_grants_two_and_makes_old_streams_share() -> None:
    got = _node("""
const b = pageBudget(); const log = [];
const a = await takeSlot("a", { held: true, yieldSlot: () => { log.push("a yields"); a.release(); } });
const s = await takeSlot("b", { held: true, yieldSlot: () => { log.push("b yields"); s.release(); } });
const waiting = [takeSlot("c"), takeSlot("d")];
const full = { active: b.active.size, waiting: b.waiting.length };
const c = await waiting[0];
const afterShare = { active: b.active.size, waiting: b.waiting.length };
c.release(); (await waiting[1]).release(); s.release();
const abort = new AbortController(); const x = await takeSlot("x"); const y = await takeSlot("y");
const z = takeSlot("z", { signal: abort.signal }); abort.abort();
let aborted = false; try { await z; } catch (e) { aborted = e.name === "AbortError"; }
x.release(); y.release();
clearInterval(b.timer);
console.log(JSON.stringify({ full, afterShare, log, peak: b.peak, aborted, end: b.active.size,
  left: b.waiting.length }));
""")
    assert got["full"] == {"active": 2, "waiting": 2}  # the third and fourth wait
    assert got["log"] == ["a yields"]  # the oldest held stream shared, after waiting 2 s
    assert got["afterShare"] == {"active": 2, "waiting": 1}
    assert got["peak"] == 2 and got["aborted"] and got["end"] == 0 and got["left"] == 0
