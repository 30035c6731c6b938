"""Side-by-side quality benchmark: mobo against its peers on the toy problem suite.

Every method gets the same problem, evaluation budget and seed, and (where the peer
allows it) the same initial design: the first ``2(d + 1)`` points of the scrambled
Sobol sequence (Owen, 1998) that ``mobo.Study`` itself starts from
(``space.sobol(n, seed)``, d the encoded dimension). Methods:

- ``mobo``: ``mobo.Study`` with its default settings, ask/tell, one point at a time. The
  objectives' thresholds are the problem's reference point (the information BoTorch's
  loop gets too); ``noisy=True`` on the noisy problem.
- ``botorch``: the standard BoTorch loop (Daulton et al., 2021; Ament et al., 2023): one
  ``SingleTaskGP`` per objective in a ``ModelListGP`` fit with ``fit_gpytorch_mll``, then
  ``qLogNoisyExpectedHypervolumeImprovement`` maximised by ``optimize_acqf`` with
  ``num_restarts=10, raw_samples=512, q=1`` over the encoded unit cube (on the mixed
  problem the continuous optimum is snapped with ``space.round``).
- ``tpe``: Optuna's ``TPESampler(multivariate=True)`` (Bergstra et al., 2011;
  Ozaki et al., 2020), with the Sobol design enqueued as its start-up trials.
- ``gp``: Optuna's ``GPSampler``, likewise.
- ``nsga2``: Optuna's ``NSGAIISampler`` (Deb et al., 2002) with a population of 20 (its
  default of 50 leaves only two generations in 100 evaluations); the Sobol design is
  enqueued as the start of its first generation.
- ``sobol``: the scrambled Sobol sequence itself.

Constraints (C2-DTLZ2): every model-based method sees the constraint values. mobo
declares each as an outcome constraint (``mobo.Constraint(name, upper=0)``: one GP per
constraint, EHVI times the probability that all hold); BoTorch models them as extra GP
outputs (``constraints=[...]`` of qLogNEHVI) and Optuna samplers receive them through
``constraints_func``. Every method's budget counts infeasible evaluations.

Quality is the log10 hypervolume gap ``log10(max_hv - HV)`` of the feasible points
evaluated so far, on noise-free values (the noisy problem's observations carry noise,
its score does not), after 25, 50 and 100 evaluations (and at the budget if it is none
of those). Raw results go to a CSV (one row per problem, method, seed and checkpoint)
that a re-run resumes from; a markdown table of median and interquartile range is
written next to it (next to ``results/compare.csv``, the development seeds' file, the report
of :mod:`benchmarks.compare_report` instead: held-out and development seeds side by side).

A development variant of mobo (``--mobo-noisy``: the noisy mode, its wider noise prior
and its improvement over posterior samples of the observed front, on every problem or on
none; ``--mobo-sample-front``: that improvement with each problem's own noise prior;
``--mobo-front-samples``: how many samples; ``--mobo-plug-in-front``: the posterior mean
in place of the samples) is run on the development seeds into an output of its own
(``--out results/compare_dev/NAME``); the defaults' records (``compare``,
``compare_heldout``) refuse it.

Usage (from the repository root of a checkout; benchmarks is not installed)::

    python -m benchmarks.compare --problems branincurrin zdt1 --methods mobo botorch sobol \\
        --seeds 0 1 2 --budget 100 --workers 2
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import multiprocessing as mp
import os
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.stats import mannwhitneyu

import mobo
from benchmarks import provenance
from mobo.problems import PROBLEMS, Problem, get_problem, hv_gap
from mobo.space import Categorical, Float, Int
from mobo.volume import hypervolume

METHODS: tuple[str, ...] = ("mobo", "botorch", "tpe", "gp", "nsga2", "sobol")
CHECKPOINTS: tuple[int, ...] = (25, 50, 100)
DEFAULT_PROBLEMS: tuple[str, ...] = (
    "branincurrin",
    "zdt1",
    "dtlz2",
    "dtlz2_m3",
    "vehiclesafety",
    "c2dtlz2",
    "branincurrin_noisy",
)
# The checkout's results/ folder: benchmarks is not installed, so this file always lies in
# the checkout, one level below the repository root.
RESULTS_DIR = Path(__file__).resolve().parents[1] / "results"
FIELDS: tuple[str, ...] = (
    "problem",
    "method",
    "seed",
    "n_evals",
    "hypervolume",
    "max_hv",
    "log10_gap",
    "n_feasible",
    "wall_s",
    "commit",
)
# the packages each method needs beyond mobo's own dependencies
REQUIREMENTS: dict[str, tuple[str, ...]] = {
    "mobo": (),
    "botorch": ("botorch",),
    "tpe": ("optuna",),
    "gp": ("optuna",),
    "nsga2": ("optuna",),
    "sobol": (),
}
NSGA2_POPULATION = 20
# the outputs in results/ that record mobo's defaults: a development variant never joins them
RECORD_NAMES: tuple[str, ...] = ("compare", "compare_heldout")


@dataclass
class RunResult:
    """What one method did on one problem and seed.

    Attributes:
        X: (n, p) raw inputs evaluated, in order (categoricals as choice indices).
        times: (n,) wall-clock seconds since the run started, when each evaluation was made.
    """

    X: np.ndarray
    times: np.ndarray


def missing_requirements(method: str) -> list[str]:
    """Packages ``method`` needs that are not importable here."""
    return [p for p in REQUIREMENTS[method] if importlib.util.find_spec(p) is None]


def checkpoints(budget: int) -> list[int]:
    """Evaluation counts at which a run is scored: 25, 50, 100 up to the budget, and the
    budget itself."""
    return sorted({c for c in CHECKPOINTS if c <= budget} | {budget})


def initial_design(problem: Problem, seed: int) -> np.ndarray:
    """(n0, dim) encoded Sobol design that ``mobo.Study`` starts from, n0 = 2(dim + 1)."""
    n0 = 2 * (problem.space.dim + 1)
    return problem.space.sobol(n0, seed)


def _raw(problem: Problem, u: np.ndarray) -> np.ndarray:
    """Encoded (dim,) -> raw (p,) row."""
    return problem.to_array(problem.space.decode(u))


def _evaluate(problem: Problem, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
    """Observed objectives (with noise), constraint values and feasibility of one raw row."""
    xr = x[None, :]
    return problem.observe(xr)[0], problem.constraints(xr)[0], bool(problem.is_feasible(xr)[0])


# ---------------------------------------------------------------------------------------
# Methods: each returns the raw inputs it evaluated, in order.


def run_sobol(problem: Problem, seed: int, budget: int) -> RunResult:
    t0 = time.perf_counter()
    U = problem.space.sobol(budget, seed)
    X = np.array([_raw(problem, u) for u in U])
    return RunResult(X, np.full(budget, time.perf_counter() - t0))


def run_mobo(problem: Problem, seed: int, budget: int,
             noisy: bool | None = None, front_samples: int | None = None,
             sample_front: bool | None = None, plug_in_front: bool = False) -> RunResult:
    """mobo's run; ``noisy`` None: noisy mode on the noisy problems only (the default a
    user gets), else on (True) or off (False) whatever the problem; ``front_samples``: the
    proposer's posterior samples of the front when it samples it (None: its default);
    ``sample_front``, ``plug_in_front``: the proposer's options of those names (None and
    False: the proposer's defaults)."""
    objectives = [
        mobo.Objective(name, threshold=float(r))
        for name, r in zip(problem.objective_names, problem.ref_point, strict=True)
    ]
    constraints = [mobo.Constraint(name, upper=0.0) for name in problem.constraint_names]
    study = mobo.Study(problem.space, objectives, constraints=constraints, seed=seed,
                       noisy=problem.noise_std is not None if noisy is None else noisy,
                       proposer_options=proposer_options(front_samples, sample_front,
                                                         plug_in_front))
    X, times = [], []
    t0 = time.perf_counter()
    for _ in range(budget):
        trial = study.ask()
        x = problem.to_array(trial.params)
        study.tell(trial, problem.metrics(trial.params))
        X.append(x)
        times.append(time.perf_counter() - t0)
    return RunResult(np.array(X), np.array(times))


