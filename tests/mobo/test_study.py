"""Tests of mobo.study: ask/tell bookkeeping, signs and references, failures, the journal."""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import os
import signal
from pathlib import Path

import numpy as np
import pytest

from mobo import __version__, acquisition
from mobo.problems import get_problem
from mobo.space import Categorical, Float, Int, Space
from mobo.study import BackendError, Study
from mobo.trial import Constraint, Objective, Trial
from mobo.volume import hypervolume

# ---------------------------------------------------------------------------- toy functions


def _space2() -> Space:
    return Space([Float("a", 0.0, 1.0), Float("b", 0.0, 1.0)])


def _two_objectives(p: dict) -> dict[str, float]:
    """A convex 2-objective front along a + b trade-offs (minimise both)."""
    a, b = p["a"], p["b"]
    return {"f": a, "g": (1.0 - a) ** 2 + b}


def _branin_currin(p: dict) -> dict[str, float]:
    """BraninCurrin on [0, 1]^2 (both minimised); reference point (18, 6)."""
    x0, x1 = p["a"], p["b"]
    u, v = 15.0 * x0 - 5.0, 15.0 * x1
    t1 = v - 5.1 / (4 * math.pi**2) * u**2 + 5.0 / math.pi * u - 6.0
    branin = t1**2 + 10.0 * (1.0 - 1.0 / (8 * math.pi)) * math.cos(u) + 10.0
    x1c = max(x1, 1e-10)
    factor = 1.0 - math.exp(-1.0 / (2.0 * x1c))
    num = 2300 * x0**3 + 1900 * x0**2 + 2092 * x0 + 60
    den = 100 * x0**3 + 500 * x0**2 + 4 * x0 + 20
    return {"f0": branin, "f1": factor * num / den}


def _tell_all(study: Study, fn, n: int) -> list[Trial]:
    out = []
    for _ in range(n):
        t = study.ask()
        study.tell(t, fn(t.params))
        out.append(t)
    return out


def _events(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


# ---------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"objectives": []}, "objectives"),
        ({"objectives": [Objective("f"), Objective("f")]}, "duplicate"),
        ({"objectives": [3]}, "objectives"),
        ({"seed": -1}, "seed"),
        ({"seed": 1.5}, "seed"),
        ({"n_initial": 0}, "n_initial"),
        ({"noisy": "no"}, "noisy"),
    ],
)
def test_study_validation(kwargs: dict, field: str) -> None:
    args = {"objectives": ["f", "g"], **kwargs}
    objectives = args.pop("objectives")
    with pytest.raises(ValueError, match=field):
        Study(_space2(), objectives, **args)


def test_storage_validation(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="directory"):
        Study(_space2(), ["f", "g"], storage=tmp_path)
    with pytest.raises(ValueError, match="does not exist"):
        Study(_space2(), ["f", "g"], storage=tmp_path / "missing" / "j.jsonl")
    with pytest.raises(ValueError, match="no study journal"):
        Study.load(tmp_path / "nothing.jsonl")


# ---------------------------------------------------------------------------- ask / tell


def test_initial_design_is_seeded_sobol() -> None:
    space = Space([Float("a", 0.0, 1.0), Int("k", 1, 5), Categorical("c", ["x", "y", "z"])])
    study = Study(space, ["f"], seed=7)
    assert study.n_initial == 2 * (space.dim + 1) == 12
    trials = [study.ask() for _ in range(study.n_initial)]
    assert [t.number for t in trials] == list(range(12))
    assert all(t.source == "sobol" and t.status == "running" for t in trials)
    expected = space.sobol(12, 7)
    for t, row in zip(trials, expected, strict=True):
        assert t.params == space.decode(row)
        assert isinstance(t.params["k"], int) and t.params["c"] in ("x", "y", "z")
        assert t.seed == 7 and t.version == __version__ and t.started is not None


def test_ask_tell_flow_and_extra_metrics() -> None:
    study = Study(_space2(), ["f", "g"], seed=0)
    t = study.ask()
    assert study.trials == [t] and t.status == "running" and not t.done
    values = _two_objectives(t.params)
    returned = study.tell(t, {**values, "f1": np.float32(0.5), "inference_time": float("nan")})
    assert returned is t and t.status == "completed" and t.done
    assert t.values["f"] == values["f"] and t.values["g"] == values["g"]
    assert t.values["f1"] == 0.5 and t.values["inference_time"] is None
    assert t.duration is not None and t.duration >= 0 and t.finished >= t.started
    t2 = study.ask()
    study.tell(t2.number, _two_objectives(t2.params))  # by number
    assert study.n_completed == 2 and study.n_finished == 2


