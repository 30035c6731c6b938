"""Study: the ask / tell / optimize loop of multi-objective Bayesian optimisation.

A :class:`Study` owns the bookkeeping between the user's black box and the
surrogate-based :class:`mobo.acquisition.Proposer`:

- the initial design, ``2(d + 1)`` scrambled Sobol points (Owen, 1998) seeded by the
  study seed;
- the sign convention: values are given and returned in the user's terms, and every
  maximised objective is negated exactly once, here, so that everything below works
  in minimisation;
- the reference point: thresholds are the reference point; objectives without one get
  "nadir + 10% of the range" of the completed observations, inferred once when the
  model-based phase starts and recorded in the journal (it never moves afterwards);
- outcome constraints: metrics that must stay within bounds (:class:`mobo.trial.Constraint`);
  a completed trial that breaks one is kept and learned from (its objective values still
  inform the surrogate) but never joins the Pareto front or the hypervolume;
- the three outcomes of a trial: completed (values learned from), failed (the
  parameters caused it; fed to the feasibility model) and abandoned (infrastructure;
  the same parameters are proposed again before anything new);
- determinism: the ``k``-th model proposal depends only on the data, the pending and
  failed points, ``np.random.default_rng([seed, k])`` and the previous fit's
  hyper-parameters, all of which the journal holds, so a resumed study proposes what an
  uninterrupted one would. ``k`` counts model proposals, not trial numbers, so that an
  abandoned trial (asked again under a new number with the same parameters) does not
  shift the random stream of every later proposal;
- crash safety: with ``storage``, every state change is an event appended to a
  :class:`mobo.journal.Journal` before the call returns, and loading is a replay of
  those events through the very code that applied them live.

- objectives known in closed form (``Objective(..., known=fn)``): a trial that does not
  report one is recorded with ``fn(params)`` (a reported value is kept as reported), so the
  journal holds every value and a report needs no function; the proposer uses the
  function for candidates. The journal does not store the function: resuming a study with
  one needs it again (the constructor's objectives or :meth:`Study.load`'s ``known``),
  and :meth:`Study.load` refuses without it (:meth:`Study.read` does not need it);
- output warping (``warp``, :mod:`mobo.warping`: "rank" or "yeo-johnson" after Yeo &
  Johnson 2000 as in HEBO, Cowen-Rivers et al. 2022): the GP is fitted to warped values
  of the modelled objectives and EHVI is measured in warped units; recorded in the header;
- the threshold model (``threshold_model``, :mod:`mobo.acquisition`; after the feasibility
  models of Gardner et al. 2014 and Gelbart et al. 2014): a classifier of "beats every
  threshold" and a GP fitted to the trials that do, for the objectives with a threshold;
  recorded in the header when set;
- a trust region (``trust_region``, :mod:`mobo.acquisition`; after TuRBO, Eriksson et al.
  2019, and MORBO, Daulton et al. 2022): proposals drawn near the inputs of the front
  that beats the reference point and near recombinations of two of them; recorded in the
  header when set;
- an exploration share (``explore``, :mod:`mobo.acquisition`; after TPE, Bergstra et al.
  2011): that share of model proposals drawn from a Parzen density of the trials that beat
  the reference point; recorded in the header when set;
- the treatment of the observed front (``front``, :mod:`mobo.acquisition`): EHVI over the
  observed values ("observed", the default for noise-free metrics), averaged over
  posterior samples of the latent values at the observed inputs ("sampled", the default
  for noisy ones) or over their posterior mean ("plug-in"), the candidate conditioned on
  the front in the last two; recorded in the header when set.

Expected hypervolume improvement and its optimisation live in ``mobo.acquisition``
(Emmerich et al., 2016; Yang et al., 2019; Daulton et al., 2020).
"""

from __future__ import annotations

import functools
import math
import os
import secrets
import time
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mobo import __version__
from mobo.definition import (
    _check_constraints,
    _check_objectives,
    _check_seed,
    _check_storage_path,
    _Header,
    check_explore,
    check_front,
    check_front_options,
    check_trust_region,
)
from mobo.executors import make_executor
from mobo.journal import Journal
from mobo.pareto import nondominated_sort
from mobo.space import Space
from mobo.trial import Constraint, Objective, Trial
from mobo.volume import hypervolume
from mobo.warping import check_warp, warp_columns

__all__ = ["BackendError", "Study"]

# Share of the observed range added beyond the nadir when a reference point is inferred.
_REF_MARGIN = 0.1


def _minimised(fn: Callable[[Mapping[str, Any]], float], sign: float,
               params: dict[str, Any]) -> float:
    """A known objective's value on the minimisation scale (see :meth:`Objective.sign`)."""
    return sign * float(fn(params))


class BackendError(RuntimeError):
    """The evaluation backend keeps losing trials (too many abandoned in a row)."""


