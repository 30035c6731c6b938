"""mobo against its peers on the embedded distillation task itself.

Where :mod:`benchmarks.compare` scores the methods on toy problems with known fronts, this
benchmark runs them on the black box ``python -m mobo.run`` optimises by default: students
distilled from a MiniLM-L6 teacher on the synthetic SQuAD-2.0-format task
(:mod:`distill`), objectives ``exact`` (maximised) and ``num_parameters`` (minimised);
``f1`` is recorded too. Methods:

- ``mobo``: ``mobo.Study`` exactly as ``python -m mobo.run`` sets it up: the task's own
  objectives and thresholds (``exact`` above the always-no-answer EM, ``num_parameters``
  with an inferred reference), its initial design size
  (:func:`mobo.run.default_n_initial`) and the study settings the task recommends
  (``TaskEntry.study_options``), no other option.
- ``tpe``: Optuna's ``TPESampler(multivariate=True)`` (Bergstra et al., 2011; Ozaki et
  al., 2020), with mobo's Sobol design enqueued as its start-up trials.
- ``gp``: Optuna's ``GPSampler`` (Gaussian-process BO with log expected hypervolume
  improvement on two objectives), likewise.
- ``botorch``: qLogNEHVI (Daulton et al., 2021; Ament et al., 2023) on one GP per
  objective (``SingleTaskGP``; its ``MixedSingleTaskGP`` subclass, with a categorical
  kernel, when the space has categoricals), maximised over the mixed space by BoTorch's
  ``optimize_acqf_mixed_alternating`` (integers and categoricals kept discrete); where
  that optimiser is missing, :func:`benchmarks.compare.botorch_propose` optimises the
  continuous relaxation and the optimum is rounded. The reference point is the fixed one
  below. Same Sobol design.
- ``sobol``: the scrambled Sobol sequence (Owen, 1998) mobo's design is the start of.

The black box is the same for every method and seed: the default embedded task exactly
as ``python -m mobo.run`` builds it, with its default seed 0 (so its teacher and the
teacher's logits are fine-tuned and computed once, cached under ``$MOBO_CACHE``, and
shared by every run). What varies with ``--seeds`` is the method's seed (its initial
design and its random streams). Seeds 0, 1 and 2 are the development seeds on which the
methods' settings were chosen; the default seeds 10, 11 and 12 are held out.

Runs are resumable and may be done in pieces (e.g. two processes side by side with
``--threads 1``, different ``--methods`` or ``--seeds``): each (method, seed) run appends
its trials, as they finish, to ``<out-dir>/distill_compare/<method>-<seed>.jsonl`` (one
JSON line per trial, flushed and fsynced; a torn last line is ignored); mobo's run keeps
a mobo journal there instead, which it resumes natively. A restarted run replays what is
recorded into its optimiser and continues; a complete run is skipped. After every trial
``<out-dir>/distill_compare.csv`` is rewritten (temp file and rename) from all the
per-run files, columns ``method,seed,trial,source,status,exact,f1,num_parameters,seconds``
(``source``: ``initial`` for the initial design, ``model`` afterwards; for ``sobol``,
``model`` marks the points after the same initial count). Peers resume with the
``--budget`` they started with (it sets the initial design size). Each run segment (a
start or a resumption) appends the commit it runs from and its command to
``<out-dir>/distill_compare/provenance.jsonl`` (:mod:`benchmarks.provenance`).

The report ``<out-dir>/distill_compare.md`` is computed from the CSV alone, with the
fixed reference ``exact`` = the task's always-no-answer EM and ``num_parameters`` = the
teacher's parameter count (kept in ``<out-dir>/distill_compare/reference.json``).
Hypervolume is measured in EM points times the teacher's size (``num_parameters``
divided by the teacher's count). The figure of the fronts goes
next to the report, ``<out-dir>/distill_compare_fronts.png`` (the paper draws its own from
the CSV).

Usage (from the repository root of a checkout; a trial's cost: results/distill.md)::

    python -m benchmarks.distill_compare --methods mobo tpe --seeds 10 11 12
    python -m benchmarks.distill_compare --report
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import hashlib
import json
import math
import os
import shlex
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numba
import numpy as np
from matplotlib.figure import Figure

from benchmarks import provenance
from benchmarks.compare import (
    _optuna_sampler,
    _quantiles,
    _suggest,
    botorch_propose,
    front_samples_error,
    mann_whitney_p,
    missing_requirements,
    proposer_options,
)
from benchmarks.distill_standin import StandIn
from mobo.acquisition import EXTEND_BY
from mobo.explore import EXPLORE_GOOD
from mobo.pareto import is_nondominated
from mobo.run import (
    build_parser,
    default_n_initial,
    explore_arg,
    flag_overrides,
    trust_region_arg,
)
from mobo.space import Categorical, Float, Int, Space
from mobo.study import Study
from mobo.trial import Objective, Trial
from mobo.volume import hypervolume

try:
    from threadpoolctl import threadpool_limits
except ImportError:  # pragma: no cover - a dependency of mobo; only --threads needs it
    threadpool_limits = None

METHODS: tuple[str, ...] = ("mobo", "tpe", "gp", "botorch", "sobol")
FIELDS: tuple[str, ...] = (
    "method", "seed", "trial", "source", "status", "exact", "f1", "num_parameters", "seconds",
)
DEFAULT_SEEDS: tuple[int, ...] = (10, 11, 12)
CHECKPOINTS: tuple[int, ...] = (25, 50, 100)
# shares of the teacher's parameter count within which the best student is reported
SIZE_BANDS: tuple[float, ...] = (0.6, 0.7, 0.8)
# the black box's own seed: python -m mobo.run's default, the same for every run
TASK_SEED = 0
RESULTS_DIR = Path(__file__).resolve().parents[1] / "results"
# where --standin runs go unless --out-dir says otherwise (never the reported results)
STANDIN_DIR = RESULTS_DIR / "distill_standin"
FIGURE_NAME = "distill_compare_fronts.png"
# in a run folder, marks runs on the stand-in (the report says so in its title)
STANDIN_MARKER = "standin.txt"
PROVENANCE = "provenance.jsonl"  # one line per run segment: method, seed, commit, command
NAME = "distill_compare"
# BoTorch's acquisition optimiser: the restarts and raw samples of the standard loop
BOTORCH_RESTARTS = 10
BOTORCH_RAW_SAMPLES = 512
# options of optimize_acqf_mixed_alternating beyond its defaults (none)
BOTORCH_MIXED_OPTIONS: dict[str, Any] = {}

OnTrial = Callable[[str, int, dict[str, Any]], None]


@dataclass
class Blackbox:
    """What every method is given: the space, the task's objectives (mobo's settings), the
    function, and the fixed hypervolume reference ``{"exact": ..., "num_parameters": ...}``."""

    space: Space
    objectives: list[Objective]
    fn: Callable[[Mapping[str, Any]], Mapping[str, float]]
    reference: dict[str, float]
    noisy: bool = False
    # the Study settings the task recommends (mobo.tasks.TaskEntry.study_options)
    study_options: dict[str, Any] = field(default_factory=dict)
    # where its evaluations come from beyond its definition (:func:`environment`); None
    # for the stand-in, which is deterministic everywhere
    environment: dict[str, Any] | None = None


def load_task(progress: Callable[[str], None]) -> Blackbox:
    """The default embedded distillation task as ``python -m mobo.run`` builds it, prepared
    (teacher and logits from the cache, or made and cached now)."""
    # the distillation task pulls in torch and transformers
    from distill.task import ENTRY

    args = build_parser().parse_args([])
    task = ENTRY.build(args, TASK_SEED)
    if task.prepare is not None:
        task.prepare(progress)
    fn = task.fn
    reference = {"exact": float(fn.no_answer_em),
                 "num_parameters": float(fn.teacher_num_parameters)}
    return Blackbox(task.space, list(task.objectives), fn, reference, noisy=task.noisy,
                    study_options=dict(ENTRY.study_options), environment=environment(fn))


def environment(fn: Any) -> dict[str, Any]:
    """What decides a prepared distillation task's scores beyond its definition: the CPU
    (its model name, its vendor, family, model and stepping, and the vector instructions
    torch's kernels dispatch to), torch's version and thread count, the device students
    train on, and the teacher (``fn.teacher_digest``). The task is deterministic for one
    such environment only (:mod:`benchmarks.distill_recheck` measures how far another one
    moves them); an :class:`EvaluationCache` keeps the one it was made in and serves no
    other."""
    import torch  # heavy: only runs on the real task need it

    return {"cpu": provenance.cpu_name(), "cpu_model": provenance.cpu_model(),
            "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
            "device": device_words(fn), "teacher": fn.teacher_digest}


def device_words(fn: Any) -> str:
    """Where the task ``fn`` trains its students: the CUDA device's name, or "CPU"."""
    import torch  # heavy: only runs on the real task need it

    from distill.train import resolve_device  # pulls in transformers

    dev = resolve_device(getattr(fn, "device", None))
    return torch.cuda.get_device_name(dev) if dev.type == "cuda" else "CPU"


def load_standin() -> Blackbox:
    """The stand-in of :mod:`benchmarks.distill_standin` (a forest fitted to the real
    task's recorded trials, the parameter count exact) with the real task's space,
    objectives and fixed reference (the teacher is the deepest, widest student)."""
    # the task's entry (light: no torch), for the settings it recommends
    from distill.task import ENTRY

    standin = StandIn()
    top = {p.name: p.high for p in standin.space.params if p.name in ("n_layers", "n_heads")}
    reference = {"exact": standin.threshold,
                 "num_parameters": standin.num_parameters(top)}
    return Blackbox(standin.space, standin.objectives(), standin, reference,
                    study_options=dict(ENTRY.study_options))


# ---------------------------------------------------------------------------------------
# Per-run files.


def run_path(out_dir: Path, method: str, seed: int) -> Path:
    """The per-run file of ``method`` and ``seed`` (mobo's: its study journal)."""
    return out_dir / NAME / f"{method}-{seed}.jsonl"


def read_records(path: Path) -> list[dict[str, Any]]:
    """The trials recorded in a per-run file, in order; [] if there is none. A last line
    cut short by a crash is ignored; damage anywhere else raises ValueError."""
    if not path.is_file():
        return []
    lines = path.read_bytes().split(b"\n")
    out = []
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            if i == len(lines) - 1:  # torn last line: the write never finished
                break
            raise ValueError(f"{path}: line {i + 1} is not JSON") from None
    return out


def _append(path: Path, record: Mapping[str, Any]) -> None:
    """Append one record durably, first cutting off a torn last line."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("ab+") as f:
        size = f.seek(0, os.SEEK_END)
        if size:
            f.seek(max(0, size - 65536))
            tail = f.read()
            if not tail.endswith(b"\n"):
                cut = tail.rfind(b"\n")
                keep = size - len(tail) + cut + 1 if cut >= 0 else max(0, size - len(tail))
                f.truncate(keep)
        f.write((json.dumps(record) + "\n").encode())
        f.flush()
        os.fsync(f.fileno())


def append_shared_line(path: Path, record: Mapping[str, Any]) -> None:
    """Append one JSON line to a file that several processes append to at once."""
    # one write(2) of a whole line on an O_APPEND descriptor, led by a newline: lines of
    # concurrent writers never interleave, and a line torn by a crash ends at the next one
    # (and is skipped as unreadable: readers skip blank lines) instead of swallowing it
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, ("\n" + json.dumps(record) + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)


class EvaluationCache:
    """Completed evaluations of one black box, kept in a JSON-lines file and shared by
    every run that uses it: the task is deterministic (a student is trained from a fixed
    seed), so a configuration that another run (another method with the same design, or
    another setting on the same seed) has already evaluated is served from the file.

    Lines: ``{"key": <params as canonical JSON>, "values": {...}}``, the first one
    ``{"task": <fingerprint>, "environment": {...}}`` (:func:`task_fingerprint`,
    :func:`environment`); a file made for another task, or in another environment (another
    kind of CPU, thread count, device or teacher: the same configuration scores
    differently there), is refused (ValueError). Compatibility: what the file's first line
    records is compared; a part of this environment it does not record (it was made
    before that part was recorded; a file naming no environment records none) is not
    checked, and ``unchecked`` names those parts. The fingerprint does not cover the task's
    code: after changing the trainer or the data, start a new cache file. Only completed
    evaluations with finite values are kept."""

    def __init__(self, path: Path, fingerprint: str,
                 environment: Mapping[str, Any] | None = None) -> None:
        self.path = path
        self.fingerprint = fingerprint
        self.environment = None if environment is None else dict(environment)
        # the parts of ``environment`` the file does not record (not checked)
        self.unchecked: list[str] = []
        self._values: dict[str, dict[str, float]] = {}
        self.hits = 0
        self._read()
        if not self.path.is_file() or self.path.stat().st_size == 0:
            header: dict[str, Any] = {"task": fingerprint}
            if self.environment is not None:
                header["environment"] = self.environment
            self._write(header)

    def _check_environment(self, made: Mapping[str, Any] | None) -> None:
        if self.environment is None:
            return
        made = made or {}
        self.unchecked = [k for k in self.environment if k not in made]
        differ = [f"{k} {made.get(k)!r}, here {self.environment.get(k)!r}"
                  for k in sorted(made) if made.get(k) != self.environment.get(k)]
        if differ:
            raise ValueError(f"{self.path}: evaluations made in another environment "
                             f"({'; '.join(differ)}); give another --eval-cache")

    @staticmethod
    def key(params: Mapping[str, Any]) -> str:
        return json.dumps(dict(params), sort_keys=True)

    def _read(self) -> None:
        if not self.path.is_file():
            return
        lines = [line for line in self.path.read_text().splitlines() if line.strip()]
        for k, line in enumerate(lines):
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line torn by a crash
            if k == 0:
                if rec.get("task") != self.fingerprint:
                    raise ValueError(f"{self.path}: an evaluation cache of another task "
                                     f"({rec.get('task')!r}); give another --eval-cache")
                self._check_environment(rec.get("environment"))
                continue
            self._values[rec["key"]] = rec["values"]

    def get(self, params: Mapping[str, Any]) -> dict[str, float] | None:
        """The cached values of ``params`` (rereading the file on a miss), or None."""
        k = self.key(params)
        if k not in self._values:
            self._read()
        found = self._values.get(k)
        if found is not None:
            self.hits += 1
        return None if found is None else dict(found)

    def put(self, params: Mapping[str, Any], values: Mapping[str, float]) -> None:
        k = self.key(params)
        self._values[k] = dict(values)
        self._write({"key": k, "values": dict(values)})

    def _write(self, record: Mapping[str, Any]) -> None:
        append_shared_line(self.path, record)


@dataclass
class CachedFn:
    """``fn`` with its completed evaluations kept in (and served from) ``cache``."""

    fn: Callable[[Mapping[str, Any]], Mapping[str, float]]
    cache: EvaluationCache

    def __call__(self, params: Mapping[str, Any]) -> dict[str, float]:
        found = self.cache.get(params)
        if found is not None:
            return found
        values = {k: float(v) for k, v in self.fn(params).items()}
        if all(math.isfinite(v) for v in values.values()):
            self.cache.put(params, values)
        return values


def task_fingerprint(box: Blackbox) -> str:
    """What identifies the black box for :class:`EvaluationCache`: its space, objectives
    and fixed reference (the no-answer EM and the teacher's size), and the task seed."""
    text = json.dumps({"space": box.space.to_dict(),
                       "objectives": [o.to_dict() for o in box.objectives],
                       "reference": box.reference, "task_seed": TASK_SEED}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _evaluate(box: Blackbox, params: Mapping[str, Any]) -> tuple[str, dict[str, float] | None,
                                                                  float, str | None]:
    """(status, values, seconds, error) of one evaluation; an exception is a failed trial."""
    t0 = time.perf_counter()
    try:
        raw = box.fn(params)
        values = {k: float(v) for k, v in raw.items()}
        for o in box.objectives:
            if not math.isfinite(values[o.name]):
                raise ValueError(f"{o.name} is {values[o.name]}")
    except Exception as e:  # the trial failed, not the run
        return "failed", None, time.perf_counter() - t0, f"{type(e).__name__}: {e}"
    return "completed", values, time.perf_counter() - t0, None


def _record(trial: int, source: str, params: Mapping[str, Any], status: str,
            values: Mapping[str, float] | None, seconds: float | None,
            error: str | None = None) -> dict[str, Any]:
    rec: dict[str, Any] = {"trial": trial, "source": source, "status": status,
                           "params": dict(params), "values": None if values is None
                           else dict(values), "seconds": seconds}
    if error is not None:
        rec["error"] = error
    return rec


def mobo_records(path: Path) -> list[dict[str, Any]]:
    """The finished (completed or failed) trials of a mobo journal as per-run records,
    numbered from 0 in the order they were asked (abandoned ones are left out: they do
    not count towards the budget and their parameters are asked again)."""
    if not path.is_file() or path.stat().st_size == 0:
        return []
    study = Study.read(path)
    finished = [t for t in study.trials if t.status in ("completed", "failed")]
    return [_mobo_record(k, t, study.n_initial) for k, t in enumerate(finished)]


def _mobo_record(k: int, t: Trial, n_initial: int) -> dict[str, Any]:
    # a requeued trial repeats an abandoned one: it belongs to the phase it falls in
    if t.source == "requeue":
        source = "initial" if k < n_initial else "model"
    else:
        source = "model" if t.source == "model" else "initial"
    return _record(k, source, t.params, t.status, t.values, t.duration, t.error)


def records(out_dir: Path, method: str, seed: int) -> list[dict[str, Any]]:
    """The finished trials of one run so far."""
    path = run_path(out_dir, method, seed)
    return mobo_records(path) if method == "mobo" else read_records(path)


# ---------------------------------------------------------------------------------------
# Methods: each continues its run up to ``budget`` finished trials.


def run_mobo(box: Blackbox, seed: int, budget: int, path: Path, on_trial: OnTrial,
             options: Mapping[str, Any] | None = None) -> None:
    """mobo's run, with the task's recommended study settings updated by ``options``
    (``warp``, ``threshold_model``, ``trust_region``, ``explore``, ``noisy``,
    ``proposer_options``: development runs of a setting)."""
    resuming = path.is_file() and path.stat().st_size > 0
    # resumed like python -m mobo.run: the journal's design size
    n_initial = None if resuming else default_n_initial(box.space.dim, budget)
    settings = {"noisy": box.noisy, **box.study_options, **(options or {})}
    study = Study(box.space, list(box.objectives), storage=path, seed=seed,
                  n_initial=n_initial, **settings)
    with study:
        def callback(s: Study, t: Trial) -> None:
            k = sum(u.status in ("completed", "failed") for u in s.trials
                    if u.number <= t.number) - 1
            on_trial("mobo", seed, _mobo_record(k, t, s.n_initial))

        if study.n_finished < budget:
            study.optimize(box.fn, budget, callbacks=[callback])


def run_sobol(box: Blackbox, seed: int, budget: int, path: Path, on_trial: OnTrial) -> None:
    done = len(read_records(path))
    n0 = default_n_initial(box.space.dim, budget)
    U = box.space.sobol(budget, seed)
    for i in range(done, budget):
        params = box.space.decode(U[i])
        status, values, secs, err = _evaluate(box, params)
        rec = _record(i, "initial" if i < n0 else "model", params, status, values, secs, err)
        _append(path, rec)
        on_trial("sobol", seed, rec)


def _distributions(space: Space) -> dict[str, Any]:
    import optuna  # optional peer

    out: dict[str, Any] = {}
    for p in space.params:
        if isinstance(p, Float):
            out[p.name] = optuna.distributions.FloatDistribution(p.low, p.high, log=p.log)
        elif isinstance(p, Int):
            out[p.name] = optuna.distributions.IntDistribution(p.low, p.high, log=p.log)
        else:
            out[p.name] = optuna.distributions.CategoricalDistribution(list(p.choices))
    return out


def run_optuna(method: str, box: Blackbox, seed: int, budget: int, path: Path,
               on_trial: OnTrial) -> None:
    import optuna  # optional peer

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    done = read_records(path)
    n0 = default_n_initial(box.space.dim, budget)
    sampler = _optuna_sampler(method, seed, n0, False)
    names = [o.name for o in box.objectives]
    study = optuna.create_study(
        directions=["maximize" if o.maximize else "minimize" for o in box.objectives],
        sampler=sampler,
    )
    dists = _distributions(box.space)
    # replay: the recorded trials are given to the sampler, never evaluated again
    for rec in done:
        completed = rec["status"] == "completed"
        study.add_trial(optuna.trial.create_trial(
            params=rec["params"], distributions=dists,
            values=[rec["values"][n] for n in names] if completed else None,
            state=optuna.trial.TrialState.COMPLETE if completed
            else optuna.trial.TrialState.FAIL,
        ))
    for u in box.space.sobol(n0, seed)[len(done):]:
        study.enqueue_trial(box.space.decode(u))
    for i in range(len(done), budget):
        trial = study.ask()
        params = _suggest(trial, box.space)
        status, values, secs, err = _evaluate(box, params)
        if values is not None:
            study.tell(trial, [values[n] for n in names])
        else:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
        rec = _record(i, "initial" if i < n0 else "model", params, status, values, secs, err)
        _append(path, rec)
        on_trial(method, seed, rec)


def _ordinal_layout(space: Space) -> tuple[np.ndarray, dict[int, list[float]],
                                           dict[int, list[float]]]:
    """BoTorch's mixed-space view: one column per parameter (floats and ints as mobo
    encodes them in [0, 1], categoricals as the choice index). Returns the (2, p) bounds,
    the integer columns with their encoded values, and the categorical columns."""
    base = space.decode(space.sobol(1, 0)[0])
    bounds = np.zeros((2, len(space.params)))
    bounds[1] = 1.0
    discrete: dict[int, list[float]] = {}
    cats: dict[int, list[float]] = {}
    for j, (p, s) in enumerate(zip(space.params, space.slices, strict=True)):
        if isinstance(p, Int):
            discrete[j] = [float(space.encode({**base, p.name: k})[s.start])
                           for k in range(p.low, p.high + 1)]
            # BoTorch wants a discrete column's bounds to be its extreme values
            bounds[:, j] = discrete[j][0], discrete[j][-1]
        elif isinstance(p, Categorical):
            cats[j] = [float(c) for c in range(len(p.choices))]
            bounds[1, j] = len(p.choices) - 1
    return bounds, discrete, cats


def _to_ordinal(space: Space, params: Mapping[str, Any]) -> np.ndarray:
    x = space.encode(params)
    z = np.zeros(len(space.params))
    for j, (p, s) in enumerate(zip(space.params, space.slices, strict=True)):
        z[j] = float(np.argmax(x[s])) if isinstance(p, Categorical) else x[s.start]
    return z


def _from_ordinal(space: Space, z: np.ndarray) -> dict[str, Any]:
    x = np.zeros(space.dim)
    for j, (p, s) in enumerate(zip(space.params, space.slices, strict=True)):
        if isinstance(p, Categorical):
            x[s.start + int(np.clip(round(float(z[j])), 0, len(p.choices) - 1))] = 1.0
        else:
            x[s.start] = z[j]
    return space.decode(space.round(x))


def botorch_mixed_propose(space: Space, Z: np.ndarray, Y: np.ndarray,
                          ref: np.ndarray) -> dict[str, Any]:
    """One qLogNEHVI proposal over the mixed space (BoTorch maximises).

    Args:
        Z: (n, p) observed points in the ordinal view of :func:`_ordinal_layout`.
        Y: (n, m) objectives, maximisation.
        ref: (m,) reference point, maximisation.
    """
    # optional peer: BoTorch and its torch stack
    import torch
    from botorch.acquisition.multi_objective.logei import (
        qLogNoisyExpectedHypervolumeImprovement,
    )
    from botorch.fit import fit_gpytorch_mll
    from botorch.models import MixedSingleTaskGP, ModelListGP, SingleTaskGP
    from botorch.models.transforms.outcome import Standardize
    from botorch.optim.optimize_mixed import optimize_acqf_mixed_alternating
    from botorch.sampling import SobolQMCNormalSampler
    from gpytorch.mlls import SumMarginalLogLikelihood

    bounds, discrete, cats = _ordinal_layout(space)
    tx = torch.as_tensor(Z, dtype=torch.double)
    ty = torch.as_tensor(Y, dtype=torch.double)
    models = [
        MixedSingleTaskGP(tx, ty[:, i : i + 1], cat_dims=sorted(cats),
                          outcome_transform=Standardize(m=1)) if cats
        else SingleTaskGP(tx, ty[:, i : i + 1], outcome_transform=Standardize(m=1))
        for i in range(ty.shape[1])
    ]
    model = ModelListGP(*models)
    fit_gpytorch_mll(SumMarginalLogLikelihood(model.likelihood, model))
    acq = qLogNoisyExpectedHypervolumeImprovement(
        model=model, ref_point=[float(r) for r in ref], X_baseline=tx, prune_baseline=True,
        sampler=SobolQMCNormalSampler(sample_shape=torch.Size([128])),
    )
    cand, _ = optimize_acqf_mixed_alternating(
        acq, bounds=torch.as_tensor(bounds, dtype=torch.double),
        discrete_dims=discrete or None, cat_dims=cats or None, q=1,
        num_restarts=BOTORCH_RESTARTS, raw_samples=BOTORCH_RAW_SAMPLES,
        options=dict(BOTORCH_MIXED_OPTIONS) or None,
    )
    return _from_ordinal(space, cand.detach().numpy()[0])


def _has_mixed_optimizer() -> bool:
    try:
        # optional peer; only whether it is there matters
        from botorch.optim.optimize_mixed import (
            optimize_acqf_mixed_alternating,  # noqa: F401
        )
    except ImportError:
        return False
    return True


def run_botorch(box: Blackbox, seed: int, budget: int, path: Path, on_trial: OnTrial) -> None:
    import torch  # optional peer: BoTorch and its torch stack

    done = read_records(path)
    n0 = default_n_initial(box.space.dim, budget)
    U = box.space.sobol(budget, seed)
    names = [o.name for o in box.objectives]
    sign = np.array([1.0 if o.maximize else -1.0 for o in box.objectives])
    ref = np.array([box.reference[n] for n in names]) * sign
    mixed = _has_mixed_optimizer()
    for i in range(len(done), budget):
        ok = [r for r in done if r["status"] == "completed"]
        if i < n0 or len(ok) < 2:
            params = box.space.decode(U[i])
        else:
            # seeded per proposal, so that a resumed run proposes what an uninterrupted one
            # would from the same data
            torch.manual_seed(seed * 1_000_003 + i)
            Y = np.array([[r["values"][n] for n in names] for r in ok]) * sign
            if mixed:
                Z = np.array([_to_ordinal(box.space, r["params"]) for r in ok])
                params = botorch_mixed_propose(box.space, Z, Y, ref)
            else:
                X = box.space.encode_many([r["params"] for r in ok])
                u, _ = botorch_propose(X, -Y, -ref, num_restarts=BOTORCH_RESTARTS,
                                       raw_samples=BOTORCH_RAW_SAMPLES)
                params = box.space.decode(box.space.round(u))
        status, values, secs, err = _evaluate(box, params)
        rec = _record(i, "initial" if i < n0 else "model", params, status, values, secs, err)
        _append(path, rec)
        done.append(rec)
        on_trial("botorch", seed, rec)


def run_method(method: str, box: Blackbox, seed: int, budget: int, out_dir: Path,
               on_trial: OnTrial | None = None,
               mobo_options: Mapping[str, Any] | None = None) -> None:
    """Continue the run of ``method`` with ``seed`` on ``box`` up to ``budget`` finished
    trials, recording each in its per-run file; ``on_trial(method, seed, record)`` is
    called after each. ``mobo_options`` override the task's recommended ``Study``
    settings for mobo (development runs of a setting go to an ``out_dir`` of their
    own)."""
    path = run_path(out_dir, method, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    cb: OnTrial = on_trial if on_trial is not None else (lambda m, s, r: None)
    if method == "mobo":
        run_mobo(box, seed, budget, path, cb, mobo_options)
    elif method == "sobol":
        run_sobol(box, seed, budget, path, cb)
    elif method == "botorch":
        run_botorch(box, seed, budget, path, cb)
    elif method in ("tpe", "gp"):
        run_optuna(method, box, seed, budget, path, cb)
    else:
        raise ValueError(f"method: unknown {method!r} (valid: {', '.join(METHODS)})")


# ---------------------------------------------------------------------------------------
# The CSV.


def _run_files(out_dir: Path) -> list[tuple[str, int]]:
    """(method, seed) of every per-run file, in METHODS order then by seed."""
    found = []
    for p in (out_dir / NAME).glob("*-*.jsonl"):
        method, _, seed = p.stem.rpartition("-")
        if method in METHODS and seed.isdigit():
            found.append((method, int(seed)))
    return sorted(found, key=lambda ms: (METHODS.index(ms[0]), ms[1]))


def _csv_row(method: str, seed: int, rec: Mapping[str, Any]) -> dict[str, Any]:
    values = rec["values"] if rec["status"] == "completed" and rec["values"] else {}
    secs = rec.get("seconds")
    return {
        "method": method, "seed": seed, "trial": rec["trial"], "source": rec["source"],
        "status": rec["status"],
        **{k: repr(float(values[k])) if values.get(k) is not None else ""
           for k in ("exact", "f1", "num_parameters")},
        "seconds": f"{secs:.3f}" if secs is not None else "",
    }


def write_csv(out_dir: Path) -> Path:
    """Rewrite ``<out-dir>/distill_compare.csv`` from every per-run file (atomically)."""
    path = out_dir / f"{NAME}.csv"
    rows = [_csv_row(m, s, r) for m, s in _run_files(out_dir) for r in records(out_dir, m, s)]
    out_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out_dir, prefix=f".{NAME}-", suffix=".csv")
    try:
        with os.fdopen(fd, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=FIELDS)
            writer.writeheader()
            writer.writerows(rows)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_csv(path: Path) -> list[dict[str, Any]]:
    """Rows of the CSV with numbers parsed (empty cells: None)."""
    with path.open(newline="") as f:
        return [parse_row(row) for row in csv.DictReader(f)]


def parse_row(raw: Mapping[str, str]) -> dict[str, Any]:
    """One CSV row with its numbers parsed (empty cells: None)."""
    row: dict[str, Any] = dict(raw)
    row["seed"] = int(raw["seed"])
    row["trial"] = int(raw["trial"])
    for k in ("exact", "f1", "num_parameters", "seconds"):
        row[k] = float(raw[k]) if raw[k] != "" else None
    return row


def journal_rows(path: Path, method: str = "mobo", seed: int = 0) -> list[dict[str, Any]]:
    """A mobo journal's finished trials as parsed CSV rows (``source`` from the journal:
    ``initial`` for its design, ``model`` after), for :func:`summary` and friends."""
    return [parse_row(_csv_row(method, seed, r)) for r in mobo_records(path)]


# ---------------------------------------------------------------------------------------
# The report.


def _runs(rows: Sequence[Mapping[str, Any]]) -> dict[str, dict[int, list[Mapping[str, Any]]]]:
    """method -> seed -> rows in trial order."""
    out: dict[str, dict[int, list[Mapping[str, Any]]]] = {}
    for r in rows:
        out.setdefault(r["method"], {}).setdefault(r["seed"], []).append(r)
    for by_seed in out.values():
        for rs in by_seed.values():
            rs.sort(key=lambda r: r["trial"])
    return out


def _completed(rows: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [r for r in rows if r["status"] == "completed" and r["exact"] is not None
            and r["num_parameters"] is not None]


def run_hypervolume(rows: Sequence[Mapping[str, Any]], reference: Mapping[str, float]) -> float:
    """Hypervolume of a run's completed trials w.r.t. the fixed reference, in EM points
    times the teacher's size (minimisation of ``-exact`` and ``num_parameters / teacher``)."""
    teacher = float(reference["num_parameters"])
    ref = np.array([-float(reference["exact"]), 1.0])
    Y = np.array([[-r["exact"], r["num_parameters"] / teacher] for r in _completed(rows)])
    if not len(Y):
        return 0.0
    Y = Y[np.all(Y < ref, axis=1)]
    return float(hypervolume(Y, ref)) if len(Y) else 0.0


def above_share(rows: Sequence[Mapping[str, Any]], reference: Mapping[str, float]) -> float:
    """Share of a run's post-initial (``model``) trials, failed ones included, whose exact
    match is above the threshold; NaN when there are none yet."""
    post = [r for r in rows if r["source"] == "model"]
    if not post:
        return float("nan")
    above = [r for r in _completed(post) if r["exact"] > reference["exact"]]
    return len(above) / len(post)


def best_within(rows: Sequence[Mapping[str, Any]], reference: Mapping[str, float],
                band: float) -> float:
    """Best exact match among a run's students of at most ``band`` times the teacher's
    parameter count; NaN when there is none."""
    cap = band * float(reference["num_parameters"])
    vals = [r["exact"] for r in _completed(rows) if r["num_parameters"] <= cap]
    return max(vals) if vals else float("nan")


def checkpoints(n_max: int) -> list[int]:
    """Trial counts at which hypervolume is reported: 25, 50, 100 up to the longest run,
    and the longest run itself when shorter than the last of those."""
    return sorted({c for c in CHECKPOINTS if c <= n_max} | ({n_max} if n_max < max(CHECKPOINTS)
                                                             and n_max > 0 else set()))


def summary(rows: Sequence[Mapping[str, Any]], reference: Mapping[str, float],
            budget: int) -> dict[str, dict[str, Any]]:
    """Per method: seeds, complete runs, trials, per-seed HV at each checkpoint, shares
    and best exact in each size band (the numbers the report prints)."""
    runs = _runs(rows)
    n_max = max((len(rs) for by in runs.values() for rs in by.values()), default=0)
    cps = checkpoints(n_max)
    out: dict[str, dict[str, Any]] = {}
    for m in [m for m in METHODS if m in runs] + sorted(set(runs) - set(METHODS)):
        by_seed = runs[m]
        out[m] = {
            "seeds": sorted(by_seed),
            "complete": sorted(s for s, rs in by_seed.items() if len(rs) >= budget),
            "trials": {s: len(rs) for s, rs in by_seed.items()},
            "hv": {c: [run_hypervolume(rs[:c], reference) for rs in by_seed.values()
                       if len(rs) >= c] for c in cps},
            "share": [v for v in (above_share(rs, reference) for rs in by_seed.values())
                      if not math.isnan(v)],
            # a run without a completed student that small offers nothing better than
            # answering "no answer": it counts as the reference EM, so a median over seeds
            # never skips the runs that found nothing
            "best": {b: [_or(best_within(rs, reference, b), reference["exact"])
                         for rs in by_seed.values()] for b in SIZE_BANDS},
        }
    return out


def _or(value: float, default: float) -> float:
    return float(default) if math.isnan(value) else value


def _median(values: Sequence[float]) -> float:
    vals = [v for v in values if not math.isnan(v)]
    return float(np.median(vals)) if vals else float("nan")


def _fmt(v: float, spec: str = ".2f") -> str:
    return "-" if math.isnan(v) else format(v, spec)


def markdown_report(rows: Sequence[Mapping[str, Any]], reference: Mapping[str, float],
                    budget: int, standin: bool = False) -> str:
    """The report of :func:`summary`, with one verdict line per target (``standin``: the
    runs are on the stand-in of :mod:`benchmarks.distill_standin`, and the title says so)."""
    s = summary(rows, reference, budget)
    teacher = float(reference["num_parameters"])
    title = ("the stand-in of the embedded distillation task (benchmarks/distill_standin.py; "
             "for development only)" if standin else "the embedded distillation task")
    out = [
        f"# mobo against its peers on {title}",
        "",
        f"Fixed reference: exact = {reference['exact']:.4g} (always no answer), "
        f"num_parameters = {teacher:.0f} (the teacher). Hypervolume in EM points times the "
        "teacher's size; budget "
        f"{budget} trials a run. Every number is computed from `{NAME}.csv`; generated by "
        "`python -m benchmarks.distill_compare --report`.",
        "",
        "## Coverage",
        "",
        "| method | complete runs | seeds | trials so far |",
        "|---|---|---|---|",
    ]
    # a method is complete when it has a full run on every seed any method ran here
    seeds = sorted({seed for d in s.values() for seed in d["seeds"]})
    for m, d in s.items():
        trials = ", ".join(f"{seed}: {n}" for seed, n in sorted(d["trials"].items()))
        out.append(f"| {m} | {len(d['complete'])} of {len(seeds)} | "
                   f"{' '.join(map(str, d['seeds']))} | {trials} |")
    incomplete = []
    for m, d in s.items():
        gaps = [f"seed {seed} at {d['trials'][seed]} trials" for seed in d["seeds"]
                if seed not in d["complete"]]
        gaps += [f"seed {seed} not run" for seed in seeds if seed not in d["seeds"]]
        if gaps:
            incomplete.append(f"{m} ({', '.join(gaps)})")
    out.append("")
    if incomplete:
        out += [f"Incomplete: {'; '.join(incomplete)}. The figures below include the "
                "partial runs (hypervolume only at the counts a run has reached) and leave "
                "out the seeds a method has not run: where methods have run different "
                "seeds, their medians (and the targets' verdicts) are over different draws "
                "of the task; the per-seed columns compare like with like.", ""]
    cps = sorted({c for d in s.values() for c in d["hv"]})
    out += ["## Hypervolume (median [IQR] over seeds, n seeds)", "",
            "| method | " + " | ".join(f"after {c}" for c in cps) + " |",
            "|---|" + "---|" * len(cps)]
    for m, d in s.items():
        cells = []
        for c in cps:
            vals = d["hv"].get(c, [])
            if vals:
                med, q25, q75 = _quantiles(vals)
                cells.append(f"{med:.3f} [{q25:.3f}, {q75:.3f}] (n={len(vals)})")
            else:
                cells.append("")
        out.append(f"| {m} | " + " | ".join(cells) + " |")
    out += ["", "## Post-initial trials above the exact threshold (median share over seeds)",
            "", "| method | median share | per seed |", "|---|---|---|"]
    for m, d in s.items():
        out.append(f"| {m} | {_fmt(_median(d['share']), '.0%')} | "
                   + ", ".join(f"{v:.0%}" for v in d["share"]) + " |")
    out += ["", "## Best exact match within a share of the teacher's size (median over seeds; "
            "a run with none that small counts as the no-answer EM)",
            "", "| method | " + " | ".join(f"<= {b:.0%}" for b in SIZE_BANDS) + " |",
            "|---|" + "---|" * len(SIZE_BANDS)]
    for m, d in s.items():
        out.append(f"| {m} | " + " | ".join(_fmt(_median(d["best"][b])) for b in SIZE_BANDS)
                   + " |")
    out += ["", "## Targets", ""]
    out += _verdicts(s, cps)
    return "\n".join(out) + "\n"


def _verdicts(s: Mapping[str, Mapping[str, Any]], cps: Sequence[int]) -> list[str]:
    if "mobo" not in s:
        return ["- no mobo run yet"]
    peers = [m for m in s if m != "mobo"]
    lines = []
    if not peers:  # a verdict against nobody would read as met
        lines.append("- no peer run in this file: the comparisons with peers are not judged")
    if cps and peers:
        c = cps[-1]
        ours = s["mobo"]["hv"].get(c, [])
        med = _median(ours)
        beaten = [m for m in peers if _median(s[m]["hv"].get(c, [])) > med]
        evid = "; ".join(f"{m} {_fmt(_median(s[m]['hv'].get(c, [])), '.3f')}, Mann-Whitney p "
                         f"= {mann_whitney_p(ours, s[m]['hv'].get(c, [])):.2f}" for m in peers)
        lines.append(f"- median hypervolume after {c} >= every peer's: "
                     + ("met" if not beaten and not math.isnan(med) else "MISSED")
                     + f" (mobo {_fmt(med, '.3f')}" + (f"; {evid}" if evid else "") + ")")
    share = _median(s["mobo"]["share"])
    beaten = [m for m in peers if _median(s[m]["share"]) > share]
    ok = not math.isnan(share) and share >= 0.5 and not beaten
    lines.append("- median share above the threshold >= 50% and >= every peer's: "
                 + ("met" if ok else "MISSED") + f" (mobo {_fmt(share, '.0%')}"
                 + "; " * bool(peers)
                 + ", ".join(f"{m} {_fmt(_median(s[m]['share']), '.0%')}" for m in peers)
                 + ")")
    for b in SIZE_BANDS if peers else ():
        best = _median(s["mobo"]["best"][b])
        beaten = [m for m in peers if not math.isnan(_median(s[m]["best"][b]))
                  and (math.isnan(best) or _median(s[m]["best"][b]) > best)]
        lines.append(f"- best exact within {b:.0%} of the teacher's size >= the peers': "
                     + ("met" if not beaten and not math.isnan(best) else "MISSED")
                     + f" (mobo {_fmt(best)}; "
                     + ", ".join(f"{m} {_fmt(_median(s[m]['best'][b]))}" for m in peers) + ")")
    return lines


def fronts_figure(rows: Sequence[Mapping[str, Any]], reference: Mapping[str, float],
                  path: Path) -> Path:
    """One panel per method: every seed's completed trials (size as a share of the
    teacher's against exact match), the pooled Pareto front highlighted."""
    runs = _runs(rows)
    methods = [m for m in METHODS if m in runs] + sorted(set(runs) - set(METHODS))
    teacher = float(reference["num_parameters"])
    fig = Figure(figsize=(3.2 * max(1, len(methods)), 3.2), layout="constrained")
    axes = fig.subplots(1, max(1, len(methods)), sharex=True, sharey=True, squeeze=False)[0]
    for ax, m in zip(axes, methods, strict=False):
        pts = np.array([[r["num_parameters"] / teacher, r["exact"]]
                        for rs in runs[m].values() for r in _completed(rs)])
        ax.set_title(f"{m} ({len(runs[m])} seeds)")
        ax.axhline(reference["exact"], color="grey", lw=0.8, ls="--")
        if len(pts):
            ax.scatter(pts[:, 0], pts[:, 1], s=8, color="tab:blue", alpha=0.35)
            front = pts[is_nondominated(np.column_stack([pts[:, 0], -pts[:, 1]]))]
            front = front[np.argsort(front[:, 0])]
            ax.step(front[:, 0], front[:, 1], where="post", color="tab:red", lw=1.2)
            ax.scatter(front[:, 0], front[:, 1], s=14, color="tab:red")
        ax.set_xlabel("parameters / teacher's")
    axes[0].set_ylabel("exact match")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    return path


def read_reference(out_dir: Path) -> dict[str, float]:
    """The fixed reference a comparison folder scores with
    (``<out-dir>/distill_compare/reference.json``, written when its first run starts): the
    always-no-answer exact match and the teacher's parameter count.

    Raises:
        FileNotFoundError: ``out_dir`` holds no such file.
    """
    path = out_dir / NAME / "reference.json"
    if not path.is_file():
        raise FileNotFoundError(f"{out_dir}: no {NAME}/reference.json (not a comparison "
                                "folder of benchmarks.distill_compare, or none run yet)")
    ref = json.loads(path.read_text())
    return {"exact": float(ref["exact"]), "num_parameters": float(ref["num_parameters"])}


def write_report(out_dir: Path, budget: int, figure: Path) -> tuple[Path, Path]:
    """Rewrite the markdown report and the figure from the CSV."""
    csv_path = out_dir / f"{NAME}.csv"
    if not csv_path.is_file() or not (out_dir / NAME / "reference.json").is_file():
        raise FileNotFoundError(f"no results yet in {out_dir} (run the comparison first)")
    rows = read_csv(csv_path)
    reference = read_reference(out_dir)
    md = out_dir / f"{NAME}.md"
    standin = (out_dir / NAME / STANDIN_MARKER).is_file()
    md.write_text(markdown_report(rows, reference, budget, standin=standin))
    return md, fronts_figure(rows, reference, figure)


# ---------------------------------------------------------------------------------------
# Command line.


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks.distill_compare",
        description="mobo against Optuna TPE, Optuna GP, BoTorch qLogNEHVI and Sobol on the "
        "embedded distillation task (the black box of python -m mobo.run, seed 0).",
    )
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS,
                    help="methods (default: all)")
    ap.add_argument("--seeds", nargs="+", type=int, default=list(DEFAULT_SEEDS),
                    help="method seeds (default 10 11 12, held out; 0 1 2 are the "
                    "development seeds on which choices were made)")
    ap.add_argument("--budget", type=int, default=100, help="trials per run (default 100)")
    ap.add_argument("--threads", type=int, default=None, metavar="N",
                    help="torch/numpy threads of this process (e.g. 1 for two runs side by "
                    "side; default: the libraries' own)")
    ap.add_argument("--mobo-warp", choices=("none", "rank", "yeo-johnson"), default=None,
                    help="mobo's output warping (Study(warp=...); default: the task's "
                    "recommendation, as python -m mobo.run); compare settings on the "
                    "development seeds, each in its own --out-dir")
    ap.add_argument("--mobo-threshold-model", action=argparse.BooleanOptionalAction,
                    default=None, help="mobo's threshold model (Study(threshold_model=...); "
                    "default: the task's recommendation); for development runs, in their "
                    "own --out-dir")
    ap.add_argument("--mobo-trust-region", type=trust_region_arg, default=None,
                    metavar="R", help="mobo's trust region half-width (Study(trust_region="
                    "...); 0 or none: global; default: the task's recommendation); for "
                    "development runs, in their own --out-dir")
    ap.add_argument("--mobo-explore", type=explore_arg, default=None, metavar="P",
                    help="mobo's exploration share (Study(explore=...); 0 or none: off; "
                    "default: the task's recommendation); for development runs, in their "
                    "own --out-dir")
    ap.add_argument("--mobo-noisy", action=argparse.BooleanOptionalAction, default=None,
                    help="mobo's noisy mode (Study(noisy=...): EHVI over posterior samples "
                    "of the observed front; default: the task's); for development runs, in "
                    "their own --out-dir")
    ap.add_argument("--mobo-front-samples", type=int, default=None, metavar="N",
                    help="with --mobo-noisy or --mobo-sample-front: the posterior samples of "
                    "the front it averages over (default: the proposer's)")
    ap.add_argument("--mobo-sample-front", action=argparse.BooleanOptionalAction,
                    default=None,
                    help="mobo's EHVI over posterior samples of the observed front on (or off) "
                    "whatever the noise prior (Proposer(sample_front=...); default: with noisy "
                    "mode); for development runs, in their own --out-dir")
    ap.add_argument("--mobo-plug-in-front", action="store_true",
                    help="with --mobo-noisy or --mobo-sample-front: the posterior mean of the "
                    "observed values in place of samples of them (Proposer(plug_in_front="
                    "True)); for development runs, in their own --out-dir")
    ap.add_argument("--mobo-extend", type=explore_arg, default=None, metavar="P",
                    help="mobo's front extension: the share of proposals that maximise EHVI "
                    "only below the front's smallest student (Proposer(extend=...); 0 or "
                    "none: off, the default); for development runs, in their own --out-dir")
    ap.add_argument("--mobo-explore-good", choices=EXPLORE_GOOD, default=None,
                    help="where mobo's exploration share takes its good trials from: those "
                    "that beat the reference point (beating, the default) or every "
                    "completed trial (all: MOTPE's split; Proposer(explore_good=...)); for "
                    "development runs, in their own --out-dir")
    ap.add_argument("--mobo-extend-by", choices=EXTEND_BY, default=None,
                    help="with --mobo-extend: how the front extension picks its point below "
                    "the front's smallest student, by EHVI (ehvi, the default) or from the "
                    "exploration share's density of the good trials (density) or of the "
                    "smallest students that beat the threshold (cheapest), or as cheapest "
                    "below the smallest student that beats it credibly, the share kept above "
                    "(split), or as cheapest with the draws' continuous settings moved along "
                    "the good trials' drift with their size (drift), or drift's draws below "
                    "split's cap, the share kept above (split_drift; Proposer(extend_by=...)); "
                    "for development runs, in their own --out-dir")
    ap.add_argument("--standin", action="store_true",
                    help="run on the cheap stand-in learned from the real task's journals "
                    "(benchmarks/distill_standin.py), for development; results go to "
                    "results/distill_standin/ unless --out-dir is given")
    ap.add_argument("--eval-cache", default=None, metavar="PATH",
                    help="file of completed evaluations shared by runs (the task is "
                    "deterministic: a configuration already evaluated, e.g. the initial "
                    "design another method shares, is not trained again; default "
                    "<out-dir>/distill_compare/evaluations.jsonl; not used with --standin)")
    ap.add_argument("--no-eval-cache", action="store_true",
                    help="evaluate every trial, even one already in the cache")
    ap.add_argument("--report", action="store_true",
                    help="only rewrite the report and the figure from the CSV")
    ap.add_argument("--out-dir", default=None, metavar="DIR",
                    help="where the CSV, the report and the per-run files go "
                    "(default: results/, or results/distill_standin/ with --standin)")
    args = ap.parse_args(argv)
    if args.budget < 1:
        ap.error(f"--budget: must be >= 1, got {args.budget}")
    if args.threads is not None and args.threads < 1:
        ap.error(f"--threads: must be >= 1, got {args.threads}")
    if any(s < 0 for s in args.seeds):
        ap.error("--seeds: must be >= 0")
    if (error := front_samples_error(args.mobo_noisy, args.mobo_front_samples,
                                     args.mobo_sample_front, args.mobo_plug_in_front)
            ) is not None:
        ap.error(error)
    if args.mobo_extend_by is not None and not args.mobo_extend:
        ap.error("--mobo-extend-by: a setting of the front extension, only with --mobo-extend")
    return args


def mobo_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The mobo settings given on the command line (the others stay the task's)."""
    out = flag_overrides(args.mobo_warp, args.mobo_threshold_model, args.mobo_trust_region,
                         args.mobo_explore)
    if args.mobo_noisy is not None:
        out["noisy"] = args.mobo_noisy
    if (options := proposer_options(args.mobo_front_samples, args.mobo_sample_front,
                                    args.mobo_plug_in_front, args.mobo_extend,
                                    args.mobo_explore_good, args.mobo_extend_by)):
        out["proposer_options"] = options
    return out


def _limit_threads(n: int) -> None:
    import torch  # heavy: only runs need it, not --report

    torch.set_num_threads(n)
    numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    if threadpool_limits is not None:
        threadpool_limits(limits=n)  # BLAS/OpenMP pools of numpy and scipy, for good


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    default_dir = STANDIN_DIR if args.standin else RESULTS_DIR
    out_dir = Path(args.out_dir or default_dir).expanduser().resolve()
    figure = out_dir / FIGURE_NAME
    if args.report:
        try:
            md, fig = write_report(out_dir, args.budget, figure)
        except FileNotFoundError as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
        print(f"wrote {md} and {fig}", file=sys.stderr)
        return 0
    if args.threads is not None:
        _limit_threads(args.threads)
    methods = []
    for m in args.methods:
        missing = missing_requirements(m)
        if missing:
            print(f"skipping {m}: missing {', '.join(missing)} (pip install -e .[peers])",
                  file=sys.stderr)
        else:
            methods.append(m)
    # runs on the stand-in and on the real task never share a folder
    marker = out_dir / NAME / STANDIN_MARKER
    if marker.exists() != args.standin and _run_files(out_dir):
        held = "stand-in" if marker.exists() else "real-task"
        print(f"error: {out_dir} holds {held} runs; give another --out-dir", file=sys.stderr)
        return 2
    if args.standin:
        box = load_standin()
    else:
        box = load_task(lambda msg: print(msg, file=sys.stderr, flush=True))
        if not args.no_eval_cache:
            cache_path = Path(args.eval_cache or out_dir / NAME / "evaluations.jsonl")
            try:
                cache = EvaluationCache(cache_path.expanduser(), task_fingerprint(box),
                                        box.environment)
            except ValueError as e:
                print(f"error: {e}", file=sys.stderr)
                return 2
            if cache.unchecked:
                print(f"warning: {cache.path} does not record {', '.join(cache.unchecked)} "
                      "(made before they were recorded): served without checking them; its "
                      "evaluations are this machine's only if they were made in this "
                      "environment (python -m benchmarks.distill_recheck samples them)",
                      file=sys.stderr, flush=True)
            box = dataclasses.replace(box, fn=CachedFn(box.fn, cache))
    (out_dir / NAME).mkdir(parents=True, exist_ok=True)
    (out_dir / NAME / "reference.json").write_text(json.dumps(box.reference) + "\n")
    if args.standin:
        marker.write_text("runs on the stand-in of benchmarks/distill_standin.py\n")

    def on_trial(method: str, seed: int, rec: dict[str, Any]) -> None:
        write_csv(out_dir)
        vals = rec["values"] or {}
        shown = (f"exact {vals['exact']:.2f} num_parameters {vals['num_parameters']:.0f}"
                 if rec["status"] == "completed" else rec.get("error") or "")
        secs = rec["seconds"]
        print(f"{method} seed {seed}: trial {rec['trial'] + 1}/{args.budget} {rec['source']} "
              f"{rec['status']} {shown} ({_fmt(secs if secs is not None else math.nan, '.1f')}"
              " s)", file=sys.stderr, flush=True)

    # every run segment records the commit it runs from (its code is imported by now)
    stamps = {m: provenance.stamp(provenance.covers("distill_compare", m)) for m in methods}
    command = " ".join(["python -m benchmarks.distill_compare",
                        shlex.join(sys.argv[1:] if argv is None else list(argv))])
    for seed in args.seeds:
        for m in methods:
            n = len(records(out_dir, m, seed))
            if n >= args.budget:
                print(f"{m} seed {seed}: complete ({n} trials), skipped", file=sys.stderr)
                continue
            print(f"{m} seed {seed}: {'resuming after ' + str(n) if n else 'starting'}",
                  file=sys.stderr, flush=True)
            line = {"method": m, "seed": seed, "from_trial": n, "commit": stamps[m],
                    "command": command,
                    "date": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())}
            if box.environment is not None:
                line["environment"] = box.environment
            append_shared_line(out_dir / NAME / PROVENANCE, line)
            run_method(m, box, seed, args.budget, out_dir, on_trial,
                       mobo_options=mobo_overrides(args))
    write_csv(out_dir)
    md, fig = write_report(out_dir, args.budget, figure)
    print(f"wrote {out_dir / (NAME + '.csv')}, {md} and {fig}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
