"""07 when the path fights back: name the middlebox from what a raw client saw."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..i18n import N_, t
from .claims import Check, graded, not_yet, passed

HINT = N_("read the symptoms in order: who answered the WebSocket handshake (websocket_status), "
          "whether a response head arrived at all (status), how it was encoded (content_encoding), "
          "whether the body started (first_byte_s), and whether the path hung up (closed_s).")
NAMES = ("transparent", "buffering", "compressing", "idle-timeout", "no-upgrade")


def _short(name: str) -> str:
    return name.split("=", 1)[0]


@graded
def check_diagnosis(diagnose: Callable[[Any], Any], seen: Mapping[str, Any]) -> Check:
    """Check ``diagnose(symptoms) -> name`` against what the lab saw through each middlebox.

    ``seen`` is :func:`rtlab.lessons.middleboxes.symptoms` (``{middlebox: Symptoms}``); a name
    is right without its parameter (``"idle-timeout"`` for ``idle-timeout=0.6``).
    """
    for actual, symptoms in seen.items():
        said = diagnose(symptoms)
        if not isinstance(said, str) or said not in NAMES:
            raise not_yet(t("diagnose() returned {said!r}; it should return one of {names}.",
                            said=said, names=", ".join(NAMES)), t(HINT))
        if said != _short(actual):
            raise not_yet(t("through {actual} your diagnose() said {said}. What the client saw: {symptoms}.",
                            actual=actual, said=said, symptoms=symptoms), t(HINT))
    return passed(t("you named all {n} paths from their symptoms alone.", n=len(seen)))