def botorch_propose(
    U: np.ndarray,
    Y: np.ndarray,
    ref: np.ndarray,
    C: np.ndarray | None = None,
    *,
    num_restarts: int = 10,
    raw_samples: int = 512,
) -> tuple[np.ndarray, dict[str, float]]:
    """One proposal of the standard BoTorch qLogNEHVI loop, over the unit cube.

    Args:
        U: (n, d) inputs in [0, 1]^d.
        Y: (n, m) objectives, minimisation.
        ref: (m,) reference point, minimisation.
        C: (n, c) constraint values (feasible iff <= 0), or None.

    Returns:
        the (d,) proposal in [0, 1]^d and ``{"fit": s, "acquisition": s}``.
    """
    # BoTorch is an optional peer (the 'peers' extra) and slow to import: only its runner
    # needs it, with the GPyTorch likelihood it fits
    from botorch.acquisition.multi_objective.logei import (
        qLogNoisyExpectedHypervolumeImprovement,
    )
    from botorch.acquisition.multi_objective.objective import IdentityMCMultiOutputObjective
    from botorch.fit import fit_gpytorch_mll
    from botorch.models import ModelListGP, SingleTaskGP
    from botorch.models.transforms.outcome import Standardize
    from botorch.optim import optimize_acqf
    from botorch.sampling import SobolQMCNormalSampler
    from gpytorch.mlls import SumMarginalLogLikelihood

    t0 = time.perf_counter()
    m = Y.shape[1]
    tx = torch.as_tensor(U, dtype=torch.double)
    # BoTorch maximises: negate objectives; constraints stay "feasible iff <= 0"
    outputs = -np.asarray(Y, dtype=float)
    if C is not None and C.shape[1]:
        outputs = np.concatenate([outputs, C], axis=1)
    ty = torch.as_tensor(outputs, dtype=torch.double)
    models = [
        SingleTaskGP(tx, ty[:, i : i + 1], outcome_transform=Standardize(m=1))
        for i in range(ty.shape[1])
    ]
    model = ModelListGP(*models)
    fit_gpytorch_mll(SumMarginalLogLikelihood(model.likelihood, model))
    t1 = time.perf_counter()
    constraints = None
    objective = None
    if ty.shape[1] > m:
        objective = IdentityMCMultiOutputObjective(outcomes=list(range(m)))
        constraints = [(lambda Z, j=j: Z[..., j]) for j in range(m, ty.shape[1])]
    acq = qLogNoisyExpectedHypervolumeImprovement(
        model=model,
        ref_point=(-torch.as_tensor(ref, dtype=torch.double)).tolist(),
        X_baseline=tx,
        prune_baseline=True,
        sampler=SobolQMCNormalSampler(sample_shape=torch.Size([128])),
        objective=objective,
        constraints=constraints,
    )
    d = U.shape[1]
    bounds = torch.stack([torch.zeros(d), torch.ones(d)]).double()
    cand, _ = optimize_acqf(
        acq,
        bounds=bounds,
        q=1,
        num_restarts=num_restarts,
        raw_samples=raw_samples,
        options={"batch_limit": 5, "maxiter": 200},
    )
    t2 = time.perf_counter()
    return cand.detach().numpy()[0], {"fit": t1 - t0, "acquisition": t2 - t1}


