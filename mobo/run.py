"""Command line: ``python -m mobo.run`` runs a study on a registered task.

Examples::

    python -m mobo.run --budget 200 --storage runs/distill.jsonl
    python -m mobo.run --problem branincurrin --budget 50 --seed 3 --workers 2 --backend process

The task comes from :func:`mobo.tasks.available_tasks`: the toy problems of
:mod:`mobo.problems`, and tasks that installed packages register, such as the distillation
task (``distill``, the default; registered by the ``distill`` package). The flags common to
every study are defined here; each task brings its own (e.g. ``--data`` for ``distill``),
shown by ``--help`` in a group of their own and refused when another task is selected.

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
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn, TextIO

from mobo.definition import FRONTS
from mobo.journal import Journal
from mobo.study import BackendError, Study, _check_storage_path
from mobo.tasks import Task, TaskEntry, TaskLike, available_tasks, find_task

__all__ = ["main", "build_parser"]

_DEFAULT_PROBLEM = "distill"
_WARPS = ("none", "rank", "yeo-johnson")
_BACKENDS = ("inline", "process", "ray")


class UsageError(Exception):
    """A bad command line: reported as one ``error:`` line and exit status 2."""


class _Parser(argparse.ArgumentParser):
    """Raises :class:`UsageError` instead of exiting, and knows which flags each task added."""

    def __init__(self, tasks: dict[str, TaskEntry], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.tasks = tasks
        # task name -> the actions its add_arguments created
        self.task_actions: dict[str, list[argparse.Action]] = {}
        # task name -> why it cannot be used (its add_arguments failed)
        self.unusable: dict[str, str] = {}

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def _task_names(tasks: dict[str, TaskEntry]) -> list[str]:
    """Task names with the default first (as the usage text and error messages list them)."""
    return sorted(tasks, key=lambda name: name != _DEFAULT_PROBLEM)


def build_parser(tasks: dict[str, TaskEntry] | None = None) -> argparse.ArgumentParser:
    """The argument parser of ``python -m mobo.run``, with the flags of every task in
    ``tasks`` (default: :func:`mobo.tasks.available_tasks`)."""
    return _build_parser(available_tasks() if tasks is None else tasks)


def _build_parser(tasks: dict[str, TaskEntry]) -> _Parser:
    p = _Parser(
        tasks,
        prog="python -m mobo.run",
        description="Multi-objective Bayesian optimisation of a task: the BERT-student "
        "distillation task (default) or a toy benchmark problem.",
        epilog=f"Tasks: {', '.join(_task_names(tasks))}. Toy problems (mobo.problems) are "
        "minimised and use the problem's reference point as thresholds.",
    )
    p.add_argument("--problem", default=_DEFAULT_PROBLEM,
                   help="the task: 'distill' (default: distil BERT students for SQuAD "
                   "2.0-style QA and trade exact match against parameter count) or another "
                   "task name (e.g. a toy problem)")
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
    p.add_argument("--warp", choices=_WARPS, default=None,
                   help="output warping of the modelled objectives before the GP fit: none, "
                   "rank (normal scores of ranks) or yeo-johnson (power transform); EHVI is "
                   "then measured in warped units (default: none; when resuming, the "
                   "journal's)")
    p.add_argument("--threshold-model", action=argparse.BooleanOptionalAction, default=None,
                   help="for objectives with a threshold, a classifier of beating it and a "
                   "GP fitted to the trials that do (default: off; when resuming, the "
                   "journal's)")
    p.add_argument("--trust-region", type=trust_region_arg, default=None, metavar="R",
                   help="draw proposals from boxes of half-width R (unit cube, 0 < R <= 1) "
                   "around the inputs of the front that beats the thresholds and "
                   "recombinations of two of them; 0 or none: a "
                   "global search (default: the task's recommendation, off for the toy "
                   "problems; when resuming, the journal's)")
    p.add_argument("--explore", type=explore_arg, default=None, metavar="P",
                   help="the share P (0 <= P < 1) of model proposals drawn from a Parzen "
                   "density of the trials that beat the thresholds, as TPE proposes, "
                   "instead of maximising EHVI; 0 or none: off (default: the task's "
                   "recommendation, off for the toy problems; when resuming, the journal's)")
    p.add_argument("--front", choices=FRONTS, default=None,
                   help="what EHVI improves on: the observed values of the front "
                   "(observed), posterior samples of its latent values with the candidate "
                   "conditioned on each (sampled), or their posterior mean (plug-in) "
                   "(default: sampled with --noisy, else observed; when resuming, the "
                   "journal's)")
    p.add_argument("--noisy", action="store_true",
                   help="the metrics are noisy (the proposer averages over the in-sample "
                   "front); implied by the noisy toy problems")
    for name, entry in tasks.items():
        if entry.add_arguments is None:
            continue
        group = p.add_argument_group(f"{name} task (--problem {name})", entry.description)
        try:
            entry.add_arguments(group)
        except Exception as e:  # one task's bad flags (e.g. a clash) must not break the rest
            p.unusable[name] = (f"--problem: task {name!r} cannot be used: its flags could "
                                f"not be added ({type(e).__name__}: {e})")
        # argparse has no public accessor for the actions a group holds
        p.task_actions[name] = list(group._group_actions)
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


def _number_or_off(text: str, upper_included: bool) -> float:
    """A number in [0, 1] (or [0, 1) when not ``upper_included``) or "none" (0: off), as
    the flags of the opt-in settings take it; ArgumentTypeError otherwise."""
    expected = f"expected a number in {'(0, 1]' if upper_included else '[0, 1)'} or none"
    if text.strip().lower() == "none":
        return 0.0
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{expected}, got {text!r}") from None
    if not (0.0 <= value <= 1.0 if upper_included else 0.0 <= value < 1.0):
        raise argparse.ArgumentTypeError(f"{expected}, got {text!r}")
    return value


def explore_arg(text: str) -> float:
    """--explore: a share in (0, 1), or 0 / none for no exploration share."""
    return _number_or_off(text, upper_included=False)


def trust_region_arg(text: str) -> float:
    """--trust-region: a half-width in (0, 1], or 0 / none for a global search."""
    return _number_or_off(text, upper_included=True)


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


def _given_task_flags(parser: _Parser, argv: list[str]) -> dict[str, str]:
    """The task flags written on the command line (flag -> task), told from defaults by
    parsing once more with the task flags' defaults suppressed."""
    actions = {a: name for name, acts in parser.task_actions.items() for a in acts}
    defaults = {a: a.default for a in actions}
    try:
        for action in actions:
            action.default = argparse.SUPPRESS
        seen = parser.parse_args(argv)
    finally:
        for action, default in defaults.items():
            action.default = default
    given: dict[str, str] = {}
    for action, name in actions.items():
        if hasattr(seen, action.dest):
            flags = [f for f in action.option_strings if f.startswith("--")]
            given[(flags or action.option_strings or [action.dest])[0]] = name
    return given


