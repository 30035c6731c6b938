"""Tasks: what a study optimises, and the registry ``python -m mobo.run`` finds them in.

A *task* is everything a :class:`mobo.study.Study` run needs besides its settings: the
search ``space``, the ``objectives``, the outcome ``constraints`` (possibly none), whether
the metrics are ``noisy``, the black box itself (called with one trial's parameters, it
returns the trial's metrics by name), an optional ``prepare(progress)`` run once before the
first trial (e.g. to download data or fine-tune a teacher; ``progress`` prints a line),
optional ``callbacks`` run after each finished trial with the study and the trial, and an
optional ``on_open(study)`` hook run once as soon as the study is opened, before any trial
and whether the run is fresh or resumed (e.g. to put right files that a killed run left
out of step with its journal: after a resume the callbacks would only run once a new trial
finishes, or never when the budget is already spent).
:class:`TaskLike` states this as a protocol; :class:`Task` is a plain implementation that
wraps any callable.

A *task entry* (:class:`TaskEntry`) is what the command line finds by name: a one-line
description, optionally the task's own command-line flags (``add_arguments`` fills an
argument group of its own), and ``build(args, seed)``, which turns the parsed command line
into a task. ``build`` reports bad input by raising :class:`ValueError` with a one-line
message that starts with the flag it concerns; the command line prints it as ``error:``
and exits with status 2 before any journal is touched.

:func:`available_tasks` lists, in this order: the toy problems of :mod:`mobo.problems`
(one entry each, without flags), the entries other installed packages declare in the
``mobo.tasks`` entry-point group (the mechanism of the PyPA entry points specification,
read with :func:`importlib.metadata.entry_points`), and those added with
:func:`register_task`. The toy problems' names are reserved. An entry point that cannot be
loaded is listed under its name with a ``build`` that raises a one-line error naming it,
so it is reported only when that task is selected and never hides the others.

A package declares a task like this (``mypkg/task.py``)::

    import argparse
    from functools import partial

    from mobo.space import Float, Space
    from mobo.tasks import Task, TaskEntry
    from mobo.trial import Objective

    def _line(params, scale):  # a module-level function pickles into worker processes
        return {"f": scale * params["x"], "g": 1.0 - params["x"]}

    def _add_arguments(group: argparse._ArgumentGroup) -> None:
        group.add_argument("--scale", type=float, default=None, help="slope of f")

    def _build(args: argparse.Namespace, seed: int) -> Task:
        scale = 1.0 if args.scale is None else args.scale
        if not scale > 0:
            raise ValueError(f"--scale: must be > 0, got {args.scale}")
        return Task(Space([Float("x", 0.0, 1.0)]), [Objective("f"), Objective("g")],
                    partial(_line, scale=scale))

    ENTRY = TaskEntry("line", "two objectives along a line", _build, _add_arguments)

and registers it in its ``pyproject.toml``::

    [project.entry-points."mobo.tasks"]
    line = "mypkg.task:ENTRY"

after which ``python -m mobo.run --problem line --scale 2`` runs it.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Protocol

from mobo.problems import PROBLEMS, get_problem
from mobo.space import Space
from mobo.study import Study
from mobo.trial import Constraint, Objective, Trial

# the Study arguments a task may recommend (TaskEntry.study_options)
STUDY_OPTIONS: tuple[str, ...] = ("warp", "threshold_model", "trust_region", "explore",
                                 "front")

__all__ = [
    "ENTRY_POINT_GROUP",
    "Task",
    "TaskEntry",
    "TaskLike",
    "available_tasks",
    "find_task",
    "register_task",
    "unregister_task",
]

ENTRY_POINT_GROUP = "mobo.tasks"

Progress = Callable[[str], None]
Callback = Callable[[Study, Trial], None]
OnOpen = Callable[[Study], None]


class TaskLike(Protocol):
    """What a study run needs: space, goals and the black box (see the module docstring).

    An ``on_open`` attribute (an :data:`OnOpen` or None) is optional: a task without one is
    run as if it were None, so tasks written before the hook existed keep working.
    """

    @property
    def space(self) -> Space: ...

    @property
    def objectives(self) -> Sequence[Objective]: ...

    @property
    def constraints(self) -> Sequence[Constraint]: ...

    @property
    def noisy(self) -> bool: ...

    @property
    def prepare(self) -> Callable[[Progress], None] | None: ...

    @property
    def callbacks(self) -> Sequence[Callback]: ...

    def __call__(self, params: Mapping[str, Any]) -> Mapping[str, float]: ...


@dataclass
class Task:
    """A task made of parts: ``fn`` is the black box.

    Only ``fn`` needs to pickle (it is what runs in worker processes); ``prepare``,
    ``callbacks`` and ``on_open`` run in the process that drives the study.
    """

    space: Space
    objectives: list[Objective]
    fn: Callable[[Mapping[str, Any]], Mapping[str, float]]
    constraints: list[Constraint] = field(default_factory=list)
    noisy: bool = False
    prepare: Callable[[Progress], None] | None = None
    callbacks: list[Callback] = field(default_factory=list)
    on_open: OnOpen | None = None

    def __call__(self, params: Mapping[str, Any]) -> Mapping[str, float]:
        return self.fn(params)


@dataclass(frozen=True)
class TaskEntry:
    """A task as the command line knows it.

    Attributes:
        name: the ``--problem`` value that selects it (matched ignoring case and ``-``).
        description: one line, shown by ``--help``.
        build: ``(args, seed) -> task``; ``args`` is the whole parsed command line (the
            common flags, e.g. ``args.storage``, and every task's flags), ``seed`` the
            study seed. Raises :class:`ValueError` with a one-line message naming the flag
            for bad input.
        add_arguments: adds the task's own flags to the argument group it is given; they
            are refused when another task is selected.
        header: text printed on its own line after the run's ``study:`` line (none when
            absent or empty).
        study_options: the study settings recommended for the task, which ``python -m
            mobo.run`` uses for a new study unless a flag says otherwise: any of ``warp``,
            ``threshold_model``, ``trust_region``, ``explore`` and ``front``
            (:class:`mobo.study.Study`'s arguments of those names). Default: none (every
            one off).
    """

    name: str
    description: str
    build: Callable[[argparse.Namespace, int], TaskLike]
    add_arguments: Callable[[argparse._ArgumentGroup], None] | None = None
    header: Callable[[TaskLike], str] | None = None
    study_options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name or any(c.isspace() for c in self.name):
            raise ValueError(f"name: expected a non-empty word, got {self.name!r}")
        if not isinstance(self.description, str) or "\n" in self.description.strip():
            raise ValueError(f"description: expected one line, got {self.description!r}")
        if not callable(self.build):
            raise ValueError(f"build: {self.build!r} is not callable")
        for name in ("add_arguments", "header"):
            value = getattr(self, name)
            if value is not None and not callable(value):
                raise ValueError(f"{name}: {value!r} is not callable")
        if not isinstance(self.study_options, Mapping):
            raise ValueError(f"study_options: expected a mapping, got {self.study_options!r}")
        unknown = sorted(set(self.study_options) - set(STUDY_OPTIONS))
        if unknown:
            raise ValueError(f"study_options: unknown option(s) {unknown} "
                             f"(valid: {', '.join(STUDY_OPTIONS)})")


def _toy_task(name: str, args: argparse.Namespace, seed: int) -> Task:
    """A toy problem as a task: every objective minimised, the reference point as the
    thresholds. The problem's noise does not depend on the study seed."""
    problem = get_problem(name)
    objectives = [Objective(o, threshold=float(r))
                  for o, r in zip(problem.objective_names, problem.ref_point, strict=True)]
    noisy = problem.noise_std is not None
    if problem.n_constraints:
        # constrained problems report their constraint values (feasible iff <= 0), which
        # the study models, instead of failing at infeasible points
        constraints = [Constraint(c, upper=0.0) for c in problem.constraint_names]
        return Task(problem.space, objectives, problem.metrics, constraints=constraints,
                    noisy=noisy)
    return Task(problem.space, objectives, problem, noisy=noisy)