def run_botorch(problem: Problem, seed: int, budget: int) -> RunResult:
    torch.manual_seed(seed)
    space = problem.space
    U = list(initial_design(problem, seed)[:budget])
    X, Ys, Cs, times = [], [], [], []
    t0 = time.perf_counter()
    for i in range(budget):
        if i >= len(U):
            u, _ = botorch_propose(
                np.array(U),
                np.array(Ys),
                problem.ref_point,
                np.array(Cs) if problem.n_constraints else None,
            )
            U.append(space.round(u[None, :])[0])
        x = _raw(problem, U[i])
        y, c, _ = _evaluate(problem, x)
        X.append(x)
        Ys.append(y)
        Cs.append(c)
        times.append(time.perf_counter() - t0)
    return RunResult(np.array(X), np.array(times))


def _optuna_sampler(method: str, seed: int, n_startup: int, constrained: bool) -> Any:
    import optuna  # an optional peer (the 'peers' extra): only its runners need it

    cons = (lambda t: t.user_attrs["constraints"]) if constrained else None
    if method == "tpe":
        return optuna.samplers.TPESampler(
            seed=seed, multivariate=True, n_startup_trials=n_startup, constraints_func=cons
        )
    if method == "gp":
        return optuna.samplers.GPSampler(
            seed=seed, n_startup_trials=n_startup, constraints_func=cons
        )
    if method == "nsga2":
        return optuna.samplers.NSGAIISampler(
            seed=seed, population_size=NSGA2_POPULATION, constraints_func=cons
        )
    raise ValueError(f"method: not an Optuna method: {method!r}")


