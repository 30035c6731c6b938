"""Proposal speed: wall time of one proposal (model fit + acquisition optimisation) for
mobo and BoTorch's qLogNEHVI on the same data, same machine, same run.

Problems: DTLZ2 with d = 6 and 2 objectives, VehicleSafety (d = 5, 3 objectives). For
each number of observations n (50, 100, 200, 1000) the data are the first n points of the
problem's scrambled Sobol sequence (Owen, 1998) and their objective values.

- mobo (cold): a ``mobo.Study`` whose initial design is those n points (``n_initial=n``,
  same seed), told all n values; the time is the next ``study.ask()``, which fits the GPs
  from scratch and maximises EHVI (``trial.timings``: "fit" and "acquisition").
- mobo (in study): what a proposal after the first costs in a running study: the initial
  design is the first n - 1 points, one model proposal is asked and told (untimed), and
  the time is the mean of the next ``IN_STUDY_WINDOW`` ``ask()`` calls, at n, n + 1, ...
  observations, each told its value untimed; every GP fit is warm-started from the
  previous one's hyper-parameters. The window is ``mobo.gp.FIT_REFRESH`` proposals long:
  past ``mobo.gp.FIT_SUBSET`` observations a fit reuses the previous result until its
  subset is drawn again, once in that many proposals, and the mean counts that draw at
  its rate.
- BoTorch: :func:`benchmarks.compare.botorch_propose` on the same n points, the standard
  loop (``SingleTaskGP`` per objective in a ``ModelListGP``, ``fit_gpytorch_mll``,
  ``qLogNoisyExpectedHypervolumeImprovement``, ``optimize_acqf`` with 10 restarts, 512 raw
  samples, q = 1).

Before timing, each method makes one untimed proposal on a small problem so that numba
compilation and import costs are excluded (reported separately as ``warmup_s``). Each
(problem, n, method) is repeated ``--repeats`` times with different seeds; the table
shows medians and the ratio BoTorch / mobo. Targets (:data:`TARGETS`): at 200 observations
BoTorch / mobo at least 10 and a proposal in a running study at most 0.15 s; at 1,000
observations a proposal in a running study at most 0.5 s (on 2 cores, one torch thread).

Usage (from the repository root of a checkout; benchmarks is not installed)::

    python -m benchmarks.speed --sizes 50 100 200 1000 --repeats 3 --threads 1
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import shlex
import sys
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

import mobo
import mobo.gp
from benchmarks.compare import botorch_propose, missing_requirements, output_paths
from benchmarks.provenance import DIRTY, covers, stamp
from mobo.problems import Problem, get_problem

SPEED_PROBLEMS: tuple[tuple[str, dict[str, int]], ...] = (
    ("dtlz2", {"d": 6, "m": 2}),
    ("vehiclesafety", {}),
)
# consecutive proposals averaged by the in-study timer: one cycle of the fit subset's draws
IN_STUDY_WINDOW = mobo.gp.FIT_REFRESH
FIELDS = ("problem", "d", "m", "n_obs", "method", "seed", "fit_s", "acquisition_s", "total_s",
          "commit")
# (observations, what, bound): BoTorch / mobo at least the bound ("ratio"), or mobo's
# proposal in a running study at most the bound in seconds ("in_study")
TARGETS: tuple[tuple[int, str, float], ...] = (
    (200, "ratio", 10.0), (200, "in_study", 0.15), (1000, "in_study", 0.5))


def sobol_data(problem: Problem, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(n, dim) encoded Sobol points and (n, m) their noise-free objectives."""
    U = problem.space.sobol(n, seed)
    X = np.array([problem.to_array(problem.space.decode(u)) for u in U])
    return U, problem.evaluate(X)


