"""mobo: multi-objective Bayesian optimisation with an exact, numba-compiled EHVI.

Convention: every low-level array function (``is_nondominated``, ``hypervolume``,
``ehvi``) treats all objectives as minimised; ``Objective(maximize=True)`` is
negated once, at the :class:`Study` boundary.

The array kernels are bound eagerly; every other public name (:class:`Study`, whose
surrogate pulls in torch and gpytorch, the value types of :mod:`mobo.trial`, the search
space) is imported on first access, so ``import mobo`` stays cheap.

``__version__`` is the installed distribution's version (recorded in every journal);
a source tree that is not installed reports ``0.0.0+unknown``.
"""

from __future__ import annotations

import importlib
import importlib.metadata
from typing import Any

try:
    __version__: str = importlib.metadata.version("mobo")
except importlib.metadata.PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0.0.0+unknown"

from mobo.improvement import ehvi, log_ehvi  # noqa: E402
from mobo.pareto import is_nondominated, nondominated_sort  # noqa: E402
from mobo.volume import hypervolume  # noqa: E402

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "Space": "mobo.space",
    "Float": "mobo.space",
    "Int": "mobo.space",
    "Categorical": "mobo.space",
    "Objective": "mobo.trial",
    "Constraint": "mobo.trial",
    "Study": "mobo.study",
    "Trial": "mobo.trial",
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
