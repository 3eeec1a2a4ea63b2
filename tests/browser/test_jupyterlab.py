"""Every notebook in the real JupyterLab, in headless Chromium: Run All, then look.

For each notebook: open it in the one JupyterLab page (loaded once with ``?reset``, a clean
workspace; opening by JupyterLab's ``docmanager:open`` command instead of reloading the page
saves 6-7 s per notebook on 2 cores), wait for the kernel to be Idle, Run > Run All Cells,
wait until no cell shows ``[*]``, then check what a learner would see:

* no cell stuck at ``[*]`` (a hang — nbval cannot see this one);
* no traceback in any output;
* no "Error displaying widget", and no widget shown as plain text (no widget front end);
* at least one live widget changed its value while we watched (values are sampled
  during the run and after it);
* a full-page screenshot in ``test-artifacts/NAME.png``, to look at (in CI, where nobody
  looks at a passing one, only when the test fails: 2-3 s of rendering each; set
  ``RTLAB_SCREENSHOTS=all`` to have them all there too).

**The page-wide budget.** Over HTTP/1.1 Chromium opens at most 6 connections per origin, and
through the Jupyter proxy rtlab's servers share JupyterLab's origin: were rtlab's widgets to hold
more, JupyterLab's own saves and listings would wait (tests/browser/test_browser_limits.py shows
it). page.js keeps a page-wide budget of two. So a notebook with a client in the page
(``PAGE_CLIENTS``) is left open after its test, its kernel running — every browser client of
every notebook is live at the end — and for the whole module Chromium itself counts, through
CDP's Network events (:class:`inflight.InFlight`), the HTTP requests the page has in flight to
``/proxy/`` (WebSockets excluded: they have a pool of their own; the six demo of 07 excluded:
filling the pool is its point). The last test watches them all together a while longer; the
count must never have passed 2, and the budget's own peak (``globalThis.rtlabBudget.peak``) must
agree. The notebooks without page clients run first, so that the measuring ones (05, 08) run
with nothing else open, then 06 and 07 (see ``PATHS``).

Select with ``pytest -m browser``; see conftest.py for the server and the browser.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from inflight import InFlight

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
ARTIFACTS = ROOT / "test-artifacts"  # gitignored; conftest.py creates it
# The English notebooks, and two Chinese twins (notebooks/zh-CN/, the same code cell for cell:
# tests/test_zh_cn_notebooks.py): the start, and the chat stream with its live token view.
# The other twins run headless in tests/test_notebooks.py; running all of them here too would
# double the browser suite's time for widgets the English runs already showed moving.
# RTLAB_BROWSER_ZH="06_real_networks 08_the_quiz_at_scale" (or "all") runs other twins here too,
# by hand: CI runs the two below.
ZH_CHOSEN = os.environ.get("RTLAB_BROWSER_ZH", "00_start_here 04_sse").split()
# What makes the page itself talk to rtlab's servers: the browser clients (browser.js), 07's chat
# box and six demo. A notebook with none is closed after its test: it has nothing to count.
PAGE_CLIENTS = ("browser.client", "browser.clients", "chat_box(", "six_demo(")


def _has_page_clients(path: Path) -> bool:
    nb = json.loads(path.read_text())
    return any(c["cell_type"] == "code" and any(k in "".join(c["source"]) for k in PAGE_CLIENTS)
               for c in nb["cells"])


_ALL = (sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
        + [p for p in sorted((NOTEBOOKS / "zh-CN").glob("[0-9][0-9]_*.ipynb"))
           if "all" in ZH_CHOSEN or p.stem in ZH_CHOSEN])
# The order: those without page clients first (nothing is left open behind them), then 06 and 07,
# which time events on emulated paths, before the lighter ones are left open behind them (their
# clients keep polling: load); each group in file order (a stable sort).
MEASURING_FIRST = ("06_", "07_")
PATHS = sorted(_ALL, key=lambda p: (_has_page_clients(p), not p.name.startswith(MEASURING_FIRST)))
RUN_TIMEOUT_S = 150  # a hang detector, not a speed target: 06 runs ~60-70 s on a busy 2-core box
# Every page client live at once, watched long enough for each to have had a slot: page.js makes
# the oldest holder yield after SHARE_AFTER_MS = 2 s, so six clients in pairs take turns in ~6 s.
WATCH_AFTER_S = 10

# One look at the notebook: the prompts of its code cells, the kernel status, and the value
# of every widget leaf (text, image source, progress bar style) keyed by cell and position.
SNAPSHOT_JS = """
() => {
  const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
  if (!panel) return {prompts: [], values: {}, status: ''};
  const cells = [...panel.querySelectorAll('.jp-Notebook .jp-Cell')];
  // A code cell whose source is hidden (a collapsed solution) shows no prompt: skip it.
  const prompts = cells.filter(c => c.classList.contains('jp-CodeCell'))
      .map(c => c.querySelector('.jp-InputArea-prompt')).filter(p => p).map(p => p.textContent);
  const values = {};
  cells.forEach((cell, i) => {
    cell.querySelectorAll('.jp-OutputArea-output .widget-html-content, .jp-OutputArea-output '
        + '.widget-label, .jp-OutputArea-output .widget-readout, .jp-OutputArea-output '
        + '.jupyter-widgets img, .jp-OutputArea-output img.widget-image, '
        + '.jp-OutputArea-output .progress-bar').forEach((el, j) => {
      values[i + ':' + j] = el.tagName === 'IMG' ? el.src
          : el.classList.contains('progress-bar') ? el.getAttribute('style') : el.textContent;
    });
  });
  const status = (document.querySelector('#jp-main-statusbar') || {}).textContent || '';
  return {prompts, values, status};
}
"""

# The notebook on screen only: the notebooks left open behind it had their own test.
PROBLEMS_JS = """
() => {
  const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)') || document;
  const texts = sel => [...panel.querySelectorAll(sel)].map(e => e.textContent);
  return {
    stderr: texts('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'),
    widget_errors: texts('.jupyter-widgets-error-widget'),
    plain: texts('.jp-OutputArea-output[data-mime-type="text/plain"]'),
    outputs_say_widget_error: [...panel.querySelectorAll('.jp-OutputArea-output')]
        .some(e => e.textContent.includes('Error displaying widget')),
  };
}
"""

# A widget that did not render shows its Python repr as text/plain instead.
WIDGET_REPR = re.compile(r"^\s*(HTML|Label|VBox|HBox|Box|Image|Output|IntProgress|FloatProgress|"
                         r"Button|RadioButtons|Dropdown|IntSlider|FloatSlider|Tab|Accordion)\(")
EXECUTED = re.compile(r"^\[\d+\]:?$")


# Screenshots of passing notebooks: by default everywhere but in CI (CI=true).
SCREENSHOT_ALL = os.environ.get("RTLAB_SCREENSHOTS", "failures" if os.environ.get("CI") else "all") == "all"


def _snapshot(page: Any) -> dict[str, Any]:
    return page.evaluate(SNAPSHOT_JS)


def _screenshot(page: Any, path: Path) -> None:
    """The whole notebook in one image: JupyterLab scrolls inside a fixed-size page, so
    ``full_page`` alone shows one screenful; make the window as tall as the notebook first."""
    height = page.evaluate("() => Math.max(0, ...[...document.querySelectorAll("
                           "'.jp-NotebookPanel:not(.lm-mod-hidden) .jp-WindowedPanel-outer')]"
                           ".map(e => e.scrollHeight))")
    viewport = page.viewport_size
    page.set_viewport_size({"width": viewport["width"], "height": min(16_000, max(viewport["height"],
                                                                                   height + 200))})
    page.evaluate("() => new Promise(r => { document.querySelectorAll("
                  "'.jp-NotebookPanel:not(.lm-mod-hidden) .jp-WindowedPanel-outer')"
                  ".forEach(e => { e.scrollTop = 0; });"
                  " requestAnimationFrame(() => requestAnimationFrame(r)); })")
    page.screenshot(path=str(ARTIFACTS / f"{path.stem}.png"), full_page=True)
    page.set_viewport_size(viewport)


def _run_all_cells(page: Any) -> None:
    """Run > Run All Cells, through the menu bar, as a learner does."""
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    # The Run menu's item is "runmenu:run-all" in JupyterLab 4 ("notebook:run-all-cells" earlier).
    page.locator('.lm-Menu-item[data-command="runmenu:run-all"], '
                 '.lm-Menu-item[data-command="notebook:run-all-cells"]').first.click(timeout=10_000)


def _label(path: Path) -> str:
    """"04_sse", or "zh-CN-04_sse" for a Chinese twin: the test id and the screenshot's name."""
    return str(path.relative_to(NOTEBOOKS).with_suffix("")).replace("/", "-")


