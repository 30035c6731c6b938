"""Tests of the per-box replay of a trust-region distillation journal."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from benchmarks import distill_boxes as B
from benchmarks import distill_diagnosis as D

ROOT = Path(__file__).resolve().parents[2]
JOURNAL = ROOT / B.DEFAULT_JOURNAL


def _centre(exact: float, weight: float, best: float) -> dict[str, Any]:
    return {"n_layers": 4, "n_heads": 8, "exact": exact, "num_parameters": 1.0,
            "weight": weight, "best_log_ehvi": best, "median_log_ehvi": best - 1.0}


def test_summary_against_hand_counts() -> None:
    records = [
        # the proposal in the most accurate box (exact 90), weight 0.2; gap 3.0 - 2.5
        {"centres": [_centre(50.0, 0.8, 2.5), _centre(90.0, 0.2, 3.0)],
         "proposal": {"n_layers": 5, "n_heads": 12, "in_boxes": [1]}},
        # in the other box, weight 0.6; gap 1.0 - 0.0
        {"centres": [_centre(60.0, 0.6, 1.0), _centre(70.0, 0.4, 0.0)],
         "proposal": {"n_layers": 4, "n_heads": 8, "in_boxes": [0]}},
        # one box only: not counted
        {"centres": [_centre(80.0, 1.0, 5.0)],
         "proposal": {"n_layers": 4, "n_heads": 8, "in_boxes": [0]}},
    ]
    s = B.summarise(records, [(5, 12), (4, 8), (5, 12)])
    assert s["asks"] == 2 and s["in_most_accurate_box"] == 1
    assert math.isclose(s["median_weight_of_chosen_box"], 0.4)
    assert math.isclose(s["median_gap_best_to_runner_up"], 0.75)
    assert s["model_proposals"] == 3
    assert s["most_frequent_student"] == [5, 12] and s["most_frequent_count"] == 2
    text = B.markdown({"journal": "j.jsonl", "stride": 1, "n_per_box": 8, "asks": [
        {"number": 30 + i, **r} for i, r in enumerate(records)], "summary": s})
    assert "2 were 5-layer students with 12 heads" in text
    assert "| 30 | 5 x 12 | 4 x 8, 50.0 | 0.80 |" in text  # no mark: not the proposal's box
    assert "4 x 8, 90.0 (*) | 0.20 | 3.00 | 2.00 |" in text
    assert "factor of 2.1 in EHVI" in text  # exp(0.75)


@pytest.mark.skipif(not JOURNAL.is_file(), reason="the development journal is not here")
def test_box_scores_on_a_replayed_state(tmp_path: Path) -> None:
    lines = D.read_lines(JOURNAL)
    line_no, event = B.model_asks(lines)[0]
    state = D.state_of(D.replay(lines, line_no, tmp_path), int(event["number"]))
    scores = B.box_scores(state, np.asarray(event["x"]), n_per_box=64)
    cs = scores["centres"]
    assert len(cs) >= 1 and scores["half_width"] == state.study.trust_region
    assert math.isclose(sum(c["weight"] for c in cs), 1.0)
    for c in cs:
        assert c["best_log_ehvi"] >= c["median_log_ehvi"]
        # each centre is a completed trial that beats the reference point
        rows = [i for i in range(len(state.X)) if -state.Y[i, 0] == c["exact"]
                and state.Y[i, 1] == c["num_parameters"]]
        assert rows and all(np.all(state.Y[i] < state.ref) for i in rows)
    # a trial's own input lies in its own box
    first = B.box_scores(state, state.X[rows[0]], n_per_box=8)
    assert len(cs) - 1 in first["in_boxes"]


def test_bad_arguments_exit_2(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as e:
        B.main(["--journal", str(tmp_path / "missing.jsonl")])
    assert e.value.code == 2
    with pytest.raises(SystemExit) as e:
        B.main(["--journal", str(JOURNAL), "--stride", "0"])
    assert e.value.code == 2
