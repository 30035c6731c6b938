"""benchmarks.speed_trainer_report and speed_trainer --record: the trainer report from JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from benchmarks import speed_trainer
from benchmarks.speed_trainer_report import (
    append,
    load,
    main,
    markdown,
    reported,
    speedups,
)

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "results"


def _m(device_type: str, features: int, ours: float, hf: float, **kw: Any) -> dict[str, Any]:
    return {"device": "GPU X" if device_type == "cuda" else "CPU (x86_64), 2 threads",
            "device_type": device_type, "precision": "float32", "features": features,
            "mean_tokens": 70.0, "n_layers": 3, "batch_size": 16, "repeats": 2,
            "ours_seconds": ours, "hf_seconds": hf, "ours_examples_per_s": features / ours,
            "hf_examples_per_s": features / hf, "speedup": hf / ours, **kw}


def test_the_latest_measurement_per_device_and_size_is_reported() -> None:
    ms = [_m("cpu", 256, 5.0, 6.0), _m("cuda", 4000, 4.0, 4.4),
          _m("cpu", 512, 10.0, 15.0), _m("cpu", 256, 4.0, 6.0),
          _m("cuda", 4000, 2.0, 3.0, ours_runs=[9.0, 2.0], hf_runs=[20.0, 3.0])]
    assert reported(ms) == [ms[3], ms[2], ms[4]]
    assert speedups({"measurements": ms}) == ([1.5, 1.5], [1.5])
    text = markdown({"measurements": ms})
    # the latest table: CPU first, then by size; the GPU row judged against the target
    rows = [line for line in text.splitlines() if line.startswith("| CPU") or
            line.startswith("| GPU")]
    assert rows[0].startswith("| CPU (x86_64), 2 threads | float32 | 256 (70) | 4.0 | 64.0 |")
    assert rows[2].startswith("| GPU X | float32 | 4,000 (70) | 2.0 | 2,000 | 3.0 | 1,333 | "
                              "1.50x | target at least 1.3x: met |")
    # every measurement is listed, with its runs where they were kept
    assert text.count("\n### ") == 5
    assert "| 1 | 9.0 | 20.0 |\n| 2 | 2.0 | 3.0 |" in text
    assert "Each trainer's fastest of 2 run(s): distill.train 5.0 s" in text
    assert "**1.10x** (target at least 1.3x: missed)" in text


def test_the_committed_report_is_what_the_json_generates() -> None:
    data = load(RESULTS / "speed_trainer.json")
    assert (RESULTS / "speed_trainer.md").read_text() == markdown(data), \
        "results/speed_trainer.md is not what the JSON gives: python -m " \
        "benchmarks.speed_trainer_report"


def test_main_and_bad_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "speed_trainer.json"
    append(path, _m("cpu", 256, 5.0, 6.0))
    assert main(["--json", str(path), "--out", str(tmp_path / "r.md")]) == 0
    assert "1.20x" in (tmp_path / "r.md").read_text()
    path.write_text(json.dumps({"measurements": [{"device": "x"}]}))
    assert main(["--json", str(path), "--out", str(tmp_path / "r.md")]) == 2
    assert "measurement 0 lacks" in capsys.readouterr().err


def test_record_appends_the_run_and_rewrites_the_report(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "speed_trainer.json"
    append(path, _m("cpu", 256, 5.0, 6.0))
    fake = _m("cpu", 256, 4.0, 5.0, ours_runs=[4.0], hf_runs=[5.0])

    def run(**kwargs: Any) -> dict[str, Any]:
        assert kwargs["n_examples"] == 256 and kwargs["threads"] == 1
        return dict(fake)

    monkeypatch.setattr(speed_trainer, "run", run)
    speed_trainer.main(["--examples", "256", "--threads", "1", "--record", str(path)])
    assert "Speed-up: 1.25x" in capsys.readouterr().out
    data = load(path)
    new = data["measurements"][-1]
    assert len(data["measurements"]) == 2 and new["speedup"] == 1.25
    assert new["command"] == ("python -m benchmarks.speed_trainer --examples 256 --threads 1 "
                              f"--record {path}")
    assert new["date"] and "torch" in new["versions"] and "load average" in new[
        "machine_state"]
    assert (tmp_path / "speed_trainer.md").read_text() == markdown(data, path.as_posix())
    assert speedups(data) == ([1.25], [])
