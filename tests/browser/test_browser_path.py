"""The browser clients through an emulated network path: browser → Jupyter's proxy → relay → server.

A notebook (written for this test, removed afterwards) starts an SSE and a WebSocket server
behind a 100 ms path and shows a browser client of each. The page must receive events through
the relay's port, and the latency it measures must show the path's one-way delay (50 ms) —
a loose check (at least 45 ms, below a second), the exact figures live in benchmarks/.

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
NOTEBOOK = ROOT / "notebooks" / "_browser_path_check.ipynb"
TRANSPORTS = ["sse", "websocket"]
MIN_EVENTS = 10

CELLS = [
    "import rtlab\nfrom rtlab import Feed, NetworkPath, serve",
    *[f'server_{i} = serve("{t}", name="browser-path-{t}", network=NetworkPath(rtt_ms=100))\n'
      f"assert server_{i}.url != server_{i}.direct_url\n"
      f"rtlab.browser.client(server_{i})"
      for i, t in enumerate(TRANSPORTS)],
    "feed = Feed([server_0, server_1], 'ticker', rate=10, count=200).start()",
]

READ_JS = """() => ({
  clients: [...document.querySelectorAll('.rtlab-browser')].map(e => ({...e.dataset, text: e.textContent})),
  errors: [...document.querySelectorAll('.jupyter-widgets-error-widget, '
      + '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')].map(e => e.textContent),
})"""


def _ready(state: dict[str, Any]) -> bool:
    return len(state["clients"]) == len(TRANSPORTS) and all(
        int(c["received"] or 0) >= MIN_EVENTS for c in state["clients"])


@pytest.mark.browser
def test_browser_clients_receive_through_the_network_path(page: Any, jupyterlab: Any) -> None:
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
    finally:
        NOTEBOOK.unlink(missing_ok=True)

    assert not state["errors"], f"errors in the page: {state['errors']}"
    report = "\n".join(c["text"] for c in state["clients"])
    print(report)
    assert _ready(state), f"too few events in the browser\n{report}"
    for c in state["clients"]:
        assert 45 <= float(c["p50"]) < 1000, f"{c['transport']}: the path's delay does not show\n{report}"