OPEN_JS = """
async (path) => {
  const panel = await window.jupyterapp.commands.execute('docmanager:open', {path});
  await panel.context.ready;
  await panel.sessionContext.ready;
}
"""

# Close every document but those in ``keep`` (paths), shutting its kernel down first, with no
# "save changes?" dialog.
# Their kernels are shut down together: each waits for its servers to stop.
CLOSE_JS = """
async (keep) => {
  const closing = [...window.jupyterapp.shell.widgets('main')]
      .filter(widget => !(widget.context && keep.includes(widget.context.path)));
  await Promise.all(closing.map(async widget => {
    if (widget.sessionContext) await widget.sessionContext.shutdown();
    if (widget.context) widget.context.model.dirty = false;
    widget.dispose();
  }));
}
"""

# The module's own bookkeeping for the budget test: notebooks whose test started, and those
# that passed and were left open with their page clients live.
ATTEMPTED: set[str] = set()
KEPT_OPEN: set[str] = set()


@pytest.fixture(scope="module")
def flight(lab_page: Any, jupyterlab: Any) -> Iterator[InFlight]:
    """Every request the page sends to rtlab's servers while this module runs."""
    lab_page.evaluate(CLOSE_JS, [])
    lab_page.evaluate("() => globalThis.rtlabBudget && (globalThis.rtlabBudget.peak = 0)")
    recorder = InFlight()
    cdp = recorder.attach(lab_page)
    try:
        yield recorder
    finally:
        try:
            cdp.detach()
            lab_page.evaluate(CLOSE_JS, [])
            jupyterlab.shutdown_kernels()
        except Exception:  # noqa: BLE001 - a broken page must not hide the tests' own failures
            pass


