"""Tests of the task protocol and registry (mobo.tasks)."""

from __future__ import annotations

import argparse
import pickle
from collections.abc import Iterator, Mapping
from importlib.metadata import EntryPoint
from typing import Any

import numpy as np
import pytest

from mobo import tasks
from mobo.problems import PROBLEMS, Problem, get_problem
from mobo.space import Float, Space
from mobo.tasks import Task, TaskEntry, available_tasks, find_task, register_task
from mobo.trial import Objective

# a module-level entry, so that an entry point can name it (tests.mobo.test_tasks:LINE)
SPACE = Space([Float("x", 0.0, 1.0)])


def _line(params: Mapping[str, Any]) -> dict[str, float]:
    return {"f": float(params["x"]), "g": 1.0 - float(params["x"])}


def _build_line(args: argparse.Namespace, seed: int) -> Task:
    return Task(SPACE, [Objective("f"), Objective("g")], _line)


LINE = TaskEntry("line", "two objectives along a line", _build_line)
NOT_AN_ENTRY = object()


def _points(*points: tuple[str, str]) -> list[EntryPoint]:
    return [EntryPoint(name, value, tasks.ENTRY_POINT_GROUP) for name, value in points]


@pytest.fixture
def plugins(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[EntryPoint]]:
    """The entry points the registry sees: this list (empty unless a test fills it)."""
    points: list[EntryPoint] = []

    def entry_points(group: str) -> list[EntryPoint]:
        assert group == "mobo.tasks"
        return list(points)

    monkeypatch.setattr(tasks, "entry_points", entry_points)
    yield points


def test_task_wraps_a_callable_and_pickles_without_its_driver_parts() -> None:
    task = _build_line(argparse.Namespace(), 0)
    assert task({"x": 0.25}) == {"f": 0.25, "g": 0.75}
    assert task.constraints == [] and task.noisy is False
    assert task.prepare is None and task.callbacks == []
    assert pickle.loads(pickle.dumps(task.fn))({"x": 1.0}) == {"f": 1.0, "g": 0.0}


@pytest.mark.parametrize("kwargs, field", [
    ({"name": ""}, "name"),
    ({"name": "two words"}, "name"),
    ({"description": "two\nlines"}, "description"),
    ({"build": 3}, "build"),
    ({"add_arguments": "flags"}, "add_arguments"),
    ({"header": 1.0}, "header"),
])
def test_entry_fields_are_checked(kwargs: dict[str, Any], field: str) -> None:
    base: dict[str, Any] = {"name": "t", "description": "d", "build": _build_line}
    with pytest.raises(ValueError, match=f"^{field}:"):
        TaskEntry(**{**base, **kwargs})


def test_every_toy_problem_is_a_task_without_flags(plugins: list[EntryPoint]) -> None:
    found = available_tasks()
    assert list(found) == list(PROBLEMS)
    assert all(e.add_arguments is None and e.name == n for n, e in found.items())
    assert find_task(found, " ZDT-1 ") is found["zdt1"]
    assert find_task(found, "nonsense") is None


def test_toy_tasks_are_built_as_the_command_line_always_built_them(
        plugins: list[EntryPoint]) -> None:
    found = available_tasks()
    args = argparse.Namespace()
    zdt1 = found["zdt1"].build(args, 7)
    problem = get_problem("zdt1")
    assert isinstance(zdt1.fn, Problem) and zdt1.fn.name == "zdt1"
    assert zdt1.constraints == [] and not zdt1.noisy
    assert [(o.name, o.maximize, o.threshold) for o in zdt1.objectives] == [
        (n, False, float(r)) for n, r in zip(problem.objective_names, problem.ref_point,
                                             strict=True)]
    x = {"x0": 0.1, "x1": 0.2, "x2": 0.3, "x3": 0.4}
    assert zdt1(x) == problem(x)
    # constrained problems report their constraint values rather than failing
    c2 = found["c2dtlz2"].build(args, 0)
    assert [(c.name, c.lower, c.upper) for c in c2.constraints] == [("constraint_0", None, 0.0)]
    assert c2.fn.__func__ is Problem.metrics
    point = {f"x{i}": 0.9 for i in range(4)}
    assert set(c2(point)) == {"f0", "f1", "constraint_0"}
    assert found["branincurrin_noisy"].build(args, 0).noisy
    # the noise does not depend on the study seed
    noisy = [found["branincurrin_noisy"].build(args, s)({"x0": 0.3, "x1": 0.6}) for s in (0, 5)]
    assert noisy[0] == noisy[1]
    assert np.isfinite(list(noisy[0].values())).all()


def test_entry_points_are_listed_after_the_toy_problems(plugins: list[EntryPoint]) -> None:
    plugins += _points(("line", "tests.mobo.test_tasks:LINE"))
    found = available_tasks()
    assert list(found)[-1] == "line" and found["line"] is LINE


@pytest.mark.parametrize("value, reason", [
    ("no_such_module_for_mobo:ENTRY", "ModuleNotFoundError"),
    ("tests.mobo.test_tasks:MISSING", "AttributeError"),
    ("tests.mobo.test_tasks:NOT_AN_ENTRY", "not a mobo.tasks.TaskEntry"),
    ("tests.mobo.test_tasks:LINE", "named 'line', not 'broken'"),
])
def test_a_broken_entry_point_fails_only_when_built(plugins: list[EntryPoint], value: str,
                                                    reason: str) -> None:
    plugins += _points(("broken", value), ("line", "tests.mobo.test_tasks:LINE"))
    found = available_tasks()
    assert found["line"] is LINE and "zdt1" in found
    with pytest.raises(ValueError) as info:
        found["broken"].build(argparse.Namespace(), 0)
    message = str(info.value)
    assert message.startswith("--problem: task 'broken'") and value in message
    assert reason in message and "\n" not in message


def test_toy_problem_names_are_reserved(plugins: list[EntryPoint]) -> None:
    plugins += _points(("zdt1", "tests.mobo.test_tasks:NOT_AN_ENTRY"))
    found = available_tasks()
    assert found["zdt1"].build(argparse.Namespace(), 0).fn.name == "zdt1"
    with pytest.raises(ValueError, match="toy problem"):
        register_task(TaskEntry("ZDT1", "d", _build_line))


def test_register_task_adds_and_replaces(plugins: list[EntryPoint]) -> None:
    plugins += _points(("line", "no_such_module_for_mobo:ENTRY"))
    other = TaskEntry("line", "another line", _build_line)
    register_task(other)
    try:
        assert available_tasks()["line"] is other  # a registration replaces the plugin
        register_task(LINE)
        assert available_tasks()["line"] is LINE
    finally:
        tasks.unregister_task("line")
    with pytest.raises(ValueError, match="cannot be used"):
        available_tasks()["line"].build(argparse.Namespace(), 0)
    with pytest.raises(ValueError, match="TaskEntry"):
        register_task(NOT_AN_ENTRY)  # type: ignore[arg-type]
