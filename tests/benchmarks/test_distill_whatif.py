"""Tests of the what-if replay (benchmarks/distill_whatif.py): the refit reproduces what the
proposer recorded, the score is EHVI by Monte Carlo, the peer's best students, the command
line's bad input, and the committed report against its JSON."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from benchmarks import distill_diagnosis as D
from benchmarks import distill_whatif as W
from mobo.volume import hypervolume


def test_the_replayed_choice_scores_what_the_proposer_recorded() -> None:
    # two proposals of the committed pair: the live proposer's acquisition value is the
    # reference the refit must meet
    data = W.analyse(W.DEFAULT_JOURNAL, W.DEFAULT_PEER, stride=40)
    assert len(data["proposals"]) == 2
    for row in data["proposals"]:
        choice = row["candidates"][0]
        assert choice["kind"] == "choice"
        assert choice["log_ehvi"] == pytest.approx(row["recorded_log_acq"], abs=1e-6)
        kinds = [c["kind"] for c in row["candidates"]]
        assert kinds == ["choice"] + ["peer"] * W.N_PEER + ["best"] + ["move"] * 4
        assert [c["observed"] for c in row["candidates"][1:1 + W.N_PEER]] == [
            p["exact"] for p in data["peer_best"]]


def test_the_score_is_the_expected_hypervolume_gain_by_monte_carlo(tmp_path: Path) -> None:
    lines = D.read_lines(W.DEFAULT_JOURNAL)
    events = [json.loads(line) for line in lines]
    line_no = [i for i, e in enumerate(events)
               if e["event"] == "ask" and e["source"] == "model"][10]
    study = D.replay(lines, line_no, tmp_path)
    state = D.state_of(study, int(events[line_no]["number"]))
    rng = np.random.default_rng(0)
    pts = np.vstack([np.asarray(events[line_no]["x"]), state.X[int(np.argmin(state.Y[:, 0]))],
                     study.space.random(3, rng)])
    mean, sd, lv = W.score(study, state.X, state.Y, state.ref, state.warm, pts)
    base = hypervolume(state.Y[np.all(state.Y < state.ref, axis=1)], state.ref)
    sizes = D.closed_sizes(study, pts)
    for i in range(len(pts)):
        draws = -(mean[i] + sd[i] * rng.standard_normal(20000))  # minimised exact
        gains = []
        for e in draws:
            Y = np.vstack([state.Y, [e, sizes[i]]])
            gains.append(hypervolume(Y[np.all(Y < state.ref, axis=1)], state.ref) - base)
        mc = float(np.mean(gains))
        se = float(np.std(gains)) / math.sqrt(len(gains))
        if mc > 0:
            assert math.exp(lv[i]) == pytest.approx(mc, abs=4 * se + 1e-9 * mc)
        else:
            assert lv[i] < math.log(1e-12) + math.log(base)


def test_peer_best_orders_by_exact_then_trial_and_skips_failures(tmp_path: Path) -> None:
    recs = [{"trial": 0, "status": "completed", "params": {"a": 0}, "values": {"exact": 50.0}},
            {"trial": 1, "status": "failed", "params": {"a": 1}, "values": None},
            {"trial": 2, "status": "completed", "params": {"a": 2}, "values": {"exact": 70.0}},
            {"trial": 3, "status": "completed", "params": {"a": 3}, "values": {"exact": 50.0}}]
    path = tmp_path / "tpe-10.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    assert [p["trial"] for p in W.peer_best(path)] == [2, 0, 3]
    assert [p["trial"] for p in W.peer_best(path, 1)] == [2]
    path.write_text(json.dumps(recs[1]) + "\n")
    with pytest.raises(ValueError, match="no completed trial"):
        W.peer_best(path)


@pytest.mark.parametrize("argv, needle", [
    (["--stride", "0"], "--stride: must be >= 1"),
    (["--journal", "/no/such/journal.jsonl"], "is not a file"),
    (["--out-md", "/no/such/folder/w.md"], "is not a folder"),
])
def test_bad_arguments_exit_2_before_anything_is_written(
        argv: list[str], needle: str, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    out = ["--out-json", str(tmp_path / "w.json")]
    with pytest.raises(SystemExit) as e:
        W.main([*out, *argv])
    assert e.value.code == 2 and needle in capsys.readouterr().err
    assert not (tmp_path / "w.json").exists()


def test_a_file_that_is_no_journal_is_one_line_error(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "tpe-10.jsonl"
    bad.write_text(json.dumps({"trial": 0}) + "\n")
    assert W.main(["--journal", str(bad), "--out-json", str(tmp_path / "w.json"),
                   "--out-md", str(tmp_path / "w.md")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a mobo journal" in err[0]
    assert not (tmp_path / "w.json").exists() and not (tmp_path / "w.md").exists()


def test_the_committed_report_is_made_from_the_committed_json() -> None:
    data = json.loads(W.DEFAULT_JSON.read_text())
    assert W.DEFAULT_MD.read_text() == W.markdown(data)
    # every replayed choice matched what the live proposer recorded
    assert W._fidelity(data["proposals"]) < 1e-6
