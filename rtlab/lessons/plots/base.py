"""What every figure shares: one colour and one name per technique, a figure without pyplot.

Each transport always has the same colour (:data:`COLOURS`), so figures can be compared
at a glance; :func:`figure_to_png` turns a figure into bytes for an ``ipywidgets.Image``.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping
from typing import Any

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ...metrics import Recorder
from ..i18n import N_, t

# Colour-blind-safe (Okabe–Ito), one per technique, the same in every figure.
COLOURS: dict[str, str] = {
    "short-polling": "#E69F00",  # orange
    "long-polling": "#56B4E9",  # sky blue
    "sse": "#009E73",  # green
    "websocket": "#CC79A7",  # purple
}
OTHER_COLOURS = ["#0072B2", "#D55E00", "#000000", "#999999"]  # for anything else (a baseline)
NAMES: dict[str, str] = {
    "short-polling": N_("Short polling"),
    "long-polling": N_("Long polling"),
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
    """How a figure names ``transport``: "Short polling" (短轮询 in zh-CN), or the name as given."""
    key = transport.strip().lower().replace("_", "-")
    return t(NAMES[key]) if key in NAMES else transport


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
    """A legend under the axes, where it cannot hide the data: one column if labels are long."""
    handles, labels = ax.get_legend_handles_labels()
    if not handles:
        return  # nothing was drawn
    width = ax.get_position().width * ax.figure.get_figwidth()  # inches the axes may span
    ncols = 2 if len(labels) > 1 and max(map(len, labels)) * 0.07 * 2 < width else 1
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncols=ncols, fontsize=9,
              frameon=False)


def _ms(value: float) -> str:
    """A latency for a label: 0.42 ms, 3.1 ms, 105 ms, 1.2 s."""
    if math.isnan(value):
        return "–"
    if value >= 1000:
        return f"{value / 1000:.3g} s"
    return f"{value:.2g} ms" if value < 10 else f"{value:.0f} ms"


