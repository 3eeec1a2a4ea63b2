"""One switch for the language rtlab speaks to a learner: ``rtlab.language("zh-CN")``.

Everything rtlab prints to a learner — claim and verdict words, checkers' messages and hints,
widget labels, plot titles and axis labels — goes through :func:`t` (or :func:`gettext`), which
looks the English text up in the message catalogue of the chosen language. English is the
default and needs no catalogue: the English text *is* the message id, as in any gettext
program.

Why a Python catalogue and not a ``.po`` compiled to ``.mo``: setuptools has no build step
that runs ``msgfmt``, and a ``.mo`` checked in next to its ``.po`` drifts from it silently.
The stdlib ``gettext`` machinery is kept — :class:`CatalogueTranslations` is a
``gettext.NullTranslations`` subclass, so code that wants a ``gettext`` object gets one — but
its messages come from plain dicts in :mod:`rtlab.lessons.locale.zh_CN`, which are shipped as
an ordinary module, read in review like any code, and checked by a test (every message id
used in the code has a translation; a zh-CN run prints no English sentence).

Message ids with values use ``str.format`` fields (``"{n} polls"``), never ``%``: the
translation may put the values in another order (Chinese often does).
"""

from __future__ import annotations

import gettext as _gettext
from collections.abc import Mapping
from typing import Any

__all__ = ["LANGUAGES", "CatalogueTranslations", "N_", "current", "gettext", "language", "missing", "t"]

LANGUAGES = ("en", "zh-CN")


class CatalogueTranslations(_gettext.NullTranslations):
    """A ``gettext`` translations object whose catalogue is a dict {English msgid: translation}.

    Args:
        messages: the catalogue. A message id not in it comes back unchanged (English), and
            is remembered in :attr:`missed` so a test can list what was left untranslated.
    """

    def __init__(self, messages: Mapping[str, str]) -> None:
        super().__init__()
        self._messages = dict(messages)
        self.missed: set[str] = set()

    def gettext(self, message: str) -> str:
        found = self._messages.get(message)
        if found is None:
            self.missed.add(message)
            return message
        return found

    def ngettext(self, msgid1: str, msgid2: str, n: int) -> str:
        return self.gettext(msgid1 if n == 1 else msgid2)


_ENGLISH = _gettext.NullTranslations()
_active: _gettext.NullTranslations = _ENGLISH
_code = "en"


def _catalogue(code: str) -> Mapping[str, str]:
    if code == "zh-CN":
        from .locale.zh_CN import MESSAGES

        return MESSAGES
    return {}


def language(code: str | None = None) -> str:
    """Choose the language rtlab speaks (``"en"``, the default, or ``"zh-CN"``); return it.

    Called with no argument, it only says which language is in use. Choosing ``"zh-CN"`` also
    makes matplotlib draw with a Simplified Chinese font (see :mod:`rtlab.lessons.fonts`).

    Args:
        code: ``"en"`` or ``"zh-CN"`` (``"zh"``, ``"zh_CN"`` and ``"zh-Hans"`` mean the same).
    """
    global _active, _code
    if code is None:
        return _code
    normal = {"zh": "zh-CN", "zh_cn": "zh-CN", "zh-cn": "zh-CN", "zh-hans": "zh-CN",
              "en": "en", "en-us": "en", "en_us": "en"}.get(code.lower())
    if normal is None:
        raise ValueError(f"language {code!r}: rtlab speaks {', '.join(LANGUAGES)}")
    _code = normal
    _active = _ENGLISH if normal == "en" else CatalogueTranslations(_catalogue(normal))
    if normal == "zh-CN":
        from .fonts import use_cjk_font  # matplotlib only when Chinese is chosen

        use_cjk_font()
    else:
        from .fonts import use_default_font

        use_default_font()
    return _code


def current() -> str:
    """The language in use: ``"en"`` or ``"zh-CN"``."""
    return _code


def gettext(message: str) -> str:
    """``message`` in the language in use (the English message id itself in English)."""
    return _active.gettext(message)


def t(message: str, /, **values: Any) -> str:
    """``gettext(message).format(**values)``: a translated message with its values filled in."""
    text = _active.gettext(message)
    return text.format(**values) if values else text


def N_(message: str) -> str:  # noqa: N802 - the gettext convention for "mark only"
    """Mark a constant for translation without translating it now (it is translated where used)."""
    return message


def missing() -> set[str]:
    """Message ids asked for in the language in use that its catalogue lacks (empty in English)."""
    return set(getattr(_active, "missed", set()))
