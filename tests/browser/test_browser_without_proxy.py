"""The browser client where jupyter-server-proxy is missing: one clear sentence, nothing breaks.

On mybinder.org's default image, or a hub that never installed it, there is no
jupyter-server-proxy, so the page cannot reach the rtlab server in the kernel. The learner
must then read, in the widget itself, what is wrong, and every other cell must still run.

A second JupyterLab, with the proxy extension turned off, serves a scratch folder (not
notebooks/, which nbval collects). Its notebook starts an rtlab server, shows its browser
client, then measures with a Python client and prints. After Run All:

* ``<base_url>proxy/<port>/clock`` answers 404 (checked first: the proxy really is off);
* the widget says so in the one sentence of ``browser.js``, followed by the request that
  failed (``HTTP 404 from .../proxy/<port>/clock``) and nothing else;
* no traceback and no "Error displaying widget" anywhere, the last cell printed its result;
* run once more after the message, the last cell shows the kernel received it too.

Select with ``pytest -m browser``; skips without Chromium unless RTLAB_REQUIRE_BROWSER=1.
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest

from rtlab.net import sse
from rtlab.net.server import Server

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
NOTEBOOK = "no_proxy_check.ipynb"
NO_PROXY = "--ServerApp.jpserver_extensions=jupyter_server_proxy=False"
# browser.js's one sentence for a missing proxy; the widget adds the failed request after it.
SENTENCE = ("The browser cannot reach the rtlab server (jupyter-server-proxy is missing or turned "
            "off on this Jupyter server), so this browser client is off; the rest of the notebook works.")
MESSAGE = re.compile(re.escape(SENTENCE))
WIDGET_TEXT = re.compile(rf"browser sse: {re.escape(SENTENCE)} · HTTP 404 from http://\S+/proxy/\d+/clock")

CELLS = [
    "import rtlab\nfrom rtlab import measure, serve\n"
    "server = serve('sse', name='no-proxy-check')\nbrowser = rtlab.browser.client(server)\nbrowser",
    "result = measure('sse', events=5)\nprint('last cell ran:', result.delivered, 'events delivered')",
    "print('kernel sees:', browser.status)",
]

READ_JS = """() => ({
  widget: (document.querySelector('.rtlab-browser') || {}).textContent || '',
  outputs: [...document.querySelectorAll('.jp-OutputArea-output')].map(e => e.textContent),
  errors: [...document.querySelectorAll('.jupyter-widgets-error-widget, '
      + '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')].map(e => e.textContent),
  busy: [...document.querySelectorAll('.jp-InputPrompt')].some(e => e.textContent.includes('*')),
})"""

# Run the last cell again through JupyterLab's own command (the page exposes window.jupyterapp).
RERUN_LAST_JS = """async () => {
  const notebook = window.jupyterapp.shell.currentWidget.content;
  notebook.activeCellIndex = notebook.widgets.length - 1;
  await window.jupyterapp.commands.execute('notebook:run-cell');
}"""


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The root folder of the second JupyterLab: only this test's notebook is in it."""
    return tmp_path_factory.mktemp("no_proxy_root")


@pytest.fixture(scope="module")
def lab_without_proxy(start_jupyterlab: Callable[..., Any], scratch: Path,
                      tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with start_jupyterlab(tmp_path_factory.mktemp("jupyterlab_no_proxy"), scratch,
                          ARTIFACTS / "jupyterlab_no_proxy.log", NO_PROXY) as lab:
        yield lab


def _status(url: str, headers: dict[str, str] | None = None) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as error:
        return error.code


@pytest.mark.browser
def test_widget_says_the_proxy_is_missing_and_the_notebook_runs_on(
        lab_without_proxy: Any, scratch: Path, browser: Any,
        start_server: Callable[..., Server]) -> None:
    # The proxy is really off: a live rtlab server answers directly, but not through Jupyter.
    server = start_server(sse.Server)
    assert _status(f"{server.url.rsplit('/', 1)[0]}/clock") == 200
    auth = {"Authorization": f"token {lab_without_proxy.token}"}
    assert _status(f"{lab_without_proxy.url}proxy/{server.port}/clock", auth) == 404

    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, scratch / NOTEBOOK)

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        page.goto(f"{lab_without_proxy.url}lab/tree/{NOTEBOOK}?reset&token={lab_without_proxy.token}")
        page.wait_for_function("() => window.jupyterapp && window.jupyterapp.started", timeout=30_000)
        page.locator("#jp-main-statusbar", has_text="Idle").wait_for(timeout=30_000)
        page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
        page.locator('.lm-Menu-item[data-command="runmenu:run-all"]').first.click(timeout=10_000)

        def wait_for(done: Callable[[dict[str, Any]], bool], seconds: float = 15) -> dict[str, Any]:
            deadline = time.monotonic() + seconds
            state = page.evaluate(READ_JS)
            while not done(state) and not state["errors"] and time.monotonic() < deadline:
                time.sleep(0.25)
                state = page.evaluate(READ_JS)
            return state

        ran = wait_for(lambda s: MESSAGE.search(s["widget"]) is not None and not s["busy"]
                       and any("last cell ran" in o for o in s["outputs"]))
        # The message is up: the kernel must have heard it too (and still run cells).
        page.evaluate(RERUN_LAST_JS)
        state = wait_for(lambda s: not s["busy"] and any(
            o.startswith("kernel sees:") and MESSAGE.search(o) for o in s["outputs"]))
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "browser_without_proxy.png"))
    finally:
        context.close()
        lab_without_proxy.shutdown_kernels()

    report = json.dumps(state, indent=1, ensure_ascii=False)
    print(report)
    assert not ran["errors"] and not state["errors"], f"errors in the page:\n{report}"
    # Exactly the sentence and the failed request: no row of zero counters around it.
    assert WIDGET_TEXT.fullmatch(ran["widget"]), f"the widget does not say what is wrong:\n{report}"
    assert any("last cell ran: 5 events delivered" in o for o in ran["outputs"]), report
    assert not any("Traceback" in o for o in state["outputs"]), report
    assert any(o.startswith("kernel sees:") and MESSAGE.search(o) for o in state["outputs"]), report