def _suggest(trial: Any, space: Any) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for p in space.params:
        if isinstance(p, Float):
            params[p.name] = trial.suggest_float(p.name, p.low, p.high, log=p.log)
        elif isinstance(p, Int):
            params[p.name] = trial.suggest_int(p.name, p.low, p.high, log=p.log)
        elif isinstance(p, Categorical):
            params[p.name] = trial.suggest_categorical(p.name, list(p.choices))
        else:  # pragma: no cover - Space validates its parameter types
            raise ValueError(f"space: unsupported parameter {p!r}")
    return params


def run_optuna(method: str, problem: Problem, seed: int, budget: int) -> RunResult:
    import optuna  # an optional peer (the 'peers' extra): only its runners need it

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    design = initial_design(problem, seed)[:budget]
    sampler = _optuna_sampler(method, seed, len(design), problem.n_constraints > 0)
    study = optuna.create_study(directions=["minimize"] * problem.num_objectives, sampler=sampler)
    for u in design:
        study.enqueue_trial(problem.space.decode(u))
    X, times = [], []
    t0 = time.perf_counter()
    for _ in range(budget):
        trial = study.ask()
        x = problem.to_array(_suggest(trial, problem.space))
        y, c, _ = _evaluate(problem, x)
        if problem.n_constraints:
            trial.set_user_attr("constraints", [float(v) for v in c])
        study.tell(trial, [float(v) for v in y])
        X.append(x)
        times.append(time.perf_counter() - t0)
    return RunResult(np.array(X), np.array(times))


RUNNERS: dict[str, Callable[[Problem, int, int], RunResult]] = {
    "mobo": run_mobo,
    "botorch": run_botorch,
    "tpe": lambda p, s, b: run_optuna("tpe", p, s, b),
    "gp": lambda p, s, b: run_optuna("gp", p, s, b),
    "nsga2": lambda p, s, b: run_optuna("nsga2", p, s, b),
    "sobol": run_sobol,
}


# ---------------------------------------------------------------------------------------
# Scoring, persistence and the table.


def score(problem: Problem, run: RunResult, budget: int,
          at: Sequence[int] | None = None) -> list[dict[str, Any]]:
    """CSV rows (one per checkpoint: ``at``, default :func:`checkpoints`) for one run:
    hypervolume of the feasible evaluated points on noise-free values."""
    if run.X.shape[0] != budget:
        raise ValueError(f"run: expected {budget} evaluations, got {run.X.shape[0]}")
    Y = problem.evaluate(run.X)
    feasible = problem.is_feasible(run.X)
    rows = []
    for n in checkpoints(budget) if at is None else at:
        Yf = Y[:n][feasible[:n]]
        Yf = Yf[np.all(Yf < problem.ref_point, axis=1)]
        hv = float(hypervolume(Yf, problem.ref_point)) if len(Yf) else 0.0
        assert problem.max_hv is not None
        rows.append(
            {
                "problem": problem.name,
                "method": "",
                "seed": 0,
                "n_evals": n,
                "hypervolume": hv,
                "max_hv": problem.max_hv,
                "log10_gap": hv_gap(problem.max_hv, hv),
                "n_feasible": int(feasible[:n].sum()),
                "wall_s": float(run.times[n - 1]),
            }
        )
    return rows