def time_mobo(problem: Problem, n: int, seed: int, *, warm: bool = False,
              window: int = 1) -> dict[str, float]:
    """Seconds for an ``ask()`` of a Study that has been told n points.

    ``warm=False``: the n points are the Sobol design and the timed ask is the study's
    first model proposal (cold GP fit). ``warm=True``: the design has n - 1 points, one
    model proposal is made and told untimed, and the time is the mean of the next
    ``window`` asks (each told its value untimed).
    """
    if window < 1 or (window > 1 and not warm):
        raise ValueError(f"window: >= 1, and 1 unless warm, got {window}")
    study = mobo.Study(
        problem.space,
        [
            mobo.Objective(name, threshold=float(r))
            for name, r in zip(problem.objective_names, problem.ref_point, strict=True)
        ],
        seed=seed,
        n_initial=n - 1 if warm else n,
    )
    for _ in range(n):
        trial = study.ask()
        y = problem.evaluate(problem.to_array(trial.params)[None, :])[0]
        study.tell(trial, dict(zip(problem.objective_names, map(float, y), strict=True)))
    if warm and trial.source != "model":
        raise RuntimeError(f"expected a model proposal at {n - 1} points, got {trial.source}")
    fit, acq, total = [], [], []
    for k in range(window):
        t0 = time.perf_counter()
        trial = study.ask()
        total.append(time.perf_counter() - t0)
        if trial.source != "model":
            raise RuntimeError(f"expected a model proposal after {n + k} points, got "
                               f"{trial.source}")
        fit.append(float(trial.timings.get("fit", float("nan"))))
        acq.append(float(trial.timings.get("acquisition", float("nan"))))
        if k + 1 < window:
            y = problem.evaluate(problem.to_array(trial.params)[None, :])[0]
            study.tell(trial, dict(zip(problem.objective_names, map(float, y), strict=True)))
    return {"fit_s": float(np.mean(fit)), "acquisition_s": float(np.mean(acq)),
            "total_s": float(np.mean(total))}


def time_botorch(problem: Problem, n: int, seed: int) -> dict[str, float]:
    """Seconds for one BoTorch qLogNEHVI proposal on the n Sobol points."""
    torch.manual_seed(seed)
    U, Y = sobol_data(problem, n, seed)
    t0 = time.perf_counter()
    _, timings = botorch_propose(U, Y, problem.ref_point)
    total = time.perf_counter() - t0
    return {"fit_s": timings["fit"], "acquisition_s": timings["acquisition"], "total_s": total}


def time_mobo_in_study(problem: Problem, n: int, seed: int) -> dict[str, float]:
    """Mean seconds of ``IN_STUDY_WINDOW`` warm-started ``ask()`` calls from n observations
    on (see :func:`time_mobo`)."""
    return time_mobo(problem, n, seed, warm=True, window=IN_STUDY_WINDOW)


TIMERS = {"mobo": time_mobo, "mobo_in_study": time_mobo_in_study, "botorch": time_botorch}


def warm_up(method: str) -> float:
    """One untimed proposal on a small problem (compilation, imports); returns seconds."""
    t0 = time.perf_counter()
    TIMERS[method](get_problem("branincurrin"), 8, 0)
    return time.perf_counter() - t0


def _short(commit: str) -> str:
    """A stamp as the report shows it: 12 hex digits, ``+dirty`` kept."""
    if not commit:
        return "unknown"
    return commit[:12] + (DIRTY if commit.endswith(DIRTY) else "")


