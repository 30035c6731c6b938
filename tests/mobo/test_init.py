"""Tests of the mobo package itself: its version and the names it binds lazily."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys

import mobo


def test_version_is_the_installed_distributions() -> None:
    assert mobo.__version__ == importlib.metadata.version("mobo")


def test_import_is_cheap_and_names_resolve_on_first_access() -> None:
    code = ("import sys, mobo; heavy = 'torch' in sys.modules; "
            "from mobo import Constraint, Objective, Study, Trial; "
            "print(heavy, Objective.__module__, Trial.__module__, Study.__module__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.split() == ["False", "mobo.trial", "mobo.trial", "mobo.study"]
