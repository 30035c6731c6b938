"""Command line: ``python -m mobo.run`` runs a study on the distillation task or a toy problem.

Examples::

    python -m mobo.run --budget 200 --storage runs/distill.jsonl
    python -m mobo.run --problem branincurrin --budget 50 --seed 3 --workers 2 --backend process

Every argument is checked before anything runs; a bad one ends the command with a single
``error: ...`` line on stderr and exit status 2, and leaves any journal as it was. A
``--storage`` journal that already exists is resumed (same problem and settings required).
Per trial a progress line is printed (trial number/budget, status, hypervolume, time of the
proposal, estimated time left); at the end the Pareto front is printed as a table, in the
objectives' own terms (e.g. EM maximised, parameter count minimised).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn, TextIO

__all__ = ["main", "build_parser"]

_DEFAULT_PROBLEM = "distill"
_BACKENDS = ("inline", "process", "ray")


class UsageError(Exception):
    """A bad command line: reported as one ``error:`` line and exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m mobo.run``."""
    p = _Parser(
        prog="python -m mobo.run",
        description="Multi-objective Bayesian optimisation of the BERT-student distillation "
        "task (default) or of a toy benchmark problem.",
        epilog="Toy problems: every name in benchmarks.problems.PROBLEMS (e.g. branincurrin, "
        "zdt1, dtlz2, vehiclesafety, mixed). Toy objectives are minimised and use the "
        "problem's reference point as thresholds.",
    )
    p.add_argument("--problem", default=_DEFAULT_PROBLEM,
                   help="'distill' (default: distil BERT students for SQuAD 2.0-style QA and "
                   "trade exact match against parameter count) or a toy problem name")
    p.add_argument("--budget", type=_int_arg("--budget", 0), default=200,
                   help="number of completed plus failed trials to reach, counting those "
                   "already in the journal (default 200)")
    p.add_argument("--n-initial", type=_int_arg("--n-initial", 1), default=None, metavar="N",
                   help="size of the Sobol initial design (default 2(d+1) for d encoded "
                   "dimensions, but at most a quarter of the budget and at least d+1 or half "
                   "the budget, whichever is less, so that a short run still leaves most "
                   "trials to the model; when resuming, "
                   "the journal's)")
    p.add_argument("--seed", type=_int_arg("--seed", 0), default=None,
                   help="study seed (default 0; when resuming, the journal's)")
    p.add_argument("--storage", default=None, metavar="PATH",
                   help="journal file (JSON lines); resumed if it exists")
    p.add_argument("--workers", type=_int_arg("--workers", 1), default=1,
                   help="trials evaluated at once (default 1)")
    p.add_argument("--backend", choices=_BACKENDS, default=None,
                   help="where trials run: inline (this process; default with one worker), "
                   "process (local process pool; default with several) or ray")
    p.add_argument("--trial-timeout", type=_float_arg("--trial-timeout", 0.0, strict=True),
                   default=None, metavar="SECONDS",
                   help="a trial running longer is stopped and recorded as failed")
    p.add_argument("--gpus-per-trial", type=_float_arg("--gpus-per-trial", 0.0), default=0.0,
                   metavar="G", help="GPUs reserved per trial (process or ray backend; "
                   "default 0)")
    p.add_argument("--address", default=None,
                   help="address of an existing Ray cluster (ray backend; default: start a "
                   "local instance)")
    p.add_argument("--noisy", action="store_true",
                   help="the metrics are noisy (the proposer averages over the in-sample "
                   "front); implied by the noisy toy problems")
    d = p.add_argument_group("distillation task (--problem distill)")
    d.add_argument("--data", default=None,
                   help="'synthetic' (default: generated offline from the seed), 'squad_v2' "
                   "(datasets cache) or a directory holding train-v2.0.json and dev-v2.0.json")
    d.add_argument("--train-file", default=None, metavar="PATH", help="SQuAD 2.0 train JSON")
    d.add_argument("--dev-file", default=None, metavar="PATH", help="SQuAD 2.0 dev JSON")
    d.add_argument("--teacher", default=None, metavar="PATH",
                   help="fine-tuned teacher checkpoint (default: fine-tune one and cache it)")
    d.add_argument("--device", default=None, help="torch device, e.g. cpu or cuda:0")
    return p


def _int_arg(flag: str, minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
        return value

    parse.__name__ = flag
    return parse


def _float_arg(flag: str, minimum: float, strict: bool = False) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not math.isfinite(value) or value < minimum or (strict and value == minimum):
            op = ">" if strict else ">="
            raise argparse.ArgumentTypeError(f"must be a finite number {op} {minimum}, "
                                             f"got {text}")
        return value

    parse.__name__ = flag
    return parse


@dataclass
class _Job:
    """What the command line resolved to: a space, objectives and the function to evaluate."""

    name: str
    space: Any
    objectives: list[Any]
    fn: Callable[[dict[str, Any]], Mapping[str, float]]
    prepare: Callable[[], None] | None = None
    noisy: bool = False
    constraints: list[Any] = field(default_factory=list)


def _resolve_job(args: argparse.Namespace, seed: int) -> _Job:
    from mobo.study import Constraint, Objective

    name = args.problem.strip()
    if name.lower() == "distill":
        return _distill_job(args, seed)
    for flag in ("data", "train_file", "dev_file", "teacher", "device"):
        if getattr(args, flag) is not None:
            raise UsageError(f"--{flag.replace('_', '-')}: only used with --problem distill")
    from benchmarks.problems import get_problem

    try:
        problem = get_problem(name)
    except ValueError as e:
        raise UsageError(f"--problem: unknown problem {name!r} (valid: distill, "
                         f"{str(e).split('valid: ', 1)[-1]})") from None
    objectives = [Objective(o, threshold=float(r))
                  for o, r in zip(problem.objective_names, problem.ref_point, strict=True)]
    if problem.n_constraints:
        # constrained problems report their constraint values (feasible iff <= 0), which
        # the study models, instead of failing at infeasible points
        constraints = [Constraint(c, upper=0.0) for c in problem.constraint_names]
        return _Job(problem.name, problem.space, objectives, problem.metrics,
                    noisy=problem.noise_std is not None, constraints=constraints)
    return _Job(problem.name, problem.space, objectives, problem,
                noisy=problem.noise_std is not None)


def _readable_file(flag: str, path: str) -> None:
    p = Path(path).expanduser()
    if not p.is_file():
        raise UsageError(f"{flag}: {p} is not a file")
    if not os.access(p, os.R_OK):
        raise UsageError(f"{flag}: {p} is not readable")


def _distill_job(args: argparse.Namespace, seed: int) -> _Job:
    data = args.data if args.data is not None else "synthetic"
    if data not in ("synthetic", "squad_v2"):
        folder = Path(data).expanduser()
        if not folder.is_dir():
            raise UsageError(f"--data: expected 'synthetic', 'squad_v2' or a directory, "
                             f"got {data!r} (no such directory)")
        for flag, given, default in (("--train-file", args.train_file, "train-v2.0.json"),
                                     ("--dev-file", args.dev_file, "dev-v2.0.json")):
            if given is None and not (folder / default).is_file():
                raise UsageError(f"--data: {folder} has no {default} (or pass {flag})")
    for flag, given in (("--train-file", args.train_file), ("--dev-file", args.dev_file)):
        if given is not None:
            _readable_file(flag, given)
    if data in ("synthetic", "squad_v2") and (args.train_file is None) != (args.dev_file is None):
        raise UsageError("--train-file/--dev-file: give both (or --data DIR holding the other)")
    if args.teacher is not None and not Path(args.teacher).expanduser().is_dir():
        raise UsageError(f"--teacher: {args.teacher} is not a checkpoint directory")
    try:
        from distill.objective import DistillationTask
    except ImportError as e:
        raise UsageError(f"--problem: the distillation task is not available ({e}); "
                         "pick a toy problem") from None
    try:
        task = DistillationTask(data, train_file=args.train_file, dev_file=args.dev_file,
                                teacher=args.teacher, device=args.device, seed=seed)
        # reading the objectives loads the dev set (its no-answer EM is the threshold), so
        # unusable data files are reported here, before any journal is touched
        objectives = list(task.objectives)
    except (ValueError, KeyError, OSError, ImportError) as e:
        raise UsageError(f"distillation data: {type(e).__name__}: {e}") from None

    def prepare() -> None:
        task.prepare(progress=lambda msg: print(msg, flush=True))

    return _Job("distill", task.space, objectives, task, prepare)


def _fmt_seconds(s: float) -> str:
    if not math.isfinite(s):
        return "-"
    s = max(s, 0.0)
    if s < 10:
        return f"{s:.2f}s"
    if s < 60:
        return f"{s:.1f}s"
    if s < 3600:
        return f"{int(s // 60)}m{int(s % 60):02d}s"
    return f"{int(s // 3600)}h{int(s % 3600 // 60):02d}m"


def _fmt_value(v: Any) -> str:
    if isinstance(v, bool) or v is None:
        return str(v)
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


class _Progress:
    """Prints one line per finished trial: number/budget, status, hypervolume, timing, ETA."""

    def __init__(self, budget: int, start_finished: int, out: TextIO) -> None:
        self.budget = budget
        self.start_finished = start_finished
        self.t0 = time.perf_counter()
        self.out = out

    def __call__(self, study: Any, trial: Any) -> None:
        done = study.n_finished
        ran = done - self.start_finished
        elapsed = time.perf_counter() - self.t0
        eta = elapsed / ran * (self.budget - done) if ran > 0 else float("nan")
        hv = study.hypervolume()
        hv_text = "-" if math.isnan(hv) else f"{hv:.6g}"
        status = "infeasible" if trial.feasible is False else trial.status
        if trial.status != "completed" and trial.error:
            err = trial.error if len(trial.error) <= 60 else trial.error[:57] + "..."
            status = f"{status} ({err})"
        ask = trial.timings.get("ask", float("nan"))
        width = len(str(self.budget))
        print(f"[{done:>{width}}/{self.budget}] trial {trial.number} {trial.source:<7} "
              f"{status}  hv {hv_text}  proposal {_fmt_seconds(ask)}  "
              f"elapsed {_fmt_seconds(elapsed)}  eta {_fmt_seconds(eta)}",
              file=self.out, flush=True)


def _describe(constraint: Any) -> str:
    """``"lo <= name <= hi"`` with the sides that exist."""
    text = constraint.name
    if constraint.lower is not None:
        text = f"{constraint.lower:g} <= {text}"
    if constraint.upper is not None:
        text = f"{text} <= {constraint.upper:g}"
    return text


def format_pareto_table(study: Any) -> str:
    """The Pareto-optimal completed trials that meet the thresholds, as a text table
    (parameters, then objectives)."""
    front = study.pareto_front()
    if not front:
        return ("no completed trial meets every threshold yet: the Pareto front is empty"
                if study.n_completed else "no completed trials: the Pareto front is empty")
    first = study.objectives[0]
    front.sort(key=lambda t: t.values[first.name], reverse=first.maximize)
    names = list(study.space.names)
    obj_names = [o.name for o in study.objectives]
    headers = ["trial", *names, *(f"{o.name} ({'max' if o.maximize else 'min'})"
                                  for o in study.objectives)]
    rows = [[str(t.number), *(_fmt_value(t.params[n]) for n in names),
             *(_fmt_value(t.values[n]) for n in obj_names)] for t in front]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    lines = ["  ".join(h.rjust(w) for h, w in zip(headers, widths, strict=True)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(lines)


def default_n_initial(dim: int, budget: int) -> int:
    """The CLI's initial design size: the usual 2(d+1) Sobol points (DESIGN.md section 4),
    but no more than a quarter of the budget, and no fewer than d+1 unless that is more
    than half the budget: a run of 40 trials in a 21-dimensional space is not all initial
    design, and one of 20 still gets 10 model proposals (and a hypervolume to show)."""
    return max(1, min(dim + 1, budget // 2), min(2 * (dim + 1), budget // 4))


def _journal_seed(storage: Path, default: int) -> int:
    """The seed recorded in an existing journal (the task's data may depend on it)."""
    from mobo.journal import Journal

    try:
        events = Journal(storage).read()
    except ValueError as e:
        raise UsageError(f"--storage: {e}") from None
    seed = events[0].get("seed") if events else None
    return seed if isinstance(seed, int) and not isinstance(seed, bool) else default


def _run(args: argparse.Namespace, out: TextIO) -> int:
    from mobo.study import BackendError, Study, _check_storage_path

    storage = None
    resuming = False
    if args.storage is not None:
        try:
            storage = _check_storage_path(args.storage)
        except ValueError as e:
            raise UsageError(f"--storage: {str(e).removeprefix('storage: ')}") from None
        resuming = storage.is_file() and storage.stat().st_size > 0
    if args.address is not None and args.backend != "ray":
        raise UsageError("--address: only used with --backend ray")
    backend = args.backend or ("inline" if args.workers == 1 else "process")
    if args.gpus_per_trial and backend == "inline":
        raise UsageError("--gpus-per-trial: needs --backend process or ray")
    if args.gpus_per_trial > 1 and not args.gpus_per_trial.is_integer():
        raise UsageError(f"--gpus-per-trial: above 1 it must be a whole number of GPUs, "
                         f"got {args.gpus_per_trial}")
    if backend == "inline" and args.workers > 1:
        raise UsageError("--workers: the inline backend runs one trial at a time; "
                         "use --backend process or ray")
    if backend == "ray":
        try:
            import ray  # noqa: F401
        except ImportError:
            raise UsageError("--backend ray: ray is not installed "
                             "(pip install 'mobo[ray]')") from None

    seed = args.seed if args.seed is not None else 0
    if resuming and args.seed is None:
        seed = _journal_seed(storage, seed)
    job = _resolve_job(args, seed)
    n_initial = args.n_initial
    if n_initial is None and not resuming:
        n_initial = default_n_initial(job.space.dim, args.budget)
    try:
        study = Study(job.space, job.objectives, constraints=job.constraints, storage=storage,
                      seed=args.seed if resuming else seed, noisy=args.noisy or job.noisy,
                      n_initial=n_initial)
    except ValueError as e:
        raise UsageError(str(e)) from None

    with study:
        before = study.n_finished
        where = f"journal {study.storage}" if study.storage else "no journal (use --storage)"
        goals = ", ".join(f"{o.name} ({'max' if o.maximize else 'min'})"
                          for o in study.objectives)
        if study.constraints:
            goals += ", subject to " + ", ".join(_describe(c) for c in study.constraints)
        print(f"study: problem {job.name}, {len(study.space.names)} parameters, objectives "
              f"{goals}, "
              f"seed {study.seed}, budget {args.budget}, {args.workers} worker(s) on {backend}; "
              f"{where}" + (f" (resumed with {before} finished trials)" if resuming else ""),
              file=out, flush=True)
        try:
            if job.prepare is not None and before < args.budget:
                job.prepare()
            progress = _Progress(args.budget, before, out)
            study.optimize(job.fn, args.budget, workers=args.workers, backend=backend,
                           trial_timeout=args.trial_timeout,
                           gpus_per_trial=args.gpus_per_trial, address=args.address,
                           callbacks=[progress])
        except KeyboardInterrupt:
            print(f"interrupted: running trials recorded as abandoned; resume with the same "
                  f"command. {where}", file=sys.stderr, flush=True)
            return 130
        except BackendError as e:
            print(f"error: {e}. {where}", file=sys.stderr, flush=True)
            return 1
        print(file=out)
        if study.ref_point is None:
            hv_text = ("no hypervolume yet (the reference point is inferred after the "
                       "initial design)")
        else:
            hv_text = (f"hypervolume {study.hypervolume():.6g} w.r.t. the reference point "
                       f"{ {k: float(f'{v:.6g}') for k, v in study.ref_point.items()} }")
        infeasible = sum(t.feasible is False for t in study.trials)
        print(f"{study.n_completed} completed"
              + (f" ({infeasible} breaking a constraint)" if study.constraints else "")
              + f", {study.n_failed} failed, "
              f"{sum(t.status == 'abandoned' for t in study.trials)} abandoned; {hv_text}",
              file=out)
        print("Pareto front:", file=out)
        print(format_pareto_table(study), file=out)
        print(where, file=out, flush=True)
    return 0


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run the command line; returns the exit status (2 for bad arguments)."""
    out = out if out is not None else sys.stdout
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        return _run(args, out)
    except UsageError as e:
        msg = " ".join(str(e).split())
        print(f"error: {msg}", file=sys.stderr, flush=True)
        return 2


if __name__ == "__main__":
    sys.exit(main())
