"""The value types of a study: what to optimise, what to respect, and what was tried.

:class:`Objective` and :class:`Constraint` describe a task; :class:`Trial` is one
evaluation of the black box as the study records it. They carry no optimisation
machinery (no surrogate, no torch), so a task definition or a report can use them
without paying for it.

Conventions fixed here and relied on everywhere below:

- an objective's ``threshold`` is the worst value still worth having; the thresholds
  are the coordinates of the hypervolume reference point (Zitzler & Thiele, 1999), and
  :meth:`Objective.sign` is the one place a maximised metric's sign is decided;
- a :class:`Constraint` bounds a metric that is modelled, not optimised, as in
  Bayesian optimisation with inequality constraints (Gardner et al., 2014): a trial
  that breaks one is completed and learned from, but is not a trade-off to report;
- an objective ``known`` in closed form (a parameter count, say) is computed from the
  parameters, not modelled: the proposer gives it its exact value and no uncertainty.
  The journal records only that it is known (``"known": true``), never the function,
  which the caller supplies again when it resumes the study.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from mobo import __version__

__all__ = ["Constraint", "Objective", "Trial", "TrialStatus"]

# "abandoned": lost to the infrastructure, not to its parameters (they are asked again)
TrialStatus = Literal["running", "completed", "failed", "abandoned"]


@dataclass(frozen=True)
class Objective:
    """One metric to optimise.

    Args:
        name: the key under which the evaluated function reports the metric.
        maximize: True when larger is better (negated once, inside the study).
        threshold: the worst value still worth having, in the user's terms; it becomes
            this objective's coordinate of the hypervolume reference point. ``None``: the
            study infers one from the initial design.
        known: ``fn(params) -> float``, the objective's value (in its own units) computed
            from the parameters without an evaluation, or ``None`` (the default: the
            objective is learned by a GP). A known objective gets its exact value and zero
            variance in the acquisition; a trial that does not report it is recorded with
            ``fn(params)``, one that does keeps the reported value.
    """

    name: str
    maximize: bool = False
    threshold: float | None = None
    known: Callable[[Mapping[str, Any]], float] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"Objective.name: must be a non-empty string, got {self.name!r}")
        if not isinstance(self.maximize, bool | np.bool_):
            raise ValueError(f"Objective({self.name!r}).maximize: expected a bool, "
                             f"got {self.maximize!r}")
        object.__setattr__(self, "maximize", bool(self.maximize))
        if self.threshold is not None:
            t = self.threshold
            if isinstance(t, np.generic):
                t = t.item()
            if isinstance(t, bool) or not isinstance(t, int | float):
                raise ValueError(f"Objective({self.name!r}).threshold: expected a number or "
                                 f"None, got {self.threshold!r}")
            if not math.isfinite(t):
                raise ValueError(f"Objective({self.name!r}).threshold: must be finite, "
                                 f"got {self.threshold!r}")
            object.__setattr__(self, "threshold", float(t))
        if self.known is not None and not callable(self.known):
            raise ValueError(f"Objective({self.name!r}).known: expected a callable "
                             f"fn(params) -> float or None, got {self.known!r}")

    @property
    def known_missing(self) -> bool:
        """True for a known objective read from a journal without its function."""
        return isinstance(self.known, _MissingFunction)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"name": self.name, "maximize": self.maximize,
                             "threshold": self.threshold}
        if self.known is not None:  # absent otherwise: older journals stay comparable
            d["known"] = True
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any],
                  known: Callable[[Mapping[str, Any]], float] | None = None) -> Objective:
        """The objective ``d`` describes; ``known`` supplies the function of one recorded
        as known (without it, a placeholder that raises when called, see
        :attr:`known_missing`)."""
        if not isinstance(d, Mapping) or "name" not in d:
            raise ValueError(f"objective: expected a mapping with a 'name', got {d!r}")
        name = d["name"]
        if d.get("known"):
            fn = known if known is not None else _MissingFunction(str(name))
        elif known is not None:
            raise ValueError(f"objective {name!r}: a function was given for it, but it "
                             "is not recorded as known")
        else:
            fn = None
        return cls(name, bool(d.get("maximize", False)), d.get("threshold"), fn)

    def sign(self) -> float:
        """+1 for minimised objectives, -1 for maximised ones (user value * sign = internal)."""
        return -1.0 if self.maximize else 1.0


class _MissingFunction:
    """Stands in for the function of a known objective read from a journal (which does not
    store code): calling it says how to supply the real one."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __call__(self, params: Mapping[str, Any]) -> float:
        raise ValueError(f"objective {self.name!r} is known in closed form, but its function "
                         "is not stored in the journal; pass it when opening the study: "
                         f"Study.load(path, known={{{self.name!r}: fn}}) or Study(..., "
                         f"objectives=[Objective({self.name!r}, ..., known=fn)], storage=path)")

    def __repr__(self) -> str:
        return f"<function of {self.name!r} not supplied>"


