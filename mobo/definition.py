"""What a study is: the definition a journal's first event records, and the checks of the
arguments that make one.

:class:`mobo.study.Study` validates its constructor's arguments here and compares a
journal's header with the definition it was given before resuming it. Objectives known in
closed form are recorded as known, without their function (code is not data): whoever
opens the journal supplies it again (:meth:`mobo.trial.Objective.from_dict`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mobo.space import Space
from mobo.trial import Constraint, Objective
from mobo.warping import check_warp


def _check_storage_path(storage: str | os.PathLike[str]) -> Path:
    """Validate a journal path without touching the file system beyond reading it."""
    if not isinstance(storage, str | os.PathLike) or not os.fspath(storage):
        raise ValueError(f"storage: expected a file path, got {storage!r}")
    path = Path(storage).expanduser()
    if path.is_dir():
        raise ValueError(f"storage: {path} is a directory, expected a journal file")
    parent = path.parent if str(path.parent) else Path(".")
    if path.exists():
        if not os.access(path, os.R_OK):
            raise ValueError(f"storage: {path} is not readable")
        if not os.access(path, os.W_OK):
            raise ValueError(f"storage: {path} is not writable")
    else:
        if not parent.is_dir():
            raise ValueError(f"storage: directory {parent} does not exist")
        if not os.access(parent, os.W_OK | os.X_OK):
            raise ValueError(f"storage: directory {parent} is not writable")
    return path


def _check_seed(seed: Any) -> int | None:
    if seed is None:
        return None
    if isinstance(seed, np.integer):
        seed = int(seed)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed: expected a non-negative integer or None, got {seed!r}")
    return seed


def _check_objectives(objectives: Any) -> list[Objective]:
    if isinstance(objectives, Objective | str):
        objectives = [objectives]
    if not isinstance(objectives, Sequence) or not objectives:
        raise ValueError(f"objectives: expected a non-empty list of Objective, got {objectives!r}")
    out: list[Objective] = []
    for i, o in enumerate(objectives):
        if isinstance(o, str):
            o = Objective(o)
        if not isinstance(o, Objective):
            raise ValueError(f"objectives[{i}]: expected an Objective, got {o!r}")
        if any(o.name == p.name for p in out):
            raise ValueError(f"objectives[{i}]: duplicate objective name {o.name!r}")
        out.append(o)
    if all(o.known is not None for o in out):
        raise ValueError("objectives: every objective is known in closed form; at least one "
                         "must be learned from evaluations")
    return out


def _check_constraints(constraints: Any, objectives: list[Objective]) -> list[Constraint]:
    if isinstance(constraints, Constraint):
        constraints = [constraints]
    if constraints is None:
        return []
    if not isinstance(constraints, Sequence) or isinstance(constraints, str):
        raise ValueError(f"constraints: expected a list of Constraint, got {constraints!r}")
    out: list[Constraint] = []
    names = {o.name for o in objectives}
    for i, c in enumerate(constraints):
        if not isinstance(c, Constraint):
            raise ValueError(f"constraints[{i}]: expected a Constraint, got {c!r}")
        if c.name in names:
            raise ValueError(f"constraints[{i}]: {c.name!r} is already an objective or "
                             "constraint name")
        names.add(c.name)
        out.append(c)
    return out


def check_trust_region(value: Any) -> float | None:
    """``value`` as a trust region half-width: None, or a real number in (0, 1]
    (ValueError otherwise)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating) \
            or not 0.0 < float(value) <= 1.0:
        raise ValueError(f"trust_region: expected None or a half-width in (0, 1], got {value!r}")
    return float(value)


def check_explore(value: Any) -> float | None:
    """``value`` as an exploration share: None, or a real number in (0, 1) (ValueError
    otherwise)."""
    return check_share("explore", value)