def markdown(rows: Sequence[dict[str, Any]], warmups: dict[str, float], header: str) -> str:
    """Median seconds per proposal and the BoTorch / mobo ratio per problem and size."""
    out = [
        "# Speed: wall time of one proposal (fit + acquisition), seconds",
        "",
        header,
        "",
        "| problem | d | m | n obs | mobo fit | mobo acq | mobo total | mobo in study | "
        "botorch fit | botorch acq | botorch total | botorch / mobo | "
        "botorch / mobo in study |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    verdicts = []
    keys = list(dict.fromkeys((r["problem"], r["d"], r["m"], r["n_obs"]) for r in rows))
    for prob, d, m, n in keys:
        med: dict[str, dict[str, float]] = {}
        for method in ("mobo", "mobo_in_study", "botorch"):
            sel = [r for r in rows if (r["problem"], r["n_obs"], r["method"]) == (prob, n, method)]
            if sel:
                med[method] = {
                    k: float(np.median([r[k] for r in sel]))
                    for k in ("fit_s", "acquisition_s", "total_s")
                }

        def cell(method: str, key: str, med: dict = med) -> str:
            return f"{med[method][key]:.3f}" if method in med else ""

        ratio = ratio_warm = ""
        if "mobo_in_study" in med and "botorch" in med:
            ratio_warm = f"{med['botorch']['total_s'] / med['mobo_in_study']['total_s']:.1f}x"
        if "mobo" in med and "botorch" in med:
            ratio = f"{med['botorch']['total_s'] / med['mobo']['total_s']:.1f}x"
        for at, what, bound in TARGETS:
            if at != n:
                continue
            if what == "in_study" and "mobo_in_study" in med:
                t = med["mobo_in_study"]["total_s"]
                verdicts.append(
                    f"- {prob} at {n} observations, in a running study: mobo {t:.3f} s per "
                    f"proposal (target <= {bound:g} s on 2 cores): "
                    + ("met" if t <= bound else "MISSED"))
            if what == "ratio" and "mobo" in med and "botorch" in med:
                r = med["botorch"]["total_s"] / med["mobo"]["total_s"]
                verdicts.append(
                    f"- {prob} at {n} observations: mobo {med['mobo']['total_s']:.3f} s, "
                    f"BoTorch {med['botorch']['total_s']:.3f} s, ratio {r:.1f}: "
                    + (f"met (>= {bound:g})" if r >= bound else f"MISSED (< {bound:g})"))
        out.append(
            f"| {prob} | {d} | {m} | {n} | {cell('mobo', 'fit_s')} | "
            f"{cell('mobo', 'acquisition_s')} | {cell('mobo', 'total_s')} | "
            f"{cell('mobo_in_study', 'total_s')} | "
            f"{cell('botorch', 'fit_s')} | {cell('botorch', 'acquisition_s')} | "
            f"{cell('botorch', 'total_s')} | {ratio} | {ratio_warm} |"
        )
    out += ["", f"mobo in study: the mean of {IN_STUDY_WINDOW} consecutive proposals of a "
            "running study from n observations on (one draw of the fit's subset among them "
            "past its size).", "", "Targets: " + "; ".join(
        f"BoTorch / mobo >= {bound:g} at {at} observations" if what == "ratio" else
        f"a proposal in a running study <= {bound:g} s at {at} observations"
        for at, what, bound in TARGETS) + " (a target whose size was not run is not judged).",
        "", *verdicts, ""]
    if warmups:
        out.append(
            "Untimed warm-up (first proposal: imports, numba compilation): "
            + ", ".join(f"{k} {v:.1f} s" for k, v in warmups.items())
            + "."
        )
        out.append("")
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks.speed", description=__doc__.split("\n\n")[0]
    )
    ap.add_argument(
        "--sizes",
        nargs="+",
        type=int,
        default=[50, 100, 200, 1000],
        help="numbers of observations (default 50 100 200 1000)",
    )
    ap.add_argument("--repeats", type=int, default=3, help="seeds per size (default 3)")
    ap.add_argument("--methods", nargs="+", default=list(TIMERS), choices=list(TIMERS))
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    ap.add_argument(
        "--out",
        default="speed",
        help="name of the outputs in results/ (default: speed -> "
        "speed.csv, speed.md), or a path without suffix",
    )
    args = ap.parse_args(argv)
    if args.repeats < 1:
        ap.error(f"--repeats: must be >= 1, got {args.repeats}")
    if any(n < 2 for n in args.sizes):
        ap.error(f"--sizes: every size must be >= 2, got {args.sizes}")
    torch.set_num_threads(args.threads)
    methods = []
    for m in args.methods:
        missing = missing_requirements("mobo" if m.startswith("mobo") else m)
        if missing:
            print(f"skipping {m}: missing {', '.join(missing)}", file=sys.stderr)
        else:
            methods.append(m)
    csv_path, md_path = output_paths(args.out)

    # each method's rows carry the commit of the code its time depends on (provenance)
    commits = {m: stamp(covers("speed", m)) for m in methods}
    run_commit = stamp(sorted({p for m in methods for p in covers("speed", m)}))
    command = shlex.join(["python", "-m", "benchmarks.speed",
                          *(sys.argv[1:] if argv is None else argv)])
    warmups = {m: warm_up(m) for m in methods}
    rows: list[dict[str, Any]] = []
    for name, kwargs in SPEED_PROBLEMS:
        problem = get_problem(name, **kwargs)
        for n in args.sizes:
            for seed in range(args.repeats):
                for method in methods:
                    t = TIMERS[method](problem, n, seed)
                    row = {
                        "problem": problem.name,
                        "d": problem.dim,
                        "m": problem.num_objectives,
                        "n_obs": n,
                        "method": method,
                        "seed": seed,
                        **t,
                        "commit": commits[method],
                    }
                    rows.append(row)
                    print(
                        f"{problem.name} n={n} seed={seed} {method}: "
                        f"{t['total_s']:.3f} s (fit {t['fit_s']:.3f}, "
                        f"acq {t['acquisition_s']:.3f})",
                        file=sys.stderr,
                    )
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    with csv_path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=FIELDS)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: row[k] for k in FIELDS})
    load = os.getloadavg()
    header = (
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"torch threads {args.threads}, {args.repeats} seeds per cell; medians. Load "
        f"average at the end {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (1 / 5 / 15 min): "
        "other work on the machine slows both methods alike, but makes the ratio noisier. "
        f"Generated by `{command}` at commit `{_short(run_commit)}`."
    )
    text = markdown(rows, warmups, header)
    md_path.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
