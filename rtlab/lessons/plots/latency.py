"""Latency: how long events took, as a CDF or a histogram."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

from ...metrics import percentile
from .base import OTHER_COLOURS, _axes, _by_transport, _legend_below, _ms, colour, display_name, latencies_of

__all__ = ["latency_cdf", "latency_histogram"]


def latency_cdf(results: Mapping[str, Any] | Sequence[Any], ax: Axes | None = None) -> Figure:
    """Each transport's latency CDF on one log-scale axis: how many events arrived within x ms.

    ``results`` is what :func:`rtlab.lessons.experiments.compare` returns, or ``{name: [ms, ...]}``.
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


