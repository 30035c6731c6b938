"""benchmarks.distill_bandcheck: which trial is each run's band best, how configurations
are retrained once per seed, what the summary and the report say, and the command line's
refusals, on a made-up comparison folder and a fake evaluation."""

from __future__ import annotations

import json
import statistics
from collections.abc import Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from benchmarks import distill_bandcheck as B
from benchmarks.distill_compare import _csv_row, best_within, parse_row, read_reference, records

TEACHER = 1000.0
REF = {"exact": 30.0, "num_parameters": TEACHER}


def _write_run(folder: Path, name: str, trials: list[tuple[float, float] | None]) -> None:
    """``trials``: (exact, num_parameters) per trial, None for a failed one."""
    runs = folder / "distill_compare"
    runs.mkdir(parents=True, exist_ok=True)
    lines = []
    for k, t in enumerate(trials):
        lines.append(json.dumps({
            "trial": k, "source": "initial" if k < 2 else "model",
            "status": "completed" if t else "failed",
            "params": {"n_layers": 1 + int(t[1] // 200) if t else 9, "n_heads": 2,
                       "k": round(t[0] * 7 + t[1]) if t else -k},
            "values": {"exact": t[0], "f1": t[0], "num_parameters": t[1]} if t else None,
            "seconds": 1.0}))
    (runs / f"{name}.jsonl").write_text("\n".join(lines) + "\n")


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    out = tmp_path / "cmp"
    # tpe-10: in the 60% band 31 (trial 1) then an equal 31 later (trial 3): the first wins
    _write_run(out, "tpe-10", [(29.0, 500.0), (31.0, 550.0), None, (31.0, 590.0),
                               (40.0, 650.0), (90.0, 900.0)])
    # gp-10: nothing within 60%; its 70% best is tpe-10's trial 4 (the same configuration)
    _write_run(out, "gp-10", [None, (40.0, 650.0), (35.0, 700.0)])
    (out / "distill_compare" / "reference.json").write_text(json.dumps(REF) + "\n")
    return out


def _fake(log: list[tuple[str, int]]) -> B.Evaluate:
    def evaluate(params: Mapping[str, Any], seed: int) -> dict[str, float]:
        log.append((json.dumps(params, sort_keys=True), seed))
        return {"exact": params["k"] / 100.0 + seed, "f1": 0.0}
    return evaluate


def test_band_bests_are_the_trials_the_comparison_reports(folder: Path) -> None:
    got = B.band_bests(folder, [0.6, 0.7], read_reference(folder))
    # methods in the comparison's order (TPE before GP), bands in the order given
    assert [(g["method"], g["seed"], g["band"], g["trial"], g["recorded"], g["in_band"])
            for g in got] == [("tpe", 10, 0.6, 1, 31.0, 3), ("tpe", 10, 0.7, 4, 40.0, 4),
                              ("gp", 10, 0.7, 1, 40.0, 2)]
    for g in got:
        rows = [parse_row(_csv_row(g["method"], g["seed"], r))
                for r in records(folder, g["method"], g["seed"])]
        assert best_within(rows, REF, g["band"]) == g["recorded"]
    assert B.band_bests(folder, [0.6], REF, ["gp-10"]) == []
    with pytest.raises(ValueError, match="no run gp-11"):
        B.band_bests(folder, [0.6], REF, ["gp-11"])


def test_each_configuration_is_trained_once_per_seed(folder: Path) -> None:
    bests = B.band_bests(folder, [0.6, 0.7], REF)
    log: list[tuple[str, int]] = []
    rows = B.retrain(bests, [1, 2], _fake(log), progress=lambda s: None)
    # three band bests, two distinct configurations (gp-10 trial 1 is tpe-10 trial 4)
    assert len(rows) == 3 and len(log) == 4 == len(set(log))
    for r in rows:
        assert r["retrained"] == [r["params"]["k"] / 100.0 + s for s in (1, 2)]
        assert len(r["seconds"]) == 2 and all(t >= 0.0 for t in r["seconds"])


def test_trainings_made_before_are_used_and_new_ones_recorded_as_they_end(
        folder: Path) -> None:
    bests = B.band_bests(folder, [0.6, 0.7], REF)
    key = json.dumps(bests[0]["params"], sort_keys=True)
    log: list[tuple[str, int]] = []
    recorded: list[Mapping[str, Any]] = []
    rows = B.retrain(bests, [1, 2], _fake(log), progress=lambda s: None,
                     done={(key, 2): (99.0, None)}, record=recorded.append)
    # the configuration of tpe-10's 60% best is not trained again under seed 2
    assert (key, 2) not in log and len(log) == 3
    assert rows[0]["retrained"][1] == 99.0 and rows[0]["seconds"][1] is None
    assert [(json.dumps(e["params"], sort_keys=True), e["seed"]) for e in recorded] == log
    assert all(e["exact"] == e["params"]["k"] / 100.0 + e["seed"] for e in recorded)


def test_the_log_is_read_back_and_refused_from_another_environment(tmp_path: Path) -> None:
    path = tmp_path / "x.trainings.jsonl"
    env = {"cpu": "CPU A", "cpu_model": ("AuthenticAMD", 25), "teacher": "abc", "torch_threads": 1}
    B.append_line(path, {"environment": env})
    B.append_line(path, {"params": {"b": 1, "a": 2}, "seed": 3, "exact": 33.5, "seconds": 4.0})
    B.append_line(path, {"params": {"a": 1}, "seed": 1, "exact": 31.0, "seconds": None})
    with path.open("a") as f:
        f.write('{"params": {"a"')  # a run stopped while writing
    assert B.read_log(path, env) == {('{"a": 2, "b": 1}', 3): (33.5, 4.0),
                                     ('{"a": 1}', 1): (31.0, None)}
    with pytest.raises(ValueError, match="differs in: teacher, torch_threads"):
        B.read_log(path, {**env, "teacher": "def", "torch_threads": 2})
    assert B.log_path(tmp_path / "bands.json") == tmp_path / "bands.trainings.jsonl"


def test_summary_takes_medians_over_run_seeds_and_counts_above_the_threshold() -> None:
    rows = [{"method": "tpe", "seed": s, "band": 0.6, "recorded": rec, "retrained": re}
            for s, rec, re in [(10, 33.0, [30.0, 31.0, 32.0]), (11, 31.0, [29.0, 29.0, 35.0]),
                               (12, 36.0, [36.0, 36.0, 36.0])]]
    s = B.summary(rows, 31.5)["0.6"]["tpe"]
    assert s["median_recorded"] == 33.0
    assert s["median_mean"] == statistics.median([31.0, 31.0, 36.0])
    assert (s["above"], s["trained"]) == (5, 9)


def test_report_is_made_from_the_json_alone(folder: Path) -> None:
    bests = B.band_bests(folder, [0.6, 0.7], REF)
    rows = B.retrain(bests, [1, 2], _fake([]), progress=lambda s: None)
    data = json.loads(json.dumps({
        "command": "python -m benchmarks.distill_bandcheck --folder cmp", "commit": "abc",
        "dirty": False, "date": "2026-12-06 07:00 UTC", "machine": "CPU, 2 CPU(s) seen",
        "threads": 1, "device": "CPU", "folder": "cmp", "json": "out.json",
        "environment": {"teacher": "0123456789abcdef"}, "reference": REF, "seeds": [1, 2],
        "summary": B.summary(rows, REF["exact"]), "rows": rows}))
    text = B.markdown(data)
    assert "## Within 60% of the teacher's size" in text
    assert "## Within 70% of the teacher's size" in text
    assert "| tpe-10 | 1 | initial | 3 | 3, 2 | 31.00 |" in text
    assert "0123456789abcdef" in text and "Threshold (always no-answer): 30.00 EM" in text


def test_command_line_refuses_bad_input_before_any_work(folder: Path, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]
                                                         ) -> None:
    out = tmp_path / "o.json"
    for argv, words in [
        (["--folder", str(folder), "--bands", "0", "--out", str(out)], "--bands"),
        (["--folder", str(folder), "--bands", "1.5", "--out", str(out)], "--bands"),
        (["--folder", str(folder), "--seeds", "1", "1", "--out", str(out)], "--seeds"),
        (["--folder", str(folder), "--seeds", "-1", "--out", str(out)], "--seeds"),
        (["--folder", str(folder), "--threads", "0", "--out", str(out)], "--threads"),
        (["--folder", str(tmp_path), "--out", str(out)], "no distill_compare/"),
        (["--folder", str(folder), "--out", str(tmp_path / "no" / "o.json")], "--out"),
        (["--folder", str(folder), "--runs", "sobol-10", "--out", str(out)], "no run sobol-10"),
        (["--folder", str(folder), "--runs", "gp-10", "--bands", "0.6", "--out", str(out)],
         "no completed student"),
    ]:
        with pytest.raises(SystemExit) as e:
            B.main(argv)
        assert e.value.code == 2
        assert words in capsys.readouterr().err
        assert not out.exists()


