"""Cost: requests, bytes and CPU per event; short polling's interval trade-off."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from ..i18n import t
from .base import _axes, _by_transport, colour, display_name, new_figure

__all__ = ["cost_bars", "tradeoff"]


def cost_bars(results: Mapping[str, Any] | Sequence[Any], *, title: str | None = None) -> Figure:
    """What one event cost per client: requests, bytes on the wire (both ways), server CPU.

    ``results`` is what :func:`rtlab.lessons.experiments.compare` returns (Results, not plain lists:
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
    ax_req.set_title(t("HTTP requests per event"))
    ax_req.set_ylabel(t("requests / event / client"))

    sent = [by_name[n].bytes_out_per_event for n in names]
    received = [by_name[n].bytes_in_per_event for n in names]
    ax_bytes.bar(labels, sent, color=colours, label=t("server → client"))
    upstream = ax_bytes.bar(labels, received, bottom=sent, color=colours, alpha=0.45,
                            hatch="//", edgecolor="white", label=t("client → server"))
    totals = [s + r for s, r in zip(sent, received, strict=True)]
    label_bars(ax_bytes, upstream, totals, ".0f")
    ax_bytes.set_title(t("Bytes on the wire per event"))
    ax_bytes.set_ylabel(t("bytes / event / client (headers included)"))
    ax_bytes.legend(fontsize=8, loc="upper right")

    cpu = [by_name[n].cpu_us_per_event for n in names]
    label_bars(ax_cpu, ax_cpu.bar(labels, cpu, color=colours), cpu, ".0f")
    ax_cpu.set_title(t("Server CPU per event"))
    ax_cpu.set_ylabel(t("µs / event / client"))

    for ax in (ax_req, ax_bytes, ax_cpu):
        ax.tick_params(axis="x", labelrotation=20, labelsize=9)
        ax.grid(True, axis="y", alpha=0.3)
        ax.set_axisbelow(True)
    fig.suptitle(title or t("What each event cost (lower is cheaper)"))
    return fig


def tradeoff(points: Sequence[tuple[float, float, float]], ax: Axes | None = None, *,
             title: str | None = None) -> Figure:
    """Short polling's dial: requests per second against mean latency, one point per interval.

    ``points`` are ``(interval_s, requests_per_s, mean_latency_ms)``. The dashed line is the
    theory, mean = interval / 2 at 1 / interval requests per second: halve the latency and
    you double the requests — for every client.
    """
    fig, ax = _axes(ax)
    points = sorted(points)
    if not points:
        ax.text(0.5, 0.5, t("no points"), ha="center", va="center", transform=ax.transAxes)
        return fig
    rates = [p[1] for p in points]
    means = [p[2] for p in points]
    lo, hi = min(1 / p[0] for p in points), max(1 / p[0] for p in points)
    theory_x = [lo * (hi / lo) ** (i / 50) for i in range(51)]
    ax.plot(theory_x, [500 / x for x in theory_x], color="black", linestyle="--", linewidth=1,
            label=t("theory: mean = interval / 2"))
    ax.plot(rates, means, color=colour("short-polling"), marker="o", markersize=7,
            linewidth=2, label=t("measured"))
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
    ax.set_xlabel(t("requests per second, per client (log scale)"))
    ax.set_ylabel(t("mean latency (ms, log scale)"))
    ax.set_title(title or t("Short polling: fewer requests cost latency"))
    ax.grid(True, which="both", alpha=0.25)
    ax.legend(fontsize=9, loc="upper right")
    return fig


