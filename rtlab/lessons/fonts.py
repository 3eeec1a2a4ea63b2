"""A Simplified Chinese font for matplotlib, found with the lab's own install and nothing else.

``pip install -e .`` brings PyPI's ``noto-cjk-sans-otc``: Google's Noto Sans CJK as one
OpenType *collection* (``NotoSansCJK-Regular.ttc``), whose faces are Japanese, Korean,
Simplified Chinese, Traditional Chinese and Hong Kong — the same outlines where the forms agree,
different glyphs where they do not (门/直/骨/写 are drawn differently in JP and SC). matplotlib
before 3.11 read only the first face of a ``.ttc`` — the JP one — so Chinese came out in
Japanese forms; 3.11 registers every face under its own family name, which is why pyproject
asks for ``matplotlib>=3.11`` and why this module asks for the family **Noto Sans CJK SC** by
name. On Binder, Debian/Ubuntu's ``fonts-noto-cjk`` (``binder/apt.txt``) provides the same
family from the system font folders.

DejaVu Sans (matplotlib's own font) stays second in the list: matplotlib falls back glyph by
glyph, so ✓ ≈ µ → come from it if the CJK font lacks them.
"""

from __future__ import annotations

import logging
from pathlib import Path

__all__ = ["CJK_FAMILY", "cjk_font_files", "use_cjk_font", "use_default_font"]

CJK_FAMILY = "Noto Sans CJK SC"
_registered: list[str] = []
_default_sans: list[str] | None = None


def cjk_font_files() -> list[Path]:
    """The Noto CJK font files rtlab can register: the PyPI package's, if it is installed."""
    try:
        import noto_cjk_sans_otc  # the font package ships the file next to its __init__
    except ImportError:
        return []
    return sorted(Path(noto_cjk_sans_otc.__file__).parent.glob("*.tt[cf]"))


def use_cjk_font() -> str | None:
    """Make matplotlib draw text in Noto Sans CJK SC; return the family, or None if none is found.

    Registers the PyPI font file with matplotlib's font manager (once), then puts the SC family
    first in ``font.sans-serif``. Without a font, plots still draw, with boxes for Chinese: the
    caller is told by the None.
    """
    global _default_sans
    import matplotlib
    from matplotlib import font_manager

    for path in cjk_font_files():
        if str(path) not in _registered:
            font_manager.fontManager.addfont(str(path))
            _registered.append(str(path))
    families = {f.name for f in font_manager.fontManager.ttflist}
    if CJK_FAMILY not in families:
        return None
    if _default_sans is None:
        _default_sans = list(matplotlib.rcParams["font.sans-serif"])
    matplotlib.rcParams["font.family"] = "sans-serif"
    matplotlib.rcParams["font.sans-serif"] = [CJK_FAMILY, "DejaVu Sans", *_default_sans]
    matplotlib.rcParams["axes.unicode_minus"] = False  # the CJK font has no U+2212 minus sign
    _quiet_missing_weight()
    return CJK_FAMILY


class _NoMissingWeight(logging.Filter):
    """Drop matplotlib's "Failed to find font weight bold for Noto Sans CJK SC, now using 400".

    The PyPI package ships the Regular face only, so a bold label (the lanes of a sequence
    diagram) is drawn regular — which reads fine — and matplotlib says so on stderr, in the
    middle of a learner's notebook. Only that message, for the CJK family, is dropped.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not (message.startswith("findfont: Failed to find font weight") and CJK_FAMILY in message)


_FILTER = _NoMissingWeight()


def _quiet_missing_weight() -> None:
    logger = logging.getLogger("matplotlib.font_manager")
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)


def use_default_font() -> None:
    """Undo :func:`use_cjk_font` (back to English): matplotlib's own sans-serif list."""
    global _default_sans
    if _default_sans is None:
        return
    import matplotlib

    matplotlib.rcParams["font.sans-serif"] = _default_sans
    matplotlib.rcParams["axes.unicode_minus"] = True
    _default_sans = None