def run_one(
    problem_name: str, method: str, seed: int, budget: int, threads: int = 1,
    mobo_noisy: bool | None = None, mobo_front_samples: int | None = None,
    mobo_sample_front: bool | None = None, mobo_plug_in_front: bool = False,
) -> list[dict[str, Any]]:
    """Run one method on one problem and seed and score it (this is a pool job);
    ``mobo_noisy``, ``mobo_front_samples``, ``mobo_sample_front``, ``mobo_plug_in_front``:
    see :func:`run_mobo` (mobo only)."""
    torch.set_num_threads(threads)
    problem = get_problem(problem_name).with_noise_seed(seed)
    if method == "mobo":
        run = run_mobo(problem, seed, budget, mobo_noisy, mobo_front_samples,
                       mobo_sample_front, mobo_plug_in_front)
    else:
        run = RUNNERS[method](problem, seed, budget)
    rows = score(problem, run, budget)
    for row in rows:
        row["method"] = method
        row["seed"] = seed
    return rows


def parse_row(raw: dict[str, str]) -> dict[str, Any]:
    """One row of a results CSV as :func:`csv.DictReader` gives it, its numbers parsed."""
    row: dict[str, Any] = dict(raw)
    for key in ("seed", "n_evals", "n_feasible"):
        row[key] = int(raw[key])
    for key in ("hypervolume", "max_hv", "log10_gap", "wall_s"):
        row[key] = float(raw[key])
    row["commit"] = raw.get("commit") or ""  # rows made before commits were recorded: ""
    return row


def read_rows(path: Path) -> list[dict[str, Any]]:
    """Rows of a results CSV (numbers parsed); [] if the file does not exist."""
    if not path.exists():
        return []
    with path.open(newline="") as f:
        return [parse_row(raw) for raw in csv.DictReader(f)]