def _resolve_task(args: argparse.Namespace, seed: int, parser: _Parser,
                  given: dict[str, str]) -> tuple[TaskEntry, TaskLike]:
    name = args.problem.strip()
    entry = find_task(parser.tasks, name)
    if entry is None:
        if name.lower() == _DEFAULT_PROBLEM:
            raise UsageError(f"--problem: no task named {_DEFAULT_PROBLEM!r} is registered; "
                             "install the package with 'pip install -e .' (the distill "
                             "package registers it) or pick a toy problem")
        raise UsageError(f"--problem: unknown problem {name!r} "
                         f"(valid: {', '.join(_task_names(parser.tasks))})")
    for flag, owner in given.items():
        if owner != entry.name:
            raise UsageError(f"{flag}: only used with --problem {owner}")
    if entry.name in parser.unusable:
        raise UsageError(parser.unusable[entry.name])
    try:
        task = entry.build(args, seed)
    except ValueError as e:
        raise UsageError(str(e)) from None
    return entry, task


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
    """The CLI's initial design size: the usual 2(d+1) Sobol points (the size BoTorch's
    multi-objective tutorials use), but no more than a quarter of the budget, and no fewer
    than d+1 unless that is more than half the budget: a run of 40 trials in a
    21-dimensional space is not all initial design, and one of 20 still gets 10 model
    proposals (and a hypervolume to show)."""
    return max(1, min(dim + 1, budget // 2), min(2 * (dim + 1), budget // 4))


def _journal_header(storage: Path) -> dict[str, Any]:
    """The header event of an existing journal ({} if it has none)."""
    try:
        events = Journal(storage).read()
    except ValueError as e:
        raise UsageError(f"--storage: {e}") from None
    return dict(events[0]) if events else {}


def _study_options(args: argparse.Namespace, entry: TaskEntry,
                   header: Mapping[str, Any] | None) -> dict[str, Any]:
    """The study's settings (``warp``, ``threshold_model``, ``trust_region``, ``explore``,
    ``front``), each from its flag when given, else from the journal of a resumed study
    (``header``), else the task's recommendation (:attr:`mobo.tasks.TaskEntry.study_options`;
    off where it has none)."""
    if header is None:
        options = {"warp": None, "threshold_model": False, "trust_region": None,
                   "explore": None, "front": None}
        options.update(entry.study_options)
    else:
        options = {"warp": header.get("warp"),
                   "threshold_model": header.get("threshold_model") is True,
                   "trust_region": header.get("trust_region"),
                   "explore": header.get("explore"), "front": header.get("front")}
    options.update(flag_overrides(args.warp, args.threshold_model, args.trust_region,
                                  args.explore, args.front))
    return options


def flag_overrides(warp: str | None, threshold_model: bool | None,
                   trust_region: float | None, explore: float | None = None,
                   front: str | None = None) -> dict[str, Any]:
    """The Study settings that flags give, as ``Study`` takes them: ``warp`` "none" (off)
    or a warp name, ``threshold_model`` a bool, ``trust_region`` a half-width or 0 (off),
    ``explore`` a share or 0 (off), ``front`` one of :data:`mobo.definition.FRONTS`;
    None: the flag was not given (the setting is left out)."""
    out: dict[str, Any] = {}
    if warp is not None:
        out["warp"] = None if warp == "none" else warp
    if threshold_model is not None:
        out["threshold_model"] = threshold_model
    if trust_region is not None:
        out["trust_region"] = trust_region or None  # 0: off
    if explore is not None:
        out["explore"] = explore or None  # 0: off
    if front is not None:
        out["front"] = front
    return out


def _settings_line(study: Study) -> str:
    """The proposer's opt-in settings in use, on one line ("" when none is)."""
    parts = []
    if study.trust_region is not None:
        parts.append(f"trust region {study.trust_region:g}")
    if study.explore is not None:
        parts.append(f"exploration share {study.explore:g}")
    if study.threshold_model:
        parts.append("threshold model")
    if study.warp is not None:
        parts.append(f"{study.warp} warp")
    if study.front is not None:
        parts.append(f"{study.front} front")
    return "settings: " + ", ".join(parts) if parts else ""


def _journal_seed(storage: Path, default: int) -> int:
    """The seed recorded in an existing journal (the task's data may depend on it)."""
    seed = _journal_header(storage).get("seed")
    return seed if isinstance(seed, int) and not isinstance(seed, bool) else default


def _run(args: argparse.Namespace, out: TextIO, parser: _Parser,
         given: dict[str, str]) -> int:
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
            # only a check that ray is installed: it is an optional extra, and heavy to import
            import ray  # noqa: F401
        except ImportError:
            raise UsageError("--backend ray: ray is not installed "
                             "(pip install 'mobo[ray]')") from None

    seed = args.seed if args.seed is not None else 0
    if resuming and args.seed is None:
        seed = _journal_seed(storage, seed)
    entry, task = _resolve_task(args, seed, parser, given)
    options = _study_options(args, entry, _journal_header(storage) if resuming else None)
    n_initial = args.n_initial
    if n_initial is None and not resuming:
        n_initial = default_n_initial(task.space.dim, args.budget)
    try:
        study = Study(task.space, list(task.objectives), constraints=list(task.constraints),
                      storage=storage, seed=args.seed if resuming else seed,
                      noisy=args.noisy or task.noisy, n_initial=n_initial, **options)
    except ValueError as e:
        raise UsageError(str(e)) from None

    with study:
        before = study.n_finished
        where = f"journal {study.storage}" if study.storage else "no journal (use --storage)"
        goals = ", ".join(f"{o.name} ({'max' if o.maximize else 'min'})"
                          for o in study.objectives)
        if study.constraints:
            goals += ", subject to " + ", ".join(_describe(c) for c in study.constraints)
        print(f"study: problem {entry.name}, {len(study.space.names)} parameters, objectives "
              f"{goals}, "
              f"seed {study.seed}, budget {args.budget}, {args.workers} worker(s) on {backend}; "
              f"{where}" + (f" (resumed with {before} finished trials)" if resuming else ""),
              file=out, flush=True)
        settings = _settings_line(study)
        if settings:
            print(settings, file=out, flush=True)
        extra = entry.header(task) if entry.header is not None else ""
        if extra:
            print(extra, file=out, flush=True)
        # only the black box goes to the workers: a Task's prepare and callbacks stay here
        # and need not pickle
        fn = task.fn if isinstance(task, Task) else task
        # optional (see mobo.tasks.TaskLike): tasks written before the hook lack it
        on_open = getattr(task, "on_open", None)
        try:
            if on_open is not None:
                on_open(study)
            if task.prepare is not None and before < args.budget:
                task.prepare(lambda msg: print(msg, flush=True))
            progress = _Progress(args.budget, before, out)
            study.optimize(fn, args.budget, workers=args.workers, backend=backend,
                           trial_timeout=args.trial_timeout,
                           gpus_per_trial=args.gpus_per_trial, address=args.address,
                           callbacks=[*task.callbacks, progress])
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
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = _build_parser(available_tasks())
    try:
        args = parser.parse_args(argv)
        given = _given_task_flags(parser, argv)
        return _run(args, out, parser, given)
    except UsageError as e:
        msg = " ".join(str(e).split())
        print(f"error: {msg}", file=sys.stderr, flush=True)
        return 2


if __name__ == "__main__":
    sys.exit(main())
