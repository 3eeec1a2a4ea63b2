"""The figures: latency CDFs and histograms, a timeline, cost bars, the short-polling trade-off.

Each function takes what an experiment returned — a :class:`~rtlab.experiments.Result`,
a dict of them by transport, a :class:`~rtlab.measure.Recorder`, or plain lists of
milliseconds — and returns a matplotlib :class:`~matplotlib.figure.Figure`.

Why no ``pyplot``? pyplot keeps global "current figure" state and wants a GUI or the
notebook's backend; rtlab draws from background threads (live widgets) and in headless
tests. A :class:`Figure` made directly is an ordinary object: draw on it anywhere, turn
it into PNG bytes with :func:`figure_to_png` (for an ``ipywidgets.Image``), or leave it
as the last line of a notebook cell to see it.

Each transport always has the same colour (:data:`COLOURS`), so figures can be compared
at a glance.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from typing import Any

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

from .measure import Recorder, percentile

# Colour-blind-safe (Okabe–Ito), one per technique, the same in every figure.
COLOURS: dict[str, str] = {
    "short-polling": "#E69F00",  # orange
    "long-polling": "#56B4E9",  # sky blue
    "sse": "#009E73",  # green
    "websocket": "#CC79A7",  # purple
}
OTHER_COLOURS = ["#0072B2", "#D55E00", "#000000", "#999999"]  # for anything else (a baseline)
NAMES: dict[str, str] = {
    "short-polling": "Short polling",
    "long-polling": "Long polling",
    "sse": "SSE",
    "websocket": "WebSocket",
}
PUBLISH_COLOUR = "#333333"


def colour(transport: str) -> str:
    """The colour of ``transport`` (any other name gets a stable colour of its own)."""
    key = transport.strip().lower().replace("_", "-")
    if key in COLOURS:
        return COLOURS[key]
    return OTHER_COLOURS[sum(map(ord, key)) % len(OTHER_COLOURS)]


def display_name(transport: str) -> str:
    key = transport.strip().lower().replace("_", "-")
    return NAMES.get(key, transport)


class LabFigure(Figure):
    """A matplotlib Figure that shows itself in Jupyter, even if pyplot was never imported.

    (Jupyter's matplotlib display hook is installed only when pyplot loads its backend;
    without it a bare Figure would print as ``<Figure size ...>``.)
    """

    def _repr_png_(self) -> bytes:
        return figure_to_png(self)


def new_figure(width: float = 7.5, height: float = 4.2) -> LabFigure:
    """A blank figure with its own Agg canvas: safe in any thread, needs no display."""
    fig = LabFigure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def figure_to_png(fig: Figure, dpi: int = 90) -> bytes:
    """The figure as PNG bytes, e.g. for ``ipywidgets.Image(value=...)``.

    Rendering costs some tens of milliseconds: do it a few times a second at most, and
    never on the path being timed.
    """
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, facecolor="white")
    return buffer.getvalue()


# -- reading the inputs -------------------------------------------------------------------------
def latencies_of(data: Any) -> list[float]:
    """Latencies in ms from a Result, a Recorder or a plain sequence of numbers."""
    if hasattr(data, "latencies_ms"):
        return list(data.latencies_ms())
    return [float(x) for x in data]


def _by_transport(results: Any) -> dict[str, Any]:
    """``{transport: Result or list}`` from a dict, or a list of Results/Recorders."""
    if isinstance(results, Mapping):
        return dict(results)
    if hasattr(results, "transport"):  # one Result or Recorder
        return {results.transport: results}
    return {getattr(r, "transport", None) or f"series {i + 1}": r for i, r in enumerate(results)}


def _first_recorder(data: Any) -> Recorder | None:
    if isinstance(data, Recorder):
        return data
    recorders = getattr(data, "recorders", None)
    return recorders[0] if recorders else None


def _axes(ax: Axes | None, width: float = 7.5, height: float = 4.2) -> tuple[Figure, Axes]:
    if ax is not None:
        return ax.figure, ax  # type: ignore[return-value]
    fig = new_figure(width, height)
    return fig, fig.add_subplot()


def _legend_below(ax: Axes) -> None:
    """A legend under the axes, where it cannot hide the data."""
    if not ax.get_legend_handles_labels()[0]:
        return  # nothing was drawn
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncols=2, fontsize=9,
              frameon=False)


def _ms(value: float) -> str:
    """A latency for a label: 0.42 ms, 3.1 ms, 105 ms, 1.2 s."""
    if math.isnan(value):
        return "–"
    if value >= 1000:
        return f"{value / 1000:.3g} s"
    return f"{value:.2g} ms" if value < 10 else f"{value:.0f} ms"


# -- latency ------------------------------------------------------------------------------------
def latency_cdf(results: Mapping[str, Any] | Sequence[Any], ax: Axes | None = None) -> Figure:
    """Each transport's latency CDF on one log-scale axis: how many events arrived within x ms.

    ``results`` is what :func:`rtlab.experiments.compare` returns, or ``{name: [ms, ...]}``.
    Read it as: the further left a curve, the faster; the flatter its top, the worse its tail.
    """
    fig, ax = _axes(ax)
    smallest, largest = math.inf, 0.0
    for name, data in _by_transport(results).items():
        values = sorted(v for v in latencies_of(data) if v > 0)  # log axis: no zeros
        if not values:
            continue
        smallest, largest = min(smallest, values[0]), max(largest, values[-1])
        fractions = [(i + 1) / len(values) for i in range(len(values))]
        p50 = percentile(values, 50)
        ax.step(values, fractions, where="post", color=colour(name), linewidth=2,
                label=f"{display_name(name)}  (p50 {_ms(p50)}, n={len(values)})")
    ax.set_xscale("log")
    if largest > 0:
        ax.set_xlim(smallest / 1.5, largest * 1.5)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:g}"))
    ax.set_ylim(0, 1.02)
    for level, text in ((0.5, "median"), (0.99, "p99")):
        ax.axhline(level, color="#888888", linewidth=0.8, linestyle=":")
        ax.annotate(text, (1, level), xycoords=("axes fraction", "data"), xytext=(-4, -10),
                    textcoords="offset points", ha="right", fontsize=8, color="#666666")
    ax.set_xlabel("latency, publish → receipt (ms, log scale)")
    ax.set_ylabel("fraction of events received")
    ax.set_title("How long events took to arrive")
    ax.grid(True, which="major", alpha=0.3)
    _legend_below(ax)
    return fig


def latency_histogram(data: Any, theory_uniform_ms: float | None = None, *, bins: int = 30,
                      ax: Axes | None = None, transport: str | None = None) -> Figure:
    """A histogram of latencies (ms). ``theory_uniform_ms=T`` overlays uniform(0, T).

    That overlay is short polling's theory: an event waits for the next poll, anywhere
    from 0 to one interval ``T``, so latencies spread evenly over 0..T (plus the request
    time), with mean T/2.
    """
    fig, ax = _axes(ax)
    values = latencies_of(data)
    name = transport or getattr(data, "transport", "") or ""
    bar_colour = colour(name) if name else OTHER_COLOURS[0]
    top = max(values, default=1.0)
    if theory_uniform_ms is not None:
        top = max(top, theory_uniform_ms)
    edges = [top * 1.05 * i / bins for i in range(bins + 1)]
    ax.hist(values, bins=edges, color=bar_colour, alpha=0.75, edgecolor="white",
            label=f"measured (n={len(values)})")
    if values:
        mean = sum(values) / len(values)
        ax.axvline(mean, color=bar_colour, linewidth=2, linestyle="--",
                   label=f"measured mean {_ms(mean)}")
    if theory_uniform_ms is not None and values:
        # Expected events per bin if latency were uniform on 0..T: n × bin width / T.
        per_bin = len(values) * (edges[1] - edges[0]) / theory_uniform_ms
        ax.plot([0, theory_uniform_ms], [per_bin, per_bin], color="black", linewidth=2,
                label=f"theory: uniform(0, {_ms(theory_uniform_ms)})")
        ax.plot([theory_uniform_ms, theory_uniform_ms], [0, per_bin], color="black", linewidth=2)
        ax.axvline(theory_uniform_ms / 2, color="black", linewidth=1.2, linestyle=":",
                   label=f"theory mean {_ms(theory_uniform_ms / 2)}")
    ax.set_xlim(0, edges[-1])
    ax.set_xlabel("latency, publish → receipt (ms)")
    ax.set_ylabel("events per bin")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(f"{display_name(name)} latency" if name else "Latency")
    ax.grid(True, axis="y", alpha=0.3)
    _legend_below(ax)
    return fig


# -- time -----------------------------------------------------------------------------------------
def timeline(results: Any, *, y: str = "seq", ax: Axes | None = None) -> Figure:
    """When each event was published and when it arrived, per transport (first client of each).

    ``y="seq"`` (default): events received so far against time. Push transports hug the
    publish line; short polling climbs in steps, one step per poll.
    ``y="latency"``: each event's latency (log scale) against when it was published.
    """
    if y not in ("seq", "latency"):
        raise ValueError('y must be "seq" or "latency"')
    fig, ax = _axes(ax, 8, 4.5)
    series = {n: r for n, d in _by_transport(results).items() if (r := _first_recorder(d))}
    starts = [min(r.sent_ns) for r in series.values() if r.sent_ns]
    if not starts:
        ax.text(0.5, 0.5, "no events recorded", ha="center", va="center", transform=ax.transAxes)
        return fig
    t0 = min(starts)

    def seconds(ns: list[int]) -> list[float]:
        return [(t - t0) / 1e9 for t in ns]

    if y == "seq":
        published = max(series.values(), key=lambda r: r.count)
        order = sorted(zip(published.sent_ns, published.seqs, strict=True))
        ax.step(seconds([t for t, _ in order]), [s for _, s in order], where="post",
                color=PUBLISH_COLOUR, linewidth=1, linestyle="--", label="published", zorder=5)
    for name, rec in series.items():
        if y == "seq":
            order = sorted(zip(rec.recv_ns, rec.seqs, strict=True))
            ax.step(seconds([t for t, _ in order]), [s for _, s in order], where="post",
                    color=colour(name), linewidth=2, label=display_name(name))
        else:
            ax.plot(seconds(rec.sent_ns), rec.latencies_ms(), marker="o", markersize=3,
                    linestyle="-", linewidth=0.8, color=colour(name), label=display_name(name))
    ax.set_xlabel("time since the first publish (s)")
    if y == "seq":
        ax.set_ylabel("events received (seq)")
        ax.set_title("When events arrived: push keeps pace, polling climbs in steps")
    else:
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.set_ylabel("latency (ms, log scale)")
        ax.set_title("Each event's latency, by when it was published")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=9, loc="upper left")
    return fig


# -- cost ---------------------------------------------------------------------------------------
def cost_bars(results: Mapping[str, Any] | Sequence[Any]) -> Figure:
    """What one event cost per client: requests, bytes on the wire (both ways), server CPU.

    ``results`` is what :func:`rtlab.experiments.compare` returns (Results, not plain lists:
    the costs come from the server's counters).
    """
    by_name = _by_transport(results)
    names = list(by_name)
    labels = [display_name(n) for n in names]
    colours = [colour(n) for n in names]
    fig = new_figure(10, 3.8)
    ax_req, ax_bytes, ax_cpu = fig.subplots(1, 3)

    def label_bars(ax: Axes, bars: Any, values: list[float], fmt: str) -> None:
        ax.bar_label(bars, labels=[format(v, fmt) for v in values], padding=2, fontsize=8)
        ax.margins(y=0.15)

    requests = [by_name[n].requests_per_event for n in names]
    label_bars(ax_req, ax_req.bar(labels, requests, color=colours), requests, ".2g")
    ax_req.set_title("HTTP requests per event")
    ax_req.set_ylabel("requests / event / client")

    sent = [by_name[n].bytes_out_per_event for n in names]
    received = [by_name[n].bytes_in_per_event for n in names]
    ax_bytes.bar(labels, sent, color=colours, label="server → client")
    upstream = ax_bytes.bar(labels, received, bottom=sent, color=colours, alpha=0.45,
                            hatch="//", edgecolor="white", label="client → server")
    totals = [s + r for s, r in zip(sent, received, strict=True)]
    label_bars(ax_bytes, upstream, totals, ".0f")
    ax_bytes.set_title("Bytes on the wire per event")
    ax_bytes.set_ylabel("bytes / event / client (headers included)")
    ax_bytes.legend(fontsize=8, loc="upper right")

    cpu = [by_name[n].cpu_us_per_event for n in names]
    label_bars(ax_cpu, ax_cpu.bar(labels, cpu, color=colours), cpu, ".0f")
    ax_cpu.set_title("Server CPU per event")
    ax_cpu.set_ylabel("µs / event / client")

    for ax in (ax_req, ax_bytes, ax_cpu):
        ax.tick_params(axis="x", labelrotation=20, labelsize=9)
        ax.grid(True, axis="y", alpha=0.3)
        ax.set_axisbelow(True)
    fig.suptitle("What each event cost (lower is cheaper)")
    return fig


def tradeoff(points: Sequence[tuple[float, float, float]], ax: Axes | None = None) -> Figure:
    """Short polling's dial: requests per second against mean latency, one point per interval.

    ``points`` are ``(interval_s, requests_per_s, mean_latency_ms)``. The dashed line is the
    theory, mean = interval / 2 at 1 / interval requests per second: halve the latency and
    you double the requests — for every client.
    """
    fig, ax = _axes(ax)
    points = sorted(points)
    if not points:
        ax.text(0.5, 0.5, "no points", ha="center", va="center", transform=ax.transAxes)
        return fig
    rates = [p[1] for p in points]
    means = [p[2] for p in points]
    lo, hi = min(1 / p[0] for p in points), max(1 / p[0] for p in points)
    theory_x = [lo * (hi / lo) ** (i / 50) for i in range(51)]
    ax.plot(theory_x, [500 / x for x in theory_x], color="black", linestyle="--", linewidth=1,
            label="theory: mean = interval / 2")
    ax.plot(rates, means, color=colour("short-polling"), marker="o", markersize=7,
            linewidth=2, label="measured")
    for interval, rate, mean in points:
        ax.annotate(f"every {interval:g} s", (rate, mean), xytext=(7, 5),
                    textcoords="offset points", fontsize=9)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.margins(x=0.15, y=0.12)  # room for the labels at both ends
    for axis in (ax.xaxis, ax.yaxis):  # plain numbers (20, 50, 100), not 2×10¹
        axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        axis.set_minor_formatter(FuncFormatter(
            lambda v, _: f"{v:g}" if f"{v:.0e}"[0] in "25" else ""))
    ax.set_xlabel("requests per second, per client (log scale)")
    ax.set_ylabel("mean latency (ms, log scale)")
    ax.set_title("Short polling: fewer requests cost latency")
    ax.grid(True, which="both", alpha=0.25)
    ax.legend(fontsize=9, loc="upper right")
    return fig


# -- the showdown: connections, and cost against the number of clients ------------------------------
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

    ``scaled`` is what :func:`rtlab.experiments.scale` returns. On log–log axes a cost that
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
