"""benchmarks.distill_report: results/distill.md generated from journals and JSON files."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from benchmarks import distill_report
from benchmarks.distill_report import (
    Inputs,
    design_rows,
    load_inputs,
    main,
    markdown,
    summarise,
)
from benchmarks.wall_time import run_wall_time
from mobo.study import Study
from tests.benchmarks.journals import resumed_journal

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "results"
# ask 0, end 0, ask 1, end 1, ask 2, resume, ask 3, end 3
TIMES = [100.0, 110.0, 111.0, 130.0, 131.0, 1000.0, 1005.0, 1025.0]


@pytest.fixture
def tiny(tmp_path: Path) -> tuple[Inputs, Path]:
    """The committed task, reference and hand-measured facts, with one tiny run: three
    Sobol trials (the second fails), stopped while the third ran, resumed."""
    path = resumed_journal(tmp_path / "distill_budget3.jsonl", TIMES, [40.0, None, 31.0])
    committed = load_inputs(RESULTS)
    run = {"journal": "distill_budget3.jsonl", "title": "A tiny run", "teacher": "in_use",
           "device": "cpu", "command": "budget20_cold", "machine": "a test",
           "segments": [{"preparation_s": 4.0}, {"preparation_s": 6.0}]}
    facts = {**committed.facts, "runs": [run]}
    inputs = Inputs(committed.task, committed.reference, facts,
                    {run["journal"]: Study.read(path)}, {run["journal"]: path})
    return inputs, path


def test_a_tiny_run_gives_its_wall_time_counts_and_hypervolume(tiny: tuple[Inputs, Path]
                                                               ) -> None:
    inputs, path = tiny
    s = summarise("distill_budget3.jsonl", Study.read(path), [4.0, 6.0], design_rows(path))
    # first start to last end per segment, plus the measured preparation of both
    assert s.wall.trials_s == pytest.approx(30.0 + 20.0)
    assert s.wall.seconds == pytest.approx(60.0)
    assert (len(s.completed), len(s.failed), len(s.abandoned), s.finished) == (2, 1, 1, 3)
    assert s.sources == {"sobol": 2, "requeue": 1} and s.budget == 3
    assert s.above == 2 and [t.number for t in s.front] == [3, 0]
    assert sorted(s.durations) == [10.0, 19.0, 20.0] and s.median_trial_s == 19.0
    assert s.design == {0: 0, 1: 1, 2: 2}
    # only trial 3 is strictly inside the reference (30 EM, 1,000 parameters)
    assert s.hv[-1] == pytest.approx((31.0 - 30.0) * (1000.0 - 600.0))
    assert s.hv_reached().number == 3

    text = markdown(inputs)
    assert ("| `distill_budget3.jsonl` | CPU | 3 of 3 | 2 | 0.5 + 0.3 min | 10 s (measured) "
            "| **60 s (1.0 min)** | - |") in text
    assert "- **Run wall time 60 s (1.0 min)**: 0.5 + 0.3 min over 2 segments" in text
    assert "- Segment 1: 2 trials ended (trials 0-1) in 30 s (0.5 min)" in text
    assert "while trial 2 ran (recorded abandoned, asked again as trial 3)" in text
    assert "- 3 trials finished: 2 completed, 1 failed, 1 abandoned and asked again" in text
    assert "- Trial 1 failed: `loss diverged`" in text
    assert "**Median trial 19.0 s** (10.0 s to 20.0 s; sum 0.8 min)" in text
    assert "2 of 2 completed trials beat the threshold (30.00)" in text
    assert "**4.000e2** at the end (reached with trial 3)" in text


def test_preparation_not_measured_for_every_segment_is_not_added(
        tiny: tuple[Inputs, Path]) -> None:
    inputs, _ = tiny
    run = {**inputs.facts["runs"][0], "segments": [{"preparation_s": 4.0},
                                                   {"preparation_s": None}]}
    text = markdown(Inputs(inputs.task, inputs.reference, {**inputs.facts, "runs": [run]},
                           inputs.studies, inputs.paths))
    assert "| segment 1: 4 s, 2: not measured; not added | **50 s (0.8 min)** |" in text
    assert "preparation not included (not measured for every segment)" in text
    # the facts must describe each segment the journal has
    one = {**run, "segments": [{"preparation_s": 4.0}]}
    with pytest.raises(distill_report.InputError, match="2 segment"):
        markdown(Inputs(inputs.task, inputs.reference, {**inputs.facts, "runs": [one]},
                        inputs.studies, inputs.paths))


def test_the_committed_report_is_what_the_results_generate() -> None:
    assert (RESULTS / "distill.md").read_text() == markdown(load_inputs(RESULTS)), \
        "results/distill.md is not what the result files give: python -m " \
        "benchmarks.distill_report"


def test_the_committed_report_uses_the_one_wall_time() -> None:
    text = (RESULTS / "distill.md").read_text()
    facts = json.loads((RESULTS / "distill_facts.json").read_text())
    for run in facts["runs"]:
        wall = run_wall_time(Study.read(ROOT / run["journal"]),
                             [seg.get("preparation_s") for seg in run["segments"]],
                             run.get("resumed_before_trials") or [])
        row = next(line for line in text.splitlines()
                   if line.startswith(f"| `{Path(run['journal']).name}` |"))
        shown = f"{wall.seconds:.0f} s" if wall.seconds < 600 else f"{wall.minutes:.1f} min"
        assert f"**{shown}" in row, (row, shown)
    # no figure the result files do not hold: the reference task's scores are gone
    assert not re.search(r"\b(85\.5|90\.5)\b", text)


def test_main_writes_the_report_and_refuses_missing_inputs(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    results = tmp_path / "results"
    results.mkdir()
    for name in ("distill_task.json", "distill_reference.json", "distill_facts.json"):
        shutil.copy(RESULTS / name, results / name)
    assert main(["--results", str(results), "--out", str(tmp_path / "d.md")]) == 2
    assert "error:" in capsys.readouterr().err  # the journals are not there
    for run in json.loads((RESULTS / "distill_facts.json").read_text())["runs"]:
        shutil.copy(ROOT / run["journal"], results / Path(run["journal"]).name)
    assert main(["--results", str(results), "--out", str(tmp_path / "d.md")]) == 0
    assert (tmp_path / "d.md").read_text() == (RESULTS / "distill.md").read_text()
    (results / "distill_task.json").unlink()
    assert main(["--results", str(results), "--out", str(tmp_path / "d.md")]) == 2
    assert "distill_task.json: missing" in capsys.readouterr().err
