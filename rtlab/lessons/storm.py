"""A reconnect storm, measured: N clients lose their server at once and come back.

:func:`storm` connects ``clients`` clients of one technique, lets events flow, then restarts
the server (every connection cut with a TCP reset, the port open again at once) and watches
the handshakes arrive at the server (its trace's ``arrive`` marks) until every client is back
— subscribed again, or parked again for long polling — and has every event exactly once.

How the clients wait before reconnecting is the lesson (:mod:`rtlab.net.retry`): with no
wait, all N arrive within a few milliseconds; with a fixed wait they arrive later but still
together; with exponential backoff and full jitter they spread over the first window.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from .. import lab
from ..net import connect, serve
from ..net.retry import Retry

__all__ = ["STORM_POLICIES", "Storm", "storm", "storms"]

# The storm's policies: a window of 1 s for the two that wait, long next to what one handshake costs.
STORM_POLICIES: dict[str, Retry] = {
    "immediate": Retry("immediate"),
    "fixed": Retry("fixed", base=1.0, cap=1.0),
    "exponential": Retry("exponential", base=1.0, cap=8.0),
}


@dataclass
class Storm:
    """What one storm did: when each reconnect reached the server, and how long until all were back."""

    transport: str
    policy: str
    clients: int
    arrivals_s: list[float] = field(default_factory=list)  # seconds after the server listened again
    back_s: float = float("nan")  # from then until every client was connected (or parked) again
    exactly_once: bool = False  # every client has every event, once, in order
    resets: int = 0  # connections the restart cut

    def peak_per_s(self, bin_s: float = 0.05) -> float:
        """The most handshakes per second the server took in any ``bin_s`` window."""
        if not self.arrivals_s:
            return 0.0
        bins: dict[int, int] = {}
        for t in self.arrivals_s:
            bins[int(t // bin_s)] = bins.get(int(t // bin_s), 0) + 1
        return max(bins.values()) / bin_s

    def __repr__(self) -> str:
        return (f"<Storm {self.transport} {self.policy}: {self.clients} clients back in "
                f"{self.back_s:.2f} s, peak {self.peak_per_s():.0f} handshakes/s, "
                f"exactly once: {self.exactly_once}>")


def _connected(server: object, transport: str) -> int:
    if transport == "long-polling":
        return server.read(lambda s: s.waiting)  # type: ignore[attr-defined]
    return server.read(lambda s: s.hub.subscriber_count if s.hub else 0)  # type: ignore[attr-defined]


def storm(transport: str = "websocket", clients: int = 100, policy: str | Retry = "exponential", *,
          events: int = 5, timeout: float = 30.0) -> Storm:
    """Restart a server under ``clients`` connected clients and measure how they come back.

    Args:
        transport: ``"long-polling"``, ``"sse"`` or ``"websocket"`` (short polling holds no
            connection, so there is no storm to see).
        clients: how many clients (1,000 is fine on a laptop; a notebook uses fewer).
        policy: a name from :data:`STORM_POLICIES` or a :class:`~rtlab.net.retry.Retry`.
        events: events published before and after the restart (each must arrive once).
        timeout: give up waiting after this many seconds.
    """
    retry = policy if isinstance(policy, Retry) else STORM_POLICIES[policy]
    options = {"hold": 20.0} if transport == "long-polling" else {}
    server = serve(transport, name=f"storm-{transport}", trace=True, max_connections=clients + 100, **options)
    started = []
    try:
        started = [connect(transport, server.url, name=f"storm-{transport}-{i}", retry=retry)
                   for i in range(clients)]
        lab.wait_until(lambda: _connected(server, transport) >= clients, timeout)
        for i in range(events):
            server.publish("tick", {"i": i})
        lab.wait_until(lambda: all(c.last_seq >= events for c in started), timeout)
        # Every long poll parked again: no request is on its way when the server goes down.
        lab.wait_until(lambda: _connected(server, transport) >= clients, timeout)
        cut = server.crash()  # every connection reset; the port closed (clients get "refused")
        restart_ns = time.monotonic_ns()  # the clock starts as the port opens again: no reconnect
        server.recover()                  # can succeed before this moment
        back = lab.wait_until(lambda: _connected(server, transport) >= clients, timeout)
        back_ns = time.monotonic_ns()
        back_s = (back_ns - restart_ns) / 1e9 if back else float("nan")
        for i in range(events):
            server.publish("tick", {"i": events + i})
        lab.wait_until(lambda: all(c.last_seq >= 2 * events for c in started), timeout)
        # The reconnects: requests that reached the server between the restart and "all back"
        # (later ones are long polls asking again after the next events, not the storm).
        arrivals = [(m.t_ns - restart_ns) / 1e9 for m in server.trace.marks(restart_ns, kinds=("arrive",))
                    if m.label.endswith(server.path) and m.t_ns <= back_ns] if server.trace else []
        once = all(c.recorder.seqs == list(range(1, 2 * events + 1)) and c.recorder.duplicates == 0
                   for c in started)
        return Storm(transport, retry.policy, clients, sorted(arrivals), back_s, once, cut)
    finally:
        for client in started:
            client.stop()
        server.stop()


def storms(transport: str = "websocket", clients: int = 100, **options: object) -> dict[str, Storm]:
    """One :func:`storm` per policy in :data:`STORM_POLICIES`."""
    return {name: storm(transport, clients, name, **options) for name in STORM_POLICIES}  # type: ignore[arg-type]
