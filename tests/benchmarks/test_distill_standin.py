"""The stand-in of the distillation task (benchmarks/distill_standin.py): what it reads
from journals, its exact parameter count, its forest, and its use by distill_compare."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import benchmarks.distill_compare as D
from benchmarks.distill_standin import StandIn, parameter_count_model, read_trials
from mobo.space import Categorical, Float, Int, Space
from mobo.study import Study
from mobo.trial import Objective

SPACE = Space([Float("learning_rate", 1e-5, 1e-2, log=True), Int("n_layers", 1, 6),
               Int("n_heads", 1, 12), Categorical("init", ["teacher", "pretrained"])])
COUNT = (1000.0, 70.0, 3.0)  # embeddings, per layer, per layer and head
THRESHOLD = 30.0


def _count(p: dict[str, Any]) -> float:
    return COUNT[0] + COUNT[1] * p["n_layers"] + COUNT[2] * p["n_layers"] * p["n_heads"]


def _task(p: dict[str, Any]) -> dict[str, float]:
    """Learns (beats the threshold) with the teacher's init and 3+ layers, else sits at
    the threshold: a plateau and a cliff, as the real task has."""
    learns = p["init"] == "teacher" and p["n_layers"] >= 3
    exact = 60.0 + 5.0 * p["n_layers"] if learns else THRESHOLD
    return {"exact": exact, "f1": exact + 1.0, "num_parameters": _count(p)}


def _journal(path: Path, seed: int, n: int = 40) -> Path:
    objectives = [Objective("exact", maximize=True, threshold=THRESHOLD),
                  Objective("num_parameters", known=_count)]
    with Study(SPACE, objectives, storage=path, seed=seed, n_initial=n) as s:
        s.optimize(_task, n)
    return path


def test_reads_completed_trials_and_refuses_another_task(tmp_path: Path) -> None:
    a = _journal(tmp_path / "a.jsonl", 0)
    b = _journal(tmp_path / "b.jsonl", 1, n=10)
    space, threshold, trials = read_trials([a, b])
    assert space == SPACE and threshold == THRESHOLD and len(trials) == 50
    t = trials[0]
    assert np.allclose(SPACE.encode(t["params"]), t["x"])
    assert t["values"] == _task(t["params"])
    other = tmp_path / "c.jsonl"
    with Study(SPACE, [Objective("exact", maximize=True, threshold=1.0),
                       Objective("num_parameters", known=_count)],
               storage=other, seed=0, n_initial=3) as s:
        s.optimize(_task, 3)
    with pytest.raises(ValueError, match="another task"):
        read_trials([a, other])
    empty = tmp_path / "e.jsonl"
    empty.write_text("")
    with pytest.raises(ValueError, match="no completed trial"):
        read_trials([empty])


def test_parameter_count_is_solved_exactly_or_refused(tmp_path: Path) -> None:
    _, _, trials = read_trials([_journal(tmp_path / "a.jsonl", 0)])
    assert np.allclose(parameter_count_model(trials), COUNT)
    bent = [dict(t, values=dict(t["values"], num_parameters=t["values"]["num_parameters"]
                                + t["params"]["n_heads"] ** 2)) for t in trials]
    with pytest.raises(ValueError, match="not affine"):
        parameter_count_model(bent)


def test_standin_keeps_the_plateau_and_the_learners(tmp_path: Path) -> None:
    paths = [_journal(tmp_path / f"{k}.jsonl", k) for k in range(3)]
    box = StandIn(paths)
    assert box.threshold == THRESHOLD and box.n_trials == 120
    learner = {"learning_rate": 1e-3, "n_layers": 5, "n_heads": 4, "init": "teacher"}
    collapsed = {"learning_rate": 1e-3, "n_layers": 1, "n_heads": 4, "init": "pretrained"}
    out_l, out_c = box(learner), box(collapsed)
    assert out_l["num_parameters"] == pytest.approx(_count(learner))
    assert out_c["num_parameters"] == pytest.approx(_count(collapsed))
    assert out_l["exact"] > THRESHOLD + 10.0
    assert out_c["exact"] == pytest.approx(THRESHOLD)
    assert out_l["f1"] == pytest.approx(out_l["exact"] + 1.0)
    assert box(learner) == out_l  # deterministic
    names = [o.name for o in box.objectives()]
    assert names == ["exact", "num_parameters"]
    assert box.objectives()[1].known is not None


def test_compare_keeps_standin_and_real_runs_apart(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    paths = [_journal(tmp_path / f"{k}.jsonl", k) for k in range(2)]
    monkeypatch.setattr(D, "StandIn", lambda: StandIn(paths))
    out = tmp_path / "si"
    assert D.main(["--standin", "--methods", "sobol", "--seeds", "0", "--budget", "4",
                   "--out-dir", str(out)]) == 0
    assert (out / D.NAME / D.STANDIN_MARKER).is_file()
    assert len(D.read_csv(out / f"{D.NAME}.csv")) == 4
    assert "stand-in" in (out / f"{D.NAME}.md").read_text().splitlines()[0]
    reference = json.loads((out / D.NAME / "reference.json").read_text())
    assert reference["num_parameters"] == pytest.approx(
        _count({"n_layers": 6, "n_heads": 12}))
    before = (out / f"{D.NAME}.csv").read_bytes()
    # the real task's runs never go into a folder of stand-in runs (checked before loading)
    assert D.main(["--methods", "sobol", "--seeds", "0", "--budget", "4",
                   "--out-dir", str(out)]) == 2
    assert "stand-in runs" in capsys.readouterr().err
    assert (out / f"{D.NAME}.csv").read_bytes() == before