def append_rows(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    """Append rows to the CSV (header written when the file is new), flushed to disk.

    A file written before a column existed is first rewritten (temp file and rename) with
    today's header, the new column empty in its old rows; a row without ``commit`` gets an
    empty one.
    """
    new = not path.exists() or path.stat().st_size == 0
    path.parent.mkdir(parents=True, exist_ok=True)
    if not new:
        _upgrade_header(path)
    with path.open("a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=FIELDS)
        if new:
            writer.writeheader()
        for row in rows:
            writer.writerow({k: row.get(k, "") if k == "commit" else row[k] for k in FIELDS})
        f.flush()
        os.fsync(f.fileno())


def _upgrade_header(path: Path) -> None:
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        if tuple(reader.fieldnames or ()) == FIELDS:
            return
        old = list(reader)
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=FIELDS)
        writer.writeheader()
        for raw in old:
            writer.writerow({k: raw.get(k) or "" for k in FIELDS})
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _quantiles(values: Sequence[float]) -> tuple[float, float, float]:
    q25, q50, q75 = np.percentile(np.asarray(values, dtype=float), [25, 50, 75])
    return float(q50), float(q25), float(q75)


def mann_whitney_p(
    a: Sequence[float], b: Sequence[float], alternative: str = "two-sided"
) -> float:
    """Mann-Whitney U test's p-value (Mann & Whitney 1947) of two samples of gaps; 1 when
    either is empty. A large p means their difference is within seed-to-seed noise.

    ``alternative`` is scipy's: ``"two-sided"``, or ``"less"`` for the one-sided test that
    ``a`` tends to be lower than ``b`` (a small p: ``a``'s gaps are lower beyond noise).
    """
    if not len(a) or not len(b):
        return 1.0
    return float(mannwhitneyu(a, b, alternative=alternative).pvalue)


def _evidence(ours: Sequence[float], theirs: Sequence[float], name: str) -> str:
    """How much a median comparison rests on: the seed counts (``provisional`` where the
    peer has fewer seeds than mobo) and :func:`mann_whitney_p` of the two samples."""
    pval = mann_whitney_p(ours, theirs)
    seeds = f"{name} {len(theirs)} seed{'s' * (len(theirs) != 1)}, mobo {len(ours)}"
    if len(theirs) < len(ours):
        seeds += ": provisional"
    return f" ({seeds}; Mann-Whitney p = {pval:.2f})"


def markdown_table(rows: Sequence[dict[str, Any]], methods: Sequence[str] = METHODS) -> str:
    """Median and interquartile range of the log10 gap per problem, method and checkpoint,
    followed by the targets' verdicts (mobo vs BoTorch and the other peers at the largest
    checkpoint)."""
    out = [
        "# Quality: log10 hypervolume gap (lower is better)",
        "",
        "Cells: median [25th percentile, 75th percentile] over seeds of "
        "log10(max HV - HV of the feasible points evaluated so far), noise-free values; "
        "n = number of seeds. Generated by `python -m benchmarks.compare`.",
        "",
    ]
    verdicts = []
    problems = list(dict.fromkeys(r["problem"] for r in rows))
    for prob in problems:
        prows = [r for r in rows if r["problem"] == prob]
        cps = sorted({r["n_evals"] for r in prows})
        present = [m for m in methods if any(r["method"] == m for r in prows)]
        present += sorted({r["method"] for r in prows} - set(present))
        out.append(f"## {prob}")
        out.append("")
        out.append("| method | n | " + " | ".join(f"after {c}" for c in cps) + " |")
        out.append("|---|---|" + "---|" * len(cps))
        medians: dict[str, float] = {}
        last_gaps: dict[str, list[float]] = {}
        for m in present:
            cells = []
            seeds = {r["seed"] for r in prows if r["method"] == m}
            for c in cps:
                vals = [r["log10_gap"] for r in prows if r["method"] == m and r["n_evals"] == c]
                if not vals:
                    cells.append("")
                    continue
                med, q25, q75 = _quantiles(vals)
                cells.append(f"{med:.3f} [{q25:.3f}, {q75:.3f}]")
                if c == cps[-1]:
                    medians[m] = med
                    last_gaps[m] = vals
            out.append(f"| {m} | {len(seeds)} | " + " | ".join(cells) + " |")
        out.append("")
        if "mobo" in medians:
            parts = []
            if "botorch" in medians:
                ok = medians["mobo"] <= medians["botorch"]
                parts.append(
                    f"vs botorch {medians['mobo']:.3f} vs {medians['botorch']:.3f}: "
                    + ("met" if ok else "MISSED")
                    + _evidence(last_gaps["mobo"], last_gaps["botorch"], "botorch")
                )
            others = [m for m in medians if m not in ("mobo", "botorch")]
            if others:
                worse = [m for m in others if medians[m] <= medians["mobo"]]
                parts.append(
                    "better than "
                    + ", ".join(others)
                    + ": "
                    + ("met" if not worse else "MISSED (" + ", ".join(worse) + ")")
                )
            if parts:
                verdicts.append(f"- {prob} (after {cps[-1]}): " + "; ".join(parts))
    if verdicts:
        out += ["## Targets (median log10 gap of mobo at the last checkpoint)", "", *verdicts, ""]
    return "\n".join(out)


def write_table(csv_path: Path, md_path: Path) -> None:
    """Write the markdown table of ``csv_path`` to ``md_path``; for the development file,
    results/compare.md, the report of held-out and development seeds side by side
    (:mod:`benchmarks.compare_report`)."""
    # compare_report imports this module: imported here, where both are loaded
    from benchmarks import compare_report

    if md_path.resolve() == compare_report.REPORT.resolve():
        md_path.write_text(compare_report.generate(csv_path))
    else:
        md_path.write_text(markdown_table(read_rows(csv_path)) + "\n")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks.compare",
        description="Quality benchmark of mobo against BoTorch, Optuna and Sobol.",
    )
    ap.add_argument(
        "--problems",
        nargs="+",
        default=list(DEFAULT_PROBLEMS),
        help=f"problems (default: {' '.join(DEFAULT_PROBLEMS)}; all: {' '.join(PROBLEMS)})",
    )
    ap.add_argument(
        "--methods",
        nargs="+",
        default=list(METHODS),
        choices=METHODS,
        help="methods (default: all)",
    )
    ap.add_argument(
        "--seeds", nargs="+", type=int, default=list(range(10)), help="seeds (default: 0..9)"
    )
    ap.add_argument("--budget", type=int, default=100, help="evaluations per run (default 100)")
    ap.add_argument(
        "--workers", type=int, default=1, help="runs in parallel, one process each (default 1)"
    )
    ap.add_argument("--threads", type=int, default=1, help="torch threads per run (default 1)")
    ap.add_argument(
        "--out",
        default="compare",
        help="name of the outputs in results/ (default: compare -> "
        "compare.csv, compare.md), or a path without suffix",
    )
    ap.add_argument(
        "--mobo-noisy",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="mobo's noisy mode on (--mobo-noisy) or off (--no-mobo-noisy) on every problem "
        "(default: on the noisy problems only, as a user gets it); a development variant: "
        "only with --methods mobo and an --out of its own",
    )
    ap.add_argument(
        "--mobo-front-samples",
        type=int,
        default=None,
        metavar="N",
        help="with --mobo-noisy or --mobo-sample-front: the posterior samples of the front "
        "mobo averages over (default: the proposer's)",
    )
    ap.add_argument(
        "--mobo-sample-front",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="mobo's improvement over posterior samples of the observed front on (or off) "
        "with each problem's own noise prior (default: with noisy mode only); a development "
        "variant, as --mobo-noisy",
    )
    ap.add_argument(
        "--mobo-plug-in-front",
        action="store_true",
        help="with --mobo-noisy or --mobo-sample-front: the posterior mean of the observed "
        "values in place of samples of them (a development variant, as --mobo-noisy)",
    )
    args = ap.parse_args(argv)
    if (error := front_samples_error(args.mobo_noisy, args.mobo_front_samples,
                                     args.mobo_sample_front, args.mobo_plug_in_front)) is not None:
        ap.error(error)
    variant = [flag for flag, value in (("--mobo-noisy", args.mobo_noisy),
                                        ("--mobo-sample-front", args.mobo_sample_front))
               if value is not None]
    if variant:
        if set(args.methods) != {"mobo"}:
            ap.error(f"{variant[0]}: a variant of mobo, only with --methods mobo")
        if Path(args.out).with_suffix("").name in RECORD_NAMES and \
                output_paths(args.out)[0].resolve().parent == RESULTS_DIR:
            ap.error(f"{variant[0]}: {args.out} is the record of mobo's defaults; "
                     "give the variant an --out of its own")
    if args.budget < 1:
        ap.error(f"--budget: must be >= 1, got {args.budget}")
    if args.workers < 1:
        ap.error(f"--workers: must be >= 1, got {args.workers}")
    if args.threads < 1:
        ap.error(f"--threads: must be >= 1, got {args.threads}")
    for name in args.problems:
        try:
            get_problem(name)
        except ValueError as e:
            ap.error(f"--problems: {e}")
    args.problems = [get_problem(n).name for n in args.problems]
    return args


