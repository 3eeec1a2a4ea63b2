"""The showdown: connections held, and cost against the number of clients."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter
from matplotlib.transforms import blended_transform_factory

from ..i18n import t
from .base import _axes, _by_transport, _legend_below, colour, display_name

__all__ = ["connection_bars", "scaling", "scaling_value"]


def connection_bars(results: Mapping[str, Any] | Sequence[Any], ax: Axes | None = None, *,
                    title: str | None = None) -> Figure:
    """What differs between techniques that all hold one connection per client: requests over it.

    Each bar is the number of HTTP requests one connection carried during the experiment
    (requests the clients made ÷ TCP connections they opened); the x labels say how many
    connections the clients of each technique opened. With keep-alive a poller
    reuses its connection, so the connection counts are alike; the traffic over them is not.
    """
    fig, ax = _axes(ax, 7, 4)
    by_name = _by_transport(results)
    # Counted by the clients, over the whole run (set-up included): the server's counters in a
    # Result start at the first event, after every connection was opened.
    connections = [sum(r.connections for r in res.recorders) for res in by_name.values()]
    requests = [sum(r.requests for r in res.recorders) for res in by_name.values()]
    per_connection = [q / c if c else 0.0 for q, c in zip(requests, connections, strict=True)]
    labels = [f"{display_name(n)}\n{c} conn. / {res.clients} clients"
              for (n, res), c in zip(by_name.items(), connections, strict=True)]
    bars = ax.bar(labels, per_connection, color=[colour(n) for n in by_name])
    ax.bar_label(bars, labels=[f"{v:.3g}" for v in per_connection], padding=2, fontsize=9)
    ax.margins(y=0.15)
    ax.set_ylabel(t("HTTP requests per TCP connection"))
    ax.set_title(title or t("Connections are alike; the requests over them differ"))
    ax.tick_params(axis="x", labelsize=9)
    ax.grid(True, axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    return fig


SCALING_METRICS: dict[str, tuple[str, str, Any]] = {
    # metric -> (what it is, the y axis: quantity and unit, value of one Result). Totals are for all
    # clients; the server's counters start when the events start (the clients' include connecting).
    "requests_per_s": ("HTTP requests per second", "requests/s, all clients",
                       lambda r: r.server.requests / r.duration_s),
    "bytes_per_s": ("bytes per second", "bytes/s, both ways, all clients",
                    lambda r: (r.server.bytes_in + r.server.bytes_out) / r.duration_s),
    "cpu_ms_per_s": ("server CPU", "server CPU, ms per s", lambda r: r.server.cpu_s * 1000 / r.duration_s),
    "connections": ("connections open", "connections open", lambda r: r.server.connections_open),
    "bytes_per_event": ("bytes per event per client", "bytes / event / client",
                        lambda r: r.bytes_per_event),
    "p50_ms": ("median latency", "p50 latency, ms", lambda r: r.summary().p50),
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
    return float(SCALING_METRICS[metric][2](result))


def _spread_labels(ys: list[float], min_gap: float) -> list[float]:
    """Positions for labels at ``ys`` (axis fractions), moved apart to at least ``min_gap``."""
    order = sorted(range(len(ys)), key=lambda i: ys[i])
    placed = list(ys)
    for prev, cur in zip(order, order[1:], strict=False):
        placed[cur] = max(placed[cur], placed[prev] + min_gap)
    return placed


def scaling(scaled: Mapping[int, Mapping[str, Any]], metric: str = "requests_per_s",
            ax: Axes | None = None, *, title: str | None = None) -> Figure:
    """Cost against the number of clients, one line per transport (log–log axes).

    ``scaled`` is what :func:`rtlab.experiments.scale` returns; use at least three client
    counts, so that a line's shape means something. Each line ends in a label with its last
    value; the labels are moved apart so that they never overlap.
    """
    fig, ax = _axes(ax, 6, 4.2)
    counts = sorted(scaled)
    transports = list(scaled[counts[0]]) if counts else []
    quantity, unit, _ = SCALING_METRICS[metric]
    ends: list[tuple[str, float]] = []
    for name in transports:
        points = [(n, scaling_value(scaled[n][name], metric)) for n in counts if name in scaled[n]]
        xs = [n for n, v in points if v > 0]  # a log axis cannot show 0: say so in the legend
        ys = [v for _, v in points if v > 0]
        label = display_name(name) + ("" if len(xs) == len(points) else t("  (0: not shown)"))
        ax.plot(xs, ys, color=colour(name), marker="o", linewidth=2, label=label)
        if ys:
            ends.append((name, ys[-1]))
    positive = [v for _, v in ends]
    ax.set_xscale("log")
    if positive:
        ax.set_yscale("log")
    ax.set_xticks(counts)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: _compact(v)))
    ax.yaxis.set_minor_formatter(FuncFormatter(  # label 2s and 5s too: a decade is a lot of axis
        lambda v, _: _compact(v) if f"{v:.0e}"[0] in "25" else ""))
    if counts:
        ax.set_xlim(counts[0] / 1.4, counts[-1] * 2.6)  # room on the right for the end labels
    ax.margins(y=0.15)
    if ends:
        # Data → axes fractions through the limits alone (get_ylim() applies the autoscale and
        # the margins): no draw of the whole figure just to read where a value will land.
        ax.get_ylim()
        to_axes = ax.transScale + ax.transLimits
        fractions = [to_axes.transform((counts[-1], v))[1] for _, v in ends]
        placed = _spread_labels(fractions, 0.07)
        label_at = blended_transform_factory(ax.transData, ax.transAxes)
        for (name, value), y in zip(ends, placed, strict=True):
            ax.annotate(_compact(value), (counts[-1], value), xytext=(counts[-1] * 1.25, y),
                        textcoords=label_at, fontsize=8, color=colour(name), va="center",
                        arrowprops={"arrowstyle": "-", "color": colour(name), "linewidth": 0.6})
    ax.set_xlabel(t("clients per technique (log scale)"))
    ax.set_ylabel(t("{unit} (log scale)", unit=t(unit)))
    ax.set_title(title or t(quantity[0].upper() + quantity[1:]), fontsize=10)
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
        for at in s.arrivals_s:
            counts[min(bins - 1, int(at // bin_s))] += 1
        xs = [i * bin_s for i in range(bins)]
        ax.step(xs, [c / bin_s for c in counts], where="post", color=policy_colours.get(name, "#333333"),
                label=t("{name}: peak {peak:.0f}/s, all back in {back:.2f} s", name=t(name),
                        peak=s.peak_per_s(bin_s), back=s.back_s))
    first = next(iter(storms.values()), None)
    ax.set_xlabel(t("seconds after the restart"))
    ax.set_ylabel(t("reconnects per second ({ms:.0f} ms bins)", ms=bin_s * 1000))
    if first is not None:
        ax.set_title(t("{n} {name} clients after a restart: jitter flattens the storm, at the price of "
                       "a later return", n=first.clients, name=display_name(first.transport)), fontsize=10)
    ax.legend(fontsize=8, frameon=False)
    return fig
