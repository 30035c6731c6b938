"""The paper's before/after of the 200-trial search (paper/before_after.py), on two small
journals whose every number is known by construction."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mobo.space import Categorical, Int, Space
from mobo.study import Study
from mobo.trial import Objective
from paper import before_after as BA

REFERENCE = {"exact": 30.0, "num_parameters": 100.0}


def _run(path: Path, outcomes: list[tuple[float, float]], trust_region: float | None,
         explore: float | None = None) -> None:
    """A journal whose k-th finished trial scored ``outcomes[k]`` = (exact, size); the
    parameters are whatever the study proposed (their depth and init are read back)."""
    space = Space([Int("n_layers", 1, 4), Categorical("init", ["teacher", "pretrained"])])
    objectives = [Objective("exact", maximize=True, threshold=REFERENCE["exact"]),
                  Objective("num_parameters", threshold=REFERENCE["num_parameters"])]
    study = Study(space, objectives, seed=0, n_initial=3, storage=path,
                  trust_region=trust_region, explore=explore)
    for exact, size in outcomes:
        t = study.ask()
        study.tell(t, {"exact": exact, "num_parameters": size})
    study.close()


def _write_reference(results: Path) -> None:
    (results / "distill_reference.json").write_text(json.dumps({
        "always_no_answer_exact": REFERENCE["exact"],
        "teacher": {"num_parameters": REFERENCE["num_parameters"]}}))


def test_summary_counts_and_hypervolume_by_hand(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    # 3 design trials, then 4 model proposals of which 2 beat the threshold of 30
    outcomes = [(20.0, 90.0), (40.0, 80.0), (30.0, 50.0),
                (50.0, 60.0), (10.0, 40.0), (35.0, 30.0), (30.0, 20.0)]
    _run(path, outcomes, trust_region=None)
    s = BA.run_summary(path, REFERENCE)
    study = Study.read(path)
    model = [t for t in study.trials if t.source == "model"]
    assert s["trials"] == 7 and s["model"] == 4 == len(model)
    assert s["share"] == pytest.approx(2 / 4)
    assert s["one_layer"] == pytest.approx(sum(t.params["n_layers"] == 1 for t in model) / 4)
    assert s["pretrained"] == pytest.approx(
        sum(t.params["init"] == "pretrained" for t in model) / 4)
    assert s["settings"] == "global search, every objective modelled"
    # the points strictly above the threshold, as (EM above 30, 1 - size/teacher):
    # (10, 0.2), (20, 0.4), (5, 0.7); the union of the rectangles [0, a] x [0, b] they
    # span is 20 x 0.4 plus the strip of 5 x (0.7 - 0.4) above it
    union = 20 * 0.4 + 5 * (0.7 - 0.4)
    assert s["hv"] == {}                        # no checkpoint of 25 reached
    assert BA.run_hypervolume(s["rows"], REFERENCE) == pytest.approx(union)
    # best exact within 60% of the teacher's size: 50 at 60, within 70% the same
    assert s["best"][0.6] == 50.0 and s["best"][0.8] == 50.0


def test_section_table_and_refusal(tmp_path: Path) -> None:
    results = tmp_path / "results"
    results.mkdir()
    _write_reference(results)
    _run(results / BA.BEFORE, [(20.0, 90.0), (40.0, 80.0), (30.0, 50.0), (31.0, 10.0)], None)
    with pytest.raises(ValueError, match="missing"):
        BA.before_after_section(results, tmp_path)
    _run(results / BA.AFTER, [(20.0, 90.0), (40.0, 80.0), (30.0, 50.0)], 0.05)
    values, tables, fig = BA.before_after_section(results, tmp_path)
    assert values["before_journal"] == f"results/{BA.BEFORE}"
    assert values["after_coverage"] == "partial: 3 of its 200 trials so far"
    table = tables["table_before_after"]
    assert values["before_after_table"] == table
    lines = {line.split(" | ")[0].lstrip("| "): line for line in table.splitlines()}
    assert lines["proposer"].endswith("| global search, every objective modelled | "
                                      "trust region 0.05, every objective modelled |")
    assert lines["finished trials"].endswith("| 4 | 3 |")
    # the after run has no model proposal yet: its shares are dashes, not 0%
    assert lines["model proposals above the no-answer threshold"].endswith("| 100% | - |")
    assert lines["hypervolume after 25 trials"].endswith("| - | - |")
    assert len(fig.axes) == 2
    # the before run's points above the threshold: (10, 0.2) and (1, 0.9) in (EM above 30,
    # 1 - size/teacher); their union is 10 x 0.2 plus 1 x (0.9 - 0.2)
    rows = BA.run_summary(results / BA.BEFORE, REFERENCE)["rows"]
    assert BA.run_hypervolume(rows, REFERENCE) == pytest.approx(10 * 0.2 + 1 * 0.7)
    # another pair of journals (the GPU runs) under its own names; the after run must be
    # staged like the default one
    with pytest.raises(ValueError, match="missing"):
        BA.before_after_section(results, tmp_path, BA.BEFORE, "other.jsonl", prefix="gpu_")
    gpu, gpu_tables, _ = BA.before_after_section(results, tmp_path, BA.AFTER, BA.BEFORE,
                                                 prefix="gpu_")
    assert gpu["gpu_before_journal"] == f"results/{BA.AFTER}"
    assert gpu["gpu_after_coverage"] == "partial: 4 of its 200 trials so far"
    assert gpu_tables == {"table_gpu_before_after": gpu["gpu_before_after_table"]}


def test_settings_name_the_exploration_share(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    _run(path, [(20.0, 90.0), (40.0, 80.0), (30.0, 50.0), (50.0, 60.0)], trust_region=0.05,
         explore=0.5)
    assert BA.run_summary(path, REFERENCE)["settings"] == (
        "trust region 0.05, exploration share 0.5, every objective modelled")


def test_shared_design_compares_the_same_configurations(tmp_path: Path) -> None:
    # same seed and design size: both runs ask the same three configurations first
    a, b, c = tmp_path / "a.jsonl", tmp_path / "b.jsonl", tmp_path / "c.jsonl"
    _run(a, [(20.0, 90.0), (40.0, 80.0), (30.0, 50.0), (31.0, 10.0)], None)
    _run(b, [(20.0, 90.0), (40.0, 80.0), (30.0, 50.0)], 0.05)
    _run(c, [(20.5, 90.0), (40.0, 80.0), (33.0, 50.0)], 0.05)
    sa, sb, sc = (BA.run_summary(p, REFERENCE) for p in (a, b, c))
    assert [p for p, _ in sa["initial"]] == [p for p, _ in sb["initial"]]
    assert [e for _, e in sa["initial"]] == [20.0, 40.0, 30.0]
    assert BA.shared_design(sa, sb) == ("; the 3 configurations their initial designs share "
                                        "scored the same exact match in both, so the two "
                                        "machines train the same students")
    words = BA.shared_design(sa, sc)
    # differences 0.5, 0 and 3: one the same, the largest 3.00, the median of the others 1.75
    assert "of the 3 configurations" in words and ", 1 scored the same" in words
    assert "up to 3.00 EM (median 1.75)" in words
    # no configuration asked at the same place with the same parameters, or only failed
    # ones (no exact match): no clause
    one = {"initial": [({"n_layers": 1}, 20.0), ({"n_layers": 2}, None)]}
    two = {"initial": [({"n_layers": 3}, 20.0), ({"n_layers": 2}, 35.0)]}
    assert BA.shared_design(one, two) == ""
