"""Latency: how long events took, as a CDF or a histogram."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

from ...metrics import percentile
from ..i18n import t
from .base import (
    OTHER_COLOURS,
    _axes,
    _by_transport,
    _legend_below,
    _ms,
    colour,
    display_name,
    latencies_of,
    new_figure,
)

__all__ = ["latency_cdf", "latency_histogram"]


def _plain_log_ticks(axis: Any) -> None:
    """Plain numbers on a log axis (20, 50, 100), majors and the 2s and 5s between them.

    matplotlib's default labels minor ticks in scientific notation when an axis spans less
    than a decade, and they collide ("3×10⁻¹4×10⁻¹"); every other minor tick stays unlabelled.
    """
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:g}" if f"{v:.0e}"[0] in "25" else ""))


def _cdf_on(ax: Axes, series: dict[str, Any], *, log: bool) -> tuple[float, float]:
    """Draw each series' CDF on ``ax``; returns the smallest and largest latency drawn."""
    smallest, largest = math.inf, 0.0
    for name, data in series.items():
        values = sorted(v for v in latencies_of(data) if v > 0 or not log)  # log axis: no zeros
        if not values:
            continue
        smallest, largest = min(smallest, values[0]), max(largest, values[-1])
        fractions = [(i + 1) / len(values) for i in range(len(values))]
        p50, p99 = percentile(values, 50), percentile(values, 99)
        independent = getattr(data, "independent_samples", None)
        n = f"n={len(values)}" + (t(", ≈{n} independent", n=independent) if independent is not None
                                  and independent < len(values) else "")
        ax.step([values[0], *values], [0.0, *fractions], where="post", color=colour(name),
                linewidth=2, label=f"{display_name(name)}  (p50 {_ms(p50)}, p99 {_ms(p99)}, {n})")
    ax.set_ylim(0, 1.02)
    for level, text in ((0.5, t("p50 (median)")), (0.99, "p99")):
        ax.axhline(level, color="#888888", linewidth=0.8, linestyle=":")
        ax.annotate(text, (1, level), xycoords=("axes fraction", "data"), xytext=(-4, -10),
                    textcoords="offset points", ha="right", fontsize=8, color="#666666")
    ax.set_ylabel(t("fraction of events received"))
    ax.grid(True, which="major", alpha=0.3)
    return smallest, largest


def latency_cdf(results: Mapping[str, Any] | Sequence[Any], ax: Axes | None = None, *,
                title: str | None = None, xlabel: str = "latency, publish → receipt",
                ylabel: str = "fraction of events received", linear_panel: bool | None = None) -> Figure:
    """Each series' latency CDF: for each latency x, the fraction of events that arrived within x.

    ``results`` is what :func:`rtlab.experiments.compare` returns, or ``{name: [ms, ...]}``.
    Read it as: the further left a curve, the faster; where it crosses 0.5 is the median
    (p50), where it crosses 0.99 the p99; a long flat top is a tail of late events.

    The x axis is logarithmic, so that milliseconds and hundreds of milliseconds fit on one
    plot. A log axis squashes an even spread such as short polling's uniform 0..interval into
    its right end, so when short polling is drawn beside others (``linear_panel=None``, the
    default) a second panel shows it on a linear axis, with the theory uniform(0, interval)
    if the interval is known. ``title`` should say what the plot shows (its takeaway).
    """
    series = _by_transport(results)
    short = {n: d for n, d in series.items() if n.strip().lower().replace("_", "-") == "short-polling"}
    two_panels = (linear_panel if linear_panel is not None else bool(short) and len(series) > 1)
    if ax is not None or not two_panels or not short:
        fig, ax = _axes(ax)
        smallest, largest = _cdf_on(ax, series, log=True)
        ax.set_xscale("log")
        if largest > 0:
            ax.set_xlim(smallest / 1.5, largest * 1.5)
        _plain_log_ticks(ax.xaxis)
        ax.set_xlabel(t("{label} (ms, log scale)", label=t(xlabel)))
        ax.set_ylabel(t(ylabel))
        ax.set_title(title or t("How soon events arrived (further left = sooner)"))
        _legend_below(ax)
        return fig
    fig = new_figure(12, 4.6)
    log_ax, lin_ax = fig.subplots(1, 2, width_ratios=[1.25, 1])
    smallest, largest = _cdf_on(log_ax, series, log=True)
    log_ax.set_xscale("log")
    log_ax.set_xlim(smallest / 1.5, largest * 1.5)
    _plain_log_ticks(log_ax.xaxis)
    log_ax.set_xlabel(t("{label} (ms, log scale)", label=t(xlabel)))
    log_ax.set_title(t("All four, log scale: push in ms, polling in 100s of ms"), fontsize=10)
    _legend_below(log_ax)
    name, data = next(iter(short.items()))
    _cdf_on(lin_ax, {name: data}, log=False)
    interval = getattr(data, "options", {}).get("interval")
    if interval:
        t_ms = interval * 1000
        lin_ax.plot([0, t_ms], [0, 1], color="black", linestyle="--", linewidth=1.2,
                    label=t("theory: uniform(0, {t}), one poll interval", t=_ms(t_ms)))
        lin_ax.set_xlim(0, max(t_ms, largest) * 1.05)
    else:
        lin_ax.set_xlim(left=0)
    lin_ax.set_xlabel(t("{label} (ms, linear scale)", label=t(xlabel)))
    lin_ax.set_title(t("Short polling alone, linear scale: spread evenly over one interval"),
                     fontsize=10)
    _legend_below(lin_ax)
    fig.suptitle(title or t("How soon events arrived"))
    return fig


def latency_histogram(data: Any, theory_uniform_ms: float | None = None, *, bins: int = 30,
                      ax: Axes | None = None, transport: str | None = None,
                      title: str | None = None) -> Figure:
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
            label=t("measured (n={n})", n=len(values)))
    if values:
        mean = sum(values) / len(values)
        ax.axvline(mean, color=bar_colour, linewidth=2, linestyle="--",
                   label=t("measured mean {mean}", mean=_ms(mean)))
    if theory_uniform_ms is not None and values:
        # Expected events per bin if latency were uniform on 0..T: n × bin width / T.
        per_bin = len(values) * (edges[1] - edges[0]) / theory_uniform_ms
        ax.plot([0, theory_uniform_ms], [per_bin, per_bin], color="black", linewidth=2,
                label=t("theory: uniform(0, {t})", t=_ms(theory_uniform_ms)))
        ax.plot([theory_uniform_ms, theory_uniform_ms], [0, per_bin], color="black", linewidth=2)
        ax.axvline(theory_uniform_ms / 2, color="black", linewidth=1.2, linestyle=":",
                   label=t("theory mean {mean}", mean=_ms(theory_uniform_ms / 2)))
    ax.set_xlim(0, edges[-1])
    ax.set_xlabel(t("latency, publish → receipt (ms)"))
    ax.set_ylabel(t("events per bin"))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(title or (f"{display_name(name)} latency" if name else "Latency"))
    ax.grid(True, axis="y", alpha=0.3)
    _legend_below(ax)
    return fig


