"""The lab behind a real JupyterHub: three students, each in their own server, in Chromium.

The browser clients build their URL from the page's base URL "so it works behind a hub";
this proves it. A real JupyterHub (PyPI ``jupyterhub``, with ``configurable-http-proxy`` from
npm, which ``.ci/run`` installs) runs on 127.0.0.1 with the dummy authenticator and
``SimpleLocalProcessSpawner`` (every student's server a local process of this user, a home
folder of its own: no system users). Three students log in in Chromium, each in a browser
context of their own (their own cookies), and for each one, under ``/user/<name>/``:

* Run All on ``04_sse`` (and, for the first student, on ``00_start_here`` before it, as a
  workshop starts): no error output, no cell left unrun, and a live widget moved;
* in 04's kernel, five more tokens are published to the chat server; the page's browser client
  (an EventSource) must receive them, and the page must have reached the server through
  ``/user/<name>/proxy/<port>/`` — the student's own Jupyter server, behind the hub's login;
* each student's servers are their own: the chat servers' ports differ, and one student's page
  asking for another student's proxy path is refused by the hub (not a 200).

One caveat that the test states rather than hides: with a local-process spawner all students
share the host's loopback, so a student's *own* proxy could reach another's port (README,
"Ports never collide"); containers (DockerSpawner, KubeSpawner) separate them.

Everything binds 127.0.0.1. Select with ``pytest -m browser``; it takes about two minutes.
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
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_jupyterlab import (
    ARTIFACTS,
    EXECUTED,
    NOTEBOOKS,
    OPEN_JS,
    SCREENSHOT_ALL,
    _run_all_cells,
    _screenshot,
    _snapshot,
)

# The same user settings as conftest.py's JupyterLab: no news toast, every cell in the DOM.
SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings":
        {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}

STUDENTS = ["ada", "grace", "alan"]
PASSWORD = "rtlab-class"
NOTEBOOKS_RUN = ["00_start_here.ipynb", "04_sse.ipynb"]
# 00 once: its widgets travel the same way as 04's (comm messages through the hub's proxy to the
# kernel), so the other students' runs of it would cost CI ~25 s and show nothing new.
FIRST_ONLY = {"00_start_here.ipynb"}
RUN_TIMEOUT_S = 90

# Run code in the kernel of the notebook on screen, through JupyterLab's own kernel connection.
EXECUTE_JS = """
async (code) => {
  const kernel = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
  let out = '';
  const future = kernel.requestExecute({code, store_history: false});
  future.onIOPub = msg => {
    if (msg.header.msg_type === 'stream') out += msg.content.text;
    if (msg.header.msg_type === 'error') out += 'ERROR ' + msg.content.ename + ': ' + msg.content.evalue;
  };
  await future.done;
  return out;
}
"""

# In 04's kernel after Run All: publish five tokens and wait for the page's EventSource to count them.
PUBLISH = """
import json as _json
_before = browser.received
for _i in range(5):
    server.publish("token", {"text": f" hub{_i}"})
_ok = rtlab.wait_until(lambda: browser.received >= _before + 5, 20)
print("RESULT " + _json.dumps({"ok": bool(_ok), "before": _before, "after": browser.received,
                               "port": server.port, "status": browser.status, "error": browser.error}))
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


