"""Fixtures for the browser tests: a throwaway JupyterLab server and a headless Chromium page.

Why a real JupyterLab? nbval and nbclient send one cell at a time and never render a
widget, so they cannot see a "Run All" that hangs (``nest_asyncio``, see the field notes),
a widget that shows "Error displaying widget", or a live view that never moves. Only the
real front end in a real browser shows those.

Everything is isolated: a free loopback port, a random token, fresh Jupyter config, data,
runtime, workspace and settings folders (an old workspace restores hidden tabs, and Run All
then runs the wrong notebook), the news toast off. Chromium is Debian's ``/usr/bin/chromium``;
``playwright install`` is never needed. Without Chromium or playwright the tests skip,
unless ``RTLAB_REQUIRE_BROWSER=1`` (CI), where they fail.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]

# User settings written before JupyterLab starts: no news/update toast over the notebook,
# no autosave, and every cell attached to the DOM (the default windowing leaves off-screen cells out,
# and then a cell stuck at [*] further down would go unseen).
SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings":
        {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    # No autosave: a notebook left open for minutes (test_jupyterlab.py keeps some open) would be written
    # back to notebooks/ with its outputs.
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
}


def _unavailable(reason: str) -> None:
    if os.environ.get("RTLAB_REQUIRE_BROWSER") == "1":
        pytest.fail(f"RTLAB_REQUIRE_BROWSER=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def browser_tools() -> None:
    """Skip (or fail, in CI) before anything starts if Chromium or playwright is missing."""
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        _unavailable(f"{CHROMIUM} is missing (apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _unavailable("the playwright package is missing (pip install playwright)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Lab:
    """A running JupyterLab: its base URL, token and REST API."""

    url: str  # ends with "/"
    token: str
    process: subprocess.Popen[bytes]
    log: Path

    def api(self, method: str, path: str) -> Any:
        request = urllib.request.Request(self.url + path.lstrip("/"), method=method,
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
        return json.loads(body) if body else None

    def shutdown_kernels(self) -> None:
        """End every session and its kernel, so the next notebook has both cores."""
        for session in self.api("GET", "api/sessions"):
            self.api("DELETE", f"api/sessions/{session['id']}")

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


@contextmanager
def running_jupyterlab(home: Path, root_dir: Path, log: Path, *options: str) -> Iterator[Lab]:
    """A JupyterLab serving ``root_dir``, its config in ``home``, its output in ``log``.

    ``options`` are extra command-line options (another test module turns an extension
    off this way). Shut down, and ``home`` removed, when the ``with`` block ends.
    """
    env = dict(os.environ)
    for var, sub in [("JUPYTER_CONFIG_DIR", "config"), ("JUPYTER_DATA_DIR", "data"),
                     ("JUPYTER_RUNTIME_DIR", "runtime"), ("JUPYTERLAB_WORKSPACES_DIR", "workspaces"),
                     ("JUPYTERLAB_SETTINGS_DIR", "settings")]:
        (home / sub).mkdir()
        env[var] = str(home / sub)
    for name, values in SETTINGS.items():
        file = home / "settings" / name
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(json.dumps(values))

    port, token = _free_port(), secrets.token_hex(16)
    log.parent.mkdir(exist_ok=True)
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root",
             "--ip=127.0.0.1", f"--port={port}", "--port-retries=0",
             f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root_dir}",
             # window.jupyterapp: open and close notebooks through JupyterLab's own commands
             # instead of reloading the whole page per notebook (6-7 s each on 2 cores).
             "--LabApp.expose_app_in_browser=True", *options],
            cwd=root_dir, env=env, stdout=out, stderr=subprocess.STDOUT)
    lab = Lab(f"http://127.0.0.1:{port}/", token, process, log)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                pytest.fail(f"jupyter lab exited with {process.returncode}:\n{lab.log_tail()}")
            try:
                lab.api("GET", "api/status")
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if time.monotonic() > deadline:
                    pytest.fail(f"jupyter lab did not answer within 60 s:\n{lab.log_tail()}")
                time.sleep(0.2)
        yield lab
    finally:
        _stop(lab)
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def jupyterlab(browser_tools: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """The JupyterLab of the browser tests: it serves notebooks/, with jupyter-server-proxy."""
    with running_jupyterlab(tmp_path_factory.mktemp("jupyterlab"), NOTEBOOKS,
                            ARTIFACTS / "jupyterlab.log") as lab:
        yield lab


@pytest.fixture(scope="session")
def start_jupyterlab(browser_tools: None) -> Callable[..., AbstractContextManager[Lab]]:
    """``with start_jupyterlab(home, root_dir, log, *options) as lab:``, for a module that
    needs a JupyterLab of its own (test_browser_without_proxy.py runs one without the proxy)."""
    return running_jupyterlab


def _stop(lab: Lab) -> None:
    """Shut JupyterLab down the clean way (it stops its kernels), then make sure it is gone."""
    if lab.process.poll() is None:
        try:
            lab.api("POST", "api/shutdown")
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        try:
            lab.process.wait(20)
        except subprocess.TimeoutExpired:
            lab.process.terminate()
            try:
                lab.process.wait(5)
            except subprocess.TimeoutExpired:
                lab.process.kill()
                lab.process.wait(5)


# Module scope, not session: while Playwright's sync API is running it holds an event loop on
# the main thread, and every later ``asyncio.run()`` in the same process fails ("cannot be
# called from a running event loop"). Under pytest-xdist a worker runs other tests after a
# browser module (tests/conftest.py keeps each module on one worker, in one piece), so
# Playwright must stop at the end of each browser module.
@pytest.fixture(scope="module")
def browser(browser_tools: None) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


# Close every document without a "save changes?" dialog, shutting its kernel down first.
CLOSE_ALL_JS = """
async () => {
  const app = window.jupyterapp;
  for (const widget of [...app.shell.widgets('main')]) {
    if (widget.sessionContext) await widget.sessionContext.shutdown();
    if (widget.context) widget.context.model.dirty = false;
    widget.dispose();
  }
}
"""


@pytest.fixture(scope="module")  # module, as :func:`browser` is
def lab_page(browser: Any, jupyterlab: Lab) -> Iterator[Any]:
    """One JupyterLab page for the whole session, opened with ``?reset`` (a clean workspace)."""
    context = browser.new_context(viewport={"width": 1280, "height": 1600})
    page = context.new_page()
    page.goto(f"{jupyterlab.url}lab?reset&token={jupyterlab.token}")
    page.wait_for_function("() => window.jupyterapp && window.jupyterapp.started", timeout=60_000)
    page.evaluate("() => window.jupyterapp.restored")
    try:
        yield page
    finally:
        context.close()


@pytest.fixture
def page(lab_page: Any, jupyterlab: Lab) -> Iterator[Any]:
    """The lab page with nothing open; afterwards every document is closed and every kernel shut down."""
    lab_page.evaluate(CLOSE_ALL_JS)
    try:
        yield lab_page
    finally:
        try:
            lab_page.evaluate(CLOSE_ALL_JS)
        except Exception:  # noqa: BLE001 - a broken page must not hide the test's own failure
            pass
        try:
            jupyterlab.shutdown_kernels()
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
