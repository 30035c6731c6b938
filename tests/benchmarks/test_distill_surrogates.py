"""Tests of the cross-prediction benchmark (benchmarks/distill_surrogates.py): the metrics
by hand, every model on a smooth function, which trials are fitted and tested, the command
line's bad input, and the committed report against its JSON."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from benchmarks import distill_surrogates as S
from benchmarks.distill_compare import read_csv
from mobo.space import Float, Space


def test_scores_by_hand() -> None:
    y = np.array([10.0, 50.0, 30.0, 90.0])
    mean = np.array([12.0, 40.0, 30.0, 80.0])
    sd = np.array([1.0, 2.0, 4.0, 5.0])
    s = S.scores(mean, sd, y, top=2)
    assert s["rmse"] == pytest.approx(math.sqrt((4 + 100 + 0 + 100) / 4))
    mlpd = np.mean([-0.5 * math.log(2 * math.pi * v**2) - 0.5 * ((a - b) / v) ** 2
                    for a, b, v in zip(y, mean, sd, strict=True)])
    assert s["mlpd"] == pytest.approx(mlpd)
    assert s["spearman"] == pytest.approx(1.0)  # same order
    assert (s["top_observed"], s["top_predicted"], s["top_sd"]) == (70.0, 60.0, 3.5)


@pytest.mark.parametrize("name", list(S.MODELS))
def test_every_model_learns_a_smooth_function(name: str) -> None:
    rng = np.random.default_rng(1)

    def f(X: np.ndarray) -> np.ndarray:
        return 40.0 + 30.0 * np.sin(3.0 * X[:, 0]) + 10.0 * X[:, 1]

    X, Xq = rng.random((40, 2)), rng.random((30, 2))
    mean, sd = S.MODELS[name](X, f(X))(Xq)
    assert np.sqrt(np.mean((mean - f(Xq)) ** 2)) < 3.0  # the function spans ~60
    assert np.all(sd > 0) and np.all(np.isfinite(sd))


def test_the_test_trials_are_the_other_runs_post_initial_ones() -> None:
    space = Space([Float("a", 0.0, 1.0), Float("b", 0.0, 1.0)])
    rng = np.random.default_rng(2)
    train = [{"params": {"a": a, "b": b}, "exact": 50 + 20 * a, "source": "initial"}
             for a, b in rng.random((8, 2))]
    test = [{"params": {"a": 0.5, "b": 0.5}, "exact": 999.0, "source": "initial"}] + [
        {"params": {"a": a, "b": b}, "exact": 50 + 20 * a, "source": "model"}
        for a, b in rng.random((5, 2))]
    out = S.cross_predict(space, train, test)
    assert set(out) == set(S.MODELS)
    for s in out.values():
        assert (s["n_train"], s["n_test"]) == (8, 5)
        assert s["top_observed"] < 100  # the initial trial's 999 is not tested
    with pytest.raises(ValueError, match="at least 2"):
        S.cross_predict(space, train, test[:2])


def test_run_trials_reads_a_journal_and_a_peer_run_as_the_csv_has_them() -> None:
    rows = read_csv(S.PAIR.parent / "distill_compare.csv")
    for path, method in ((S.DEFAULT_RUNS[0], "mobo"), (S.DEFAULT_RUNS[1], "tpe")):
        got = [(t["source"], t["exact"]) for t in S.run_trials(path)]
        want = [(r["source"], r["exact"]) for r in rows
                if r["method"] == method and r["status"] == "completed"]
        assert got == want
    assert S.is_journal(S.DEFAULT_RUNS[0]) and not S.is_journal(S.DEFAULT_RUNS[1])


@pytest.mark.parametrize("argv, needle", [
    (["--runs", "/no/such/a.jsonl", "/no/such/b.jsonl"], "is not a file"),
    (["--out-md", "/no/such/folder/s.md"], "is not a folder"),
])
def test_bad_arguments_exit_2_before_anything_is_written(
        argv: list[str], needle: str, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        S.main(["--out-json", str(tmp_path / "s.json"), *argv])
    assert e.value.code == 2 and needle in capsys.readouterr().err
    assert not (tmp_path / "s.json").exists()


def test_two_peer_runs_are_a_one_line_error(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    peer = str(S.DEFAULT_RUNS[1])
    assert S.main(["--runs", peer, peer, "--out-json", str(tmp_path / "s.json"),
                   "--out-md", str(tmp_path / "s.md")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "must be a mobo journal" in err[0]
    assert not (tmp_path / "s.json").exists()


def test_the_committed_report_is_made_from_the_committed_json() -> None:
    data = json.loads(S.DEFAULT_JSON.read_text())
    assert S.DEFAULT_MD.read_text() == S.markdown(data)
    assert [d["train"] for d in data["directions"]] == data["runs"]
