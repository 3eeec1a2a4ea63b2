"""rtlab's browser clients hold at most two of the browser's six connections, every notebook open.

Over HTTP/1.1 Chromium opens at most 6 connections per origin, and through the Jupyter proxy
rtlab's servers share JupyterLab's origin: were rtlab's widgets to hold more, JupyterLab's own
saves and listings would wait (tests/browser/test_browser_limits.py shows it). page.js keeps a
page-wide budget of two. Here every notebook is opened in one JupyterLab page, and each one with
a client in the page (``PAGE_CLIENTS``) is run, one after the other, none closed — so every
browser client of every notebook is live at the end —
and Chromium itself counts, through CDP's Network events, the HTTP requests the page has in
flight to ``/proxy/`` (WebSockets excluded: they have a pool of their own; the six demo of 07
excluded: filling the pool is its point). The count must never pass 2, and the budget's own
peak (``globalThis.rtlabBudget.peak``) must agree.

Select with ``pytest -m browser``; skips without Chromium unless RTLAB_REQUIRE_BROWSER=1.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
from test_jupyterlab import EXECUTED, OPEN_JS, _run_all_cells, _snapshot

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
ARTIFACTS = ROOT / "test-artifacts"
# RTLAB_BUDGET_NOTEBOOKS="02,04" runs only those (to look at one combination quickly).
PATHS = [p for p in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
         if not os.environ.get("RTLAB_BUDGET_NOTEBOOKS")
         or p.name[:2] in os.environ["RTLAB_BUDGET_NOTEBOOKS"].split(",")]
RUN_TIMEOUT_S = 180
# What makes the page itself talk to rtlab's servers: the browser clients (browser.js), 07's chat
# box and six demo. A notebook without them is opened but not run: it has no page-side request
# to count, and running 05 and 08 in full here cost CI over a minute and a half for nothing.
PAGE_CLIENTS = ("browser.client", "browser.clients", "chat_box(", "six_demo(")


def _has_page_clients(path: Path) -> bool:
    nb = json.loads(path.read_text())
    return any(c["cell_type"] == "code" and any(k in "".join(c["source"]) for k in PAGE_CLIENTS)
               for c in nb["cells"])
WATCH_AFTER_S = 20  # every client live at once: long enough for the budget to rotate its slots


class InFlight:
    """HTTP requests to rtlab's servers (``/proxy/``), as Chromium's network stack reports them.

    Each request is an interval from ``requestWillBeSent`` to ``loadingFinished`` or
    ``loadingFailed`` (a cancel: an EventSource closed, a fetch aborted), on the network
    stack's own timestamps: the order CDP delivers events in from different requests is not
    the order they happened in.
    """

    def __init__(self) -> None:
        self.started: dict[str, tuple[float, str]] = {}  # requestId -> (timestamp, url)
        self.intervals: list[tuple[float, float, str]] = []  # (start, end, url) of ended ones
        self.how: dict[str, str] = {}  # requestId -> status, or why it failed (for the report)

    def sent(self, event: dict[str, Any]) -> None:
        url = event["request"]["url"]
        if "/proxy/" not in url or "client=six-" in url or event.get("type") == "WebSocket":
            return
        self.started.setdefault(event["requestId"], (event["timestamp"], url))  # not a redirect again

    def answered(self, event: dict[str, Any]) -> None:
        if event["requestId"] in self.started:
            self.how[event["requestId"]] = f"HTTP {event['response']['status']}"

    def ended(self, event: dict[str, Any]) -> None:
        start = self.started.pop(event["requestId"], None)
        if start is not None:
            how = self.how.pop(event["requestId"], "no response")
            if "errorText" in event:
                how += f", failed: {event['errorText']}" + (" (canceled)" if event.get("canceled") else "")
            self.intervals.append((start[0], event["timestamp"],
                                   f"{start[1]} [{start[0]:.3f}-{event['timestamp']:.3f} s, {how}]"))

    def peak(self, now: float = float("inf")) -> tuple[int, list[str]]:
        """The most requests in flight at one moment, and their URLs (an end at t frees before a
        start at t)."""
        spans = self.intervals + [(t, now, f"{url} [{t:.3f} s-, open]") for t, url in self.started.values()]
        points = sorted([(s, 1, url) for s, _, url in spans] + [(e, -1, url) for _, e, url in spans],
                        key=lambda p: (p[0], p[1]))
        count, best, live, best_urls = 0, 0, [], []
        for _, step, url in points:
            count += step
            live = live + [url] if step > 0 else [u for i, u in enumerate(live) if i != live.index(url)]
            if count > best:
                best, best_urls = count, sorted(live)
        return best, best_urls

    @property
    def seen(self) -> int:
        return len(self.intervals) + len(self.started)


@pytest.mark.browser
@pytest.mark.timeout(1200)  # six notebooks run in full, on a busy 2-core machine
def test_every_notebook_open_rtlab_holds_at_most_two_connections(page: Any) -> None:
    cdp = page.context.new_cdp_session(page)
    flight = InFlight()
    cdp.on("Network.requestWillBeSent", flight.sent)
    cdp.on("Network.responseReceived", flight.answered)
    cdp.on("Network.loadingFinished", flight.ended)
    cdp.on("Network.loadingFailed", flight.ended)
    cdp.send("Network.enable")
    page.evaluate("() => globalThis.rtlabBudget && (globalThis.rtlabBudget.peak = 0)")
    statuses: dict[str, str] = {}
    try:
        for path in PATHS:
            started = time.monotonic()
            page.evaluate(OPEN_JS, path.name)
            page.locator("#jp-main-statusbar", has_text="Idle").wait_for(timeout=60_000)
            if not _has_page_clients(path):
                print(f"{path.name}: open, not run (no client in the page)", flush=True)
                continue
            _run_all_cells(page)
            quiet = 0
            while quiet < 2:
                snap = _snapshot(page)
                prompts = [p.strip() for p in snap["prompts"]]
                done = any(EXECUTED.match(p) for p in prompts) and not any("*" in p for p in prompts)
                quiet = quiet + 1 if done and "Idle" in snap["status"] else 0
                if time.monotonic() - started > RUN_TIMEOUT_S:
                    pytest.fail(f"{path.name}: still running after {RUN_TIMEOUT_S} s")
                time.sleep(0.5)
            print(f"{path.name}: ran in {time.monotonic() - started:.0f} s; rtlab requests in flight "
                  f"now {len(flight.started)}, peak so far {flight.peak()[0]}", flush=True)
        time.sleep(WATCH_AFTER_S)  # all of them open and live
        statuses = page.evaluate("() => Object.fromEntries([...document.querySelectorAll("
                                 "'.rtlab-browser')].map((e, i) => [i + ':' + e.dataset.transport, "
                                 "e.textContent.slice(0, 160)]))")
        budget_peak = page.evaluate("() => globalThis.rtlabBudget ? globalThis.rtlabBudget.peak : null")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "budget_all_notebooks.png"))
    finally:
        cdp.detach()
    print("\n".join(f"{k}: {v}" for k, v in statuses.items()))
    peak, peak_urls = flight.peak()
    print(f"requests to rtlab seen: {flight.seen}; peak in flight {peak}: {peak_urls}; "
          f"budget's own peak {budget_peak}")
    assert os.environ.get("RTLAB_BUDGET_NOTEBOOKS") or len(statuses) >= 4, (
        f"expected the browser clients of 01-04 and 06 on the page: {statuses}")
    assert flight.seen > 20, "hardly any request reached rtlab's servers: nothing was measured"
    assert peak <= 2, f"{peak} requests in flight at once: {peak_urls}"
    assert budget_peak is not None and budget_peak <= 2
