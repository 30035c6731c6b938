"""The study setting ``front`` (what EHVI improves on: the observed front, posterior samples
of it, or its posterior mean): that it proposes what the proposer options it stands for
propose, that unset it leaves proposals as they were, its record in the journal, its checks
on resume, and ``python -m mobo.run --front``."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from mobo.definition import FRONTS, effective_front
from mobo.run import main
from mobo.space import Float, Space
from mobo.study import Study
from mobo.tasks import TaskEntry
from mobo.trial import Objective

SPACE3 = Space([Float("a", 0.0, 1.0), Float("b", 0.0, 1.0), Float("c", 0.0, 1.0)])
FAST = {"n_candidates": 256, "n_local": 8, "n_starts": 2, "max_iter": 10}
OBJECTIVES = [Objective("f0", threshold=0.8), Objective("f1", threshold=0.9)]
# the proposer options each setting stands for
OPTIONS = {"observed": {"sample_front": False},
           "sampled": {"sample_front": True, "n_front_samples": 4},
           "plug-in": {"sample_front": True, "plug_in_front": True}}


def _fn(params: dict[str, Any]) -> dict[str, float]:
    a, b, c = params["a"], params["b"], params["c"]
    return {"f0": a + 0.3 * c, "f1": 1.0 - a * a + 0.3 * b}


def _params(budget: int, noisy: bool = False, **kwargs: Any) -> list[dict[str, Any]]:
    options = dict(FAST) | kwargs.pop("proposer_options", {})
    study = Study(SPACE3, OBJECTIVES, seed=0, n_initial=6, noisy=noisy,
                  proposer_options=options, **kwargs)
    study.optimize(_fn, budget)
    return [t.params for t in study.trials]


@pytest.mark.parametrize("noisy", [False, True])
def test_each_setting_proposes_what_its_proposer_options_propose(noisy: bool) -> None:
    runs = {}
    for front in FRONTS:
        extra = {"n_front_samples": 4} if front == "sampled" else {}
        runs[front] = _params(11, noisy, front=front, proposer_options=extra)
        assert runs[front] == _params(11, noisy, proposer_options=OPTIONS[front])
    # unset, the study proposes as before the setting existed: the default for its noise
    default = "sampled" if noisy else "observed"
    assert effective_front(None, noisy) == default
    unset = _params(11, noisy, proposer_options={"n_front_samples": 4})
    assert unset == runs[default]
    # the three treatments are different proposers (so the equalities above can fail)
    for i, f in enumerate(FRONTS):
        for g in FRONTS[i + 1:]:
            assert runs[f][6:] != runs[g][6:]


@pytest.mark.parametrize("bad", ["plugin", "", "Observed", True, 1])
def test_bad_settings_are_refused(bad: Any) -> None:
    with pytest.raises(ValueError, match="front: expected None or one of observed"):
        Study(SPACE3, ["f0", "f1"], front=bad)


def test_given_twice_it_is_refused() -> None:
    with pytest.raises(ValueError, match="front: the study's is 'plug-in'"):
        Study(SPACE3, ["f0", "f1"], front="plug-in", proposer_options={"sample_front": True})


def test_study_records_it_and_checks_it_on_resume(tmp_path: Path) -> None:
    on, off = tmp_path / "on.jsonl", tmp_path / "off.jsonl"
    with Study(SPACE3, OBJECTIVES, storage=on, seed=0, n_initial=6, proposer_options=FAST,
               front="plug-in") as s:
        s.optimize(_fn, 9)
    with Study(SPACE3, OBJECTIVES, storage=off, seed=0, n_initial=6,
               proposer_options=FAST) as s:
        s.optimize(_fn, 8)
    assert json.loads(on.read_text().splitlines()[0])["front"] == "plug-in"
    assert "front" not in json.loads(off.read_text().splitlines()[0])
    assert Study.read(on).front == "plug-in" and Study.read(off).front is None
    # resumed, the journal's setting holds: the proposals are those of an unbroken run
    with Study(SPACE3, OBJECTIVES, storage=on, seed=0, n_initial=6, proposer_options=FAST,
               front="plug-in") as s:
        s.optimize(_fn, 11)
    assert [t.params for t in Study.read(on).trials] == _params(11, front="plug-in")
    before_on, before_off = on.read_bytes(), off.read_bytes()
    for path, front in ((on, "observed"), (on, None), (off, "sampled")):
        with pytest.raises(ValueError, match="it was created with front="):
            Study(SPACE3, OBJECTIVES, storage=path, seed=0, n_initial=6, front=front)
    with pytest.raises(ValueError, match="front: the study's is 'plug-in'"):
        Study.load(on, {"plug_in_front": False})
    assert on.read_bytes() == before_on and off.read_bytes() == before_off
    # naming the default a journal was made with is the same study
    with Study(SPACE3, OBJECTIVES, storage=off, seed=0, n_initial=6, proposer_options=FAST,
               front="observed") as s:
        assert s.front is None and s.n_finished == 8


def test_cli_flag_recorded_kept_on_resume_and_checked(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    journal = tmp_path / "t.jsonl"
    base = ["--problem", "zdt1", "--seed", "1", "--storage", str(journal)]
    shown = io.StringIO()
    assert main([*base, "--budget", "9", "--front", "plug-in"], out=shown) == 0
    assert "settings: plug-in front" in shown.getvalue()
    assert json.loads(journal.read_text().splitlines()[0])["front"] == "plug-in"
    assert main([*base, "--budget", "10"], out=io.StringIO()) == 0  # the journal's
    assert Study.read(journal).front == "plug-in"
    before = journal.read_bytes()
    assert main([*base, "--budget", "11", "--front", "observed"], out=io.StringIO()) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "front" in err[0]
    assert journal.read_bytes() == before
    assert main(["--problem", "zdt1", "--budget", "3", "--front", "mean"],
                out=io.StringIO()) == 2
    assert "--front" in capsys.readouterr().err


def test_a_task_may_recommend_it() -> None:
    entry = TaskEntry("x", "y", lambda a, s: None, study_options={"front": "plug-in"})
    assert entry.study_options == {"front": "plug-in"}