def test_maximise_and_threshold_signs() -> None:
    objectives = [Objective("acc", maximize=True, threshold=50.0),
                  Objective("size", threshold=10.0)]
    study = Study(_space2(), objectives, seed=0)
    assert study.ref_point == {"acc": 50.0, "size": 10.0}
    reported = [(70.0, 8.0), (60.0, 4.0), (55.0, 9.0), (40.0, 1.0), (80.0, 12.0)]
    trials = []
    for acc, size in reported:
        t = study.ask()
        study.tell(t, {"acc": acc, "size": size})
        trials.append(t)
    # (55, 9) is dominated by (60, 4); (40, 1) is below the EM threshold and (80, 12) over
    # the size threshold: both still completed observations, and on the unfiltered front.
    assert all(t.status == "completed" for t in trials)
    assert {t.number for t in study.pareto_front(within_thresholds=False)} == {0, 1, 3, 4}
    assert {t.number for t in study.pareto_front()} == {0, 1}
    assert study.pareto_front()[0].values["acc"] == 70.0  # user terms, not negated
    # internal minimisation: acc -> -acc, ref -> (-50, 10); only (70,8) and (60,4) count
    Y = np.array([[-a, s] for a, s in reported])
    expected = hypervolume(Y, np.array([-50.0, 10.0]))
    assert math.isclose(study.hypervolume(), expected)
    assert math.isclose(expected, 20 * 2 + 10 * 4)  # the two boxes, by hand
    # a user-supplied reference in user terms, by name or in order
    assert math.isclose(study.hypervolume({"acc": 0.0, "size": 20.0}),
                        hypervolume(Y, np.array([0.0, 20.0])))
    assert math.isclose(study.hypervolume([0.0, 20.0]), study.hypervolume({"acc": 0, "size": 20}))
    with pytest.raises(ValueError, match="ref"):
        study.hypervolume({"acc": 0.0})


def test_pareto_front_matches_brute_force() -> None:
    rng = np.random.default_rng(3)
    study = Study(_space2(), ["f", "g", "h"], seed=1, n_initial=40)
    Y = rng.integers(0, 5, size=(40, 3)).astype(float)  # many ties and duplicates
    for y in Y:
        study.tell(study.ask(), dict(zip("fgh", y, strict=True)))
    front = {t.number for t in study.pareto_front()}
    brute = {i for i in range(len(Y))
             if not any(np.all(Y[j] <= Y[i]) and np.any(Y[j] < Y[i]) for j in range(len(Y)))}
    assert front == brute


@pytest.mark.parametrize(
    "values, needle",
    [
        ({"f": float("nan"), "g": 1.0}, "'f' is nan"),
        ({"f": 1.0, "g": float("-inf")}, "'g' is -inf"),
        ({"f": 1.0}, "missing objective 'g'"),
        ({"f": "high", "g": 1.0}, "'f' is not a number"),
        ({"f": None, "g": 1.0}, "'f' is not a number"),
    ],
)
def test_bad_values_are_recorded_as_failed(values: dict, needle: str) -> None:
    study = Study(_space2(), ["f", "g"], seed=0)
    t = study.ask()
    study.tell(t, values)
    assert t.status == "failed" and needle in t.error
    assert study.n_failed == 1 and study.n_completed == 0 and study.pareto_front() == []


def test_failed_flag_and_misuse() -> None:
    study = Study(_space2(), ["f", "g"], seed=0)
    t = study.ask()
    study.tell(t, failed=True, error="OutOfMemoryError: CUDA out of memory\n  at line 3")
    assert t.status == "failed" and t.error == "OutOfMemoryError: CUDA out of memory at line 3"
    with pytest.raises(ValueError, match="already failed"):
        study.tell(t, {"f": 1.0, "g": 1.0})
    with pytest.raises(ValueError, match="unknown trial"):
        study.tell(5, {"f": 1.0, "g": 1.0})
    with pytest.raises(ValueError, match="trial"):
        study.tell("0", {"f": 1.0, "g": 1.0})
    t2 = study.ask()
    with pytest.raises(ValueError, match="values"):
        study.tell(t2)
    with pytest.raises(ValueError, match="values"):
        study.tell(t2, [1.0, 2.0])
    assert t2.status == "running"
    study.tell(t2, failed=True)
    assert t2.error == "failed"
    with pytest.raises(ValueError, match="already failed"):
        study.abandon(t2)


