"""Live widgets: what the learner watches while events flow.

Rule one of live widgets here: **nothing is drawn on the path being timed**. A client's
``on_event`` only stores data; one background thread, the :class:`Refresher`, wakes a
few times a second and copies what changed into widget traits (``label.value = ...``,
``image.value = png``). Setting traits from a background thread is supported by
ipywidgets and renders live in JupyterLab; ``Output`` widgets driven from background
tasks are not reliable (see the field notes), so they are not used for live views.

Every live view is registered under a name; creating it again (a re-run cell) replaces
the old one — its refresh job and its listeners on the client (:mod:`.refresher`) — and
everything stops at interpreter exit. One module per notebook holds that notebook's views;
:mod:`.common` the building blocks they share.
"""

from .at_scale import gateways
from .common import counters, latency_plot, self_check, sequence, ticking_counter
from .long_polling import config_watchers
from .middleboxes import stream_progress
from .refresher import Refresher, hook, live, refresher, stop_live_views
from .short_polling import interval_slider, scoreboard
from .showdown import Race, advisor, race
from .six import SixDemo, six_demo, six_verdict
from .sse import TokenStream, token_stream
from .websocket import QuizView, quiz

__all__ = ["QuizView", "Race", "Refresher", "TokenStream", "advisor", "config_watchers", "counters",
           "gateways",
           "hook", "interval_slider", "latency_plot", "live", "quiz", "race", "refresher", "scoreboard",
           "self_check", "sequence", "SixDemo", "six_demo", "six_verdict", "stop_live_views",
           "stream_progress", "ticking_counter", "token_stream"]
