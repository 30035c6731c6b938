"""mobo: multi-objective Bayesian optimisation with an exact, numba-compiled EHVI.

Convention: every low-level array function (``is_nondominated``, ``hypervolume``,
``ehvi``) treats all objectives as minimised; ``Objective(maximize=True)`` is
negated once, at the :class:`Study` boundary.

Public names are imported lazily, so ``import mobo`` stays cheap and compiling
numba kernels or importing torch only happens when a name that needs them is used.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "is_nondominated": "mobo.pareto",
    "nondominated_sort": "mobo.pareto",
    "hypervolume": "mobo.hypervolume",
    "ehvi": "mobo.ehvi",
    "log_ehvi": "mobo.ehvi",
    "Space": "mobo.space",
    "Float": "mobo.space",
    "Int": "mobo.space",
    "Categorical": "mobo.space",
    "Objective": "mobo.study",
    "Study": "mobo.study",
    "Trial": "mobo.study",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'mobo' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