_BUILT_IN: dict[str, TaskEntry] = {
    name: TaskEntry(name, "toy problem of mobo.problems (objectives minimised below its "
                    "reference point)", partial(_toy_task, name))
    for name in PROBLEMS
}

# tasks added by register_task, by name
_REGISTERED: dict[str, TaskEntry] = {}


def _key(name: str) -> str:
    """Names match as mobo.problems.get_problem matches them: ignoring case and ``-``."""
    return name.strip().lower().replace("-", "")


def _unloadable(name: str, target: str, reason: str) -> TaskEntry:
    message = (f"--problem: task {name!r} (entry point {target!r} in group "
               f"{ENTRY_POINT_GROUP!r}) cannot be used: {reason}")

    def build(args: argparse.Namespace, seed: int) -> TaskLike:
        raise ValueError(message)

    return TaskEntry(name, f"cannot be used: {' '.join(reason.split())}", build)


def _load(point: EntryPoint) -> TaskEntry:
    try:
        entry = point.load()
    except Exception as e:  # a broken plugin must not take the other tasks down with it
        return _unloadable(point.name, point.value, f"{type(e).__name__}: {e}")
    if not isinstance(entry, TaskEntry):
        return _unloadable(point.name, point.value,
                           f"it is a {type(entry).__name__}, not a mobo.tasks.TaskEntry")
    if _key(entry.name) != _key(point.name):
        return _unloadable(point.name, point.value,
                           f"the entry is named {entry.name!r}, not {point.name!r}")
    return entry


