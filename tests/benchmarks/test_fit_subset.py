"""The subset-fit benchmark (benchmarks/fit_subset.py) on a tiny budget: the two variants
agree until the subset's size and are scored, stored and reported as documented."""

from __future__ import annotations

from pathlib import Path

import pytest

import mobo.gp
from benchmarks import fit_subset as F
from mobo.problems import hv_gap


def test_the_variant_switches_the_subset_off_and_back(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mobo.gp, "FIT_SUBSET", 12)
    with F.variant("full", 30):
        assert not mobo.gp._large(30)
    assert mobo.gp._large(13) and mobo.gp.FIT_SUBSET == 12
    with F.variant("subset", 30):
        assert mobo.gp._large(13)
    with pytest.raises(ValueError, match="variant"):
        with F.variant("half", 30):
            pass
    assert F.checkpoints(120) == [12, 62, 112, 120]
    assert F.checkpoints(12) == [12]


def test_runs_agree_up_to_the_subset_and_are_scored_as_compare_scores(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mobo.gp, "FIT_SUBSET", 10)
    out = tmp_path / "fs"
    argv = ["--problems", "branincurrin", "--seeds", "3", "--budget", "16", "--out", str(out)]
    assert F.main(argv) == 0
    rows = F.read_rows(out.with_suffix(".csv"))
    assert [(r["variant"], r["n_evals"]) for r in rows] == [
        ("subset", 10), ("subset", 16), ("full", 10), ("full", 16)]
    # the same study until the subset's size; more points never dominate less
    assert rows[0]["hypervolume"] == rows[2]["hypervolume"]
    assert rows[1]["hypervolume"] >= rows[0]["hypervolume"] > 0
    # the gap is the one of the hypervolume recorded
    for r in rows:
        assert r["log10_gap"] == hv_gap(r["max_hv"], r["hypervolume"])
        assert r["proposal_s"] > 0 and r["commit"] != ""
    text = out.with_suffix(".md").read_text()
    assert "| branincurrin | 10 | 1 |" in text and "| branincurrin | 16 | 1 |" in text
    # a rerun skips what is there; a shorter budget than the file's runs is refused
    assert F.main(argv) == 0
    assert len(F.read_rows(out.with_suffix(".csv"))) == 4
    assert F.main([*argv[:-4], "--budget", "12", "--out", str(out)]) == 2


def test_bad_arguments_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    for argv, needle in ((["--problems", "nope"], "unknown nope"),
                         (["--budget", "100"], "must exceed"),
                         (["--seeds", "1", "1"], "distinct")):
        with pytest.raises(SystemExit) as e:
            F.parse_args(argv)
        assert e.value.code == 2 and needle in capsys.readouterr().err
