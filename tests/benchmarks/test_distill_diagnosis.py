"""Tests of the distillation diagnosis' rerun of the proposer under its opt-in options, on
one replayed state of the committed journal."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from benchmarks import distill_diagnosis as D

JOURNAL = Path(__file__).resolve().parents[2] / "results" / "distill_budget200.jsonl"


def test_modelled_warm_keeps_the_modelled_objectives_columns() -> None:
    warm = {"lengthscales": [[1.0, 2.0], [3.0, 4.0]], "outputscales": [0.5, 0.6],
            "noises": [0.1, 0.2], "means": [0.0, 1.0], "y_mean": [5.0, 6.0],
            "y_scale": [7.0, 8.0], "fit_ok": True, "feasibility": {"x": 1}}
    out = D.modelled_warm(warm, [0])
    assert out == {"lengthscales": [[1.0, 2.0]], "outputscales": [0.5], "noises": [0.1],
                   "means": [0.0], "y_mean": [5.0], "y_scale": [7.0], "fit_ok": True,
                   "feasibility": {"x": 1}}
    assert warm["noises"] == [0.1, 0.2]  # the journal's state is not changed
    assert D.modelled_warm(None, [0]) is None


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> D.State:
    lines = D.read_lines(JOURNAL)
    events = [json.loads(line) for line in lines]
    line_no = next(i for i, e in enumerate(events)
                   if e["event"] == "ask" and e["source"] == "model")
    study = D.replay(lines, line_no, tmp_path_factory.mktemp("replay"))
    return D.state_of(study, int(events[line_no]["number"]))


@pytest.mark.parametrize("option", ["known", "known_yj", "rank"])
def test_the_prediction_is_read_from_the_proposers_own_fit(state: D.State,
                                                           option: str) -> None:
    r = D.propose_with(state, option)
    assert r["same_fit"]
    assert r["exact_low"] <= r["exact_median"] <= r["exact_high"]
    assert 1 <= r["n_layers"] <= D.TEACHER_LAYERS and r["init"] in ("teacher", "pretrained")
    # the same state and rng stream give the same proposal
    again = D.propose_with(state, option)
    assert again == r
    assert np.isfinite(r["log_acq"])
