"""The showdown: connections held, and cost against the number of clients."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from .base import _axes, _by_transport, _legend_below, colour, display_name

__all__ = ["connection_bars", "scaling", "scaling_value"]


def connection_bars(results: Mapping[str, Any] | Sequence[Any], ax: Axes | None = None) -> Figure:
    """TCP connections each technique's server accepted, and requests it answered, for all clients.

    With HTTP keep-alive a poller reuses its connection, so every technique holds about one
    per client; what differs is how many requests travel over it.
    """
    fig, ax = _axes(ax, 6, 3.8)
    by_name = _by_transport(results)
    labels = [display_name(n) for n in by_name]
    connections = [by_name[n].server.connections_total for n in by_name]
    bars = ax.bar(labels, connections, color=[colour(n) for n in by_name])
    requests = [sum(r.requests for r in res.recorders) for res in by_name.values()]
    ax.bar_label(bars, labels=[f"{c} conn.\n{q} req." for c, q in zip(connections, requests, strict=True)],
                 padding=2, fontsize=8)
    ax.margins(y=0.3)
    ax.set_ylabel("TCP connections accepted")
    ax.set_title("Connections (and the requests they carried)")
    ax.tick_params(axis="x", labelrotation=20, labelsize=9)
    ax.grid(True, axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    return fig


SCALING_METRICS: dict[str, tuple[str, Any]] = {
    # metric -> (title, value of one Result). Totals are for all clients; the server's counters
    # start when the events start (the clients' own counts include connecting).
    "requests_per_s": ("HTTP requests per second", lambda r: r.server.requests / r.duration_s),
    "bytes_per_s": ("Bytes per second, both ways",
                    lambda r: (r.server.bytes_in + r.server.bytes_out) / r.duration_s),
    "cpu_ms_per_s": ("Server CPU ms per second", lambda r: r.server.cpu_s * 1000 / r.duration_s),
    "connections": ("Connections open", lambda r: r.server.connections_open),
    "bytes_per_event": ("Bytes per event per client", lambda r: r.bytes_per_event),
    "p50_ms": ("Median latency (ms)", lambda r: r.summary().p50),
}


def _compact(value: float) -> str:
    """2.7, 350, 12k, 1.4M: short enough to label a point."""
    for limit, suffix in ((1e6, "M"), (1e3, "k")):
        if value >= limit:
            scaled = value / limit
            return f"{scaled:.2g}{suffix}" if scaled < 100 else f"{scaled:.0f}{suffix}"
    return f"{value:.2g}" if value < 100 else f"{value:.0f}"


def scaling_value(result: Any, metric: str) -> float:
    """One point of :func:`scaling`: ``metric`` (a key of :data:`SCALING_METRICS`) of a Result."""
    if metric not in SCALING_METRICS:
        raise ValueError(f"metric must be one of {', '.join(SCALING_METRICS)}; got {metric!r}")
    return float(SCALING_METRICS[metric][1](result))


def scaling(scaled: Mapping[int, Mapping[str, Any]], metric: str = "requests_per_s",
            ax: Axes | None = None) -> Figure:
    """Cost against the number of clients, one line per transport (log–log axes).

    ``scaled`` is what :func:`rtlab.lessons.experiments.scale` returns. On log–log axes a cost that
    grows in proportion to the clients is a line of slope 1 (the dotted guide); a flat line
    does not grow at all.
    """
    fig, ax = _axes(ax, 6, 4.2)
    counts = sorted(scaled)
    transports = list(scaled[counts[0]]) if counts else []
    for name in transports:
        points = [(n, scaling_value(scaled[n][name], metric)) for n in counts if name in scaled[n]]
        xs = [n for n, v in points if v > 0]  # a log axis cannot show 0: say so in the legend
        ys = [v for _, v in points if v > 0]
        label = display_name(name) + ("" if len(xs) == len(points) else "  (0: not shown)")
        ax.plot(xs, ys, color=colour(name), marker="o", linewidth=2, label=label)
        for x, v in zip(xs, ys, strict=True):
            ax.annotate(_compact(v), (x, v), xytext=(5, 3), textcoords="offset points", fontsize=8,
                        color=colour(name))
    values = [scaling_value(scaled[n][t], metric) for n in counts for t in scaled[n]]
    positive = [v for v in values if v > 0]
    if len(counts) >= 2 and positive:  # the slope-1 guide: "grows in proportion to the clients"
        top = max(positive)
        ax.plot([counts[0], counts[-1]], [top * counts[0] / counts[-1], top], color="#888888",
                linestyle=":", linewidth=1, label="∝ clients (slope 1)")
    ax.set_xscale("log")
    if positive:
        ax.set_yscale("log")
    ax.set_xticks(counts)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: _compact(v)))
    ax.yaxis.set_minor_formatter(FuncFormatter(  # label 2s and 5s too: a decade is a lot of axis
        lambda v, _: _compact(v) if f"{v:.0e}"[0] in "25" else ""))
    ax.margins(x=0.15, y=0.15)
    ax.set_xlabel("clients per technique (log scale)")
    ax.set_ylabel("log scale")
    ax.set_title(SCALING_METRICS[metric][0])
    ax.grid(True, which="both", alpha=0.25)
    _legend_below(ax)
    return fig


def storm(storms: Mapping[str, Any], bin_s: float = 0.05) -> Figure:
    """Handshakes per second at the server after a restart, one line per reconnect policy.

    ``storms`` is what :func:`rtlab.lessons.storm.storms` returns.
    """
    fig, ax = _axes(None, 7.5, 3.8)
    policy_colours = {"immediate": "#D55E00", "fixed": "#E69F00", "exponential": "#0072B2"}
    longest = max((max(s.arrivals_s, default=0) for s in storms.values()), default=0)
    bins = max(1, math.ceil(longest / bin_s) + 1)
    for name, s in storms.items():
        counts = [0] * bins
        for t in s.arrivals_s:
            counts[min(bins - 1, int(t // bin_s))] += 1
        xs = [i * bin_s for i in range(bins)]
        ax.step(xs, [c / bin_s for c in counts], where="post", color=policy_colours.get(name, "#333333"),
                label=f"{name}: peak {s.peak_per_s(bin_s):.0f}/s, all back in {s.back_s:.2f} s")
    first = next(iter(storms.values()), None)
    ax.set_xlabel("seconds after the restart")
    ax.set_ylabel(f"reconnects per second ({bin_s * 1000:.0f} ms bins)")
    if first is not None:
        ax.set_title(f"{first.clients} {display_name(first.transport)} clients after a restart: "
                     "jitter flattens the storm, at the price of a later return", fontsize=10)
    ax.legend(fontsize=8, frameon=False)
    return fig
