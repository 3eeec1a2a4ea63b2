"""The browser clients (rtlab.lessons.browser) in a real page: fetch, long-poll fetch, EventSource, WebSocket.

One notebook (written for this test, removed afterwards) starts the four servers, shows a
browser client of each and starts a feed. After Run All, every client must have received
events in the page, through jupyter-server-proxy, with a plausible latency measured in the
browser (0 < p50 < 1000 ms), and the kernel must have the latencies back (a widget updated
by an observer on ``latencies_ms`` shows them). The WebSocket client also proves the origin
handshake: it can only connect after the kernel allowed the page's origin.

Select with ``pytest -m browser``; skips without Chromium unless RTLAB_REQUIRE_BROWSER=1.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "_browser_clients_check.ipynb"
ARTIFACTS = ROOT / "test-artifacts"
TRANSPORTS = ["short-polling", "long-polling", "sse", "websocket"]
MIN_EVENTS = 20

CELLS = [
    "import ipywidgets, rtlab\n"
    "from rtlab import Feed, serve",
    *[f'server_{i} = serve("{t}", name="browser-check-{t}")\n'
      f"browser_{i} = rtlab.browser.client(server_{i}, interval=0.2)\nbrowser_{i}"
      for i, t in enumerate(TRANSPORTS)],
    # The kernel's view of what the browsers sent back, updated when their latencies arrive.
    "clients = [browser_0, browser_1, browser_2, browser_3]\n"
    "kernel_side = ipywidgets.HTML('kernel: nothing yet')\nkernel_side.add_class('rtlab-kernel-side')\n"
    "def show(_=None):\n"
    "    kernel_side.value = ' '.join(f'{c.transport}={len(c.latencies_ms)}' for c in clients)\n"
    "for c in clients:\n    c.observe(show, 'latencies_ms')\nkernel_side",
    "feed = Feed([server_0, server_1, server_2, server_3], 'ticker', rate=20, count=400).start()",
]

READ_JS = """() => ({
  clients: [...document.querySelectorAll('.rtlab-browser')].map(e => ({...e.dataset, text: e.textContent})),
  kernel: (document.querySelector('.rtlab-kernel-side') || {}).textContent || '',
  errors: [...document.querySelectorAll('.jupyter-widgets-error-widget, '
      + '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')].map(e => e.textContent),
})"""


def _ready(state: dict[str, Any]) -> bool:
    counts = dict(re.findall(r"([\w-]+)=(\d+)", state["kernel"]))
    return len(state["clients"]) == 4 and all(
        int(c["received"] or 0) >= MIN_EVENTS and int(counts.get(c["transport"], 0)) >= MIN_EVENTS
        for c in state["clients"])


@pytest.mark.browser
def test_browser_clients_receive_through_the_proxy(page: Any, jupyterlab: Any) -> None:
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, NOTEBOOK)
    try:
        page.goto(f"{jupyterlab.url}lab/tree/{NOTEBOOK.name}?reset&token={jupyterlab.token}")
        page.locator("#jp-main-statusbar", has_text="Idle").wait_for(timeout=30_000)
        page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
        page.locator('.lm-Menu-item[data-command="runmenu:run-all"]').first.click(timeout=10_000)

        deadline = time.monotonic() + 30
        state = page.evaluate(READ_JS)
        while not _ready(state) and not state["errors"] and time.monotonic() < deadline:
            time.sleep(0.5)
            state = page.evaluate(READ_JS)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "browser_clients.png"))
    finally:
        NOTEBOOK.unlink(missing_ok=True)

    assert not state["errors"], f"errors in the page: {state['errors']}"
    report = "\n".join(c["text"] for c in state["clients"]) + f"\n{state['kernel']}"
    print(report)
    by_transport = {c["transport"]: c for c in state["clients"]}
    assert sorted(by_transport) == sorted(TRANSPORTS), report
    for transport, c in by_transport.items():
        assert int(c["received"]) >= MIN_EVENTS, f"{transport}: too few events in the browser\n{report}"
        assert 0 < float(c["p50"]) < 1000, f"{transport}: implausible browser latency\n{report}"
    assert _ready(state), f"the kernel did not get the browser's latencies back\n{report}"