def front_samples_error(noisy: bool | None, n: int | None,
                        sample_front: bool | None = None, plug_in: bool = False) -> str | None:
    """Why ``--mobo-front-samples n`` or ``--mobo-plug-in-front`` (``plug_in``) is refused
    beside ``--mobo-noisy`` given as ``noisy`` and ``--mobo-sample-front`` as
    ``sample_front`` (None: the flag left out), or None when they are accepted (or not
    given)."""
    if plug_in:
        if noisy is not True and sample_front is not True:
            return ("--mobo-plug-in-front: a setting of the sampled front, only with "
                    "--mobo-noisy or --mobo-sample-front")
        if n is not None:
            return "--mobo-plug-in-front: takes no samples, so no --mobo-front-samples"
    if n is None:
        return None
    if noisy is not True and sample_front is not True:
        return ("--mobo-front-samples: a setting of the sampled front, only with --mobo-noisy "
                "or --mobo-sample-front")
    if n < 1:
        return f"--mobo-front-samples: must be >= 1, got {n}"
    return None


def proposer_options(front_samples: int | None, sample_front: bool | None,
                     plug_in_front: bool = False, extend: float | None = None,
                     explore_good: str | None = None,
                     extend_by: str | None = None) -> dict[str, Any] | None:
    """The proposer options of a development variant (None: the defaults'): the number
    of posterior samples of the front, whether it is sampled, whether the posterior
    mean stands in for the samples, the front extension's share (None or 0: off) and how
    it picks its point, and where the exploration share's good trials come from, each
    where given."""
    options: dict[str, Any] = {}
    if extend:
        options["extend"] = extend
    if extend_by is not None:
        options["extend_by"] = extend_by
    if explore_good is not None:
        options["explore_good"] = explore_good
    if front_samples is not None:
        options["n_front_samples"] = front_samples
    if sample_front is not None:
        options["sample_front"] = sample_front
    if plug_in_front:
        options["plug_in_front"] = True
    return options or None