@pytest.fixture
def page(lab_page: Any, flight: InFlight) -> Iterator[Any]:
    """The lab page; afterwards every document is closed but the notebooks kept open."""
    lab_page.evaluate(CLOSE_JS, sorted(KEPT_OPEN))
    try:
        yield lab_page
    finally:
        try:
            lab_page.evaluate(CLOSE_JS, sorted(KEPT_OPEN))
        except Exception:  # noqa: BLE001 - a broken page must not hide the test's own failure
            pass


def _run_until_done(page: Any, path: Path, seen: dict[str, set[str]] | None = None) -> list[str]:
    """Run > Run All Cells, then wait until the kernel is Idle, no cell is queued or running
    ([*]) and some have run, twice in a row; sample every widget value into ``seen``
    meanwhile (to see which ones move). Returns the prompts."""
    _run_all_cells(page)
    deadline = time.monotonic() + RUN_TIMEOUT_S
    quiet = 0
    while True:
        snap = _snapshot(page)
        for key, value in snap["values"].items():
            if seen is not None:
                seen[key].add(value)
        prompts = [p.strip() for p in snap["prompts"]]
        running = [i for i, p in enumerate(prompts) if "*" in p]
        executed = [i for i, p in enumerate(prompts) if EXECUTED.match(p)]
        quiet = quiet + 1 if executed and not running and "Idle" in snap["status"] else 0
        if quiet >= 2:
            return prompts
        if time.monotonic() > deadline:
            _screenshot(page, Path(_label(path)))
            pytest.fail(f"{path.name}: cells still at [*]: hang — after {RUN_TIMEOUT_S} s, code cells "
                        f"{running} show [*]; status bar: {snap['status'][:60]!r}")
        time.sleep(0.5)  # a look twice a second: each one walks every cell of the page


