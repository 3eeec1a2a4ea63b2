"""The browser's limits, in a real page (notebook 07's sections): the six, and chat over POST.

One notebook, written for each test and removed afterwards, runs in the session's JupyterLab:

* the six demo (rtlab.lessons.widgets.six) opens EventSources through the Jupyter proxy until
  one neither opens nor fails; with the pool full, JupyterLab's own ``GET /api/status`` must
  stall while a WebSocket opens; afterwards the REST call must work again — checked by the
  page AND here, by this test's own ``fetch`` from the page after the demo;
* the chat box (rtlab.lessons.chat) POSTs a prompt with ``fetch``, reads the answer as it
  streams through the proxy (``Accept: text/event-stream`` exactly), hangs up after a few
  tokens and resumes with a ``Last-Event-ID`` header: the kernel's verdict must be ✓, and the
  requests the page made (seen by Chromium, via CDP) must carry exactly that Accept header.

Select with ``pytest -m browser``; skips without Chromium unless RTLAB_REQUIRE_BROWSER=1.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"

SIX_CELLS = [
    "from rtlab.lessons.widgets.six import six_demo, six_verdict",
    "demo = six_demo()\ndemo",
    "six_verdict(demo)",
]
CHAT_CELLS = [
    "from rtlab.lessons.chat import chat_box, chat_server, chat_verdict",
    "chat = chat_server(first_token=0.2, per_token=0.03)\n"
    "box = chat_box(chat, 'Why do chat pages stream with fetch?', drop_after=8)\nbox",
    "chat_verdict(box)",
]

ERRORS_JS = """() => [...document.querySelectorAll('.jupyter-widgets-error-widget, '
    + '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')].map(e => e.textContent)"""


def _run_notebook(page: Any, jupyterlab: Any, name: str, cells: list[str]) -> Path:
    path = ROOT / "notebooks" / name
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, path)
    page.evaluate("async (path) => { const p = await window.jupyterapp.commands.execute("
                  "'docmanager:open', {path}); await p.context.ready; await p.sessionContext.ready; }",
                  name)
    page.locator("#jp-main-statusbar", has_text="Idle").wait_for(timeout=60_000)
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.locator('.lm-Menu-item[data-command="runmenu:run-all"]').first.click(timeout=10_000)
    return path


def _wait_for(page: Any, selector: str, timeout: float) -> dict[str, Any]:
    """The widget's data-result once data-done is set (or what it has at the timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        state = page.evaluate("(sel) => { const e = document.querySelector(sel); return e ? "
                              "{done: e.dataset.done, result: e.dataset.result, text: e.innerText} : null }",
                              selector)
        if (state and state["done"]) or time.monotonic() > deadline or page.evaluate(ERRORS_JS):
            return {"result": json.loads(state["result"]) if state else {},
                    "text": state["text"] if state else ""}
        time.sleep(0.25)


def _verdict(page: Any, selector: str, timeout: float = 10) -> str:
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        text = page.evaluate("(sel) => (document.querySelector(sel) || {}).textContent || ''", selector)
        if text.startswith(("✓", "✗")):
            break
        time.sleep(0.25)
    return text


def _rest_status(page: Any, jupyterlab: Any) -> int:
    """This test's own REST call from the page: JupyterLab answers (it is not left frozen)."""
    return page.evaluate("async (token) => { const c = new AbortController(); "
                         "setTimeout(() => c.abort(), 5000); const r = await fetch('/api/status', "
                         "{headers: {Authorization: 'token ' + token}, signal: c.signal}); "
                         "return r.status; }",
                         jupyterlab.token)


@pytest.mark.browser
def test_six_demo_shows_the_stall_and_leaves_jupyterlab_working(page: Any, jupyterlab: Any) -> None:
    path = _run_notebook(page, jupyterlab, "_six_check.ipynb", SIX_CELLS)
    try:
        seen = _wait_for(page, ".rtlab-six", timeout=40)
        verdict = _verdict(page, ".rtlab-six-verdict")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "six_demo.png"))
        status_after = _rest_status(page, jupyterlab)
        errors = page.evaluate(ERRORS_JS)
    finally:
        path.unlink(missing_ok=True)
    result = seen["result"]
    print(seen["text"], verdict, sep="\n")
    assert not errors, errors
    assert result.get("done"), f"the demo did not finish: {result}"
    assert 1 <= len(result["opened_ms"]) <= 6, result
    assert result["stalled_index"] == len(result["opened_ms"]) + 1, result  # the next one stalled
    assert result["stalled_outcome"] == "stalled" and not result["stalled_error_fired"], result
    assert result["rest_while_full"] == "stalled", result
    assert result["websocket_while_full"].startswith("open"), result
    assert result["rest_after"].startswith("ok"), result
    assert verdict.startswith("✓"), verdict  # the kernel's claim, on the page's report
    assert status_after == 200


@pytest.mark.browser
def test_chat_box_streams_through_the_proxy_and_resumes(page: Any, jupyterlab: Any) -> None:
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    requests: list[dict[str, Any]] = []
    cdp.on("Network.requestWillBeSent", lambda e: requests.append(e["request"])
           if "/proxy/" in e["request"]["url"] and "/chat" in e["request"]["url"] else None)
    path = _run_notebook(page, jupyterlab, "_chat_check.ipynb", CHAT_CELLS)
    try:
        seen = _wait_for(page, ".rtlab-chat", timeout=40)
        verdict = _verdict(page, ".rtlab-chat-verdict")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "chat_box.png"))
        errors = page.evaluate(ERRORS_JS)
    finally:
        path.unlink(missing_ok=True)
        cdp.detach()
    result = seen["result"]
    print(seen["text"], verdict, [(r["method"], r["headers"]) for r in requests], sep="\n")
    assert not errors, errors
    assert result.get("done") and result["repeats"] == 0, result
    assert result["connections"] == 2 and result["resumed_at"] == [8], result
    assert result["reads"] >= 10, result  # streamed token by token, not buffered to the end
    assert verdict.startswith("✓"), verdict  # the kernel compared the page's text with the server's
    methods = [r["method"] for r in requests]
    assert methods == ["POST", "GET"], methods
    for request in requests:  # as Chromium sent them: the one Accept the proxy streams
        headers = {k.lower(): v for k, v in request["headers"].items()}
        assert headers.get("accept") == "text/event-stream", headers
    resume = {k.lower(): v for k, v in requests[1]["headers"].items()}
    assert re.fullmatch(rf"{result['answer']}-7", resume.get("last-event-id", "")), resume
