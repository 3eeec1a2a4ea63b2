"""Time: when each event was published and when it arrived."""

from __future__ import annotations

from typing import Any

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from ..i18n import t
from .base import PUBLISH_COLOUR, _axes, _by_transport, _first_recorder, colour, display_name

__all__ = ["timeline"]


def timeline(results: Any, *, y: str = "seq", ax: Axes | None = None, title: str | None = None) -> Figure:
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
        ax.text(0.5, 0.5, t("no events recorded"), ha="center", va="center", transform=ax.transAxes)
        return fig
    t0 = min(starts)

    def seconds(ns: list[int]) -> list[float]:
        return [(t - t0) / 1e9 for t in ns]

    if y == "seq":
        published = max(series.values(), key=lambda r: r.count)
        order = sorted(zip(published.sent_ns, published.seqs, strict=True))
        ax.step(seconds([t for t, _ in order]), [s for _, s in order], where="post",
                color=PUBLISH_COLOUR, linewidth=1, linestyle="--", label=t("published"), zorder=5)
    for name, rec in series.items():
        if y == "seq":
            order = sorted(zip(rec.recv_ns, rec.seqs, strict=True))
            ax.step(seconds([t for t, _ in order]), [s for _, s in order], where="post",
                    color=colour(name), linewidth=2, label=display_name(name))
        else:
            ax.plot(seconds(rec.sent_ns), rec.latencies_ms(), marker="o", markersize=3,
                    linestyle="-", linewidth=0.8, color=colour(name), label=display_name(name))
    ax.set_xlabel(t("time since the first publish (s)"))
    if y == "seq":
        ax.set_ylabel(t("events received (seq)"))
        ax.set_title(title or t("When events arrived: push keeps pace, polling climbs in steps"))
    else:
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.set_ylabel(t("latency (ms, log scale)"))
        ax.set_title(title or t("Each event's latency, by when it was published"))
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=9, loc="upper left")
    return fig


