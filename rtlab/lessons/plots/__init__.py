"""The figures: latency CDFs and histograms, a timeline, cost bars, the short-polling trade-off.

Each function takes what an experiment returned — a :class:`~rtlab.lessons.experiments.Result`,
a dict of them by transport, a :class:`~rtlab.metrics.Recorder`, or plain lists of
milliseconds — and returns a matplotlib :class:`~matplotlib.figure.Figure`.

Why no ``pyplot``? pyplot keeps global "current figure" state and wants a GUI or the
notebook's backend; rtlab draws from background threads (live widgets) and in headless
tests. A :class:`Figure` made directly is an ordinary object: draw on it anywhere, turn
it into PNG bytes with :func:`figure_to_png` (for an ``ipywidgets.Image``), or leave it
as the last line of a notebook cell to see it.

Each transport always has the same colour (:data:`COLOURS`), so figures can be compared
at a glance.
"""

from .base import COLOURS, NAMES, colour, display_name, figure_to_png, latencies_of, new_figure
from .cost import cost_bars, tradeoff
from .latency import latency_cdf, latency_histogram
from .middlebox import arrivals
from .sequence import sequence, sequence_items, sequences
from .showdown import connection_bars, scaling, scaling_value, storm
from .timeline import timeline

__all__ = ["COLOURS", "NAMES", "arrivals", "colour", "connection_bars", "cost_bars", "display_name",
    "figure_to_png", "latencies_of", "latency_cdf", "latency_histogram", "new_figure", "scaling",
    "scaling_value", "sequence", "sequence_items", "sequences", "storm", "timeline", "tradeoff"]
