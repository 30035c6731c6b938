"""mobo: multi-objective Bayesian optimisation with an exact, numba-compiled EHVI.

Convention: every low-level array function (``is_nondominated``, ``hypervolume``,
``ehvi``) treats all objectives as minimised; ``Objective(maximize=True)`` is
negated once, at the :class:`Study` boundary.

The array kernels are bound eagerly: their modules share the functions' names
(``mobo.ehvi`` is the function, not the module). Names that pull in torch or
gpytorch are imported lazily, so ``import mobo`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

from mobo.ehvi import ehvi, log_ehvi  # noqa: E402
from mobo.hypervolume import hypervolume  # noqa: E402
from mobo.pareto import is_nondominated, nondominated_sort  # noqa: E402

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "Space": "mobo.space",
    "Float": "mobo.space",
    "Int": "mobo.space",
    "Categorical": "mobo.space",
    "Objective": "mobo.study",
    "Constraint": "mobo.study",
    "Study": "mobo.study",
    "Trial": "mobo.study",
    "BackendError": "mobo.study",
}

__all__ = [
    "__version__",
    "ehvi",
    "hypervolume",
    "is_nondominated",
    "log_ehvi",
    "nondominated_sort",
    *_EXPORTS,
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'mobo' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
