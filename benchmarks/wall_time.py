"""The wall time of a study's run, read from its journal: one definition for every report.

A run's wall time is the time from its first trial's start to its last trial's end, as
the journal's event times record them (a trial starts at its ``ask`` event and ends at its
``tell``, ``fail`` or in-process ``abandon`` event). A run that was stopped and resumed
counts each segment that way and adds them up: the time between segments, when no process
was running the study, does not count. The journal marks a resume where it records the
trial that was running when the process stopped as abandoned (``mobo.Study`` does that on
opening a journal); a stop between two trials leaves no mark, and the pause then counts
unless the caller names the first trial after it (``resumed_before``, known from outside
the journal: a report's facts file).

Preparation before the first trial (fine-tuning a teacher, computing its logits) is not
in the journal. It is added only when it was measured and is passed in; reports that have
no measurement say so instead of estimating it.

Used by ``benchmarks/distill_report.py`` (which writes ``results/distill.md`` from the
distillation journals in ``results/``) and by ``paper/figures.py``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from mobo.study import Study
from mobo.trial import Trial

__all__ = ["RESUME_ERROR", "Segment", "WallTime", "run_wall_time", "segments"]

# The error mobo.Study records for a trial whose process stopped while it ran; the event is
# written when the journal is opened again, so its time is the moment of the resume.
RESUME_ERROR = "process stopped while the trial was running"


@dataclass(frozen=True)
class Segment:
    """One uninterrupted stretch of a run: the trials started between two resumes."""

    start: float  # the first trial's start (time.time() seconds)
    end: float  # the last trial's end; equal to start when no trial ended
    trials: tuple[Trial, ...]  # trials started in the segment, in order
    ended: tuple[Trial, ...]  # those that ended in it (completed, failed or abandoned there)

    @property
    def seconds(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class WallTime:
    """A run's wall time: its segments' trial spans, plus measured preparation if given."""

    segments: tuple[Segment, ...]
    preparation_s: float | None = None

    @property
    def trials_s(self) -> float:
        """First trial start to last trial end, summed over segments."""
        return sum(s.seconds for s in self.segments)

    @property
    def seconds(self) -> float:
        """The run's wall time: ``trials_s``, plus the preparation when it was measured."""
        return self.trials_s + (self.preparation_s or 0.0)

    @property
    def minutes(self) -> float:
        return self.seconds / 60.0


def _resumed(trial: Trial) -> bool:
    return trial.status == "abandoned" and trial.error == RESUME_ERROR


def segments(study: Study, resumed_before: Sequence[int] = ()) -> list[Segment]:
    """The run's segments, split where the journal records a resume and before each trial
    numbered in ``resumed_before`` (the first trial of a segment whose previous one
    stopped between two trials, which leaves no mark in the journal)."""
    trials = [t for t in study.trials if t.started is not None]
    by_number = {t.number: t for t in trials}
    unknown = sorted(set(resumed_before) - set(by_number))
    if unknown:
        raise ValueError(f"resumed_before: no started trial numbered {unknown[0]}")
    resumes = sorted([float(t.finished) for t in trials  # type: ignore[arg-type]
                      if _resumed(t) and t.finished is not None]
                     + [float(by_number[k].started) for k in resumed_before])  # type: ignore[arg-type]
    bounds = [-math.inf, *resumes, math.inf]
    out: list[Segment] = []
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        inside = tuple(t for t in trials if lo <= t.started < hi)  # type: ignore[operator]
        if not inside:
            continue
        ended = tuple(t for t in inside if t.finished is not None and not _resumed(t))
        start = min(float(t.started) for t in inside)  # type: ignore[arg-type]
        end = max((float(t.finished) for t in ended), default=start)  # type: ignore[arg-type]
        out.append(Segment(start, max(start, end), inside, ended))
    return out


def run_wall_time(study: Study, preparation_s: float | Sequence[float | None] | None = None,
                  resumed_before: Sequence[int] = ()) -> WallTime:
    """The wall time of the run recorded in ``study``'s journal.

    ``preparation_s``: the measured time from a launch to its first trial, one value per
    segment (a bare number for a run in one segment); it counts only when every segment's
    is known (a ``None`` leaves the preparation out, as unmeasured). ``resumed_before``:
    as for :func:`segments`.
    """
    segs = tuple(segments(study, resumed_before))
    if preparation_s is None:
        return WallTime(segs, None)
    values = [preparation_s] if isinstance(preparation_s, int | float) else list(preparation_s)
    if len(values) != len(segs):
        raise ValueError(f"preparation_s: {len(values)} value(s) for {len(segs)} segment(s)")
    known = [float(v) for v in values if v is not None]
    return WallTime(segs, float(sum(known)) if len(known) == len(values) else None)
