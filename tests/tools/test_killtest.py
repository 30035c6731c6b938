"""Kill test: its checks catch what they claim to, and a short form of the real thing passes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mobo.journal import Journal
from mobo.problems import get_problem
from mobo.study import Study
from mobo.trial import Objective
from tools.killtest import (
    Launch,
    Phase,
    _tear_last_line,
    check,
    replay,
    report,
    run_killtest,
)


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished 6-trial study journal (the initial design only: no model fitting)."""
    problem = get_problem("branincurrin")
    path = tmp_path_factory.mktemp("ref") / "reference.jsonl"
    objectives = [
        Objective(name, threshold=float(r))
        for name, r in zip(problem.objective_names, problem.ref_point, strict=True)
    ]
    with Study(problem.space, objectives, storage=path, seed=0) as study:
        study.optimize(problem, 6)
    return path


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def write(path: Path, events: list[dict]) -> Path:
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    return path


def run_check(ref: Path, killed: Path, snapshots: dict | None = None, budget: int = 6) -> dict:
    result = check("branincurrin", budget, ref, killed, [], snapshots or {}, min_kills=0)
    return {c.name: c for c in result.checks}


def failed(checks: dict) -> list[str]:
    return [name for name, c in checks.items() if not c.passed]


def test_identical_journals_pass(reference: Path) -> None:
    checks = run_check(reference, reference)
    assert failed(checks) == []
    assert "no trial abandoned: the whole run equals the reference" in " ".join(checks)


def test_a_changed_value_is_caught(reference: Path, tmp_path: Path) -> None:
    events = lines(reference)
    tell = next(e for e in events if e["event"] == "tell" and e["number"] == 3)
    tell["values"]["f0"] += 1e-9
    checks = run_check(reference, write(tmp_path / "k", events))
    assert failed(checks) == [
        "every completed value equals a fresh evaluation of the problem",
        "no trial abandoned: the whole run equals the reference, trial by trial",
    ]
    assert "[3]" in checks["every completed value equals a fresh evaluation of the problem"].detail


def test_a_lost_result_is_caught(reference: Path, tmp_path: Path) -> None:
    events = [e for e in lines(reference) if not (e["event"] == "tell" and e["number"] == 5)]
    killed = write(tmp_path / "k", events)
    seen = {
        5: next(e["values"] for e in lines(reference) if e.get("number") == 5 and "values" in e)
    }
    bad = failed(run_check(reference, killed, seen))
    assert "every result completed before a kill is still there, unchanged" in bad
    assert "exactly 6 completed trials" in bad
    assert any(name.startswith("journal is consistent") for name in bad)  # 5 has no outcome


def test_duplicate_trial_numbers_are_caught(reference: Path, tmp_path: Path) -> None:
    events = lines(reference)
    ask = next(e for e in events if e["event"] == "ask" and e["number"] == 2)
    events.insert(events.index(ask) + 1, dict(ask))
    _, problems = replay(events)
    assert problems == ["line 5: ask of trial 2, expected 3"] or problems[0].endswith(
        "ask of trial 2, expected 3"
    )
    bad = failed(run_check(reference, write(tmp_path / "k", events)))
    assert any(name.startswith("journal is consistent") for name in bad)


def test_a_second_outcome_is_caught(reference: Path, tmp_path: Path) -> None:
    events = lines(reference)
    events.append({"event": "abandon", "number": 1, "error": "x"})
    _, problems = replay(events)
    assert problems and "already completed" in problems[0]
    assert any(
        name.startswith("journal is consistent")
        for name in failed(run_check(reference, write(tmp_path / "k", events)))
    )


def test_a_bad_retry_is_caught(reference: Path, tmp_path: Path) -> None:
    """Abandon trial 4 and retry it as trial 6 -- once with its parameters (fine), once with
    different ones (caught)."""
    events = lines(reference)
    tell4 = next(e for e in events if e["event"] == "tell" and e["number"] == 4)
    events[events.index(tell4)] = {"event": "abandon", "number": 4, "error": "killed"}
    ask4 = next(e for e in events if e["event"] == "ask" and e["number"] == 4)
    retry = dict(ask4, number=6, source="requeue", requeued_from=4)
    retry.pop("design_index", None)
    good = [*events, retry, dict(tell4, number=6)]
    checks = run_check(reference, write(tmp_path / "good", good))
    assert failed(checks) == []
    assert "trials before the first abandoned one (0..3)" in " ".join(checks)
    params = dict(retry["params"], x0=0.5)
    values = get_problem("branincurrin")(params)
    bad = [*events, dict(retry, params=params), dict(tell4, number=6, values=values)]
    assert set(failed(run_check(reference, write(tmp_path / "bad", bad)))) == {
        "every abandoned trial is asked again with the same parameters",
        "each initial-design row completed exactly once, with the reference's parameters",
        "the completed results, abandoned trials left out, equal the reference's",
    }


def test_tear_last_line_only_cuts_a_complete_last_line(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    path = tmp_path / "j"
    assert _tear_last_line(path, rng) == ""  # no file
    Journal(path).append({"event": "a", "n": 1})
    Journal(path).append({"event": "b", "n": 2})
    first = path.read_bytes().split(b"\n")[0] + b"\n"
    note = _tear_last_line(path, rng)
    data = path.read_bytes()
    assert note and data.startswith(first) and len(data) < 2 * len(first) + 1
    assert not data.endswith(b"\n") or data == first
    if not data.endswith(b"\n"):
        assert _tear_last_line(path, rng) == ""  # already cut: nothing more to lose
        assert path.read_bytes() == data


@pytest.mark.slow
def test_short_kill_test_passes(tmp_path: Path) -> None:
    """The real thing, small: 8 trials (6 initial + 2 model proposals), 5+ kills."""
    test = run_killtest(
        "branincurrin",
        8,
        0,
        phases=[Phase("between trials", 3, 0.0, "between"), Phase("random", 2, 0.6, "random")],
        kill_seed=3,
        workdir=tmp_path,
    )
    text = report(test, "short form")
    assert test.passed, text
    assert sum(p.kills for p in test.phases) >= 5
    for phase in test.phases:
        finished = [launch for launch in phase.launches if not launch.killed]
        assert len(finished) == 1 and finished[0].returncode == 0
        assert all(isinstance(launch, Launch) for launch in phase.launches)
    assert "**Result: PASS**" in text and text.count("| pass |") >= 16
