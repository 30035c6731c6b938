"""Where the proposals go (benchmarks/distill_where.py): counts against a plain loop, the
command line, and the committed report against the committed per-run files."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from benchmarks import distill_where as W
from benchmarks.distill_compare import NAME, _csv_row, above_share, parse_row, read_records
from mobo import Categorical, Int, Objective, Space, Study

THRESHOLD = 30.0


def _rec(trial: int, source: str, layers: int, heads: int, init: str, status: str,
         exact: float | None) -> dict:
    return {"trial": trial, "source": source, "status": status,
            "params": {"n_layers": layers, "n_heads": heads, "init": init},
            "values": None if exact is None else {"exact": exact, "num_parameters": 1.0},
            "seconds": 1.0}


def _folder(tmp_path: Path, runs: dict[tuple[str, int], list[dict]]) -> Path:
    (tmp_path / NAME).mkdir(parents=True)
    (tmp_path / NAME / "reference.json").write_text(
        json.dumps({"exact": THRESHOLD, "num_parameters": 100.0}))
    for (m, s), recs in runs.items():
        (tmp_path / NAME / f"{m}-{s}.jsonl").write_text(
            "".join(json.dumps(r) + "\n" for r in recs))
    return tmp_path


def _random_run(rng: random.Random, n: int) -> list[dict]:
    out = []
    for k in range(n):
        status = rng.choice(["completed"] * 5 + ["failed"])
        out.append(_rec(k, "initial" if k < 5 else "model", rng.randint(1, 6),
                        rng.randint(1, 12), rng.choice(["teacher", "pretrained"]), status,
                        None if status == "failed" else rng.choice([THRESHOLD, 10.0, 45.0])))
    return out


def _slow_count(runs: list[list[dict]], budget: int) -> dict[str, list[int]]:
    """The same counts, group by group, by the definition."""
    def above(r: dict) -> bool:
        return r["status"] == "completed" and r["values"]["exact"] > THRESHOLD

    def members(r: dict) -> list[str]:
        p = r["params"]
        out = ["all", f"L{p['n_layers']}"]
        if p["init"] == "pretrained":
            out.append("pretrained")
        elif p["n_heads"] <= 2:
            out.append("heads 1-2")
        elif p["n_heads"] <= 6:
            out.append("heads 3-6")
        else:
            out.append("heads >= 7")
        return out

    names = {g for rs in runs for r in rs[:budget] if r["source"] == "model"
             for g in members(r)}
    return {g: [sum(1 for rs in runs for r in rs[:budget]
                    if r["source"] == "model" and g in members(r) and above(r)),
                sum(1 for rs in runs for r in rs[:budget]
                    if r["source"] == "model" and g in members(r))]
            for g in names}


def test_tally_agrees_with_a_plain_count_on_random_runs() -> None:
    rng = random.Random(3)
    for _ in range(20):
        runs = [_random_run(rng, rng.randint(0, 40)) for _ in range(rng.randint(1, 3))]
        budget = rng.randint(1, 45)
        assert W.tally(runs, THRESHOLD, budget) == _slow_count(runs, budget)


def test_the_overall_share_is_the_comparison_reports(tmp_path: Path) -> None:
    # the "all" cell counts what benchmarks.distill_compare's above_share divides
    rng = random.Random(5)
    for _ in range(20):
        run = _random_run(rng, rng.randint(6, 40))
        above, tried = W.tally([run], THRESHOLD)["all"]
        rows = [parse_row(_csv_row("tpe", 10, r)) for r in run]
        assert above / tried == pytest.approx(above_share(rows, {"exact": THRESHOLD}))


def test_exactly_at_the_threshold_or_failed_is_not_above() -> None:
    runs = [[_rec(0, "model", 4, 12, "teacher", "completed", THRESHOLD),
             _rec(1, "model", 4, 12, "teacher", "failed", None),
             _rec(2, "model", 4, 1, "teacher", "completed", THRESHOLD + 0.01),
             _rec(3, "initial", 4, 1, "teacher", "completed", 90.0)]]
    t = W.tally(runs, THRESHOLD)
    assert t["all"] == [1, 3] and t["L4"] == [1, 3]
    assert t["heads >= 7"] == [0, 2] and t["heads 1-2"] == [1, 1]
    assert "pretrained" not in t


def test_report_counts_held_out_seeds_only_and_marks_empty_cells(tmp_path: Path) -> None:
    folder = _folder(tmp_path, {
        ("tpe", 10): [_rec(0, "initial", 1, 1, "teacher", "completed", 50.0),
                      _rec(1, "model", 4, 8, "teacher", "completed", 50.0),
                      _rec(2, "model", 2, 3, "pretrained", "completed", 10.0)],
        ("tpe", 0): [_rec(0, "model", 6, 8, "teacher", "completed", 50.0)],  # development
        ("sobol", 11): [_rec(0, "model", 5, 1, "teacher", "failed", None)],
    })
    assert read_records(folder / NAME / "tpe-10.jsonl")[1]["params"]["n_layers"] == 4
    text = W.report([folder])
    assert "| tpe | 1 | 1/2 | 50% | - | 0/1 | - | 1/1 | - | - |" in text
    assert "| tpe | 0/1 | - | - | 1/1 |" in text
    assert "| sobol | 1 | 0/1 | 0% | - | - | - | - | 0/1 | - |" in text
    assert "| sobol | - | 0/1 | - | - |" in text
    assert "6 layers" in text and "| 1 layer |" in text
    # no learning rate recorded: no band; the hypervolume table still has each method
    assert "| tpe | - | - | - | - |" in text
    # tpe-10's front is two equal 50-EM trials of size 1 (of 100), one of 1 layer, one of
    # 8 heads: leaving either group out keeps the other, so nothing is lost
    assert f"| tpe | 1 | {(50.0 - THRESHOLD) * 0.99:.3f} | 0% | 0% |" in text


def test_size_bands_close_at_the_comparisons_band_edges() -> None:
    # the comparison's "best exact within 60% of the teacher" takes counts <= 0.6 x its
    # count (distill_compare.best_within): a band here holds its upper edge, not its lower
    teacher = 100.0
    for count, band in ((30.0, "size <= 60%"), (60.0, "size <= 60%"),
                        (60.001, "size 60% to 70%"), (70.0, "size 60% to 70%"),
                        (80.0, "size 70% to 80%"), (80.001, "size > 80%"),
                        (150.0, "size > 80%")):
        rec = _rec(0, "model", 4, 8, "teacher", "completed", THRESHOLD + 1)
        rec["values"]["num_parameters"] = count
        assert W.size_group(rec, teacher) == [band]
        assert W.tally([[rec]], THRESHOLD, teacher=teacher)[band] == [1, 1]
    # no recorded count (a failed trial): in no band; no teacher given: no size groups
    failed = _rec(0, "model", 4, 8, "teacher", "failed", None)
    assert W.size_group(failed, teacher) == []
    assert not any(g.startswith("size") for g in W.tally([[failed, rec]], THRESHOLD))


def test_the_size_table_counts_each_band(tmp_path: Path) -> None:
    runs = [_rec(0, "initial", 1, 1, "teacher", "completed", 50.0)]
    for k, (count, exact) in enumerate([(50.0, THRESHOLD), (55.0, 40.0), (65.0, 40.0),
                                        (99.0, 40.0)], start=1):
        runs.append(_rec(k, "model", 4, 8, "teacher", "completed", exact))
        runs[-1]["values"]["num_parameters"] = count
    text = W.report([_folder(tmp_path, {("tpe", 10): runs})])
    assert "| method | size <= 60% of the teacher | size 60% to 70% of the teacher |" in text
    assert "| tpe | 1/2 | 1/1 | - | 1/1 |" in text


def test_cli_refuses_a_folder_that_is_no_comparison(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "w.md"
    assert W.main(["--folders", str(tmp_path), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "not a comparison" in err[0]
    assert W.main(["--folders", str(_folder(tmp_path / "f", {})), "--out",
                   str(tmp_path / "none" / "w.md")]) == 2
    assert not out.exists()


def test_the_committed_report_is_what_the_committed_runs_give() -> None:
    committed = W.DEFAULT_OUT.read_text()
    assert committed == W.report(list(W.DEFAULT_FOLDERS))


def _slow_hypervolume(points: list[tuple[float, float]], ref: tuple[float, float]) -> float:
    """Area dominated by (minimised) points within ref: the union of their rectangles,
    summed slab by slab between consecutive x-coordinates."""
    inside = [(x, y) for x, y in points if x < ref[0] and y < ref[1]]
    xs = sorted({x for x, _ in inside} | {ref[0]})
    area = 0.0
    for left, right in zip(xs, xs[1:], strict=False):
        heights = [ref[1] - y for x, y in inside if x <= left]
        area += (right - left) * max(heights, default=0.0)
    return area


def test_hypervolume_needs_agrees_with_leaving_the_group_out_by_hand() -> None:
    rng = random.Random(11)
    reference = {"exact": THRESHOLD, "num_parameters": 100.0}
    for _ in range(30):
        run = []
        for k in range(rng.randint(0, 25)):
            status = rng.choice(["completed"] * 6 + ["failed"])
            rec = _rec(k, "initial" if k < 5 else "model", rng.randint(1, 6),
                       rng.randint(1, 12), "teacher", status,
                       None if status == "failed" else rng.choice([THRESHOLD, 20.0])
                       + rng.random() * 60)
            rec["params"]["learning_rate"] = 10 ** rng.uniform(-5, -2)
            if rec["values"] is not None:
                rec["values"]["num_parameters"] = rng.uniform(40.0, 120.0)
            run.append(rec)
        budget = rng.randint(1, 30)

        def hv(recs: list[dict]) -> float:
            return _slow_hypervolume(
                [(-r["values"]["exact"], r["values"]["num_parameters"] / 100.0)
                 for r in recs if r["status"] == "completed"], (-THRESHOLD, 1.0))

        total, lost = W.hypervolume_needs(run, reference, budget)
        first = run[:budget]
        assert total == pytest.approx(hv(first), abs=1e-9)
        members = {
            "1-3 layers": lambda p: p["n_layers"] <= 3,
            ">= 7 heads": lambda p: p["n_heads"] >= 7,
            "lr < 1e-4": lambda p: p["learning_rate"] < 1e-4,
            "lr 1e-4 to 3e-4": lambda p: 1e-4 <= p["learning_rate"] < 3e-4,
            "lr 3e-4 to 1e-3": lambda p: 3e-4 <= p["learning_rate"] < 1e-3,
            "lr >= 1e-3": lambda p: p["learning_rate"] >= 1e-3,
        }
        assert set(lost) == set(members)
        for g, member in members.items():
            kept = hv([r for r in first if not member(r["params"])])
            want = (total - kept) / total if total > 0 else 0.0
            assert lost[g] == pytest.approx(want, abs=1e-9)
            assert 0.0 <= lost[g] <= 1.0 + 1e-12


def test_learning_rate_bands_split_at_their_lower_edges() -> None:
    rec = _rec(0, "model", 4, 8, "teacher", "completed", THRESHOLD + 1)
    for rate, band in ((9.99e-5, "lr < 1e-4"), (1e-4, "lr 1e-4 to 3e-4"),
                       (3e-4, "lr 3e-4 to 1e-3"), (1e-3, "lr >= 1e-3")):
        rec["params"]["learning_rate"] = rate
        assert [g for g in W.groups(rec["params"]) if g.startswith("lr")] == [band]
        assert W.tally([[rec]], THRESHOLD)[band] == [1, 1]


def test_seeds_select_the_runs_counted_and_bad_seeds_exit_2(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = _folder(tmp_path / "f", {
        ("tpe", 0): [_rec(0, "model", 4, 8, "teacher", "completed", 50.0)],
        ("tpe", 10): [_rec(0, "model", 2, 8, "teacher", "completed", 10.0)],
    })
    out = tmp_path / "w.md"
    assert W.main(["--folders", str(folder), "--seeds", "0", "--out", str(out)]) == 0
    assert "| tpe | 1 | 1/1 | 100% | - | - | - | 1/1 | - | - |" in out.read_text()
    assert W.main(["--folders", str(folder), "--out", str(out)]) == 0  # held out: seed 10
    assert "| tpe | 1 | 0/1 | 0% | - | 0/1 | - | - | - | - |" in out.read_text()
    for bad in (["0", "0"], ["-1"]):
        with pytest.raises(SystemExit) as e:
            W.main(["--folders", str(folder), "--seeds", *bad, "--out", str(tmp_path / "x.md")])
        assert e.value.code == 2 and "--seeds" in capsys.readouterr().err
    assert not (tmp_path / "x.md").exists()


def test_an_exploration_share_splits_mobos_rows_by_kind(tmp_path: Path) -> None:
    space = Space([Int("n_layers", 1, 6), Int("n_heads", 1, 12),
                   Categorical("init", ["teacher", "pretrained"])])

    def fn(p: dict) -> dict[str, float]:
        learns = p["init"] == "teacher" and p["n_layers"] >= 3
        return {"exact": 40.0 + p["n_layers"] + p["n_heads"] / 10 if learns else 20.0,
                "num_parameters": 10.0 * p["n_layers"] * p["n_heads"]}

    folder = _folder(tmp_path, {})
    journal = folder / NAME / "mobo-10.jsonl"
    objectives = [Objective("exact", maximize=True, threshold=THRESHOLD),
                  Objective("num_parameters", threshold=1000.0)]
    with Study(space, objectives, storage=journal, seed=0, n_initial=8, explore=0.5,
               proposer_options={"n_candidates": 256, "max_iter": 5}) as s:
        s.optimize(fn, 20)
        kinds = ["explore" in t.timings for t in s.trials if t.source == "model"]
    assert any(kinds) and not all(kinds)
    assert W.proposal_kinds(journal) == ["EHVI"] * 8 + [
        "explore" if k else "EHVI" for k in kinds]
    _, tallies, _ = W.folder_tallies(folder)
    whole, ehvi, explore = (tallies[m][0] for m in ("mobo", "mobo (EHVI)", "mobo (explore)"))
    assert explore["all"][1] == sum(kinds) and ehvi["all"][1] == len(kinds) - sum(kinds)
    for group, (above, tried) in whole.items():
        assert ehvi.get(group, [0, 0])[0] + explore.get(group, [0, 0])[0] == above
        assert ehvi.get(group, [0, 0])[1] + explore.get(group, [0, 0])[1] == tried
    text = W.report([folder])
    assert "| mobo (EHVI) | 1 |" in text and "| mobo (explore) | 1 |" in text
    # without a share the rows are not split
    plain = _folder(tmp_path / "plain", {})
    with Study(space, objectives, storage=plain / NAME / "mobo-10.jsonl", seed=0,
               n_initial=8, proposer_options={"n_candidates": 256, "max_iter": 5}) as s:
        s.optimize(fn, 10)
    assert "| mobo | 1 |" in W.report([plain]) and "mobo (EHVI)" not in W.report([plain])


def test_the_front_extension_gets_its_own_row(tmp_path: Path) -> None:
    space = Space([Int("n_layers", 1, 6), Int("n_heads", 1, 12),
                   Categorical("init", ["teacher", "pretrained"])])

    def size(p: dict) -> float:
        return 10.0 * p["n_layers"] * p["n_heads"]

    def fn(p: dict) -> dict[str, float]:
        learns = p["init"] == "teacher" and p["n_layers"] >= 3
        return {"exact": 40.0 + p["n_layers"] + p["n_heads"] / 10 if learns else 20.0,
                "num_parameters": size(p)}

    folder = _folder(tmp_path, {})
    journal = folder / NAME / "mobo-10.jsonl"
    objectives = [Objective("exact", maximize=True, threshold=THRESHOLD),
                  Objective("num_parameters", threshold=1000.0, known=size)]
    with Study(space, objectives, storage=journal, seed=0, n_initial=8, explore=0.3,
               proposer_options={"n_candidates": 256, "max_iter": 5, "extend": 0.6}) as s:
        s.optimize(fn, 24)
    kinds = W.proposal_kinds(journal)
    assert kinds[:8] == ["EHVI"] * 8 and {"explore", "extend", "EHVI"} <= set(kinds[8:])
    _, tallies, _ = W.folder_tallies(folder)
    whole = tallies["mobo"][0]
    parts = [tallies[f"mobo ({k})"][0] for k in ("EHVI", "explore", "extend")]
    assert parts[2]["all"][1] == kinds.count("extend")
    for group, (above, tried) in whole.items():
        assert sum(p.get(group, [0, 0])[0] for p in parts) == above
        assert sum(p.get(group, [0, 0])[1] for p in parts) == tried
    text = W.report([folder])
    assert text.index("| mobo (EHVI) |") < text.index("| mobo (explore) |") \
        < text.index("| mobo (extend) |")
