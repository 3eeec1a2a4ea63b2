"""The HTTP requests a page has in flight to rtlab's servers, as Chromium itself counts them.

Used by tests/browser/test_jupyterlab.py, whose last test checks the page-wide budget: over
HTTP/1.1 Chromium opens at most 6 connections per origin, and through the Jupyter proxy rtlab's
servers share JupyterLab's origin, so rtlab's browser clients may hold at most two of them
(page.js keeps that budget; tests/browser/test_browser_limits.py shows what more would do).
"""

from __future__ import annotations

from typing import Any


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

    def attach(self, page: Any) -> Any:
        """Listen to ``page``'s network events through a CDP session; returns the session
        (``detach()`` it when done)."""
        cdp = page.context.new_cdp_session(page)
        cdp.on("Network.requestWillBeSent", self.sent)
        cdp.on("Network.responseReceived", self.answered)
        cdp.on("Network.loadingFinished", self.ended)
        cdp.on("Network.loadingFailed", self.ended)
        cdp.send("Network.enable")
        return cdp
