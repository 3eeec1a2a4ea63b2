"""07's figure: when each event was published against when it arrived, through a middlebox."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from matplotlib.figure import Figure

from ..i18n import t
from .base import OTHER_COLOURS, _axes, _legend_below


def arrivals(streams: Mapping[str, Any], title: str | None = None) -> Figure:
    """Published (x) against arrived (y), one series per stream: on the diagonal, nothing waited.

    ``streams`` is what :meth:`rtlab.lessons.middleboxes.StreamRuns.wait` returns. A stream
    held by a buffer draws a staircase: flat while the proxy holds, a riser when it lets go.
    """
    fig, ax = _axes(None, 7.5, 4.0)
    longest = max((max(s.recv_s + s.sent_s, default=0) for s in streams.values()), default=1.0)
    ax.plot([0, longest], [0, longest], ls=":", c="grey", lw=1, label=t("arrived at once"))
    markers = "osD^v"
    for i, (label, s) in enumerate(streams.items()):
        ax.plot(s.sent_s, s.recv_s, ls="", marker=markers[i % len(markers)], ms=4,
                color=OTHER_COLOURS[i % len(OTHER_COLOURS)],
                label=t("{label}: {n} of {total} events", label=label, n=len(s.recv_s), total=s.published))
    ax.set_xlabel(t("published, s after the start"))
    ax.set_ylabel(t("arrived, s after the start"))
    ax.set_title(title or t("SSE through a middlebox: a staircase is a buffer"), fontsize=10)
    ax.grid(True, alpha=0.25)
    _legend_below(ax)
    return fig
