"""Tiny distillation-shaped journals with chosen event times, for the report tests."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from mobo.space import Categorical, Float, Int, Space
from mobo.study import Study
from mobo.trial import Objective

THRESHOLD = 30.0


def space() -> Space:
    return Space([Float("learning_rate", 1e-5, 1e-2, log=True), Float("dropout", 0.0, 0.5),
                  Int("n_layers", 1, 6), Int("n_heads", 1, 12),
                  Categorical("init", ["teacher", "pretrained"]),
                  Categorical("layer_choice", ["spaced", "first"])])


def objectives() -> list[Objective]:
    return [Objective("exact", maximize=True, threshold=THRESHOLD),
            Objective("num_parameters")]


def resumed_journal(path: Path, times: Sequence[float], exact: Sequence[float | None],
                    ref: tuple[float, float] | None = (THRESHOLD, 1000.0)) -> Path:
    """A study of three Sobol trials stopped while its third ran, then resumed: the third
    is abandoned and asked again (a fourth trial). ``exact`` gives the three outcomes
    (None: the trial fails). ``times`` are the event times after the header, in order:
    ask 0, end 0, ask 1, end 1, ask 2, the resume (abandon 2), ask 3, end 3. A ``ref``
    event is added after the header when ``ref`` is given."""
    study = Study(space(), objectives(), seed=0, n_initial=10, storage=path)
    sizes = iter([1000.0, 600.0, 800.0])
    outcomes = iter(exact)

    def finish(s: Study) -> None:
        t = s.ask()
        value = next(outcomes)
        if value is None:
            s.tell(t, failed=True, error="loss diverged", duration=1.0)
        else:
            s.tell(t, {"exact": value, "num_parameters": next(sizes), "f1": value},
                   duration=1.0)

    finish(study)
    finish(study)
    study.ask()  # running when the process stops
    study.close()
    resumed = Study.load(path)  # records the running trial as abandoned
    finish(resumed)
    resumed.close()
    events = [json.loads(line) for line in path.read_text().splitlines()]
    assert [e["event"] for e in events[1:]] == ["ask", events[2]["event"], "ask",
                                                events[4]["event"], "ask", "abandon", "ask",
                                                events[8]["event"]], events
    assert len(times) == len(events) - 1
    for event, when in zip(events[1:], times, strict=True):
        event["time"] = float(when)
    for k in (2, 4, 8):  # the durations, as the trials' event times say
        events[k]["duration"] = times[k - 1] - times[k - 2]
    if ref is not None:
        events.insert(1, {"event": "ref", "ref": [-ref[0], ref[1]],
                          "user": {"exact": ref[0], "num_parameters": ref[1]},
                          "inferred": ["num_parameters"], "time": float(times[0])})
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    return path