@pytest.mark.browser
@pytest.mark.parametrize(
    "path", PATHS or [pytest.param(None, marks=pytest.mark.skip(reason="no notebooks yet"))],
    ids=[_label(p) for p in PATHS] or ["none"],
)
def test_notebook_runs_in_jupyterlab(page: Any, path: Path) -> None:
    started = time.monotonic()
    page.evaluate(OPEN_JS, str(path.relative_to(NOTEBOOKS)))
    page.wait_for_selector(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell", timeout=60_000)
    page.locator("#jp-main-statusbar", has_text="Idle").wait_for(timeout=60_000)
    opened = time.monotonic()

    ATTEMPTED.add(_label(path))
    seen: dict[str, set[str]] = defaultdict(set)
    prompts = _run_until_done(page, path, seen)
    ran = time.monotonic()

    # Watch a little longer: a live view keeps moving (00's ticking counter does).
    for _ in range(3):
        time.sleep(0.5)
        for key, value in _snapshot(page)["values"].items():
            seen[key].add(value)
    print(f"{path.name}: opened in {opened - started:.1f} s, ran in {ran - opened:.1f} s, "
          f"{len(seen)} widget values watched")
    try:
        _check_what_a_learner_sees(page, path, prompts, seen)
    except AssertionError:
        _screenshot(page, Path(_label(path)))
        raise
    if SCREENSHOT_ALL:
        _screenshot(page, Path(_label(path)))
    if _has_page_clients(path):
        KEPT_OPEN.add(str(path.relative_to(NOTEBOOKS)))  # for the budget test below


def _check_what_a_learner_sees(page: Any, path: Path, prompts: list[str], seen: dict[str, set[str]]) -> None:
    problems = page.evaluate(PROBLEMS_JS)
    tracebacks = [t for t in problems["stderr"] if "Traceback" in t or "Error" in t.split("\n", 3)[0]]
    assert not tracebacks, f"{path.name}: error output in the notebook:\n" + "\n---\n".join(
        t[-1500:] for t in tracebacks)
    not_run = [i for i, p in enumerate(prompts) if not EXECUTED.match(p)]
    assert not not_run, f"{path.name}: Run All stopped before code cells {not_run} (prompts {prompts})"
    assert not problems["widget_errors"] and not problems["outputs_say_widget_error"], (
        f"{path.name}: 'Error displaying widget': {problems['widget_errors']}")
    unrendered = [t[:120] for t in problems["plain"] if WIDGET_REPR.match(t)]
    assert not unrendered, f"{path.name}: widgets shown as text, not rendered: {unrendered}"
    moved = [key for key, values in seen.items() if len(values) > 1]
    assert moved, (f"{path.name}: no live widget changed its value during the run and 1.5 s after "
                   f"it ({len(seen)} widget values watched)")


@pytest.mark.browser
@pytest.mark.timeout(900)  # when run alone it runs every notebook with page clients itself
def test_every_notebook_open_rtlab_holds_at_most_two_connections(page: Any, flight: InFlight) -> None:
    """The page-wide budget: see the module's docstring. Runs last in this module."""
    with_clients = [p for p in PATHS if _has_page_clients(p)]
    failed = [_label(p) for p in with_clients
              if _label(p) in ATTEMPTED and str(p.relative_to(NOTEBOOKS)) not in KEPT_OPEN]
    assert not failed, f"cannot watch every notebook open: {failed} failed above"
    for path in with_clients:  # not run in this session (the test was selected alone)
        if _label(path) not in ATTEMPTED:
            page.evaluate(OPEN_JS, str(path.relative_to(NOTEBOOKS)))
            page.locator("#jp-main-statusbar", has_text="Idle").wait_for(timeout=60_000)
            _run_until_done(page, path)
            KEPT_OPEN.add(str(path.relative_to(NOTEBOOKS)))
    print(f"open, with page clients: {sorted(KEPT_OPEN)}; rtlab requests in flight now "
          f"{len(flight.started)}, peak so far {flight.peak()[0]}", flush=True)
    time.sleep(WATCH_AFTER_S)  # all of them open and live
    statuses = page.evaluate("() => Object.fromEntries([...document.querySelectorAll("
                             "'.rtlab-browser')].map((e, i) => [i + ':' + e.dataset.transport, "
                             "e.textContent.slice(0, 160)]))")
    budget_peak = page.evaluate("() => globalThis.rtlabBudget ? globalThis.rtlabBudget.peak : null")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "budget_all_notebooks.png"))
    KEPT_OPEN.clear()  # the page fixture closes them all now
    print("\n".join(f"{k}: {v}" for k, v in statuses.items()))
    peak, peak_urls = flight.peak()
    print(f"requests to rtlab seen: {flight.seen}; peak in flight {peak}: {peak_urls}; "
          f"budget's own peak {budget_peak}")
    assert len(statuses) >= 4, f"expected the browser clients of 01-04 and 06 on the page: {statuses}"
    assert flight.seen > 20, "hardly any request reached rtlab's servers: nothing was measured"
    assert peak <= 2, f"{peak} requests in flight at once: {peak_urls}"
    assert budget_peak is not None and budget_peak <= 2
