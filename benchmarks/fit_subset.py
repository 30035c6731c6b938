"""Does fitting the GP's hyper-parameters on a subset cost quality in a long study?

Above ``mobo.gp.FIT_SUBSET`` (512) observations mobo fits the hyper-parameters on that
many of them, evenly spread, and conditions the GP on all (``mobo/gp.py``; Rasmussen &
Williams 2006, sec. 8.3.1); the subset is drawn again every ``mobo.gp.FIT_REFRESH``
observations, a fit of an unchanged subset reuses its warm start's result, and EHVI's
screen scores fewer Sobol candidates in proportion (``mobo/acquisition.py``). This
benchmark runs mobo's default study past that point on toy problems twice per seed and
scores both as :mod:`benchmarks.compare` scores its runs
(the log10 gap between the problem's maximal hypervolume and that of the noise-free values
of the feasible points evaluated, at checkpoints):

- ``subset``: the study as it is;
- ``full``: the same study with every fit on all observations (``FIT_SUBSET`` raised above
  the budget for the run, so the paths for many observations, all of the above, are
  never taken).

Both variants make the same proposals up to ``FIT_SUBSET`` observations; the report says
how far apart their gaps are after it (median, quartiles and the two-sided Mann-Whitney p
over seeds) and the median seconds per proposal after it. A run is appended to the CSV as
it ends (its rows carry the commit of the code), and a rerun of the same command skips the
runs already there.

Usage (from the repository root; benchmarks is not installed)::

    python -m benchmarks.fit_subset --problems dtlz2 --seeds 103 104 105 --budget 1000 \\
        --out results/fit_subset
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import os
import platform
import shlex
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

import mobo.gp
from benchmarks.compare import _quantiles, mann_whitney_p, output_paths, run_mobo, score
from benchmarks.provenance import covers, cpu_name, stamp
from mobo.problems import PROBLEMS, get_problem

VARIANTS = ("subset", "full")
FIELDS = ("problem", "variant", "seed", "n_evals", "hypervolume", "max_hv", "log10_gap",
          "proposal_s", "commit")
# the code a run's numbers depend on
COVERED = covers("fit_subset", "*")


def checkpoints(budget: int) -> list[int]:
    """Where a run is scored: the subset's size, every 50 evaluations past it, the budget
    (those not above the budget)."""
    first = mobo.gp.FIT_SUBSET
    return sorted({n for n in (first, *range(first + 50, budget, 50), budget) if n <= budget})


@contextlib.contextmanager
def variant(name: str, budget: int) -> Iterator[None]:
    """Inside the block, mobo fits as ``name`` says: ``subset`` unchanged, ``full`` with the
    subset's size above the budget."""
    if name not in VARIANTS:
        raise ValueError(f"variant: one of {VARIANTS}, got {name!r}")
    saved = mobo.gp.FIT_SUBSET
    if name == "full":
        mobo.gp.FIT_SUBSET = budget + 1
    try:
        yield
    finally:
        mobo.gp.FIT_SUBSET = saved


def run(problem_name: str, name: str, seed: int, budget: int) -> list[dict[str, Any]]:
    """One study of ``budget`` evaluations as :func:`benchmarks.compare.run_mobo` makes it,
    scored at :func:`checkpoints` by :func:`benchmarks.compare.score` (hypervolume of the
    noise-free values of the feasible points inside the reference point)."""
    problem = get_problem(problem_name).with_noise_seed(seed)
    with variant(name, budget):
        result = run_mobo(problem, seed, budget)
    # seconds per proposal (ask, evaluation and tell) past the subset's size
    seconds = np.diff(np.r_[0.0, result.times])[mobo.gp.FIT_SUBSET:]
    rows = score(problem, result, budget, checkpoints(budget))
    for r in rows:
        r.update(variant=name, seed=seed,
                 proposal_s=float(np.median(seconds)) if len(seconds) else float("nan"))
    return rows


def read_rows(path: Path) -> list[dict[str, Any]]:
    """The CSV's rows, numbers parsed; [] where it does not exist."""
    if not path.exists():
        return []
    out = []
    with path.open(newline="") as f:
        for raw in csv.DictReader(f):
            out.append({**raw, "seed": int(raw["seed"]), "n_evals": int(raw["n_evals"]),
                        **{k: float(raw[k]) for k in ("hypervolume", "max_hv", "log10_gap",
                                                      "proposal_s")}})
    return out


def append_rows(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    """Append a run's rows (the header when the file is new), flushed to disk."""
    new = not path.exists() or path.stat().st_size == 0
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=FIELDS)
        if new:
            writer.writeheader()
        writer.writerows({k: r[k] for k in FIELDS} for r in rows)
        f.flush()
        os.fsync(f.fileno())


def cell(rows: Sequence[Mapping[str, Any]], problem: str, n: int) -> dict[str, Any] | None:
    """The variants' runs of ``problem`` scored after ``n`` evaluations, side by side:
    ``gaps`` (variant -> log10 gaps), ``seconds`` (variant -> median seconds per evaluation
    past the subset's size), ``seeds`` (variant -> sorted seeds) and ``p`` (two-sided
    Mann-Whitney of the two variants' gaps); None unless every variant has runs there."""
    sel = {v: [r for r in rows if (r["problem"], r["n_evals"], r["variant"]) == (problem, n, v)]
           for v in VARIANTS}
    if not all(sel.values()):
        return None
    gaps = {v: [float(r["log10_gap"]) for r in sel[v]] for v in VARIANTS}
    return {"gaps": gaps,
            "seconds": {v: float(np.median([r["proposal_s"] for r in sel[v]])) for v in VARIANTS},
            "seeds": {v: sorted({int(r["seed"]) for r in sel[v]}) for v in VARIANTS},
            "p": mann_whitney_p(gaps["subset"], gaps["full"])}