def check_share(name: str, value: Any) -> float | None:
    """``value`` as the share of proposals a setting called ``name`` takes: None, or a
    real number in (0, 1) (ValueError naming it otherwise)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating) \
            or not 0.0 < float(value) < 1.0:
        raise ValueError(f"{name}: expected None or a share in (0, 1), got {value!r}")
    return float(value)


# How the acquisition treats the observed front (``Study(front=...)``): the observed values
# themselves, posterior samples of the latent values at the observed inputs, or their
# posterior mean (:class:`mobo.acquisition.Proposer`, ``sample_front``/``plug_in_front``)
FRONTS: tuple[str, ...] = ("observed", "sampled", "plug-in")


def check_front(value: Any) -> str | None:
    """``value`` as the treatment of the front: None (the default: sampled for noisy
    studies, observed otherwise) or one of :data:`FRONTS` (ValueError otherwise)."""
    if value is None or (isinstance(value, str) and value in FRONTS):
        return value
    raise ValueError(f"front: expected None or one of {', '.join(FRONTS)}, got {value!r}")


def effective_front(front: str | None, noisy: bool) -> str:
    """The treatment of the front a study uses: ``front``, or the default for ``noisy``."""
    if front is not None:
        return front
    return "sampled" if noisy else "observed"


def check_front_options(front: str | None, proposer_options: Mapping[str, Any] | None
                        ) -> None:
    """Refuse a ``front`` given twice: as the study setting and as the proposer options it
    sets (ValueError)."""
    clash = sorted(set(proposer_options or {}) & {"sample_front", "plug_in_front"})
    if front is not None and clash:
        raise ValueError(f"front: the study's is {front!r} and proposer_options give {clash}; "
                         "give one")


@dataclass
class _Header:
    """The definition a journal was created with (its first event)."""

    space: Space
    objectives: list[Objective]
    seed: int | None
    noisy: bool
    n_initial: int | None
    constraints: list[Constraint] = field(default_factory=list)
    warp: str | None = None
    threshold_model: bool = False
    trust_region: float | None = None
    explore: float | None = None
    front: str | None = None

    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> _Header:
        """The header event's definition; a known objective's function is a placeholder
        (:meth:`with_known` supplies the real ones)."""
        try:
            space = Space.from_dict(event["space"])
            objectives = [Objective.from_dict(o) for o in event["objectives"]]
            seed = _check_seed(event["seed"])
            n_initial = int(event["n_initial"])
            constraints = [Constraint.from_dict(c) for c in event.get("constraints", [])]
            warp = check_warp(event.get("warp"))
            threshold_model = event.get("threshold_model", False)
            if not isinstance(threshold_model, bool):
                raise TypeError(f"threshold_model is {threshold_model!r}, not a bool")
            trust_region = check_trust_region(event.get("trust_region"))
            explore = check_explore(event.get("explore"))
            front = check_front(event.get("front"))
        except (KeyError, TypeError) as e:
            raise ValueError(f"storage: malformed study event: {type(e).__name__}: {e}") \
                from None
        return cls(space, objectives, seed, bool(event.get("noisy", False)), n_initial,
                   constraints, warp, threshold_model, trust_region, explore, front)

    def with_known(self, known: Mapping[str, Callable[[Mapping[str, Any]], float]] | None,
                   path: Path | None) -> _Header:
        """This definition with the functions ``known`` (objective name -> function) in
        place of its known objectives' placeholders (ValueError for a name that is not a
        known objective of it)."""
        known = dict(known or {})
        names = {o.name for o in self.objectives if o.known is not None}
        for name, fn in known.items():
            if name not in names:
                raise ValueError(f"known: {name!r} is not an objective that the study at "
                                 f"{path} records as known (those are {sorted(names)})")
            if not callable(fn):
                raise ValueError(f"known: the function of {name!r} is not callable: {fn!r}")
        objectives = [Objective.from_dict(o.to_dict(), known.get(o.name))
                      for o in self.objectives]
        return _Header(self.space, objectives, self.seed, self.noisy, self.n_initial,
                       self.constraints, self.warp, self.threshold_model, self.trust_region,
                       self.explore, self.front)

    def check_compatible(self, other: _Header, path: Path | None) -> None:
        """Refuse to resume a journal under a different definition (ValueError)."""
        where = f"storage: {path} holds a different study"
        if other.space != self.space:
            raise ValueError(f"{where}: its space is {self.space.to_dict()['params']}")
        if [o.to_dict() for o in other.objectives] != [o.to_dict() for o in self.objectives]:
            raise ValueError(f"{where}: its objectives are "
                             f"{[o.to_dict() for o in self.objectives]}")
        if [c.to_dict() for c in other.constraints] != [c.to_dict() for c in self.constraints]:
            raise ValueError(f"{where}: its constraints are "
                             f"{[c.to_dict() for c in self.constraints]}")
        if other.seed is not None and other.seed != self.seed:
            raise ValueError(f"{where}: its seed is {self.seed}, not {other.seed}")
        if other.noisy != self.noisy:
            raise ValueError(f"{where}: it was created with noisy={self.noisy}")
        if other.n_initial is not None and other.n_initial != self.n_initial:
            raise ValueError(f"{where}: its n_initial is {self.n_initial}, "
                             f"not {other.n_initial}")
        if other.warp != self.warp:
            raise ValueError(f"{where}: it was created with warp={self.warp!r}")
        if other.threshold_model != self.threshold_model:
            raise ValueError(f"{where}: it was created with "
                             f"threshold_model={self.threshold_model}")
        if other.trust_region != self.trust_region:
            raise ValueError(f"{where}: it was created with trust_region={self.trust_region}")
        if other.explore != self.explore:
            raise ValueError(f"{where}: it was created with explore={self.explore}")
        mine = effective_front(self.front, self.noisy)
        if effective_front(other.front, other.noisy) != mine:
            raise ValueError(f"{where}: it was created with front={mine!r}")
