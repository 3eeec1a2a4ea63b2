"""The refresher: one background thread that copies data into widget traits a few times a second.

Rule one of live widgets here: **nothing is drawn on the path being timed**. A client's
``on_event`` only stores data; the :class:`Refresher` wakes a few times a second and copies
what changed into widget traits (``label.value = ...``, ``image.value = png``). Setting traits
from a background thread is supported by ipywidgets and renders live in JupyterLab.

Two rules keep a re-run cell from piling things up, both keyed by the view's name:

* :func:`live` registers a view's refresh function (a re-run replaces it);
* :func:`hook` puts a view's listener on a client's ``on_event`` / ``on_message`` (a re-run
  replaces the listener instead of stacking a second one on top of the first).
"""

from __future__ import annotations

import atexit
import threading
import time
from collections.abc import Callable
from typing import Any

from ... import lab

__all__ = ["Refresher", "hook", "live", "refresher", "stop_live_views"]


class Refresher:
    """One daemon thread that calls registered refresh functions, each at its own rate."""

    def __init__(self) -> None:
        self._jobs: dict[str, tuple[Callable[[], Any], float, list[float], bool]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def every(self, name: str, refresh: Callable[[], Any], hz: float = 4.0, *, draws: bool = False) -> None:
        """Call ``refresh()`` about ``hz`` times a second until :meth:`cancel` (replaces ``name``).

        ``draws=True``: the refresh renders a picture, so it waits while a measurement runs
        (:func:`rtlab.lab.measuring`).
        """
        with self._lock:
            self._jobs[name] = (refresh, 1.0 / hz, [0.0], draws)
            if self._thread is None or not self._thread.is_alive():
                self._stop.clear()
                self._thread = threading.Thread(target=self._main, name="rtlab-widgets",
                                                daemon=True)
                self._thread.start()

    def cancel(self, name: str) -> None:
        with self._lock:
            self._jobs.pop(name, None)

    def _main(self) -> None:
        while not self._stop.wait(0.05):
            now = time.monotonic()
            quiet = lab.is_measuring()
            with self._lock:
                due = [(n, job) for n, job in self._jobs.items()
                       if now - job[2][0] >= job[1] and not (quiet and job[3])]
            for name, (refresh, _, last, _draws) in due:
                last[0] = now
                try:
                    refresh()
                except Exception as exc:  # noqa: BLE001 - a broken view must not stop the others
                    self.cancel(name)
                    print(f"rtlab: live view {name!r} stopped: {exc!r}")

    def stop(self) -> None:
        with self._lock:
            self._jobs.clear()
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(2)

    @property
    def names(self) -> list[str]:
        with self._lock:
            return list(self._jobs)


refresher = Refresher()
atexit.register(refresher.stop)


def stop_live_views() -> None:
    """Stop every live view (the widgets keep their last value)."""
    for name in refresher.names:
        refresher.cancel(name)


def live(name: str, refresh: Callable[[], Any], hz: float = 4.0, *, draws: bool = False) -> None:
    """Draw a view once now, then keep it fresh ``hz`` times a second (a re-run replaces ``name``).

    ``draws=True`` for a view that renders a picture: it pauses while a measurement runs.
    """
    refresh()
    refresher.every(name, refresh, hz, draws=draws)


def hook(client: Any, attribute: str, name: str, listener: Callable[..., Any]) -> None:
    """Make ``client.<attribute>`` (``"on_event"`` or ``"on_message"``) call ``listener`` too.

    The listener is kept under the view's ``name``: the same view created again replaces its
    listener, so a cell re-run five times still runs one listener per event. Whatever the
    learner's own callback was keeps being called, after the views' listeners.
    """
    listeners: dict[str, Callable[..., Any]] = client.__dict__.setdefault(
        "rtlab_view_listeners", {}).setdefault(attribute, {})
    current = getattr(client, attribute)
    if not getattr(current, "rtlab_dispatch", False):
        own = current  # the learner's callback, or None

        def dispatch(*args: Any) -> None:
            for listener_ in list(listeners.values()):
                listener_(*args)
            if own is not None:
                own(*args)

        dispatch.rtlab_dispatch = True  # type: ignore[attr-defined]
        setattr(client, attribute, dispatch)
    listeners[name] = listener
