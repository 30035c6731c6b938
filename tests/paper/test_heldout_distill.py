"""The paper's held-out comparison on the distillation task (paper/heldout_distill.py), on
small comparison files whose every number is worked out by hand."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from benchmarks.distill_bandcheck import summary
from benchmarks.distill_compare import FIELDS
from paper import heldout_distill as HD

REFERENCE = {"exact": 30.0, "num_parameters": 100.0}
# what the paragraphs say mobo's runs were made with (the caller names it)
CODE = "the current code"
LEAD = "mobo's current code"


def _rows(method: str, seed: int, outcomes: list[tuple[float, float]],
          n_initial: int = 1) -> list[dict[str, object]]:
    return [{"method": method, "seed": seed, "trial": k,
             "source": "initial" if k < n_initial else "model", "status": "completed",
             "exact": e, "f1": e, "num_parameters": n, "seconds": 1.0}
            for k, (e, n) in enumerate(outcomes)]


def _results(tmp_path: Path, rows: list[dict[str, object]]) -> Path:
    """A results folder outside git (the CSV is read as it is on disk)."""
    results = tmp_path / "results"
    (results / "distill_compare").mkdir(parents=True)
    (results / "distill_compare" / "reference.json").write_text(json.dumps(REFERENCE))
    with (results / "distill_compare.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    return results


# mobo: the shared design point (40 EM at half the teacher's size), a collapsed student,
# then a better one at 80%; TPE: the same design point, then 35 EM at 60%.
MOBO = _rows("mobo", 10, [(40.0, 50.0), (20.0, 40.0), (50.0, 80.0)])
TPE = _rows("tpe", 10, [(40.0, 50.0), (35.0, 60.0)])


def test_a_peer_and_mobo_are_scored_over_the_trials_both_have_reached() -> None:
    seeds = HD.by_seed([HD.parse_row({k: str(v) for k, v in r.items()}) for r in MOBO + TPE])
    [(peer, c, theirs, ours)] = HD.paired(seeds[10], REFERENCE)
    assert (peer, c) == ("tpe", 2)
    # TPE's 35 EM at 60% is dominated by the design point: (40 - 30) * (1 - 0.5) = 5
    assert theirs["hv"] == pytest.approx(5.0) and theirs["share"] == 1.0
    # mobo's second trial is below the threshold; its third (50 EM) is not counted yet
    assert ours["hv"] == pytest.approx(5.0) and ours["share"] == 0.0
    assert theirs["best0.6"] == ours["best0.6"] == 40.0
    # over all three of its trials mobo adds (50 - 40) * (1 - 0.8) = 2
    assert HD.scores(MOBO, REFERENCE)["hv"] == pytest.approx(7.0)


def test_no_pair_without_mobo() -> None:
    seeds = HD.by_seed(TPE)
    assert HD.paired(seeds[10], REFERENCE) == []


def test_the_section_states_coverage_and_sets_each_peer_beside_mobo(tmp_path: Path) -> None:
    results = _results(tmp_path, MOBO + TPE + _rows("gp", 10, [(40.0, 50.0)] * 100)
                       + _rows("sobol", 99, [(31.0, 10.0)]))  # not a held-out seed
    values, tables, fig = HD.heldout_distill_section(results)
    assert values["heldout_distill_seeds"] == "10, 11, 12"
    cov = values["heldout_distill_coverage"]
    assert cov.startswith("1 of 15 runs complete")  # gp 10, 100 trials
    assert "mobo 10 (3 trials)" in cov and "tpe 10 (2 trials)" in cov
    assert "gp 10" not in cov and "sobol 12" in cov and "99" not in cov
    text = tables["table_heldout_distill"]
    assert "| 10 | tpe | 2, 3 | 2 | 5.000 / 5.000 | 100% / 0% | 40.00 / 40.00 |" in text
    # against gp's 100 copies of the design point mobo is compared over its 3 trials: a
    # larger volume (7 > 5), a smaller share above (1 of 2 against 2 of 2), and the better
    # student within 80% of the teacher's size
    assert ("| 10 | gp | 100, 3 | 3 | 5.000 / **7.000** | 100% / 50% | 40.00 / 40.00 | "
            "40.00 / 40.00 | 40.00 / **50.00** |") in text
    assert len(fig.axes) == 1  # one panel: the only held-out seed with runs
    # another comparison folder (the GPU runs) fills its own names, the same content
    other, other_tables, _ = HD.heldout_distill_section(results, key="heldout_distill_gpu")
    assert other["heldout_distill_gpu_coverage"] == cov
    assert other_tables == {"table_heldout_distill_gpu": text}


def test_the_section_without_runs_says_so(tmp_path: Path) -> None:
    values, _, fig = HD.heldout_distill_section(_results(tmp_path, []))
    assert values["heldout_distill_table"] == "No held-out run is committed yet."
    assert values["heldout_distill_coverage"].startswith("0 of 15 runs complete")
    assert len(fig.axes) == 1


def test_the_recheck_sentence_reports_the_file(tmp_path: Path) -> None:
    path = tmp_path / "distill_recheck.json"
    assert "has been re-evaluated" in HD.recheck_words(path)       # no file: says so
    trials = [{"segment_start": "2026-12-03 07:20:57"}, {"segment_start": ""},
              {"segment_start": "2026-12-04 14:36:19"}]
    data = {"machine": "CPU X, 2 CPU(s) seen", "threads": 1, "date": "2026-12-04 15:41 UTC",
            "teacher": {"exact": 98.5}, "trials": trials,
            "summary": {"trials": 3, "identical": 1, "median_abs_diff": 0.5,
                        "max_abs_diff": 3.25}}
    path.write_text(json.dumps(data))
    words = HD.recheck_words(path)
    assert words.startswith("On one machine and with one thread count the task is "
                            "deterministic, but the comparison was made in pieces (run "
                            "segments from 2026-12-03 to 2026-12-04)")
    assert "Of 3 of its completed configurations" in words
    assert ("CPU X, 2 CPU(s) seen with 1 torch thread(s) (2026-12-04; teacher dev exact "
            "match 98.50), 1 scored") in words
    assert "differs by 0.50 EM points at the median over all of them and 3.25 at most" in words
    # a further sample right after another's words: from the count on
    assert HD.recheck_words(path, opening=False).startswith(
        "Of 3 of its completed configurations")
    data["summary"].update(identical=3, median_abs_diff=0.0, max_abs_diff=0.0)
    path.write_text(json.dumps(data))
    assert "3 scored exactly what the comparison recorded (" in HD.recheck_words(path)
    assert "differs" not in HD.recheck_words(path)
    assert "(`results/distill_recheck.md`, trial by trial" in HD.recheck_words(path)


def test_the_recheck_sentence_of_one_batch_on_a_gpu(tmp_path: Path) -> None:
    path = tmp_path / "distill_recheck_gpu.json"
    trials = [{"segment_start": "2026-12-04 12:01:27"}, {"segment_start": "2026-12-04 12:01:34"}]
    path.write_text(json.dumps({
        "machine": "CPU Y, 16 CPU(s) seen", "threads": 1, "device": "NVIDIA Z",
        "date": "2026-12-04 17:29 UTC", "teacher": {"exact": 98.33}, "trials": trials,
        "summary": {"trials": 2, "identical": 1, "median_abs_diff": 0.5, "max_abs_diff": 1.0}}))
    words = HD.recheck_words(path)
    assert words.startswith("Its sampled trials were recorded on 2026-12-04, and")
    assert "in pieces" not in words and "deterministic" not in words
    assert "trained again on CPU Y, 16 CPU(s) seen (students trained on NVIDIA Z) with 1" in words
    assert words.endswith("(`results/distill_recheck_gpu.md`, trial by trial with its run "
                          "segment).")


def test_the_reproducibility_limitation_counts_each_recheck(tmp_path: Path) -> None:
    cpu, gpu = tmp_path / "distill_recheck.json", tmp_path / "distill_recheck_gpu.json"
    files = [("the CPU comparison's", cpu), ("the H200 comparison's", gpu)]
    assert "has not been checked" in HD.reproducibility_limitation(files)
    cpu.write_text(json.dumps({"summary": {"trials": 18, "identical": 4}}))
    words = HD.reproducibility_limitation(files)
    assert "another machine, 4 of 18 of the CPU comparison's (`results/distill_recheck.md`) " \
           "scored exactly" in words
    gpu.write_text(json.dumps({"summary": {"trials": 21, "identical": 3}}))
    assert ("4 of 18 of the CPU comparison's (`results/distill_recheck.md`) and 3 of 21 of "
            "the H200 comparison's (`results/distill_recheck_gpu.md`) scored") in \
        HD.reproducibility_limitation(files)


def test_the_one_environment_paragraph_lists_its_runs_and_pairs_them(tmp_path: Path) -> None:
    results = _results(tmp_path, [])
    folder = results / "distill_compare_onemachine"
    assert HD.one_environment_words(results, folder) == (
        "No run has been made in one environment yet (`results/distill_compare_onemachine/`).")
    made = _results(tmp_path / "x", MOBO + TPE)
    made.rename(folder)
    words = HD.one_environment_words(results, folder)
    assert "seed 10: mobo (3 trials), tpe (2 trials). Paired as in the table above:" in words
    assert "| 10 | tpe | 2, 3 | 2 | 5.000 / 5.000 |" in words


def test_the_more_seeds_paragraph_lists_runs_and_gives_the_reports_verdicts(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(HD, "BUDGET", 3)
    results = _results(tmp_path, [])
    folder = results / "distill_compare_more"
    judged = results / "distill_compare_judged"
    assert HD.more_seeds_words(results, folder, judged) == (
        "No run of mobo on further held-out seeds has been made yet "
        "(`results/distill_compare_more/`).")
    # mobo complete on seeds 10 and 11; TPE complete on 10, two trials into 11
    mobo11 = _rows("mobo", 11, [(40.0, 50.0), (20.0, 40.0), (45.0, 70.0)])
    tpe10 = _rows("tpe", 10, [(40.0, 50.0), (35.0, 60.0), (31.0, 90.0)])
    tpe11 = _rows("tpe", 11, [(40.0, 50.0), (36.0, 55.0)])
    made = _results(tmp_path / "x", MOBO + mobo11 + tpe10 + tpe11)
    made.rename(folder)
    words = HD.more_seeds_words(results, folder, judged)
    assert ("(`results/distill_compare_more/`, its `README.md` says which runs were copied "
            "and which made there; mobo: seeds 10, 11; tpe: seeds 10, 11 (2 trials))"
            ) in words
    assert "the targets stay judged on `results/distill_compare_judged/`" in words
    # the verdict lines are the report's own, one per target, each counted once
    verdicts = HD.target_verdicts(HD.staged_rows(folder), REFERENCE)
    assert len(verdicts) == 5
    for v, _ in verdicts:
        assert f"\n- {v}" in words
    met = sum(ok for _, ok in verdicts)
    assert f"gives {met} of the 5 targets as met" in words


def test_the_former_code_paragraph_pairs_mobo_with_its_former_runs(tmp_path: Path) -> None:
    results = _results(tmp_path, [])
    folder, former = results / "onemachine", results / "onemachine_first"
    _results(tmp_path / "a", MOBO + TPE).rename(folder)
    _results(tmp_path / "b", _rows("mobo", 11, [(40.0, 50.0)])).rename(former)
    # seed 11 has no run of the current code: nothing to pair
    assert "have no run of the current code on the same seed" in HD.former_code_words(
        results, former, folder)
    # the former run of seed 10: the design point, then 35 EM at 60% (as TPE above); the
    # current run is MOBO, 3 trials against 2, so both are scored over their first 2
    (former / "distill_compare.csv").unlink()
    _results(tmp_path / "c", _rows("mobo", 10, [(40.0, 50.0), (35.0, 60.0)])
             + _rows("mobo", 11, [(40.0, 50.0)]))
    (tmp_path / "c" / "results" / "distill_compare.csv").rename(former / "distill_compare.csv")
    words = HD.former_code_words(results, former, folder)
    assert "(`results/onemachine_first/`, in the peer's place)" in words
    assert "(seed 10: 2 and 3 trials)" in words and "seed 11" not in words
    assert "| 10 | mobo, former code | 2, 3 | 2 | 5.000 / 5.000 | 100% / 0% |" in words


def test_the_rerun_paragraph_checks_the_initial_designs_and_pairs_the_runs(
        tmp_path: Path) -> None:
    # the original comparison: TPE's seed-10 run (design point 40 EM at 50%, then 35 at 60%)
    results = _results(tmp_path, TPE)
    folder = results / "rerun"
    _results(tmp_path / "a", _rows("tpe", 10, [(40.0, 50.0)])).rename(folder)
    assert HD.rerun_words(results, folder, results, code=CODE) == (
        "No run of mobo has been made again in `results/rerun/` yet.")
    # mobo made again: its design point scores what TPE's run recorded, so 1 of 1 pair
    (folder / "distill_compare.csv").unlink()
    _results(tmp_path / "b", MOBO + TPE)
    (tmp_path / "b" / "results" / "distill_compare.csv").rename(folder / "distill_compare.csv")
    # TPE's run file is the original's, byte for byte: a copy
    for f in (results, folder):
        (f / "distill_compare" / "tpe-10.jsonl").write_text('{"trial": 0}\n')
    words = HD.rerun_words(results, folder, results, code=CODE)
    assert "(seed 10: mobo (3 trials), tpe (2 trials);" in words
    assert "the peers' runs copied from `results/distill_compare/` (tpe 10)." in words
    assert "mobo's made again there with the current code, the peers'" in words
    assert "mobo's made again there with a new setting, the peers'" in HD.rerun_words(
        results, folder, results, code="a new setting")
    assert "Of the 1 initial-design trials recorded there (every run's, mobo's former run's " \
           "among them) that were trained again here for mobo's runs (by whichever run of the " \
           "seed here reached them first; the folder's evaluation cache serves the others), 1 " \
           "scored exactly what was recorded." in words
    assert "| 10 | tpe | 2, 3 | 2 | 5.000 / 5.000 |" in words
    # initial designs served from the cache the original's runs filled: no check claimed
    shared = HD.rerun_words(results, folder, results, code=CODE, shared_cache=True)
    assert "scored exactly" not in shared and "initial-design trials" not in shared
    assert ("mobo's initial designs were served from the evaluation cache those runs filled, "
            "so they are the values recorded there, not a check of the machine "
            "(`results/rerun/README.md` says why it is the same).") in shared
    assert shared.endswith(words[words.index("Paired as in the table above"):])
    # the design point trained again elsewhere scores otherwise: 0 of 1
    (folder / "distill_compare.csv").unlink()
    _results(tmp_path / "c", _rows("mobo", 10, [(41.0, 50.0), (20.0, 40.0)]) + TPE)
    (tmp_path / "c" / "results" / "distill_compare.csv").rename(folder / "distill_compare.csv")
    assert "serves the others), 0 scored exactly" in HD.rerun_words(results, folder, results,
                                                                    code=CODE)
    # a peer's run that differs from the original's file was made in the folder
    (folder / "distill_compare" / "tpe-10.jsonl").write_text('{"trial": 1}\n')
    assert "no peer's run copied, and made there too (tpe 10)." in HD.rerun_words(
        results, folder, results, code=CODE)


def test_the_recheck_by_seed_counts_the_reproduced_and_the_collapsed(tmp_path: Path) -> None:
    path = tmp_path / "distill_recheck_x.json"
    assert HD.recheck_by_seed(path, 30.0) == ""           # no file: nothing to add

    def trial(run: str, recorded: float, new: float) -> dict[str, object]:
        return {"run": run, "recorded": {"exact": recorded}, "new": {"exact": new}}

    path.write_text(json.dumps({"trials": [
        trial("mobo-10", 31.5, 31.5), trial("tpe-10", 30.0, 30.0),
        trial("gp-12", 38.17, 39.0), trial("sobol-11", 30.0, 31.33)]}))
    assert HD.recheck_by_seed(path, 30.0) == (
        "By seed, the exactly reproduced: seed 10: 2 of 2, seed 11: 0 of 1, seed 12: 0 of 1; "
        "1 of them students that collapsed to the no-answer exact match, which any "
        "environment reproduces.")
    path.write_text(json.dumps({"trials": []}))
    assert HD.recheck_by_seed(path, 30.0) == ""


def test_the_lead_counts_the_seeds_where_mobo_is_ahead_folder_by_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(HD, "BUDGET", 2)  # runs of 2 trials are complete here
    results = _results(tmp_path, [])
    a, b = results / "a", results / "b"
    assert HD.lead_words(results, [], code=LEAD) == ""
    assert HD.lead_words(results, [a], code=LEAD) == ""  # a folder with no runs yet
    # a: mobo and TPE equal over their first 2 trials (5.0 each): not ahead
    _results(tmp_path / "a", MOBO + TPE).rename(a)
    # b: mobo's second trial (50 EM at 40%) dominates the design point: 20 * 0.6 = 12 > 5;
    # the GP sampler's run has 1 trial (not complete) and seed 11 has mobo alone
    _results(tmp_path / "b", _rows("mobo", 10, [(40.0, 50.0), (50.0, 40.0)]) + TPE
             + _rows("gp", 10, [(40.0, 50.0)]) + _rows("mobo", 11, [(40.0, 50.0)])).rename(b)
    assert HD.lead_words(results, [a, b], code=LEAD) == (
        "Over the held-out seeds on which mobo's current code and a peer have both finished "
        "2 trials in one environment, mobo's hypervolume after 2 trials is above TPE's on 1 "
        "of 2 (0 of 1 in `results/a/`; 1 of 1 in `results/b/`).")
    # the runs' code is named as the caller says
    assert HD.lead_words(results, [a, b], code="mobo with a former setting").startswith(
        "Over the held-out seeds on which mobo with a former setting and a peer have both ")
    # only complete pairs count: with 3 trials needed, none is
    monkeypatch.setattr(HD, "BUDGET", 3)
    assert HD.lead_words(results, [a, b], code=LEAD) == ""


def test_the_verdicts_are_the_reports_and_the_abstract_names_the_missed(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(HD, "BUDGET", 2)
    rows = [HD.parse_row({k: str(v) for k, v in r.items()}) for r in MOBO + TPE]
    verdicts = HD.target_verdicts(rows, REFERENCE)
    # hypervolume, share, and one line per size band, as the folder's report has them
    assert len(verdicts) == 5
    assert all(v.startswith(("median ", "best exact within ")) for v, _ in verdicts)
    # mobo's post-initial trials: 20 EM (below 30) and 50 EM -> 50%; TPE's 35 EM -> 100%
    share = next((v, ok) for v, ok in verdicts if v.startswith("median share"))
    assert not share[1] and "MISSED (mobo 50%; tpe 100%)" in share[0]
    # within 60% both best at the design point's 40 EM (a tie meets); within 80% mobo's 50
    bands = {v.split(" of the teacher")[0]: ok for v, ok in verdicts if v.startswith("best")}
    assert bands == {"best exact within 60%": True, "best exact within 70%": True,
                     "best exact within 80%": True}
    assert HD.verdict_words("results/a", verdicts, [10], code="mobo with X") == (
        "On the distillation task itself, mobo with X meets 4 of the 5 targets against the "
        "peers on held-out seed 10 in one environment (`results/a/distill_compare.md`); "
        "missed: median share above the threshold >= 50% and >= every peer's.")
    assert HD.verdict_words("results/a", verdicts, [10, 11, 12], code="m").startswith(
        "On the distillation task itself, m meets 4 of the 5 targets against the peers on "
        "held-out seeds 10, 11 and 12 in one environment")
    # no rows: nothing to judge, nothing to say
    assert HD.target_verdicts([], REFERENCE) == []
    assert HD.verdict_words("results/b", [], [], code="x") == ""


def test_the_band_check_sentence_gives_recorded_and_retrained_medians() -> None:
    rows = [{"method": m, "seed": s, "band": b, "recorded": rec, "retrained": re}
            for m, s, b, rec, re in [
                ("tpe", 10, 0.6, 35.0, [34.0, 34.0, 34.0]),
                ("tpe", 11, 0.6, 33.0, [32.0, 32.0, 32.0]),
                ("tpe", 12, 0.6, 32.0, [32.0, 31.0, 33.0]),
                ("mobo", 10, 0.6, 32.0, [32.5, 32.0, 32.0]),
                ("mobo", 11, 0.6, 32.0, [32.0, 32.0, 32.0]),
                ("mobo", 12, 0.6, 32.0, [32.0, 32.0, 32.0]),
                ("mobo", 10, 0.7, 40.0, [38.0, 38.0, 38.0])]]
    data = json.loads(json.dumps({"seeds": [1, 2, 3], "machine": "AMD EPYC, 2 CPU(s) seen",
                                  "date": "2026-12-06 08:00 UTC",
                                  "summary": summary(rows, 32.1)}))
    text = HD.bandcheck_words(data, "results/distill_bandcheck.md")
    assert text.startswith("Trained again under the training seeds 1, 2 and 3 on AMD EPYC")
    assert "(2026-12-06; `results/distill_bandcheck.md`)" in text
    # mobo listed first (the comparison's order); medians over the three run seeds
    assert ("within 60% of the teacher's size, recorded and retrained, mobo 32.00 and 32.00, "
            "TPE 33.00 and 32.00 (highest recorded: TPE; highest retrained: mobo and TPE; "
            "5 of 18 retrained students above the threshold)") in text
    assert ("within 70% of the teacher's size, recorded and retrained, mobo 40.00 and 38.00 "
            "(highest recorded: mobo; highest retrained: mobo; 3 of 3") in text
    # medians equal to two decimals tie, however their last bits fall
    data["summary"]["0.6"]["tpe"]["median_mean"] = 32.0 + 1e-12
    assert "highest retrained: mobo and TPE;" in HD.bandcheck_words(data, "x.md")


def test_band_draws_count_each_methods_own_proposals_in_the_band() -> None:
    # teacher 100: the 60% band holds counts <= 60, the initial design is not counted, a
    # trial exactly at the threshold or failed is not above it, only the first 100 count
    rows = (_rows("mobo", 10, [(50.0, 10.0), (31.0, 60.0), (30.0, 50.0), (40.0, 61.0)])
            + _rows("mobo", 11, [(50.0, 10.0), (35.0, 20.0)])
            + _rows("tpe", 10, [(50.0, 10.0)] + [(31.0, 20.0)] * 120))
    rows.append({**rows[2], "trial": 9, "status": "failed", "exact": float("nan"),
                 "num_parameters": float("nan")})
    assert HD.band_draws(rows, REFERENCE, 0.6) == {"mobo": (2, 3, 2), "tpe": (99, 99, 1)}
    assert HD.band_draws(rows, REFERENCE, 0.7)["mobo"] == (3, 4, 2)
    words = HD.band_draws_words(rows, REFERENCE, "f.csv")
    assert ("Within 60% of the teacher's size, over the runs (`f.csv`), the methods' own "
            "proposals there numbered mobo 3 in 2 runs (2 above the threshold), TPE 99 in 1 "
            "run (99 above the threshold).") in words
    same = [r for r in rows if r["seed"] == 10]
    assert "over each method's 1 run (" in HD.band_draws_words(same, REFERENCE, "f.csv")
    assert HD.band_draws_words([], REFERENCE, "f.csv") == ""


def _smallband(groups: list[dict], aucs: list[float | None]) -> dict:
    return {"students": sum(g["n"] for g in groups), "band": 0.6, "levels": [33.0, 33.5],
            "groups": groups, "runs": [{"gp": {"auc": a}} for a in aucs]}


def test_smallband_words_name_the_first_group_its_odds_and_the_gp_ranking() -> None:
    data = _smallband([{"group": "teacher, first, lr >= 1e-3", "n": 36, "above": [15, 8, 6],
                        "draws_needed": [2, 3, 4]},
                       {"group": "teacher, spaced, lr >= 1e-3", "n": 50, "above": [3, 0, 0],
                        "draws_needed": [12, None, None]}],
                      [0.49, None, 0.29, 0.74])
    text = HD.smallband_words(data, "results/distill_smallband.md")
    assert text.startswith("Of the 86 distinct students within 60% of the teacher's size")
    assert ("`teacher, first, lr >= 1e-3` (initialisation, layer choice, learning rate) beat "
            "the no-answer EM most often: 15 of 36, and 8 of 36 scored above 33.00 (3 such "
            "draws give an even chance of one above it).") in text
    # the runs with one class only have no ROC area and are not counted
    assert "median ROC area of 0.49 over 3 runs (from 0.29 to 0.74; 0.5 is chance)" in text
    # a first group with none above the first level, and no run with an area
    data = _smallband([{"group": "g", "n": 4, "above": [1, 0, 0],
                        "draws_needed": [3, None, None]}], [None])
    text = HD.smallband_words(data, "x.md")
    assert "0 of 4 scored above 33.00 (none was above it)." in text
    assert "ROC" not in text