HUB_CONFIG = """
import sys
c = get_config()  # noqa: F821 - JupyterHub's config loader defines it
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = {port}
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = {hub_port}
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{proxy_api_port}"
c.ConfigurableHTTPProxy.pid_file = {tmp!r} + "/proxy.pid"
c.JupyterHub.db_url = "sqlite:///" + {tmp!r} + "/hub.sqlite"
c.JupyterHub.cookie_secret_file = {tmp!r} + "/cookie_secret"
c.JupyterHub.pid_file = {tmp!r} + "/hub.pid"
c.JupyterHub.authenticator_class = "dummy"
c.DummyAuthenticator.password = {password!r}
c.Authenticator.allow_all = True
c.JupyterHub.spawner_class = "simple"
c.SimpleLocalProcessSpawner.home_dir_template = {tmp!r} + "/home/{{username}}"
c.Spawner.cmd = [{singleuser!r}]
c.Spawner.ip = "127.0.0.1"
c.Spawner.default_url = "/lab"
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 120
# as root in CI; window.jupyterapp for the test's commands, as in test_jupyterlab.py
c.Spawner.args = ["--ServerApp.allow_root=True", "--LabApp.expose_app_in_browser=True"]
c.Spawner.environment = {{
    var: (lambda sub: lambda spawner: {tmp!r} + f"/jupyter/{{spawner.user.name}}/" + sub)(sub)
    for var, sub in [("JUPYTER_CONFIG_DIR", "config"), ("JUPYTER_RUNTIME_DIR", "runtime"),
                     ("JUPYTERLAB_WORKSPACES_DIR", "workspaces"),
                     ("JUPYTERLAB_SETTINGS_DIR", "settings")]
}}
"""


@pytest.fixture(scope="module")
def hub(browser_tools: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A JupyterHub on 127.0.0.1 with three students' homes ready; yields its URL."""
    try:
        import jupyterhub  # noqa: F401
    except ImportError:
        pytest.fail("jupyterhub is missing: pip install -e '.[test]'")
    if shutil.which("configurable-http-proxy") is None:
        pytest.fail("configurable-http-proxy is missing: npm install -g configurable-http-proxy "
                    "(.ci/run does)")
    tmp = tmp_path_factory.mktemp("jupyterhub")
    for name in STUDENTS:  # what nbgitpuller would put in each home: the notebooks
        home = tmp / "home" / name
        home.mkdir(parents=True)
        for notebook in NOTEBOOKS_RUN:
            shutil.copy(NOTEBOOKS / notebook, home / notebook)
        for sub in ("config", "runtime", "workspaces", "settings"):
            (tmp / "jupyter" / name / sub).mkdir(parents=True)
        for file, values in SETTINGS.items():
            path = tmp / "jupyter" / name / "settings" / file
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values))
    port = _free_port()
    config = tmp / "jupyterhub_config.py"
    config.write_text(HUB_CONFIG.format(
        port=port, hub_port=_free_port(), proxy_api_port=_free_port(), tmp=str(tmp), password=PASSWORD,
        singleuser=str(Path(sys.executable).with_name("jupyterhub-singleuser"))))
    env = dict(os.environ, CONFIGPROXY_AUTH_TOKEN=secrets.token_hex(16))
    ARTIFACTS.mkdir(exist_ok=True)
    log = ARTIFACTS / "jupyterhub.log"
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "jupyterhub", "-f", str(config)],
                                   cwd=tmp, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                pytest.fail(f"jupyterhub exited with {process.returncode}:\n{log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{url}/hub/api/", timeout=5) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"jupyterhub did not answer within 60 s:\n{log.read_text()[-3000:]}")
            time.sleep(0.3)
        yield url
    finally:
        process.terminate()  # the hub stops the students' servers and its proxy as it exits
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait(5)


def _log_in(browser: Any, hub: str, name: str) -> Any:
    """A browser context of the student's own: log in, and ask for the student's JupyterLab."""
    context = browser.new_context(viewport={"width": 1280, "height": 1600})
    page = context.new_page()
    page.goto(f"{hub}/hub/login")
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("[type=submit]")
    page.wait_for_load_state()
    page.goto(f"{hub}/user/{name}/lab?reset")  # spawns the server if it is not running yet
    return page