def output_paths(out: str) -> tuple[Path, Path]:
    """(csv, md) paths for ``--out``: a bare name lands in results/."""
    p = Path(out)
    if p.parent == Path("."):
        p = RESULTS_DIR / p
    return p.with_suffix(".csv"), p.with_suffix(".md")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    csv_path, md_path = output_paths(args.out)
    methods = []
    for m in args.methods:
        missing = missing_requirements(m)
        if missing:
            print(
                f"skipping {m}: missing {', '.join(missing)} (pip install -e .[peers])",
                file=sys.stderr,
            )
        else:
            methods.append(m)
    done = {(r["problem"], r["method"], r["seed"], r["n_evals"]) for r in read_rows(csv_path)}
    cps = checkpoints(args.budget)
    jobs = [
        (p, m, s)
        for p in args.problems
        for s in args.seeds
        for m in methods
        if not all((p, m, s, c) in done for c in cps)
    ]
    n_skipped = len(args.problems) * len(args.seeds) * len(methods) - len(jobs)
    print(f"{len(jobs)} runs to do, {n_skipped} already in {csv_path}", file=sys.stderr)
    failures = 0
    # each run's rows carry the commit it ran from (the code is imported now, at the start)
    stamps = {m: provenance.stamp(provenance.covers("compare", m)) for m in methods}

    def record(job: tuple[str, str, int], rows: list[dict[str, Any]]) -> None:
        last = rows[-1]
        for r in rows:
            r["commit"] = stamps[job[1]]
        append_rows(
            csv_path,
            [r for r in rows if (r["problem"], r["method"], r["seed"], r["n_evals"]) not in done],
        )
        print(
            f"{job[0]} {job[1]} seed {job[2]}: log10 gap {last['log10_gap']:.3f} after "
            f"{last['n_evals']} ({last['wall_s']:.1f} s)",
            file=sys.stderr,
        )

    if args.workers == 1:
        for job in jobs:
            try:
                rows = run_one(*job, args.budget, args.threads, args.mobo_noisy,
                               args.mobo_front_samples, args.mobo_sample_front,
                               args.mobo_plug_in_front)
            except Exception:
                failures += 1
                print(f"{job} failed:\n{traceback.format_exc()}", file=sys.stderr)
                continue
            record(job, rows)
    else:
        with ProcessPoolExecutor(args.workers, mp_context=mp.get_context("spawn")) as pool:
            futures = {pool.submit(run_one, *job, args.budget, args.threads, args.mobo_noisy,
                                   args.mobo_front_samples, args.mobo_sample_front,
                                   args.mobo_plug_in_front): job
                       for job in jobs}
            for fut in as_completed(futures):
                job = futures[fut]
                try:
                    rows = fut.result()
                except Exception:
                    failures += 1
                    print(f"{job} failed:\n{traceback.format_exc()}", file=sys.stderr)
                    continue
                record(job, rows)
    write_table(csv_path, md_path)
    print(f"wrote {csv_path} and {md_path}", file=sys.stderr)
    if failures:
        print(f"{failures} runs failed (see above); re-run to retry them", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
