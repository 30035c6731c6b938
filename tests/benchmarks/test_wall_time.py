"""benchmarks.wall_time: a run's wall time from its journal's event times."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.wall_time import RESUME_ERROR, run_wall_time, segments
from mobo.study import Study
from tests.benchmarks.journals import resumed_journal

# ask 0, end 0, ask 1, end 1, ask 2, resume, ask 3, end 3
TIMES = [100.0, 110.0, 111.0, 130.0, 131.0, 1000.0, 1005.0, 1025.0]


@pytest.fixture
def study(tmp_path: Path) -> Study:
    return Study.read(resumed_journal(tmp_path / "j.jsonl", TIMES, [40.0, None, 31.0]))


def test_a_resumed_run_counts_each_segment_from_first_start_to_last_end(study: Study) -> None:
    segs = segments(study)
    assert [(s.start, s.end) for s in segs] == [(100.0, 130.0), (1005.0, 1025.0)]
    # the trial running at the stop belongs to the first segment and ends none
    assert [t.number for t in segs[0].trials] == [0, 1, 2]
    assert [t.number for t in segs[0].ended] == [0, 1]  # the failed trial ends too
    assert [t.number for t in segs[1].ended] == [3]
    assert study.trials[2].error == RESUME_ERROR
    wall = run_wall_time(study)
    # (130 - 100) + (1025 - 1005): neither the pause before the resume (870 s) nor the
    # stopped trial's unrecorded end counts, and proposal time between trials does
    assert wall.trials_s == pytest.approx(50.0)
    assert wall.seconds == pytest.approx(50.0) and wall.minutes == pytest.approx(50 / 60)
    assert wall.preparation_s is None


def test_preparation_counts_only_when_every_segment_measured_it(study: Study) -> None:
    assert run_wall_time(study, [5.0, 7.0]).seconds == pytest.approx(62.0)
    partial = run_wall_time(study, [5.0, None])
    assert partial.preparation_s is None and partial.seconds == pytest.approx(50.0)
    with pytest.raises(ValueError, match="2 segment"):
        run_wall_time(study, 5.0)


def test_a_run_in_one_piece(tmp_path: Path) -> None:
    # no resume: the same journal without its abandon event is one segment from the
    # first start to the last end, whatever the gaps between trials
    path = resumed_journal(tmp_path / "j.jsonl", TIMES, [40.0, 35.0, 31.0])
    lines = [line for line in path.read_text().splitlines() if '"abandon"' not in line]
    lines = [line.replace('"source": "requeue"', '"source": "sobol"') for line in lines]
    path.write_text("\n".join(lines[:-2]) + "\n")  # drop the re-ask and its end
    one = Study.read(path)
    assert one.trials[2].status == "running"
    wall = run_wall_time(one, 3.0)
    assert len(wall.segments) == 1
    assert wall.trials_s == pytest.approx(30.0) and wall.seconds == pytest.approx(33.0)


def test_a_stop_between_two_trials_splits_where_the_caller_says(tmp_path: Path) -> None:
    # the journal of test_a_run_in_one_piece, which marks no resume; the caller knows
    # that the process stopped after trial 0 and a new one began with trial 1
    path = resumed_journal(tmp_path / "j.jsonl", TIMES, [40.0, 35.0, 31.0])
    lines = [line for line in path.read_text().splitlines() if '"abandon"' not in line]
    lines = [line.replace('"source": "requeue"', '"source": "sobol"') for line in lines]
    path.write_text("\n".join(lines[:-2]) + "\n")
    one = Study.read(path)
    whole = run_wall_time(one)
    split = run_wall_time(one, resumed_before=[1])
    assert [(s.start, s.end) for s in split.segments] == [(100.0, 110.0), (111.0, 130.0)]
    assert [[t.number for t in s.trials] for s in split.segments] == [[0], [1, 2]]
    assert split.trials_s == pytest.approx(whole.trials_s - 1.0)  # the 1 s gap is out
    assert run_wall_time(one, [2.0, 3.0], resumed_before=[1]).seconds == \
        pytest.approx(split.trials_s + 5.0)
    with pytest.raises(ValueError, match="no started trial numbered 7"):
        segments(one, [7])
