"""The message ids rtlab's code asks the catalogue for: every literal first argument of
``t(...)``, ``_(...)``, ``gettext(...)`` and ``N_(...)`` in rtlab/ (found with ``ast``)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "rtlab"
CALLS = {"t", "_", "N_", "gettext"}


def msgids() -> dict[str, str]:
    """{msgid: "file:line" of its first use}."""
    found: dict[str, str] = {}
    for path in sorted(ROOT.rglob("*.py")):
        if "locale" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in CALLS
                    and node.args and isinstance(node.args[0], ast.Constant)
                    and isinstance(node.args[0].value, str)):
                found.setdefault(node.args[0].value, f"{path.relative_to(ROOT.parent)}:{node.lineno}")
    return found
