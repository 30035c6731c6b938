"""The optimizer package imports none of its users: mobo knows nothing of distill, the
benchmarks, the paper or the tools (tasks reach it through mobo.tasks' registry), and
distill uses only mobo's public types, never the study machinery."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
USERS = ("distill", "benchmarks", "paper", "tools")


def _imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import statement in ``path``, wherever it stands."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found += [(node.lineno, node.module)]
    return found


def _sources(package: str) -> list[Path]:
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, f"no sources under {package}/"
    return files


@pytest.mark.parametrize("path", _sources("mobo"), ids=lambda p: str(p.relative_to(ROOT)))
def test_mobo_imports_none_of_its_users(path: Path) -> None:
    bad = [f"{path.relative_to(ROOT)}:{line}: {module}"
           for line, module in _imported_modules(path)
           if module.split(".")[0] in USERS]
    assert not bad, bad


def test_distill_uses_only_mobos_public_types() -> None:
    allowed = {"mobo.space", "mobo.trial", "mobo.tasks"}
    bad = [f"{path.relative_to(ROOT)}:{line}: {module}"
           for path in _sources("distill")
           for line, module in _imported_modules(path)
           if module.split(".")[0] == "mobo" and module not in allowed]
    assert not bad, bad
