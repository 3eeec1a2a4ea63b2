"""The JavaScript every rtlab widget shares in the learner's page (``page.js``), and how it is joined.

anywidget evaluates each widget's ``_esm`` module on its own, so a module cannot import a
sibling file; :func:`esm` prepends ``page.js`` (the page's base URL, the page-wide budget of
two connections, SSE over ``fetch``) to a widget's own file instead. What must be shared by
every widget on the page (the budget) lives on ``globalThis`` there.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["BUDGET_LIMIT", "esm"]

HERE = Path(__file__).parent
BUDGET_LIMIT = 2  # connections per page rtlab's widgets hold, of the browser's six: page.js


def esm(*names: str) -> str:
    """``page.js`` followed by each of ``names`` (files next to this module), as one ES module."""
    return "\n".join((HERE / name).read_text(encoding="utf-8") for name in ("page.js", *names))