def markdown(rows: Sequence[dict[str, Any]], header: str) -> str:
    """Per problem and checkpoint: each variant's median [quartiles] log10 gap over seeds,
    the two-sided Mann-Whitney p of the two samples, and the median seconds per proposal
    past the subset's size."""
    out = ["# Hyper-parameters fitted on a subset in a long study", "", header, "",
           f"`subset`: mobo as it is at the runs' commit (above {mobo.gp.FIT_SUBSET} "
           "observations the hyper-parameters are fitted on that many, evenly spread, and "
           "since commit ef738de the subset is drawn again every "
           f"{mobo.gp.FIT_REFRESH} observations, an unchanged subset's fit reused and fewer "
           "candidates screened in proportion); `full`: every fit on "
           "all observations. log10 hypervolume gap (lower is better), median [25th, 75th "
           "percentile] over seeds; p: two-sided Mann-Whitney (a large p: the difference is "
           "within seed-to-seed noise). A gap of -12 is the floor: the hypervolume reached "
           "the problem's (approximate) maximum. Seconds: median seconds per evaluation "
           "(proposal, evaluation and tell) past the subset's size, median over seeds.", "",
           "| problem | evaluations | seeds | subset | full | p | seconds, subset | "
           "seconds, full |", "|---|---:|---:|---|---|---:|---:|---:|"]
    for prob in dict.fromkeys(r["problem"] for r in rows):
        for n in sorted({r["n_evals"] for r in rows if r["problem"] == prob}):
            c = cell(rows, prob, n)
            if c is None:
                continue
            seeds = set().union(*c["seeds"].values())
            q = {v: "{:.3f} [{:.3f}, {:.3f}]".format(*_quantiles(c["gaps"][v]))
                 for v in VARIANTS}
            out.append(f"| {prob} | {n} | {len(seeds)} | {q['subset']} | {q['full']} | "
                       f"{c['p']:.2f} | {c['seconds']['subset']:.3f} | "
                       f"{c['seconds']['full']:.3f} |")
    return "\n".join(out) + "\n"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.fit_subset",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--problems", nargs="+", default=["dtlz2", "vehiclesafety"],
                   help="toy problems (default dtlz2 vehiclesafety)")
    p.add_argument("--seeds", nargs="+", type=int, default=[103, 104, 105],
                   help="study seeds (default 103 104 105)")
    p.add_argument("--budget", type=int, default=700, help="evaluations per run (default 700)")
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--out", default="fit_subset",
                   help="name of the outputs in results/ (default fit_subset -> "
                        "fit_subset.csv, fit_subset.md), or a path without suffix")
    args = p.parse_args(argv)
    unknown = [name for name in args.problems if name not in PROBLEMS]
    if unknown:
        p.error(f"--problems: unknown {', '.join(unknown)} (known: {', '.join(PROBLEMS)})")
    if args.budget <= mobo.gp.FIT_SUBSET:
        p.error(f"--budget: must exceed the subset's size {mobo.gp.FIT_SUBSET}, got "
                f"{args.budget}")
    if len(set(args.seeds)) != len(args.seeds) or min(args.seeds) < 0:
        p.error("--seeds: distinct seeds >= 0")
    if args.threads < 1:
        p.error("--threads: must be >= 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    csv_path, md_path = output_paths(args.out)
    done = read_rows(csv_path)
    if any(r["n_evals"] > args.budget for r in done):
        print(f"error: {csv_path}: holds runs longer than --budget {args.budget}",
              file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    commit = stamp(COVERED)
    have = {(r["problem"], r["variant"], r["seed"]) for r in done
            if r["n_evals"] == args.budget}
    jobs = [(prob, v, s) for prob in args.problems for s in args.seeds for v in args.variants
            if (get_problem(prob).name, v, s) not in have]
    for k, (prob, v, s) in enumerate(jobs, start=1):
        t0 = time.perf_counter()
        rows = run(prob, v, s, args.budget)
        append_rows(csv_path, [{**r, "commit": commit} for r in rows])
        print(f"[{k}/{len(jobs)}] {prob} {v} seed {s}: log10 gap "
              f"{rows[-1]['log10_gap']:.3f} after {args.budget} ({time.perf_counter() - t0:.0f} s)",
              file=sys.stderr)
    rows = read_rows(csv_path)
    command = shlex.join(["python", "-m", "benchmarks.fit_subset",
                          *(sys.argv[1:] if argv is None else argv)])
    commits = sorted({r["commit"][:12] for r in rows})
    header = (f"Generated by `{command}` from `{csv_path.name}` (runs at commit "
              f"{', '.join(f'`{c}`' for c in commits) or 'unknown'}). Machine: {cpu_name()}, "
              f"{os.cpu_count()} CPUs, {platform.python_version()}, torch threads "
              f"{args.threads}.")
    md_path.write_text(markdown(rows, header))
    print(md_path.read_text(), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