def _jsonable(value: Any) -> Any:
    """Numpy scalars/arrays (possibly nested in dicts/lists) -> plain JSON values."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _one_line(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= 2000 else text[:1997] + "..."


def _as_number(value: Any) -> float | None:
    """A real number as float, or None when ``value`` is not one (bools excluded)."""
    if isinstance(value, np.ndarray) and value.shape == ():
        value = value.item()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool) or isinstance(value, str | bytes):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


class Study:
    """A multi-objective optimisation study over ``space``.

    Args:
        space: the search space.
        objectives: the metrics to optimise (``Objective`` or plain names, minimised).
        constraints: metrics that must stay within bounds (:class:`Constraint`); the
            evaluated function reports them beside the objectives.
        storage: path of a journal file. A new path is created at the first event; an
            existing journal is resumed, provided it describes the same space, objectives,
            constraints and settings (otherwise ValueError).
        seed: makes the study reproducible; ``None`` draws one (recorded in the journal).
        noisy: the metrics are noisy (the proposer averages over the in-sample front).
        n_initial: size of the Sobol initial design; default ``2 * (space.dim + 1)``.
        proposer_options: keyword arguments for ``mobo.acquisition.Proposer``.
        warp: ``None`` (default), ``"rank"`` or ``"yeo-johnson"``: fit the GP to warped
            values of the objectives that are not known in closed form
            (:mod:`mobo.warping`); acquisition values are then in warped units.
        threshold_model: for the modelled objectives with a threshold, learn whether a
            trial beats the thresholds with a classifier and fit the GP to the trials that
            do (:mod:`mobo.acquisition`). Default: off.
        trust_region: ``None`` (default: a global search) or a half-width in (0, 1]: draw
            proposals from boxes of that half-width (unit cube) around the inputs of the
            front that beats the reference point and around recombinations of two of them
            (:mod:`mobo.acquisition`).
        explore: ``None`` (default) or a share in (0, 1): the probability that a model
            proposal is drawn from the density of the trials that beat the reference point
            (as TPE proposes) instead of maximising EHVI (:mod:`mobo.acquisition`).
        front: ``None`` (default: "sampled" when ``noisy``, else "observed"),
            "observed", "sampled" or "plug-in": what EHVI improves on. "observed": the
            observed values of the front; "sampled": posterior samples of the latent values
            at the observed inputs (``proposer_options["n_front_samples"]`` of them), the
            candidate conditioned on each; "plug-in": their posterior mean, one front, the
            candidate conditioned on it, for noise-free metrics (under noise it forgets
            which trials are truly on the front: ``results/compare_dev/variants.md``)
            (:mod:`mobo.acquisition`).
    """

    def __init__(
        self,
        space: Space,
        objectives: Sequence[Objective | str],
        *,
        constraints: Sequence[Constraint] | None = None,
        storage: str | os.PathLike[str] | None = None,
        seed: int | None = None,
        noisy: bool = False,
        n_initial: int | None = None,
        proposer_options: Mapping[str, Any] | None = None,
        warp: str | None = None,
        threshold_model: bool = False,
        trust_region: float | None = None,
        explore: float | None = None,
        front: str | None = None,
    ) -> None:
        if not isinstance(space, Space):
            raise ValueError(f"space: expected a mobo.Space, got {type(space).__name__}")
        objectives = _check_objectives(objectives)
        constraints = _check_constraints(constraints, objectives)
        seed = _check_seed(seed)
        if not isinstance(noisy, bool | np.bool_):
            raise ValueError(f"noisy: expected a bool, got {noisy!r}")
        if n_initial is not None:
            if isinstance(n_initial, bool) or not isinstance(n_initial, int | np.integer) \
                    or n_initial < 1:
                raise ValueError(f"n_initial: expected a positive integer, got {n_initial!r}")
            n_initial = int(n_initial)
        if proposer_options is not None and not isinstance(proposer_options, Mapping):
            raise ValueError(f"proposer_options: expected a mapping, got {proposer_options!r}")
        warp = check_warp(warp)
        if not isinstance(threshold_model, bool | np.bool_):
            raise ValueError(f"threshold_model: expected a bool, got {threshold_model!r}")
        trust_region = check_trust_region(trust_region)
        explore = check_explore(explore)
        front = check_front(front)
        check_front_options(front, proposer_options)
        path = _check_storage_path(storage) if storage is not None else None

        if path is not None:
            mine = _Header(space, objectives, seed, bool(noisy), n_initial, constraints, warp,
                           bool(threshold_model), trust_region, explore, front)
            known = {o.name: o.known for o in objectives if o.known is not None}
            if self._resume(path, proposer_options, read_only=False, expected=mine,
                            known=known):
                return
        if seed is None:
            seed = secrets.randbits(32)
        self._setup(space, objectives, seed, bool(noisy),
                    n_initial if n_initial is not None else 2 * (space.dim + 1),
                    proposer_options, None if path is None else Journal(path), constraints,
                    warp, bool(threshold_model), trust_region, explore, front)

    # ------------------------------------------------------------------ construction
    def _setup(self, space: Space, objectives: list[Objective], seed: int, noisy: bool,
               n_initial: int, proposer_options: Mapping[str, Any] | None,
               journal: Journal | None, constraints: Sequence[Constraint] = (),
               warp: str | None = None, threshold_model: bool = False,
               trust_region: float | None = None, explore: float | None = None,
               front: str | None = None) -> None:
        self.space: Space = space
        self.objectives: list[Objective] = list(objectives)
        self.constraints: list[Constraint] = list(constraints)
        self.seed: int = seed
        self.noisy: bool = noisy
        self.n_initial: int = n_initial
        self.warp: str | None = warp
        self.threshold_model: bool = threshold_model
        self.trust_region: float | None = trust_region
        self.explore: float | None = explore
        self.front: str | None = front
        self._proposer_options = dict(proposer_options or {})
        self._proposer: Any = None
        self._journal = journal
        # the header is written lazily, so a study that never asks leaves no file behind
        self._header_written = False
        self._signs = np.array([o.sign() for o in self.objectives])
        self._trials: list[Trial] = []
        self._x: list[np.ndarray] = []  # encoded params, by trial number
        self._design_index: dict[int, int] = {}  # trial number -> Sobol row it evaluates
        self._n_sobol = 0  # Sobol rows handed out so far
        self._design_cache: np.ndarray = np.zeros((0, space.dim))
        self._requeue: deque[int] = deque()  # abandoned trial numbers to ask again, in order
        self._last_model_state: dict[str, Any] | None = None
        thresholds = [o.threshold for o in self.objectives]
        self._ref: np.ndarray | None = None
        if all(t is not None for t in thresholds):
            self._ref = np.array(thresholds, dtype=float) * self._signs

    @property
    def storage(self) -> Path | None:
        """Path of the journal, or None for an in-memory study."""
        return None if self._journal is None else Path(self._journal.path)

    def close(self) -> None:
        """Release the journal (its writer's lock); a later event reopens it."""
        if self._journal is not None:
            self._journal.close()

    def __enter__(self) -> Study:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @staticmethod
    def _check_header(event: Any, path: Path | None) -> dict[str, Any]:
        if not isinstance(event, Mapping) or event.get("event") != "study":
            raise ValueError(f"storage: {path} does not start with a study event; "
                             "not a mobo study journal")
        return dict(event)

    @classmethod
    def load(cls, storage: str | os.PathLike[str],
             proposer_options: Mapping[str, Any] | None = None, *,
             known: Mapping[str, Callable[[Mapping[str, Any]], float]] | None = None
             ) -> Study:
        """Resume the study recorded in the journal at ``storage``.

        Trials that were running when the previous process stopped are marked abandoned
        (an event is written) and their parameters are asked again first. ``known`` maps
        the name of each objective known in closed form to its function (the journal
        records that it is known, not the function); ValueError if one is missing.
        """
        path = _check_storage_path(storage)
        study = cls.__new__(cls)
        if not study._resume(path, proposer_options, read_only=False, known=known):
            raise ValueError(f"storage: no study journal at {path}")
        return study

    @classmethod
    def read(cls, storage: str | os.PathLike[str]) -> Study:
        """The study recorded in the journal at ``storage``, read-only, for reports and plots.

        Unlike :meth:`load`, this takes no lock and writes nothing: a journal that another
        process is still appending to can be read (its running trials stay "running"), and
        a torn last line is skipped with a warning instead of being cut off. The study
        returned is detached from the file (``storage`` is None): asking or telling on it
        changes only the copy in memory.
        """
        if not isinstance(storage, str | os.PathLike) or not os.fspath(storage):
            raise ValueError(f"storage: expected a file path, got {storage!r}")
        path = Path(storage).expanduser()
        if not path.is_file():
            raise ValueError(f"storage: no study journal at {path}")
        study = cls.__new__(cls)
        if not study._resume(path, None, read_only=True):
            raise ValueError(f"storage: {path} holds no events; not a mobo study journal")
        return study

    def _resume(self, path: Path, proposer_options: Mapping[str, Any] | None, *,
                read_only: bool, expected: _Header | None = None,
                known: Mapping[str, Callable[[Mapping[str, Any]], float]] | None = None
                ) -> bool:
        """Become the study recorded in the journal at ``path``; False if it holds no events.

        The one way a journal turns into a study (the constructor on an existing storage,
        :meth:`load` and :meth:`read`): read the events and check the header (and, given
        ``expected``, that it describes the same study); a writer then takes the journal's
        lock and reads it again; every event after the header is replayed through
        :meth:`_apply`, the code that applied it live; last, a writer marks the trials of
        the process that is gone abandoned. ``read_only`` takes no lock, writes nothing,
        keeps running trials running and leaves the study detached from the file.
        """
        journal = Journal(path)
        events = journal.read() if journal.exists() else []
        if not events:
            return False
        stored = _Header.from_event(self._check_header(events[0], path))
        if expected is not None:
            stored.check_compatible(expected, path)
        stored = stored.with_known(known, path)
        check_front_options(stored.front, proposer_options)
        missing = [o.name for o in stored.objectives if o.known_missing]
        if missing and not read_only:
            raise ValueError(f"storage: {path}: objective(s) {missing} are known in closed "
                             "form and the journal does not store functions; pass them: "
                             f"Study.load(path, known={{{missing[0]!r}: fn, ...}})")
        if not read_only:
            journal.lock()  # fail now, before any work, if another writer holds it
            events = journal.read()  # what a writer that just let go may have added
        self._setup(stored.space, stored.objectives, stored.seed, stored.noisy,
                    stored.n_initial, proposer_options, None if read_only else journal,
                    stored.constraints, stored.warp, stored.threshold_model,
                    stored.trust_region, stored.explore, stored.front)
        self._replay(events[1:], path)
        if not read_only:
            self._abandon_orphans()
        return True

    # ------------------------------------------------------------------ events
    def _header_event(self) -> dict[str, Any]:
        event = {
            "event": "study",
            "version": __version__,
            "space": self.space.to_dict(),
            "objectives": [o.to_dict() for o in self.objectives],
            "seed": self.seed,
            "noisy": self.noisy,
            "n_initial": self.n_initial,
            "time": time.time(),
        }
        if self.constraints:  # absent rather than empty keeps older journals comparable
            event["constraints"] = [c.to_dict() for c in self.constraints]
        if self.warp is not None:  # likewise
            event["warp"] = self.warp
        if self.threshold_model:  # likewise
            event["threshold_model"] = True
        if self.trust_region is not None:  # likewise
            event["trust_region"] = self.trust_region
        if self.explore is not None:  # likewise
            event["explore"] = self.explore
        if self.front is not None:  # likewise
            event["front"] = self.front
        return event

    def _record(self, event: dict[str, Any]) -> None:
        """Write ``event`` to the journal (if any), then apply it to the in-memory state."""
        if self._journal is not None:
            if not self._header_written:
                self._journal.lock()
                if self._journal.read():
                    raise ValueError(f"storage: {self.storage} was written by another study "
                                     "after this one was created; open it again to resume it")
                self._journal.append(_jsonable(self._header_event()))
                self._header_written = True
            self._journal.append(_jsonable(event))
        self._apply(event)

    def _replay(self, events: Iterable[Mapping[str, Any]], path: Path) -> None:
        """Apply the events after the header of the journal at ``path`` (named in errors)."""
        self._header_written = True
        for i, event in enumerate(events, start=2):
            try:
                self._apply(event)
            except (KeyError, TypeError, IndexError, ValueError) as e:
                raise ValueError(f"storage: {path}: event on line {i} cannot be "
                                 f"replayed: {type(e).__name__}: {e}") from None

    def _apply(self, event: Mapping[str, Any]) -> None:
        kind = event["event"]
        if kind == "ask":
            number = int(event["number"])
            if number != len(self._trials):
                raise ValueError(f"trial numbers out of order: got {number}, "
                                 f"expected {len(self._trials)}")
            x = np.asarray(event["x"], dtype=float)
            if x.shape != (self.space.dim,):
                raise ValueError(f"trial {number}: x has shape {x.shape}")
            source = str(event["source"])
            if source == "sobol":
                self._design_index[number] = int(event["design_index"])
                self._n_sobol = max(self._n_sobol, int(event["design_index"]) + 1)
            elif source == "requeue":
                old = int(event["requeued_from"])
                if old in self._requeue:
                    self._requeue.remove(old)
                if old in self._design_index:
                    self._design_index[number] = self._design_index[old]
            model_state = event.get("model_state")
            if model_state is not None:
                self._last_model_state = model_state
            self._trials.append(Trial(
                number=number,
                params=dict(event["params"]),
                status="running",
                started=event.get("time"),
                seed=self.seed,
                version=str(event.get("version", __version__)),
                source=source,
                acq_value=event.get("acq_value"),
                timings=dict(event.get("timings") or {}),
                model_state=model_state,
            ))
            self._x.append(x)
        elif kind in ("tell", "fail", "abandon"):
            trial = self._trials[int(event["number"])]
            if trial.status != "running":
                raise ValueError(f"trial {trial.number} is already {trial.status}")
            trial.finished = event.get("time")
            trial.duration = event.get("duration")
            if kind == "tell":
                trial.status = "completed"
                trial.values = dict(event["values"])
                trial.feasible = all(c.holds(trial.values[c.name]) for c in self.constraints)
            elif kind == "fail":
                trial.status = "failed"
                trial.values = dict(event["values"]) if event.get("values") else None
                trial.error = event.get("error")
            else:
                trial.status = "abandoned"
                trial.error = event.get("error")
                self._requeue.append(trial.number)
        elif kind == "ref":
            ref = np.asarray(event["ref"], dtype=float)
            if ref.shape != (len(self.objectives),):
                raise ValueError(f"ref has shape {ref.shape}")
            self._ref = ref
        else:
            raise ValueError(f"unknown event {kind!r}")

    def _abandon_orphans(self) -> None:
        """Trials still running in a journal just opened belong to a process that is gone."""
        for trial in self._trials:
            if trial.status == "running":
                self.abandon(trial, error="process stopped while the trial was running")

    # ------------------------------------------------------------------ views
    @property
    def trials(self) -> list[Trial]:
        """All trials, by number (the objects are live: they change as trials finish)."""
        return list(self._trials)

    def _count(self, status: str) -> int:
        return sum(t.status == status for t in self._trials)

    @property
    def n_completed(self) -> int:
        return self._count("completed")

    @property
    def n_failed(self) -> int:
        return self._count("failed")

    @property
    def n_finished(self) -> int:
        """Completed plus failed trials: what counts against a budget."""
        return sum(t.done for t in self._trials)

    @property
    def ref_point(self) -> dict[str, float] | None:
        """The reference point in the user's terms (None until it is known)."""
        if self._ref is None:
            return None
        return {o.name: float(r * o.sign()) for o, r in zip(self.objectives, self._ref,
                                                            strict=True)}

    def _completed_arrays(self, *, feasible_only: bool = False
                          ) -> tuple[list[Trial], np.ndarray, np.ndarray]:
        """(trials, X (n, d) encoded, Y (n, m) minimised) of the completed trials; with
        ``feasible_only``, of those that meet every outcome constraint."""
        done = [t for t in self._trials if t.status == "completed"
                and (t.feasible or not feasible_only)]
        m = len(self.objectives)
        if not done:
            return done, np.zeros((0, self.space.dim)), np.zeros((0, m))
        X = np.array([self._x[t.number] for t in done])
        Y = np.array([[t.values[o.name] for o in self.objectives] for t in done],
                     dtype=float) * self._signs
        return done, X, Y

    def _constraint_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """(C (n, c) constraint values of the completed trials, bounds (c, 2))."""
        done = [t for t in self._trials if t.status == "completed"]
        C = np.array([[t.values[c.name] for c in self.constraints] for t in done],
                     dtype=float).reshape(len(done), len(self.constraints))
        return C, np.array([c.bounds() for c in self.constraints], dtype=float)

    def pareto_front(self, *, within_thresholds: bool = True) -> list[Trial]:
        """Feasible completed trials that no other one dominates, by trial number.

        Trials that break an outcome constraint never count. With ``within_thresholds``
        (default) only trials strictly better than every objective's threshold are
        considered: a student below the always-no-answer exact match is no trade-off worth
        showing, and such a point never dominates one that meets the threshold. Objectives
        without a threshold filter nothing. Trials with identical objective values are all
        kept.
        """
        done, _, Y = self._completed_arrays(feasible_only=True)
        if within_thresholds and done:
            limits = np.array([np.inf if o.threshold is None else o.threshold * o.sign()
                               for o in self.objectives])
            ok = np.all(Y < limits, axis=1)
            done = [t for t, keep in zip(done, ok, strict=True) if keep]
            Y = Y[ok]
        if not done:
            return []
        mask = np.asarray(nondominated_sort(Y)) == 0
        return [t for t, keep in zip(done, mask, strict=True) if keep]

    def hypervolume(self, ref: Mapping[str, float] | Sequence[float] | None = None) -> float:
        """Hypervolume of the feasible completed trials with respect to the reference point.

        ``ref`` (user's terms, by name or in objective order) overrides the study's
        reference; without either (no thresholds and no reference inferred yet) the
        result is ``nan``. Only points strictly better than the reference count.
        """
        if ref is None:
            if self._ref is None:
                return float("nan")
            r = self._ref
        else:
            if isinstance(ref, Mapping):
                missing = [o.name for o in self.objectives if o.name not in ref]
                if missing:
                    raise ValueError(f"ref: missing objective(s) {missing}")
                vals = [ref[o.name] for o in self.objectives]
            else:
                vals = list(ref)
            r = np.asarray(vals, dtype=float)
            if r.shape != (len(self.objectives),) or not np.all(np.isfinite(r)):
                raise ValueError(f"ref: expected {len(self.objectives)} finite numbers, "
                                 f"got {ref!r}")
            r = r * self._signs
        _, _, Y = self._completed_arrays(feasible_only=True)
        if len(Y) == 0:
            return 0.0
        return float(hypervolume(Y, r))

    # ------------------------------------------------------------------ ask
    def _sobol_row(self, i: int) -> np.ndarray:
        if i >= len(self._design_cache):
            # scrambled Sobol with a fixed seed is a prefix of any longer draw, so
            # growing the cache never changes rows already handed out
            n = max(self.n_initial, 1 << int(math.ceil(math.log2(i + 1))))
            self._design_cache = self.space.sobol(max(n, i + 1), self.seed)
        return self._design_cache[i]

    def _initial_design_done(self) -> bool:
        """Every one of the ``n_initial`` Sobol rows has a finished (completed/failed) trial."""
        finished = {self._design_index[t.number] for t in self._trials
                    if t.done and t.number in self._design_index}
        return all(i in finished for i in range(self.n_initial))

    def _model_phase(self) -> bool:
        if self._n_sobol < self.n_initial or self.n_completed == 0:
            return False
        # a reference point to be inferred waits for the whole initial design
        return self._ref is not None or self._initial_design_done()

    def _infer_ref(self) -> None:
        # from the feasible points when there are some: the front lives among them
        _, _, Y = self._completed_arrays(feasible_only=True)
        if len(Y) == 0:
            _, _, Y = self._completed_arrays()
        nadir = Y.max(axis=0)
        span = nadir - Y.min(axis=0)
        margin = np.where(span > 0, _REF_MARGIN * span,
                          _REF_MARGIN * np.maximum(np.abs(nadir), 1.0))
        inferred = nadir + margin
        ref = np.array([
            inferred[j] if o.threshold is None else o.threshold * o.sign()
            for j, o in enumerate(self.objectives)
        ])
        self._record({
            "event": "ref",
            "ref": ref.tolist(),
            "user": {o.name: float(r * o.sign())
                     for o, r in zip(self.objectives, ref, strict=True)},
            "inferred": [o.name for o in self.objectives if o.threshold is None],
            "time": time.time(),
        })

    def _get_proposer(self) -> Any:
        if self._proposer is None:
            # torch and gpytorch come with the proposer: lazy, so that reading a journal
            # for a report or a plot (Study.read) does not pay seconds of imports
            from mobo.acquisition import Proposer

            options = dict(self._proposer_options)
            known = {j: functools.partial(_minimised, o.known, o.sign())
                     for j, o in enumerate(self.objectives) if o.known is not None}
            if known:
                options["known"] = known
            if self.warp is not None:
                options["warp"] = self.warp
            if self.threshold_model:
                options["threshold_model"] = True
                options["thresholded"] = [j for j, o in enumerate(self.objectives)
                                          if o.threshold is not None]
            if self.trust_region is not None:
                options["trust_region"] = self.trust_region
            if self.explore is not None:
                options["explore"] = self.explore
            if self.front is not None:
                options["sample_front"] = self.front != "observed"
                options["plug_in_front"] = self.front == "plug-in"
            self._proposer = Proposer(self.space, noisy=self.noisy, **options)
        return self._proposer

    def _propose(self) -> tuple[Any, np.ndarray]:
        assert self._ref is not None
        _, X, Y = self._completed_arrays()
        failed = [self._x[t.number] for t in self._trials if t.status == "failed"]
        pending = [self._x[t.number] for t in self._trials if t.status == "running"]
        k = sum(1 for t in self._trials if t.source == "model")
        C, C_bounds = self._constraint_arrays() if self.constraints else (None, None)
        proposal = self._get_proposer().propose(
            X, Y, self._ref.copy(),
            rng=np.random.default_rng([self.seed, k]),
            X_failed=np.array(failed) if failed else None,
            X_pending=np.array(pending) if pending else None,
            warm_start=self._last_model_state,
            C=C,
            C_bounds=C_bounds,
        )
        x = np.asarray(proposal.x, dtype=float).reshape(-1)
        if x.shape != (self.space.dim,) or not np.all(np.isfinite(x)):
            raise ValueError(f"the proposer returned an invalid point of shape {x.shape}")
        return proposal, self.space.round(x)

    def ask(self) -> Trial:
        """Start a new trial and return it (``trial.number``, ``trial.params``).

        Order of preference: parameters of abandoned trials (re-proposed first), the
        Sobol initial design, then model proposals conditioned on the completed, failed
        and still-running trials. Should a proposal raise, the next Sobol point is asked
        instead, with a RuntimeWarning (the error is kept in the journal).
        """
        t0 = time.perf_counter()
        number = len(self._trials)
        event: dict[str, Any] = {"event": "ask", "number": number, "version": __version__}
        if self._requeue:
            old = self._requeue[0]
            x = self._x[old]
            event.update(source="requeue", requeued_from=old)
        elif not self._model_phase():
            i = self._n_sobol
            x = self._sobol_row(i)
            event.update(source="sobol", design_index=i)
        else:
            if self._ref is None:
                self._infer_ref()
            try:
                proposal, x = self._propose()
            except Exception as e:
                # A long run must not die (and, being deterministic, die again on resume)
                # because one surrogate fit went wrong: take the next space-filling point.
                reason = _one_line(f"{type(e).__name__}: {e}")
                warnings.warn(f"trial {number}: the proposal failed ({reason}); evaluating "
                              "the next Sobol point instead", RuntimeWarning, stacklevel=2)
                i = self._n_sobol
                x = self._sobol_row(i)
                event.update(source="sobol", design_index=i, proposal_error=reason)
            else:
                event.update(source="model", acq_value=_as_number(proposal.acq_value),
                             model_state=proposal.model_state,
                             timings={k: float(v) for k, v in dict(proposal.timings).items()})
        params = self.space.decode(x)
        event["params"] = params
        event["x"] = [float(v) for v in x]
        timings = dict(event.get("timings") or {})
        timings["ask"] = time.perf_counter() - t0
        event["timings"] = timings
        event["time"] = time.time()
        self._record(event)
        return self._trials[number]

    # ------------------------------------------------------------------ tell / abandon
    def _resolve(self, trial: Trial | int) -> Trial:
        if isinstance(trial, Trial):
            number = trial.number
        elif isinstance(trial, int | np.integer) and not isinstance(trial, bool):
            number = int(trial)
        else:
            raise ValueError(f"trial: expected a Trial or a trial number, got {trial!r}")
        if not 0 <= number < len(self._trials):
            raise ValueError(f"trial: unknown trial number {number}")
        found = self._trials[number]
        if isinstance(trial, Trial) and trial is not found and trial.params != found.params:
            raise ValueError(f"trial: trial {number} does not belong to this study")
        return found

    def tell(
        self,
        trial: Trial | int,
        values: Mapping[str, Any] | None = None,
        *,
        failed: bool = False,
        error: str | None = None,
        duration: float | None = None,
    ) -> Trial:
        """Report the outcome of a running trial.

        ``values`` maps every objective and constraint name (and optionally extra
        metrics) to a number, in the user's terms. A missing objective or constraint, or
        a non-finite/non-numeric value of one, records the trial as failed with that
        error, as does ``failed=True``.
        Raises ValueError only for misuse: an unknown trial, one that is not running, or
        no values without ``failed=True``.
        """
        t = self._resolve(trial)
        if t.status != "running":
            raise ValueError(f"trial {t.number}: already {t.status}, cannot tell it again")
        if values is not None and not isinstance(values, Mapping):
            raise ValueError(f"values: expected a mapping of metric name -> number, "
                             f"got {type(values).__name__}")
        if values is None and not failed:
            raise ValueError("values: required unless failed=True")
        if values is not None and not failed:
            values = self._with_known(t, values)
        now = time.time()
        if duration is None and t.started is not None:
            duration = max(now - t.started, 0.0)
        clean: dict[str, float | None] = {}
        problems: list[str] = []
        for key, raw in (values or {}).items():
            v = _as_number(raw)
            clean[str(key)] = v if v is not None and math.isfinite(v) else None
        required = [("objective", o.name) for o in self.objectives] + \
            [("constraint", c.name) for c in self.constraints]
        for kind, name in required:
            if values is None:
                break
            if name not in values:
                problems.append(f"missing {kind} {name!r}")
                continue
            v = _as_number(values[name])
            if v is None:
                problems.append(f"{kind} {name!r} is not a number: {values[name]!r}")
            elif not math.isfinite(v):
                problems.append(f"{kind} {name!r} is {v}")
        if failed or problems:
            msg = error if error is not None else ("; ".join(problems) or "failed")
            kept = {k: v for k, v in clean.items() if v is not None}
            self._record({"event": "fail", "number": t.number, "error": _one_line(msg),
                          "values": kept or None, "time": now, "duration": duration})
        else:
            self._record({"event": "tell", "number": t.number, "values": clean, "time": now,
                          "duration": duration})
        return t

    def _with_known(self, trial: Trial, values: Mapping[str, Any]) -> Mapping[str, Any]:
        """``values`` with the value of each known objective they lack, from its function
        (one the black box reports is kept: it is what was measured)."""
        missing = [o for o in self.objectives if o.known is not None and o.name not in values]
        if not missing:
            return values
        out = dict(values)
        for o in missing:
            assert o.known is not None
            out[o.name] = o.known(dict(trial.params))  # checked like a reported value
        return out

    def abandon(self, trial: Trial | int, error: str | None = None) -> Trial:
        """Give up a running trial for reasons unrelated to its parameters.

        Its parameters are not learned from; they are asked again before anything new.
        """
        t = self._resolve(trial)
        if t.status != "running":
            raise ValueError(f"trial {t.number}: already {t.status}, cannot abandon it")
        now = time.time()
        duration = None if t.started is None else max(now - t.started, 0.0)
        self._record({"event": "abandon", "number": t.number,
                      "error": _one_line(error) if error else "abandoned",
                      "time": now, "duration": duration})
        return t

    # ------------------------------------------------------------------ optimize
    def optimize(
        self,
        fn: Callable[[dict[str, Any]], Mapping[str, float]],
        budget: int,
        *,
        workers: int = 1,
        backend: str = "inline",
        trial_timeout: float | None = None,
        gpus_per_trial: float = 0.0,
        address: str | None = None,
        callbacks: Sequence[Callable[[Study, Trial], None]] | None = None,
        max_abandoned: int | None = None,
    ) -> None:
        """Evaluate ``fn`` until ``budget`` trials are completed or failed.

        ``budget`` counts the trials already in the study (a resumed study continues up
        to it). Up to ``workers`` trials run at once; a free slot gets a new ``ask()``
        straight away, conditioned on the trials still running. ``callbacks`` are called
        as ``cb(study, trial)`` after each trial finishes (or is abandoned).

        Evaluations that raise, time out or return bad values become failed trials;
        evaluations lost to the infrastructure become abandoned and are asked again. More
        than ``max_abandoned`` (default ``2 * workers + 5``) abandoned trials in a row stop
        the loop with :class:`BackendError`. Trials asked outside this call and still
        running stay pending (proposals avoid them) and do not count towards ``budget``.
        On KeyboardInterrupt (or any other exception) the running trials are cancelled and
        recorded abandoned, then the exception goes on.
        """
        if isinstance(budget, bool) or not isinstance(budget, int | np.integer) or budget < 0:
            raise ValueError(f"budget: expected a non-negative integer, got {budget!r}")
        if isinstance(workers, bool) or not isinstance(workers, int | np.integer) or workers < 1:
            raise ValueError(f"workers: expected a positive integer, got {workers!r}")
        if not callable(fn):
            raise ValueError(f"fn: expected a callable, got {fn!r}")
        callbacks = list(callbacks or [])
        for cb in callbacks:
            if not callable(cb):
                raise ValueError(f"callbacks: {cb!r} is not callable")
        if max_abandoned is None:
            max_abandoned = 2 * int(workers) + 5
        budget = int(budget)
        if self.n_finished >= budget:
            return

        executor = make_executor(backend, int(workers), trial_timeout=trial_timeout,
                                 gpus_per_trial=gpus_per_trial, address=address)
        in_flight: dict[int, Trial] = {}
        abandoned_in_a_row = 0
        clean_exit = False
        try:
            while True:
                while (len(in_flight) < executor.capacity
                       and self.n_finished + len(in_flight) < budget):
                    trial = self.ask()
                    in_flight[trial.number] = trial
                    executor.submit(trial.number, fn, dict(trial.params))
                if not in_flight:
                    break
                for outcome in executor.wait():
                    trial = in_flight.pop(outcome.number, None)
                    if trial is None or trial.status != "running":
                        continue
                    if outcome.status == "completed":
                        self.tell(trial, outcome.values if outcome.values is not None else {},
                                  duration=outcome.duration)
                        abandoned_in_a_row = 0
                    elif outcome.status == "failed":
                        self.tell(trial, failed=True, error=outcome.error or "failed",
                                  duration=outcome.duration)
                        abandoned_in_a_row = 0
                    else:
                        self.abandon(trial, error=outcome.error or "abandoned")
                        abandoned_in_a_row += 1
                    for cb in callbacks:
                        cb(self, trial)
                if abandoned_in_a_row > max_abandoned:
                    raise BackendError(
                        f"{abandoned_in_a_row} trials in a row were abandoned (last error: "
                        f"{trial.error}); the evaluation backend seems broken")
            clean_exit = True
        finally:
            executor.shutdown(cancel=not clean_exit)
            if not clean_exit:
                for trial in in_flight.values():
                    if trial.status == "running":
                        self.abandon(trial, error="cancelled: optimisation interrupted")

    def surrogate(self) -> dict[str, Any]:
        """The GP the next proposal fits to the completed trials, as one GPyTorch ``ExactGP``
        per modelled objective, by name (:func:`mobo.surrogate.fit_surrogate` says how, and
        in which units: warped ones when the study has a ``warp``). Objectives known in
        closed form are not modelled and have no entry. With ``threshold_model`` it is still
        fitted to every completed trial (the proposer's GP sees only those that beat the
        thresholds). Changes nothing in the study. Raises ValueError before the first
        completed trial."""
        # torch and gpytorch are lazy here too (see _get_proposer)
        from mobo.surrogate import fit_surrogate

        _, X, Y = self._completed_arrays()
        modelled = [j for j, o in enumerate(self.objectives) if o.known is None]
        if self.warp is not None and len(Y):
            Y, _ = warp_columns(Y, None, modelled, self.warp)  # as the proposer does
        return fit_surrogate(X, Y[:, modelled], names=[self.objectives[j].name for j in modelled],
                             signs=[self._signs[j] for j in modelled], noisy=self.noisy,
                             warm_start=self._last_model_state, warp=self.warp)

    def __repr__(self) -> str:
        return (f"Study(objectives={[o.name for o in self.objectives]}, "
                f"trials={len(self._trials)}, completed={self.n_completed}, "
                f"seed={self.seed}, storage={self.storage})")