def _check_bound(owner: str, field_name: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, int | float) or \
            not math.isfinite(value):
        raise ValueError(f"{owner}.{field_name}: expected a finite number or None, "
                         f"got {value!r}")
    return float(value)


@dataclass(frozen=True)
class Constraint:
    """A metric that must stay within bounds; it is modelled, not optimised.

    Args:
        name: the key under which the evaluated function reports the metric.
        upper: the largest acceptable value (``None``: no upper bound).
        lower: the smallest acceptable value (``None``: no lower bound).

    A completed trial is feasible when every constraint metric lies within its bounds
    (inclusive). Infeasible trials are learned from but never join the Pareto front.
    """

    name: str
    upper: float | None = None
    lower: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"Constraint.name: must be a non-empty string, got {self.name!r}")
        owner = f"Constraint({self.name!r})"
        upper = _check_bound(owner, "upper", self.upper)
        lower = _check_bound(owner, "lower", self.lower)
        if upper is None and lower is None:
            raise ValueError(f"{owner}: give an upper bound, a lower bound or both")
        if upper is not None and lower is not None and not lower < upper:
            raise ValueError(f"{owner}: lower ({lower}) must be below upper ({upper})")
        object.__setattr__(self, "upper", upper)
        object.__setattr__(self, "lower", lower)

    def bounds(self) -> tuple[float, float]:
        """(lower, upper) with -inf / +inf for a side without a bound."""
        return (-math.inf if self.lower is None else self.lower,
                math.inf if self.upper is None else self.upper)

    def holds(self, value: float) -> bool:
        lo, hi = self.bounds()
        return lo <= value <= hi

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "upper": self.upper, "lower": self.lower}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Constraint:
        if not isinstance(d, Mapping) or "name" not in d:
            raise ValueError(f"constraint: expected a mapping with a 'name', got {d!r}")
        return cls(d["name"], d.get("upper"), d.get("lower"))


@dataclass
class Trial:
    """One evaluation of the black box.

    Attributes:
        number: 0-based, unique within the study, in the order trials were asked.
        params: parameter name -> value (Python types, as decoded from the space).
        status: "running", "completed", "failed" or "abandoned".
        values: every metric reported (objectives and extra ones), user's terms; for a
            failed trial the finite metrics it did report, if any. A non-finite extra
            metric is kept as ``None``.
        error: why a trial failed or was abandoned.
        started, finished: wall-clock timestamps (``time.time()``).
        duration: seconds the evaluation took (the executor's measure when known).
        seed: the study seed; version: the mobo version that asked the trial.
        source: "sobol" (initial design), "model" (a proposal) or "requeue" (the
            parameters of an abandoned trial, asked again).
        acq_value: acquisition value of a model proposal.
        timings: seconds spent asking: {"ask", and for proposals "fit", "acquisition"}.
        model_state: the fitted surrogate's hyper-parameters behind a model proposal.
        feasible: for a completed trial, whether it meets every outcome constraint
            (always True without constraints); None otherwise.
    """

    number: int
    params: dict[str, Any]
    status: TrialStatus = "running"
    values: dict[str, float | None] | None = None
    error: str | None = None
    started: float | None = None
    finished: float | None = None
    duration: float | None = None
    seed: int | None = None
    version: str = __version__
    source: str = "sobol"
    acq_value: float | None = None
    timings: dict[str, float] = field(default_factory=dict)
    model_state: dict[str, Any] | None = field(default=None, repr=False)
    feasible: bool | None = None

    @property
    def done(self) -> bool:
        """True once the trial is completed or failed (abandoned trials are not results)."""
        return self.status in ("completed", "failed")