def test_abandoned_params_are_asked_again_first() -> None:
    study = Study(_space2(), ["f", "g"], seed=0)
    a, b, c = study.ask(), study.ask(), study.ask()
    study.abandon(b, error="worker died")
    study.abandon(a)
    assert a.status == b.status == "abandoned" and b.error == "worker died"
    with pytest.raises(ValueError, match="already abandoned"):
        study.tell(a, {"f": 1.0, "g": 1.0})
    again_b, again_a, fresh = study.ask(), study.ask(), study.ask()
    assert (again_b.number, again_a.number, fresh.number) == (3, 4, 5)
    assert again_b.params == b.params and again_b.source == "requeue"
    assert again_a.params == a.params
    # the design continues where it was: the 4th Sobol row, not a repeat of the 3rd
    assert fresh.source == "sobol" and fresh.params == study.space.decode(
        study.space.sobol(4, 0)[3])
    assert c.status == "running"
    assert study.n_finished == 0


def test_reference_inferred_once_after_initial_design(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    study = Study(_space2(), ["f", Objective("g", threshold=3.0)], seed=2, n_initial=4,
                  storage=path)
    trials = [study.ask() for _ in range(4)]
    for t in trials[:3]:
        study.tell(t, _two_objectives(t.params))
    assert study.ref_point is None and math.isnan(study.hypervolume())
    # the last design point is still running: the reference waits, more Sobol points come
    extra = study.ask()
    assert extra.source == "sobol"
    study.tell(trials[3], _two_objectives(trials[3].params))
    study.tell(extra, _two_objectives(extra.params))
    study.ask()  # the first model proposal infers the reference
    f = np.array([t.values["f"] for t in study.trials if t.status == "completed"])
    assert study.ref_point["g"] == 3.0
    assert math.isclose(study.ref_point["f"], f.max() + 0.1 * (f.max() - f.min()))
    ref_events = [e for e in _events(path) if e["event"] == "ref"]
    assert len(ref_events) == 1 and ref_events[0]["inferred"] == ["f"]
    before = study.ref_point
    t = study.trials[-1]
    study.tell(t, {"f": 100.0, "g": 1.0})  # a far worse point does not move it
    study.tell(study.ask(), {"f": -5.0, "g": 1.0})
    assert study.ref_point == before
    assert len([e for e in _events(path) if e["event"] == "ref"]) == 1
    study.close()
    assert Study.load(path).ref_point == before


def test_maximised_reference_inference() -> None:
    study = Study(_space2(), [Objective("acc", maximize=True), "size"], seed=0, n_initial=3)
    for acc, size in [(60.0, 3.0), (70.0, 5.0), (80.0, 9.0)]:
        study.tell(study.ask(), {"acc": acc, "size": size})
    study.ask()
    # nadir + 10% of the range, in minimisation terms: acc 60 - 2, size 9 + 0.6
    assert study.ref_point == pytest.approx({"acc": 58.0, "size": 9.6})


# ---------------------------------------------------------------------------- model phase


def test_model_phase_determinism_and_distinct_pending() -> None:
    def run(seed: int) -> list[dict]:
        study = Study(_space2(), ["f", "g"], seed=seed, n_initial=5)
        trials = _tell_all(study, _two_objectives, 7)
        pending = [study.ask() for _ in range(3)]  # asked without a tell
        assert [t.source for t in trials[5:] + pending] == ["model"] * 5
        assert trials[-1].model_state is not None and "fit" in trials[-1].timings
        return [t.params for t in trials + pending]

    first, second = run(11), run(11)
    assert first == second
    pending = first[-3:]
    assert all(p != q for p, q in itertools.combinations(pending, 2))
    other = Study(_space2(), ["f", "g"], seed=12, n_initial=5)
    assert [other.ask().params for _ in range(5)] != first[:5]


def test_failed_and_pending_reach_the_proposer(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict = {}
    original = acquisition.Proposer.propose

    def spy(self, X, Y, ref, **kw):
        seen.update(X=X, Y=Y, ref=ref, state=kw["rng"].bit_generator.state, **kw)
        return original(self, X, Y, ref, **kw)

    monkeypatch.setattr(acquisition.Proposer, "propose", spy)
    study = Study(_space2(), [Objective("f", maximize=True, threshold=-1.0),
                              Objective("g", threshold=1.0)], seed=4, n_initial=4)
    design = [study.ask() for _ in range(4)]
    study.tell(design[0], {"f": 0.3, "g": 0.5})
    study.tell(design[1], {"f": 0.7, "g": 0.2})
    study.tell(design[2], failed=True, error="diverged")
    # design[3] is still running
    t = study.ask()
    assert t.source == "model"
    np.testing.assert_allclose(seen["Y"], [[-0.3, 0.5], [-0.7, 0.2]])
    np.testing.assert_allclose(seen["ref"], [1.0, 1.0])
    np.testing.assert_allclose(seen["X"], study.space.encode_many(
        [design[0].params, design[1].params]))
    np.testing.assert_allclose(seen["X_failed"], study.space.encode_many([design[2].params]))
    np.testing.assert_allclose(seen["X_pending"], study.space.encode_many([design[3].params]))
    assert seen["warm_start"] is None
    # the first model proposal draws from the stream [seed, 0]
    assert seen["state"] == np.random.default_rng([4, 0]).bit_generator.state
    study.tell(t, {"f": 0.5, "g": 0.1})
    study.ask()
    assert seen["warm_start"] == t.model_state  # the previous fit warm-starts the next


def test_short_branin_currin_run_beats_sobol() -> None:
    budget = 14  # 6 Sobol points, then 8 proposals
    study = Study(_space2(), [Objective("f0", threshold=18.0), Objective("f1", threshold=6.0)],
                  seed=0)
    study.optimize(_branin_currin, budget)
    assert study.n_completed == budget
    sobol = Study(_space2(), [Objective("f0", threshold=18.0), Objective("f1", threshold=6.0)],
                  seed=0, n_initial=budget)
    _tell_all(sobol, _branin_currin, budget)
    assert all(t.source == "sobol" for t in sobol.trials)
    max_hv = 59.36011874867746  # BraninCurrin's maximum w.r.t. (18, 6)
    assert study.hypervolume() > max(2.0 * sobol.hypervolume(), 0.65 * max_hv)


# ---------------------------------------------------------------------------- journal


def _snapshot(study: Study) -> list[tuple]:
    return [(t.number, t.params, t.status, t.values, t.error, t.source) for t in study.trials]


def test_resume_restores_state_and_continues(tmp_path: Path) -> None:
    path = tmp_path / "study.jsonl"
    study = Study(_space2(), ["f", "g"], storage=path, seed=5, n_initial=10)
    assert not path.exists()  # nothing is written before the first event
    _tell_all(study, _two_objectives, 5)
    bad = study.ask()
    study.tell(bad, {"f": float("nan"), "g": 1.0})
    gone = study.ask()
    running = study.ask()
    study.abandon(gone)
    snap = _snapshot(study)
    study.close()

    loaded = Study.load(path)
    assert loaded.seed == 5 and loaded.n_initial == 10 and loaded.space == study.space
    assert [o.to_dict() for o in loaded.objectives] == [o.to_dict() for o in study.objectives]
    # the trial left running belongs to a dead process: abandoned, with an event
    assert _snapshot(loaded)[:-1] == snap[:-1]
    assert loaded.trials[running.number].status == "abandoned"
    assert _events(path)[-1] == {**_events(path)[-1], "event": "abandon",
                                 "number": running.number}
    assert loaded.trials[bad.number].status == "failed"
    assert "nan" in loaded.trials[bad.number].error
    # re-proposed first, in the order abandoned, with new numbers
    a, b = loaded.ask(), loaded.ask()
    assert (a.number, a.params) == (len(snap), gone.params)
    assert (b.number, b.params) == (len(snap) + 1, running.params)
    loaded.close()

    # opening through the constructor with the same definition also resumes
    again = Study(_space2(), ["f", "g"], storage=path, seed=5)
    assert len(again.trials) == len(snap) + 2
    assert {e["event"] for e in _events(path)} == {"study", "ask", "tell", "fail", "abandon"}
    header = _events(path)[0]
    assert header["seed"] == 5 and header["version"] == __version__
    assert header["space"] == _space2().to_dict()
    again.close()


def test_resume_proposes_what_an_uninterrupted_study_would(tmp_path: Path) -> None:
    n = 9
    straight = Study(_space2(), ["f", "g"], seed=3, n_initial=4)
    _tell_all(straight, _two_objectives, n)

    path = tmp_path / "j.jsonl"
    first = Study(_space2(), ["f", "g"], seed=3, n_initial=4, storage=path)
    _tell_all(first, _two_objectives, 6)
    first.close()
    resumed = Study.load(path)
    _tell_all(resumed, _two_objectives, n - 6)
    assert [t.params for t in resumed.trials] == [t.params for t in straight.trials]
    assert [t.values for t in resumed.trials] == [t.values for t in straight.trials]
    resumed.close()


@pytest.mark.parametrize(
    "change, needle",
    [
        ({"space": Space([Float("a", 0.0, 1.0), Float("b", 0.0, 2.0)])}, "space"),
        ({"objectives": ["f", Objective("g", maximize=True)]}, "objectives"),
        ({"objectives": ["f"]}, "objectives"),
        ({"seed": 6}, "seed"),
        ({"noisy": True}, "noisy"),
        ({"n_initial": 3}, "n_initial"),
    ],
)
def test_mismatched_journal_is_refused_untouched(tmp_path: Path, change: dict,
                                                 needle: str) -> None:
    path = tmp_path / "j.jsonl"
    study = Study(_space2(), ["f", "g"], storage=path, seed=5, n_initial=4)
    _tell_all(study, _two_objectives, 2)
    study.ask()  # left running
    study.close()
    before = path.read_bytes()
    kwargs = {"space": _space2(), "objectives": ["f", "g"], "seed": 5, **change}
    with pytest.raises(ValueError, match=needle):
        Study(kwargs.pop("space"), kwargs.pop("objectives"), storage=path, **kwargs)
    assert path.read_bytes() == before


def test_read_is_read_only_and_keeps_running_trials(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    writer = Study(_space2(), ["f", "g"], storage=path, seed=5, n_initial=4)
    _tell_all(writer, _two_objectives, 5)  # past the design: a reference point is inferred
    running = writer.ask()
    # the writer still holds the journal's lock: reading must neither need nor take it
    with open(path, "ab") as f:
        f.write(b'{"event": "tell", "num')  # a torn last line, as a crash mid-append leaves
    before = path.read_bytes()
    with pytest.warns(UserWarning, match="torn last line"):
        view = Study.read(path)
    assert path.read_bytes() == before
    assert view.storage is None
    assert _snapshot(view) == _snapshot(writer)
    assert view.trials[running.number].status == "running"
    assert view.ref_point == writer.ref_point and view.hypervolume() == writer.hypervolume()
    writer.close()
    for bad, needle in ((tmp_path / "missing.jsonl", "no study journal"),
                        (tmp_path, "no study journal")):
        with pytest.raises(ValueError, match=needle):
            Study.read(bad)
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="holds no events"):
        Study.read(empty)


def _full_state(study: Study) -> dict:
    """Everything a resumed study is made of, less the clock of the events it wrote itself."""
    trials = [dataclasses.asdict(t) for t in study.trials]
    for t in trials:
        t["finished"] = t["duration"] = None
    return {"trials": trials, "ref": study.ref_point, "seed": study.seed,
            "n_initial": study.n_initial, "x": [x.tolist() for x in study._x],
            "requeue": list(study._requeue), "design": study._design_index,
            "n_sobol": study._n_sobol, "model_state": study._last_model_state}


def _without_clock(path: Path) -> list[dict]:
    return [{k: v for k, v in e.items() if k not in ("time", "duration", "timings")}
            for e in _events(path)]


def test_the_three_ways_to_open_a_journal_agree(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    writer = Study(_space2(), ["f", "g"], storage=path, seed=2, n_initial=4)
    _tell_all(writer, _two_objectives, 5)  # past the design: a reference and a model trial
    writer.tell(writer.ask(), failed=True, error="boom")
    lost, orphan = writer.ask(), writer.ask()
    writer.abandon(lost, error="lost")  # the orphan is still running when its process "stops"
    writer.close()
    before = path.read_bytes()
    by_load, by_init = tmp_path / "load.jsonl", tmp_path / "init.jsonl"
    by_load.write_bytes(before)
    by_init.write_bytes(before)

    view = Study.read(path)
    loaded = Study.load(by_load)
    built = Study(_space2(), ["f", "g"], storage=by_init, seed=2, n_initial=4)

    assert path.read_bytes() == before  # read-only: nothing written, no lock taken
    assert view.storage is None and loaded.storage == by_load and built.storage == by_init
    # a writer records the orphan abandoned: one event, the same whichever way it opened
    for opened in (by_load, by_init):
        assert opened.read_bytes().startswith(before)
        added = _events(opened)[len(before.splitlines()):]
        assert [(e["event"], e["number"]) for e in added] == [("abandon", orphan.number)]
    assert _without_clock(by_load) == _without_clock(by_init)

    state = _full_state(loaded)
    assert _full_state(built) == state
    assert state["trials"][orphan.number]["status"] == "abandoned"
    assert state["ref"] == writer.ref_point is not None
    assert "model" in [t["source"] for t in state["trials"]]
    # the read-only view differs only by the orphan it leaves running
    viewed = _full_state(view)
    assert viewed["trials"][orphan.number]["status"] == "running"
    assert viewed["requeue"] == state["requeue"][:-1]
    state["trials"][orphan.number].update(status="running", error=None)
    state["requeue"] = viewed["requeue"]
    assert viewed == state

    # both writers ask the abandoned parameters again, then propose the same point
    asked = [(loaded.ask().params, built.ask().params) for _ in range(3)]
    assert all(a == b for a, b in asked)
    assert lost.params != orphan.params
    assert [p for p, _ in asked[:2]] == [lost.params, orphan.params]
    assert built.trials[-1].source == "model"
    assert _without_clock(by_load) == _without_clock(by_init)
    loaded.close()
    built.close()


def test_not_a_study_journal(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    path.write_text('{"event": "ask", "number": 0}\n')
    with pytest.raises(ValueError, match="not a mobo study journal"):
        Study.load(path)
    with pytest.raises(ValueError, match="not a mobo study journal"):
        Study(_space2(), ["f", "g"], storage=path)


# ---------------------------------------------------------------------------- optimize


def test_optimize_budget_failures_and_callbacks(tmp_path: Path) -> None:
    calls: list[int] = []

    def fn(p: dict) -> dict[str, float]:
        if p["a"] > 0.8:
            raise RuntimeError("diverged")
        if p["b"] > 0.9:
            return {"f": float("nan"), "g": 0.0}
        return _two_objectives(p)

    path = tmp_path / "j.jsonl"
    study = Study(_space2(), ["f", "g"], seed=1, n_initial=8, storage=path)
    study.optimize(fn, 6, callbacks=[lambda s, t: calls.append(t.number)])
    assert study.n_finished == 6 and calls == list(range(6))
    failed = [t for t in study.trials if t.status == "failed"]
    for t in failed:
        assert ("RuntimeError: diverged" in t.error) == (t.params["a"] > 0.8)
    assert all(t.params["a"] <= 0.8 and t.params["b"] <= 0.9
               for t in study.trials if t.status == "completed")
    study.close()
    resumed = Study.load(path)
    resumed.optimize(fn, 10)  # the budget counts the trials already done
    assert resumed.n_finished == 10 and len(resumed.trials) == 10
    resumed.optimize(fn, 10)
    assert len(resumed.trials) == 10
    with pytest.raises(ValueError, match="budget"):
        resumed.optimize(fn, -1)
    with pytest.raises(ValueError, match="workers"):
        resumed.optimize(fn, 12, workers=0)
    resumed.close()


def test_keyboard_interrupt_abandons_and_reraises(tmp_path: Path) -> None:
    count = itertools.count()

    def fn(p: dict) -> dict[str, float]:
        if next(count) == 3:
            raise KeyboardInterrupt
        return _two_objectives(p)

    path = tmp_path / "j.jsonl"
    study = Study(_space2(), ["f", "g"], seed=1, storage=path)
    with pytest.raises(KeyboardInterrupt):
        study.optimize(fn, 10)
    assert [t.status for t in study.trials] == ["completed"] * 3 + ["abandoned"]
    study.close()
    resumed = Study.load(path)
    assert _snapshot(resumed) == _snapshot(study)
    resumed.optimize(_two_objectives, 5)
    assert resumed.n_completed == 5
    assert resumed.trials[4].params == study.trials[3].params  # re-proposed
    resumed.close()


@pytest.mark.parametrize("backend", ["process", "ray"])
def test_parallel_workers_get_distinct_points(backend: str) -> None:
    if backend == "ray":
        pytest.importorskip("ray")

    problem = get_problem("branincurrin")
    study = Study(problem.space, [Objective(n, threshold=float(r)) for n, r in
                                  zip(problem.objective_names, problem.ref_point, strict=True)],
                  seed=0, n_initial=4)
    study.optimize(problem, 8, workers=2, backend=backend)
    assert study.n_completed == 8
    params = [tuple(sorted(t.params.items())) for t in study.trials]
    assert len(set(params)) == len(params)


def test_every_event_is_on_disk_before_the_call_returns(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    study = Study(_space2(), ["f", "g"], storage=path, seed=0)
    t = study.ask()
    header, ask = _events(path)
    assert header["event"] == "study" and ask["event"] == "ask"
    assert ask["number"] == 0 and ask["params"] == t.params and ask["source"] == "sobol"
    study.tell(t, {"f": 1.0, "g": 2.0, "f1": 3.0})
    tell = _events(path)[-1]
    assert tell["event"] == "tell" and tell["values"] == {"f": 1.0, "g": 2.0, "f1": 3.0}
    t2 = study.ask()
    study.tell(t2, failed=True, error="boom")
    assert _events(path)[-1]["event"] == "fail" and _events(path)[-1]["error"] == "boom"
    # a second writer is refused while this study holds the journal
    with pytest.raises(ValueError, match="in use"):
        Study(_space2(), ["f", "g"], storage=path, seed=0)
    study.close()
    assert len(Study.load(path).trials) == 2


def test_a_failing_proposal_falls_back_to_sobol(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self, *args, **kwargs):
        raise np.linalg.LinAlgError("not positive definite")

    monkeypatch.setattr(acquisition.Proposer, "propose", broken)
    path = tmp_path / "j.jsonl"
    study = Study(_space2(), [Objective("f", threshold=2.0), Objective("g", threshold=2.0)],
                  storage=path, seed=0, n_initial=3)
    _tell_all(study, _two_objectives, 3)
    with pytest.warns(RuntimeWarning, match="LinAlgError: not positive definite"):
        t = study.ask()
    assert t.source == "sobol" and t.params == study.space.decode(study.space.sobol(4, 0)[3])
    assert _events(path)[-1]["proposal_error"] == "LinAlgError: not positive definite"
    study.close()
    assert Study.load(path).trials[3].params == t.params


def test_two_new_studies_on_one_path_do_not_mix(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    first = Study(_space2(), ["f", "g"], storage=path, seed=0)
    second = Study(_space2(), ["f", "g"], storage=path, seed=1)  # nothing on disk yet
    first.tell(first.ask(), {"f": 1.0, "g": 1.0})
    first.close()
    before = path.read_bytes()
    with pytest.raises(ValueError, match="written by another study"):
        second.ask()
    assert path.read_bytes() == before and second.trials == []
    second.close()


def _kill_own_worker(p: dict) -> dict[str, float]:
    os.kill(os.getpid(), signal.SIGKILL)
    return {}  # never reached


def test_a_backend_that_keeps_losing_trials_stops_the_loop(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    study = Study(_space2(), ["f", "g"], storage=path, seed=0)
    with pytest.raises(BackendError, match="2 trials in a row were abandoned"):
        study.optimize(_kill_own_worker, 5, backend="process", max_abandoned=1)
    assert [t.status for t in study.trials] == ["abandoned", "abandoned"]
    assert study.trials[1].params == study.trials[0].params  # asked again, not learned from
    study.close()
    assert _snapshot(Study.load(path)) == _snapshot(study)


# ---------------------------------------------------------------------------- constraints


def test_constraint_names_must_be_new() -> None:
    with pytest.raises(ValueError, match="already an objective"):
        Study(_space2(), ["f", "g"], constraints=[Constraint("g", upper=1.0)])
    with pytest.raises(ValueError, match="already an objective or constraint"):
        Study(_space2(), ["f", "g"],
              constraints=[Constraint("c", upper=1.0), Constraint("c", lower=0.0)])
    with pytest.raises(ValueError, match="constraints\\[0\\]"):
        Study(_space2(), ["f", "g"], constraints=["c"])


def _constrained(p: dict) -> dict[str, float]:
    """_two_objectives with a metric "c" = a that must stay <= 0.4."""
    return {**_two_objectives(p), "c": p["a"]}


def test_infeasible_trials_are_kept_but_never_on_the_front() -> None:
    study = Study(_space2(), ["f", "g"], constraints=[Constraint("c", upper=0.4)], seed=0,
                  n_initial=8)
    trials = _tell_all(study, _constrained, 8)
    feasible = [t for t in trials if t.params["a"] <= 0.4]
    assert 0 < len(feasible) < len(trials)
    assert [t.feasible for t in trials] == [t.params["a"] <= 0.4 for t in trials]
    assert study.n_completed == 8  # infeasible trials are completed, not failed
    front = study.pareto_front()
    assert front and all(t.feasible for t in front)
    # brute force: the non-dominated feasible points
    Y = np.array([[t.values["f"], t.values["g"]] for t in feasible])
    want = {t.number for t, y in zip(feasible, Y, strict=True)
            if not any(np.all(z <= y) and np.any(z < y) for z in Y)}
    assert {t.number for t in front} == want
    ref = {"f": 2.0, "g": 2.0}
    assert study.hypervolume(ref) == pytest.approx(hypervolume(Y, np.array([2.0, 2.0])))


def test_missing_or_nan_constraint_fails_the_trial() -> None:
    study = Study(_space2(), ["f", "g"], constraints=[Constraint("c", lower=0.0)], seed=0)
    t = study.ask()
    study.tell(t, {"f": 1.0, "g": 1.0})
    assert t.status == "failed" and "missing constraint 'c'" in t.error
    t = study.ask()
    study.tell(t, {"f": 1.0, "g": 1.0, "c": float("nan")})
    assert t.status == "failed" and "constraint 'c' is nan" in t.error


def test_constrained_study_proposes_feasible_points_and_resumes(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    cons = [Constraint("c", upper=0.4)]
    study = Study(_space2(), ["f", "g"], constraints=cons, seed=1, n_initial=6, storage=path)
    _tell_all(study, _constrained, 16)
    model = [t for t in study.trials if t.source == "model"]
    assert len(model) == 10
    # the constraint GP steers the proposals into a <= 0.4 (allowing a hair of slack)
    assert sum(t.params["a"] <= 0.45 for t in model) >= 8
    assert "constraints" in model[-1].model_state
    study.close()
    header = _events(path)[0]
    assert header["constraints"] == [{"name": "c", "upper": 0.4, "lower": None}]
    again = Study.load(path)
    assert again.constraints == cons
    assert [t.feasible for t in again.trials] == [t.feasible for t in study.trials]
    assert again.hypervolume() == study.hypervolume()
    again.close()
    before = path.read_bytes()
    with pytest.raises(ValueError, match="its constraints are"):
        Study(_space2(), ["f", "g"], constraints=[Constraint("c", upper=0.5)], seed=1,
              n_initial=6, storage=path)
    with pytest.raises(ValueError, match="its constraints are"):
        Study(_space2(), ["f", "g"], seed=1, n_initial=6, storage=path)
    assert path.read_bytes() == before


def test_unconstrained_header_has_no_constraints_key(tmp_path: Path) -> None:
    path = tmp_path / "u.jsonl"
    study = Study(_space2(), ["f", "g"], seed=0, storage=path)
    _tell_all(study, _two_objectives, 2)
    study.close()
    assert "constraints" not in _events(path)[0]
    assert all(t.feasible for t in Study.read(path).trials)


# ---------------------------------------------------------------------------- known, warp


def _layers_space() -> Space:
    return Space([Float("x", 0.0, 1.0), Int("k", 1, 8)])


def _size(p: dict) -> float:
    return 10.0 * p["k"]


def _accuracy(p: dict) -> dict[str, float]:
    return {"acc": 1.0 - (p["x"] - 0.3) ** 2 - 1.0 / p["k"]}


def _known_objectives(fn=_size) -> list[Objective]:
    return [Objective("acc", maximize=True), Objective("size", known=fn)]


def test_known_objective_values_journal_and_resume(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    study = Study(_layers_space(), _known_objectives(), seed=0, n_initial=5, storage=path)
    study.optimize(_accuracy, budget=8)
    # not reported: recorded from the function; reported: kept as reported
    assert all(t.values["size"] == _size(t.params) for t in study.trials)
    t = study.ask()
    study.tell(t, {"acc": 0.1, "size": 12.5})
    assert t.values["size"] == 12.5
    assert any(tr.source == "model" for tr in study.trials)
    study.close()
    header = _events(path)[0]
    assert header["objectives"][1] == {"name": "size", "maximize": False, "threshold": None,
                                       "known": True}
    assert "warp" not in header
    # the journal holds no code: a writer must be given the function again
    with pytest.raises(ValueError, match=r"known in closed form.*known=\{'size'"):
        Study.load(path)
    with pytest.raises(ValueError, match="not an objective"):
        Study.load(path, known={"acc": _size})
    resumed = Study.load(path, known={"size": _size})
    assert resumed.objectives[1].known is _size and len(resumed.trials) == 9
    resumed.optimize(_accuracy, budget=10)
    resumed.close()
    again = Study(_layers_space(), _known_objectives(), seed=0, n_initial=5, storage=path)
    assert again.objectives[1].known is _size and len(again.trials) == 10
    again.close()
    # a different definition (size not known) is refused
    with pytest.raises(ValueError, match="different study"):
        Study(_layers_space(), [Objective("acc", maximize=True), "size"], seed=0,
              n_initial=5, storage=path)
    # reading needs no function: the values are in the journal
    read = Study.read(path)
    assert read.objectives[1].known_missing
    assert [t.values for t in read.trials] == [t.values for t in again.trials]


def test_known_objective_proposals_are_reproducible_and_checked() -> None:
    def run() -> list[dict]:
        study = Study(_layers_space(), _known_objectives(), seed=1, n_initial=5)
        study.optimize(_accuracy, budget=9)
        return [t.params for t in study.trials]

    assert run() == run()
    with pytest.raises(ValueError, match="every objective is known"):
        Study(_layers_space(), [Objective("size", known=_size)])
    # a function that returns nonsense fails the trial, like a bad reported value
    study = Study(_layers_space(), _known_objectives(lambda p: math.nan), seed=0)
    t = study.ask()
    study.tell(t, {"acc": 0.5})
    assert t.status == "failed" and "size" in t.error


@pytest.mark.parametrize("warp", ["rank", "yeo-johnson"])
def test_warp_is_recorded_and_changes_proposals(tmp_path: Path, warp: str) -> None:
    path = tmp_path / "w.jsonl"

    def run(w: str | None, storage: Path | None = None) -> Study:
        study = Study(_space2(), ["f", "g"], seed=2, n_initial=6, warp=w, storage=storage)
        study.optimize(_two_objectives, budget=9)
        return study

    warped = run(warp, path)
    assert [t.params for t in warped.trials] == [t.params for t in run(warp).trials]
    assert [t.params for t in warped.trials] != [t.params for t in run(None).trials]
    warped.close()
    assert _events(path)[0]["warp"] == warp
    loaded = Study.load(path)
    assert loaded.warp == warp
    loaded.close()
    with pytest.raises(ValueError, match="warp="):
        Study(_space2(), ["f", "g"], seed=2, n_initial=6, storage=path)
    with pytest.raises(ValueError, match="warp"):
        Study(_space2(), ["f", "g"], warp="log")