class _Task:
    """A fake prepared task: ``with_training_seed`` gives one whose scores depend on it;
    each training's seed goes to ``counter``."""

    def __init__(self, seed: int = 0, counter: list[int] | None = None) -> None:
        self.seed, self.counter = seed, counter if counter is not None else []

    def with_training_seed(self, seed: int) -> _Task:
        return _Task(seed, self.counter)

    def __call__(self, params: Mapping[str, Any]) -> dict[str, float]:
        self.counter.append(self.seed)
        return {"exact": params["k"] / 100.0 + self.seed, "f1": 0.0}


def test_the_command_line_writes_the_json_and_a_report_from_it(
        folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    box = SimpleNamespace(fn=_Task(), environment={"cpu": "CPU A", "teacher": "fedcba9876543210"})
    stamped: list[str] = []
    monkeypatch.setattr(B, "stamp_fields", lambda paths: stamped.append("stamp") or {
        "commit": "c0ffee", "dirty": False})
    monkeypatch.setattr(B, "load_task", lambda progress: stamped.append("task") or box)
    out = tmp_path / "bands.json"
    assert B.main(["--folder", str(folder), "--bands", "0.7", "0.6", "--seeds", "4", "5",
                   "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    assert stamped == ["stamp", "task"] and data["commit"] == "c0ffee"  # stamped first
    assert data["seeds"] == [4, 5] and data["reference"] == REF
    assert [(r["method"], r["band"], r["trial"]) for r in data["rows"]] == [
        ("tpe", 0.6, 1), ("tpe", 0.7, 4), ("gp", 0.7, 1)]
    k = data["rows"][0]["params"]["k"]
    assert data["rows"][0]["retrained"] == [k / 100.0 + 4, k / 100.0 + 5]
    assert set(data["summary"]) == {"0.6", "0.7"}
    assert out.with_suffix(".md").read_text() == B.markdown(data)
    assert data["device"] == "CPU" and data["environment"]["teacher"] == "fedcba9876543210"
    # a second check with one more seed trains only that seed, the log serves the rest
    calls: list[int] = []
    box.fn = _Task(counter=calls)
    assert B.main(["--folder", str(folder), "--bands", "0.7", "0.6", "--seeds", "4", "5", "6",
                   "--out", str(out)]) == 0
    assert calls == [6, 6]  # two distinct configurations
    again = json.loads(out.read_text())
    assert again["rows"][0]["retrained"] == [k / 100.0 + 4, k / 100.0 + 5, k / 100.0 + 6]
    lines = B.log_path(out).read_text().splitlines()
    assert json.loads(lines[0]) == {"environment": box.environment} and len(lines) == 1 + 6
    # a log from another environment: exit 2, nothing trained, nothing written
    box.environment = {**box.environment, "teacher": "0000000000000000"}
    before = out.read_text(), B.log_path(out).read_text()
    with pytest.raises(SystemExit) as e:
        B.main(["--folder", str(folder), "--out", str(out)])
    assert e.value.code == 2 and calls == [6, 6]
    assert (out.read_text(), B.log_path(out).read_text()) == before
