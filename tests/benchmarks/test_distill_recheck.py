"""benchmarks.distill_recheck: which trials are re-evaluated, how each is matched to its run
segment, and what the report says, on a made-up comparison folder and a fake task."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch

import distill.train
from benchmarks import distill_recheck as R


def _write_run(folder: Path, name: str, exacts: list[float | None], shift: int = 0) -> None:
    runs = folder / "distill_compare"
    runs.mkdir(parents=True, exist_ok=True)
    lines = []
    for k, e in enumerate(exacts):
        done = e is not None
        lines.append(json.dumps({
            "trial": k, "source": "initial" if k < 2 else "model",
            "status": "completed" if done else "failed",
            "params": {"n_layers": 1 + k % 6, "k": k + shift},
            "values": {"exact": e, "f1": e, "num_parameters": 1e7} if done else None,
            "seconds": 1.0}))
    (runs / f"{name}.jsonl").write_text("\n".join(lines) + "\n")


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    out = tmp_path / "cmp"
    _write_run(out, "tpe-10", [30.0, None, 40.0, 50.0, 60.0, 70.0])
    _write_run(out, "sobol-10", [31.0, 32.0], shift=10)
    # a run whose trial 2 is tpe-10's trial 2 (as a seed's shared initial design is)
    _write_run(out, "gp-10", [None, None, 40.0])
    log = [{"method": "tpe", "seed": 10, "from_trial": 0, "date": "2026-12-03 07:00:00",
            "command": "python -m benchmarks.distill_compare --threads 1"},
           {"method": "tpe", "seed": 10, "from_trial": 3, "date": "2026-12-03 09:00:00",
            "command": "python -m benchmarks.distill_compare --threads=4"},
           {"method": "tpe", "seed": 10, "from_trial": 3, "date": "2026-12-03 10:00:00"}]
    (out / "distill_compare" / "provenance.jsonl").write_text(
        "\n" + "\n".join(json.dumps(e) for e in log) + "\n{torn")
    return out


def test_pick_spreads_positions_evenly_like_a_plain_count() -> None:
    for n in range(0, 30):
        for k in range(1, 8):
            got = R.pick(n, k)
            assert len(got) == min(n, k) == len(set(got))
            # one position in each of min(n, k) equal stretches of range(n), in order
            m = min(n, k)
            assert all(j * n / m <= p < (j + 1) * n / m for j, p in enumerate(got))
    assert R.pick(100, 2) == [24, 74]
    assert R.pick(5, 4) == [0, 2, 3, 4]


def test_a_trial_belongs_to_the_last_segment_started_at_or_before_it(folder: Path) -> None:
    segs = R.segments(folder)
    assert segs == {("tpe", 10): [(0, "2026-12-03 07:00:00", 1), (3, "2026-12-03 09:00:00", 4),
                                  (3, "2026-12-03 10:00:00", None)]}
    assert R.segment_of(segs[("tpe", 10)], 2) == ("2026-12-03 07:00:00", 1)
    assert R.segment_of(segs[("tpe", 10)], 3) == ("2026-12-03 10:00:00", None)  # resumed
    assert R.segment_of([(5, "d", 1)], 4) == ("", None)
    assert R.segment_of([], 0) == ("", None)


def test_sample_takes_completed_trials_by_position_not_value(folder: Path) -> None:
    got = R.sample(folder, None, 2)
    # methods in the comparison's order (TPE before GP before Sobol), failed trials
    # skipped, gp-10's one completed trial left out: tpe-10 recorded its configuration
    assert [(t["run"], t["trial"]) for t in got] == [("tpe-10", 2), ("tpe-10", 4),
                                                     ("sobol-10", 0), ("sobol-10", 1)]
    assert [(t["run"], t["trial"]) for t in R.sample(folder, ["gp-10"], 2)] == [
        ("gp-10", 2)]
    assert got[0]["recorded"] == {"exact": 40.0, "f1": 40.0}
    assert got[0]["segment_start"] == "2026-12-03 07:00:00"
    assert got[0]["segment_threads"] == 1
    assert got[1]["segment_start"] == "2026-12-03 10:00:00"
    assert got[2]["segment_start"] == ""                 # sobol-10 logged no segment
    assert [t["run"] for t in R.sample(folder, ["sobol-10"], 5)] == ["sobol-10"] * 2
    with pytest.raises(ValueError, match="no run gp-11"):
        R.sample(folder, ["gp-11"], 1)


def test_recheck_and_summary_report_what_the_function_returns(folder: Path) -> None:
    trials = R.sample(folder, None, 2)

    def fn(params: Mapping[str, Any]) -> dict[str, float]:
        return {"exact": 40.0 if params["k"] == 2 else 79.0 - params["k"], "f1": 1.0}

    rows = R.recheck(trials, fn, lambda s: None)
    assert [r["new"]["exact"] for r in rows] == [40.0, 75.0, 69.0, 68.0]
    # differences 0, +15, +38, +36: one identical, median |d| 25.5, max 38
    assert R.summary(rows) == {"trials": 4, "identical": 1, "median_abs_diff": 25.5,
                               "max_abs_diff": 38.0}
    assert R.summary([]) == {"trials": 0, "identical": 0, "median_abs_diff": None,
                             "max_abs_diff": None}


def test_the_command_line_writes_the_json_and_a_report_from_it(
        folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def fn(params: Mapping[str, Any]) -> dict[str, float]:
        return {"exact": 30.0 + params["k"], "f1": 0.0}

    box = SimpleNamespace(fn=_Fn(fn, {"exact": 98.5, "f1": 98.5, "HasAns_exact": 99.0,
                                      "NoAns_exact": 96.0, "total": 600}),
                          environment={"cpu": "CPU A", "teacher": "0123456789abcdef"})
    monkeypatch.setattr(R, "load_task", lambda progress: box)
    out = tmp_path / "recheck.json"
    assert R.main(["--folder", str(folder), "--per-run", "1", "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["teacher"] == {"exact": 98.5, "f1": 98.5, "HasAns_exact": 99.0,
                               "NoAns_exact": 96.0}
    assert [(t["run"], t["trial"]) for t in data["trials"]] == [
        ("tpe-10", 3), ("gp-10", 2), ("sobol-10", 0)]
    assert data["summary"]["identical"] == 0
    md = out.with_suffix(".md").read_text()
    assert md == R.markdown(data)
    assert "**0 of 3 trials reproduce exactly**" in md
    assert "| tpe-10 | 3 | model | 2026-12-03 10:00:00 | - | 50.00 | 33.00 | -17.00 |" in md
    assert "| gp-10 | 2 | model | unrecorded | - | 40.00 | 32.00 | -8.00 |" in md
    assert "| sobol-10 | 0 | initial | unrecorded | - | 31.00 | 40.00 | +9.00 |" in md
    assert f"{data['threads']} torch thread(s)" in md
    assert "dev exact match 98.50" in md
    assert data["environment"]["teacher"] == "0123456789abcdef"
    assert "digest `0123456789abcdef`" in md
    assert data["device"] == "CPU" and "students trained on CPU;" in md


def test_device_words_name_where_the_students_train(monkeypatch: pytest.MonkeyPatch) -> None:
    assert R.device_words(SimpleNamespace(device="cpu")) == "CPU"
    here = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU"
    assert R.device_words(SimpleNamespace()) == here  # no device: CUDA where there is one
    # a CUDA task is named by its device, without needing one here
    monkeypatch.setattr(distill.train, "resolve_device", lambda device: torch.device("cuda", 0))
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda dev: "NVIDIA Test GPU")
    assert R.device_words(SimpleNamespace(device="cuda")) == "NVIDIA Test GPU"


class _Fn:
    """A fake task function with the teacher's metrics, as DistillationTask has them."""

    def __init__(self, fn: Any, metrics: dict[str, float]) -> None:
        self.fn, self.teacher_metrics = fn, metrics

    def __call__(self, params: Mapping[str, Any]) -> dict[str, float]:
        return self.fn(params)


@pytest.mark.parametrize("args, words", [
    (["--per-run", "0"], "--per-run: must be >= 1"),
    (["--runs", "gp-11"], "--runs: no run gp-11"),
    (["--threads", "0"], "--threads: must be >= 1"),
])
def test_bad_arguments_exit_2_before_any_evaluation(
        folder: Path, args: list[str], words: str, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(R, "load_task", lambda progress: pytest.fail("evaluated"))
    with pytest.raises(SystemExit) as e:
        R.main(["--folder", str(folder), *args])
    assert e.value.code == 2
    assert words in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        R.main(["--folder", str(folder.parent)])
    assert e.value.code == 2