def _run_notebook(page: Any, name: str, notebook: str) -> None:
    page.evaluate(OPEN_JS, notebook)
    page.locator("#jp-main-statusbar", has_text="Idle").wait_for(timeout=60_000)
    _run_all_cells(page)
    seen: dict[str, set[str]] = {}
    deadline, quiet = time.monotonic() + RUN_TIMEOUT_S, 0
    while quiet < 2:
        snap = _snapshot(page)
        for key, value in snap["values"].items():
            seen.setdefault(key, set()).add(value)
        prompts = [p.strip() for p in snap["prompts"]]
        done = bool(prompts) and all(EXECUTED.match(p) for p in prompts)
        quiet = quiet + 1 if done and "Idle" in snap["status"] else 0
        if time.monotonic() > deadline:
            _screenshot(page, Path(f"hub-{name}-{notebook}"))
            pytest.fail(f"{name}/{notebook}: not done after {RUN_TIMEOUT_S} s: prompts {prompts}")
        time.sleep(0.25)
    for _ in range(3):  # a live view keeps moving after the run (00's ticking counter does)
        time.sleep(0.5)
        for key, value in _snapshot(page)["values"].items():
            seen.setdefault(key, set()).add(value)
    stderr = page.evaluate("() => [...document.querySelectorAll('.jp-OutputArea-output"
                           "[data-mime-type=\"application/vnd.jupyter.stderr\"]')].map(e => e.textContent)")
    errors = [t for t in stderr if "Traceback" in t or "Error" in t.split("\n", 3)[0]]
    widget_errors = page.locator(".jupyter-widgets-error-widget").count()
    moved = any(len(values) > 1 for values in seen.values())
    if SCREENSHOT_ALL or errors or widget_errors or not moved:  # (CI: only when it fails)
        _screenshot(page, Path(f"hub-{name}-{notebook}"))
    assert not errors, f"{name}/{notebook}: error output:\n" + "\n---\n".join(t[-1500:] for t in errors)
    assert not widget_errors, f"{name}/{notebook}: widget error"
    assert moved, f"{name}/{notebook}: no widget moved"


@pytest.mark.browser
def test_three_students_behind_a_real_jupyterhub(hub: str, browser: Any) -> None:
    started = time.monotonic()
    pages = {name: _log_in(browser, hub, name) for name in STUDENTS}  # the three spawns overlap
    ports: dict[str, int] = {}
    for name, page in pages.items():
        page.wait_for_function("() => window.jupyterapp && window.jupyterapp.started", timeout=120_000)
        page.evaluate("() => window.jupyterapp.restored")
        assert f"/user/{name}/lab" in page.url, page.url
        for notebook in NOTEBOOKS_RUN:
            if notebook not in FIRST_ONLY or name == STUDENTS[0]:
                _run_notebook(page, name, notebook)
        # 04 is on screen: push five tokens and see them reach this page's EventSource.
        out = page.evaluate(EXECUTE_JS, PUBLISH)
        line = next((ln for ln in out.splitlines() if ln.startswith("RESULT ")), None)
        assert line, f"{name}: {out}"
        result = json.loads(line.removeprefix("RESULT "))
        assert result["ok"] and not result["error"], f"{name}: the browser client got nothing: {result}"
        ports[name] = result["port"]
        # The student's own Jupyter server logs what it proxied, and for whom: the browser
        # client's clock sync went through /user/<name>/proxy/<port>/, as <name>.
        prefix = f"/user/{name}/proxy/{ports[name]}/"
        served = [ln for ln in (ARTIFACTS / "jupyterhub.log").read_text(errors="replace").splitlines()
                  if f"200 GET {prefix}" in ln and f"({name}@127.0.0.1)" in ln]
        assert served, f"{name}: no request through {prefix} in the hub's log"
        print(f"{name}: {result['after'] - result['before']} tokens through {prefix} "
              f"({time.monotonic() - started:.0f} s)")

    assert len(set(ports.values())) == len(STUDENTS), f"students share a port: {ports}"
    for name, other in zip(STUDENTS, STUDENTS[1:] + STUDENTS[:1], strict=True):
        status = pages[name].evaluate(
            "async (url) => (await fetch(url, {redirect: 'manual', cache: 'no-store'})).status",
            f"{hub}/user/{other}/proxy/{ports[other]}/clock")
        assert status != 200, f"{name}'s page reached {other}'s server through {other}'s proxy path"
    for page in pages.values():
        page.context.close()
    print(f"three students in {time.monotonic() - started:.0f} s")