def _plugin_entries(points: Iterable[EntryPoint]) -> dict[str, TaskEntry]:
    taken = {_key(name) for name in _BUILT_IN}
    out: dict[str, TaskEntry] = {}
    for point in points:
        if _key(point.name) in taken:
            continue  # the toy problems keep their names (first of duplicates wins too)
        taken.add(_key(point.name))
        out[point.name] = _load(point)
    return out


def available_tasks() -> dict[str, TaskEntry]:
    """Every task the command line can run, by name: toy problems, then installed
    plugins (entry-point group ``mobo.tasks``), then those added with :func:`register_task`
    (which replace a plugin of the same name)."""
    tasks = dict(_BUILT_IN)
    plugins = _plugin_entries(entry_points(group=ENTRY_POINT_GROUP))
    registered = {_key(name) for name in _REGISTERED}
    tasks.update((n, e) for n, e in plugins.items() if _key(n) not in registered)
    tasks.update(_REGISTERED)
    return tasks


def find_task(tasks: Mapping[str, TaskEntry], name: str) -> TaskEntry | None:
    """The entry of ``tasks`` that ``name`` selects (ignoring case and ``-``), or None."""
    key = _key(name)
    for candidate, entry in tasks.items():
        if _key(candidate) == key:
            return entry
    return None


def register_task(entry: TaskEntry) -> None:
    """Make ``entry`` available to the command line in this process (e.g. in tests).

    Raises:
        ValueError: ``entry`` is not a TaskEntry, or its name is a toy problem's.
    """
    if not isinstance(entry, TaskEntry):
        raise ValueError(f"entry: expected a TaskEntry, got {type(entry).__name__}")
    if find_task(_BUILT_IN, entry.name) is not None:
        raise ValueError(f"entry: {entry.name!r} is the name of a toy problem")
    unregister_task(entry.name)
    _REGISTERED[entry.name] = entry


def unregister_task(name: str) -> None:
    """Undo :func:`register_task` for ``name`` (nothing happens if it is not registered)."""
    for candidate in [n for n in _REGISTERED if _key(n) == _key(name)]:
        del _REGISTERED[candidate]
