"""Tests of paper.figures: the paper is regenerated from the committed results, whole."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import paper.before_after as before_after
import paper.figures as figures
from benchmarks.compare import append_rows, read_rows
from benchmarks.compare_report import Coverage, Verdict
from benchmarks.wall_time import run_wall_time
from distill.task import STUDY_OPTIONS
from mobo.space import Float, Space
from mobo.study import Study

ROOT = Path(__file__).resolve().parents[2]
PAPER = ROOT / "paper" / "paper.md"
TEMPLATE = ROOT / "paper" / "paper.template.md"
RESULTS = ROOT / "results"
LINK = re.compile(r"!\[[^\]]*\]\(([^)\s]+)\)")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _links(text: str) -> list[str]:
    return LINK.findall(text)


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The paper and its figures, generated once by the command line into a scratch folder."""
    out = tmp_path_factory.mktemp("paper")
    run = subprocess.run([sys.executable, "-m", "paper.figures", "--out", str(out / "figures"),
                          "--paper", str(out / "paper.md")], cwd=ROOT, capture_output=True,
                         text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    assert "error" not in run.stderr
    return out


def test_every_figure_the_paper_references_is_written(generated: Path) -> None:
    text = (generated / "paper.md").read_text()
    links = _links(text)
    assert len(links) >= 7
    for link in links:
        path = generated / link
        assert path.is_file(), link
        assert path.read_bytes().startswith(PNG_MAGIC), link
    # and no figure is written that the paper does not show
    pngs = {p.name for p in (generated / "figures").glob("*.png")}
    assert pngs == {Path(link).name for link in links}
    assert "{{" not in text and "}}" not in text
    for name in ("distill_pareto", "distill_importance", "quality_peers", "speed_proposal",
                 "speed_kernels"):
        assert f"figures/{name}.png" in links


def test_a_second_run_gives_the_same_bytes(generated: Path, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert figures.main(["--out", str(tmp_path / "figures"),
                         "--paper", str(tmp_path / "paper.md")]) == 0
    capsys.readouterr()
    first = sorted(p.relative_to(generated) for p in generated.rglob("*") if p.is_file())
    second = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert first == second
    for rel in first:
        assert (generated / rel).read_bytes() == (tmp_path / rel).read_bytes(), rel


def test_the_committed_paper_references_no_missing_file() -> None:
    text = PAPER.read_text()
    links = _links(text)
    assert links
    for link in links:
        assert (PAPER.parent / link).is_file(), link
    assert "](paper/figures/distill_pareto.png)" in (ROOT / "README.md").read_text()
    assert "](paper/paper.md)" in (ROOT / "README.md").read_text()


def test_the_committed_paper_and_figures_are_what_the_results_generate(
        generated: Path) -> None:
    # every word and number of the committed paper comes from the template and the
    # committed results: regenerating changes nothing
    assert PAPER.read_text() == (generated / "paper.md").read_text(), \
        "paper/paper.md is not what the template and results give: run python -m paper.figures"
    committed = sorted(p.name for p in (PAPER.parent / "figures").iterdir() if p.is_file())
    fresh = sorted(p.name for p in (generated / "figures").iterdir() if p.is_file())
    assert committed == fresh
    for name in fresh:
        assert (PAPER.parent / "figures" / name).read_bytes() == \
            (generated / "figures" / name).read_bytes(), name


def test_the_generated_paper_reports_the_result_files(generated: Path) -> None:
    text = (generated / "paper.md").read_text()
    assert "**synthetic**" in text and "has not been run" in text
    # the front table's rows are the journal's Pareto trials, read from the journal
    journal = figures.find_distill_journal(RESULTS)
    assert f"`{journal.relative_to(ROOT)}`" in text
    front = Study.read(journal).pareto_front()
    table = (generated / "figures" / "table_distill_front.md").read_text()
    rows = [line for line in table.splitlines() if re.match(r"^\| \d", line)]
    assert sorted(int(r.split("|")[1]) for r in rows) == sorted(t.number for t in front)
    best = max(front, key=lambda t: t.values["exact"])
    assert f"{best.values['exact']:.2f} EM at {best.values['num_parameters'] / 1e6:.2f}M" \
        in text
    # the teacher's exact match as distill_reference.json states it
    teacher = figures.distill_reference_models(RESULTS / "distill_reference.json")["teacher"]
    assert f"teacher at {teacher['exact']:.2f} EM" in text
    # the run's wall time by the one definition results/distill.md uses
    wall = run_wall_time(Study.read(journal))
    assert f"{wall.minutes:.1f} minutes of wall time" in text
    assert f"**{wall.minutes:.1f} min**" in (RESULTS / "distill.md").read_text()
    # the task's sizes as distill_task.json states them
    task = json.loads((RESULTS / "distill_task.json").read_text())
    assert (f"{task['dev_questions']} dev questions\n({task['dev_answerable']} answerable, "
            f"{task['dev_unanswerable']} unanswerable)") in text


def test_markdown_tables_are_parsed_by_their_headers() -> None:
    text = """# Title

## Students

| student | exact | num_parameters |
|---|---:|:--:|
| **baseline**: six layers | 32.17 | 22,566,146 |
| teacher (for reference) | **98.17** | 1,000 |

Not a table | just text
"""
    (table,) = figures.markdown_tables(text)
    assert table.heading == "Students"
    assert table.header == ["student", "exact", "num_parameters"]
    assert table.rows[0] == ["baseline: six layers", "32.17", "22,566,146"]
    assert table.find(lambda h: h == "exact") == [1]
    assert figures._number("22,566,146", "x") == 22566146.0
    assert figures._number("4.2x", "x") == 4.2
    with pytest.raises(figures.InputError, match="expected a number"):
        figures._number("n/a", "here")


def _journal(path: Path, finished: int, running: int = 0) -> None:
    study = Study(Space([Float("a", 0.0, 1.0)]), ["f"], seed=0, n_initial=10, storage=path)
    for _ in range(finished):
        t = study.ask()
        study.tell(t, {"f": t.params["a"]})
    for _ in range(running):
        study.ask()
    study.close()


def test_the_journal_with_most_finished_trials_is_chosen(tmp_path: Path) -> None:
    _journal(tmp_path / "distill_budget40.jsonl", 3)
    _journal(tmp_path / "distill_budget200.jsonl", 2, running=2)
    with open(tmp_path / "distill_budget200.jsonl", "ab") as f:
        f.write(b'{"event": "tell"')  # still being written
    (tmp_path / "distill_budget500.jsonl").write_bytes(b"")  # just created, no events
    (tmp_path / "distill_other.jsonl").write_bytes(b"")
    assert figures.find_distill_journal(tmp_path).name == "distill_budget40.jsonl"
    (tmp_path / "distill_budget200.jsonl").unlink()
    _journal(tmp_path / "distill_budget200.jsonl", 3)
    # as many finished trials: the larger budget wins
    assert figures.find_distill_journal(tmp_path).name == "distill_budget200.jsonl"
    (tmp_path / "empty").mkdir()
    with pytest.raises(figures.InputError, match="no distillation journal"):
        figures.find_distill_journal(tmp_path / "empty")


def _copy_results(tmp_path: Path) -> Path:
    results = tmp_path / "results"
    results.mkdir()
    for path in RESULTS.iterdir():
        if path.suffix in (".csv", ".md", ".json"):
            shutil.copy(path, results / path.name)
    shutil.copy(figures.find_distill_journal(RESULTS), results / "distill_budget40.jsonl")
    for name in (before_after.BEFORE, before_after.AFTER,  # section 4.6's five runs
                 before_after.EXPLORE, before_after.FACE, before_after.FINAL,
                 before_after.GPU_BEFORE, before_after.GPU_AFTER):  # and 4.8's
        shutil.copy(RESULTS / name, results / name)
    for folder in (results, results / figures.GPU_COMPARISON):  # 4.7's and 4.8's reference
        (folder / "distill_compare").mkdir(parents=True)
        shutil.copy(RESULTS / folder.relative_to(results) / "distill_compare" / "reference.json",
                    folder / "distill_compare" / "reference.json")
    return results


def test_bad_input_exits_2_with_one_error_line(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    results = _copy_results(tmp_path)
    (results / "compare.csv").unlink()
    (results / "speed_kernels.md").write_text("# nothing measured\n")
    cases = [
        (["--results", str(results)], "compare.csv: missing"),
        (["--results", str(tmp_path / "none")], "is not a folder"),
        (["--journal", str(tmp_path / "none.jsonl")], "--journal"),
        (["--heldout", str(tmp_path / "none.csv")], "--heldout"),
        (["--out", str(results / "speed.csv")], "is not a folder"),
        (["--bogus"], "unrecognized arguments"),
    ]
    for argv, needle in cases:
        code = figures.main([*argv, "--paper", str(tmp_path / "p.md")])
        out, err = capsys.readouterr()
        assert code == 2, (argv, err)
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], err
    assert not (tmp_path / "p.md").exists()
    shutil.copy(RESULTS / "compare.csv", results / "compare.csv")
    code = figures.main(["--results", str(results), "--paper", str(tmp_path / "p.md"),
                         "--out", str(tmp_path / "f")])
    err = capsys.readouterr().err
    assert code == 2 and "speed_kernels.md: no hypervolume table" in err


def _heldout_rows(problem: str, method: str, gaps: list[float]) -> list[dict]:
    return [{"problem": problem, "method": method, "seed": 100 + k, "n_evals": n,
             "hypervolume": 1.0, "max_hv": 2.0, "log10_gap": gap, "n_feasible": n,
             "wall_s": 1.0} for k, gap in enumerate(gaps) for n in (25, 50, 100)]


def test_the_peer_section_sets_the_heldout_seeds_beside_the_development_ones(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    results = _copy_results(tmp_path)
    # held-out: mobo loses to BoTorch on zdt1 (it wins on the development seeds), Sobol has
    # two of the ten seeds, every other cell has no run
    held = tmp_path / "heldout.csv"
    append_rows(held, _heldout_rows("zdt1", "mobo", [0.1, 0.1, 0.2, 0.2, 0.3, 0.3, 0.4, 0.4, 0.5,
                                                  0.5])
                + _heldout_rows("zdt1", "botorch", [-0.5, -0.5, -0.4, -0.4, -0.3, -0.3, -0.2,
                                                    -0.2, -0.1, -0.1])
                + _heldout_rows("zdt1", "sobol", [2.0, 2.2]))
    paper = tmp_path / "p.md"
    assert figures.main(["--results", str(results), "--heldout", str(held), "--paper",
                         str(paper), "--out", str(tmp_path / "f")]) == 0, capsys.readouterr()
    text = paper.read_text()
    dev = [r["log10_gap"] for r in read_rows(RESULTS / "compare.csv")
           if (r["problem"], r["method"], r["n_evals"]) == ("zdt1", "mobo", 100)]
    med, q25, q75 = (np.percentile(dev, q) for q in (50, 25, 75))
    assert (f"| zdt1 | mobo (exact EHVI) | 0.300 [0.200, 0.400] | 10 |  | "
            f"{med:.3f} [{q25:.3f}, {q75:.3f}] | {len(dev)} |  |") in text
    row = next(ln for ln in text.splitlines() if ln.startswith("|  | BoTorch qLogNEHVI |")
               and "-0.300 [-0.400, -0.200]" in ln)
    assert float(row.split("|")[5]) > 0.9  # mobo's held-out gaps are the higher ones
    assert "Seeds 0-9 are development seeds" in text and "Seeds 100-109 are held out" in text
    flat = " ".join(text.split())
    assert "The held-out rerun is partial" in flat
    assert "Fewer seeds so far: 2 of 10 (seeds 100, 101) in zdt1 (Sobol)." in flat
    assert "No run yet: branincurrin (every method); zdt1 (Optuna TPE, Optuna GPSampler and " \
           "Optuna NSGA-II);" in flat
    assert "- zdt1 against BoTorch qLogNEHVI: met on the development seeds" in text
    assert "MISSED on the held-out seeds (0.300 vs -0.300" in text
    assert ("zdt1, held-out seeds: mobo's median log10 gap after 100 evaluations is worse "
            "than BoTorch qLogNEHVI's (0.300 vs -0.300, one-sided Mann-Whitney p = ") in flat
    assert "- zdt1: held-out seeds: worse than BoTorch qLogNEHVI (0.300 vs -0.300" in text
    assert "- c2dtlz2: held-out seeds: not judged yet (no runs of mobo)" in text
    # the earlier checkpoints (these rows carry the same gap at each): the same verdicts
    assert "are met after 25 evaluations, on the held-out seeds 1 of 2 (missed: zdt1 " \
           "against BoTorch qLogNEHVI); on the development seeds" in flat


def test_a_partial_rerun_says_how_far_it_has_got() -> None:
    cells = [("zdt1", "mobo"), ("zdt1", "botorch"), ("dtlz2", "mobo")]
    seeds = list(range(100, 108))
    # every cell with the same seeds: those seeds
    assert figures._partial_words(Coverage([], [(c, seeds) for c in cells], []), 10) == \
        "8 of its 10 seeds (100-107) in every cell"
    # cells at different stages, or some complete or missing: the complete cells, how many
    # seeds the others have, how many have none
    mixed = Coverage([], [(cells[0], seeds), (cells[1], seeds[:5])], [cells[2]])
    assert figures._partial_words(mixed, 10) == \
        "0 of 3 cells complete, 2 with 5 to 8 of 10 seeds, 1 not run yet"
    done = Coverage([cells[0]], [(cells[1], seeds)], [])
    assert figures._partial_words(done, 10) == "1 of 2 cells complete, 1 with 8 of 10 seeds"


def test_kernel_speed_reads_a_csv_when_it_has_the_columns(tmp_path: Path) -> None:
    results = _copy_results(tmp_path)
    assert figures.kernel_speed(results).source.endswith("speed_kernels.md")
    (results / "speed_kernels.csv").write_text("kernel,seconds\nhv,0.1\n")
    assert figures.kernel_speed(results).source.endswith("speed_kernels.md")  # falls back
    (results / "speed_kernels.csv").write_text(
        "objectives,points,mobo (ms),moocore (ms),mobo 1 thread,BoTorch 1 thread,"
        "Gaussian tails alone best\n"
        "2,10000,0.5,1.0,600000,100000,900000\n")
    ks = figures.kernel_speed(results)
    assert ks.source.endswith("speed_kernels.csv")
    assert ks.hv == [{"objectives": 2.0, "points": 10000.0, "mobo_ms": 0.5,
                      "moocore_ms": 1.0}]
    assert ks.ehvi[0]["mobo"] == 600000.0 and ks.ehvi[0]["botorch"] == 100000.0
    assert ks.ehvi[0]["tails"] == 900000.0


def test_render_refuses_unknown_placeholders() -> None:
    assert figures.render("a {{x}} b", {"x": "1", "y": "2"}) == "a 1 b"
    with pytest.raises(figures.InputError, match="no value for placeholder"):
        figures.render("a {{x}} {{z}}", {"x": "1"})


def test_rerun_runs_the_speed_benchmark_into_results(tmp_path: Path) -> None:
    results = tmp_path / "results"
    results.mkdir()
    seen: list[list[str]] = []
    figures.rerun(results, run=lambda cmd: seen.append(cmd) or 0)
    assert [c[2] for c in seen] == ["benchmarks.speed"]
    assert seen[0][seen[0].index("--out") + 1] == str(results / "speed")
    with pytest.raises(RuntimeError, match="failed with exit status 3"):
        figures.rerun(results, run=lambda cmd: 3)


def test_trainer_speedups_are_the_latest_per_device_and_size(tmp_path: Path) -> None:
    path = tmp_path / "speed_trainer.json"

    def m(kind: str, features: int, speedup: float) -> dict:
        return {"device": kind, "device_type": kind, "precision": "p", "features": features,
                "mean_tokens": 70, "ours_seconds": 1.0, "hf_seconds": speedup,
                "ours_examples_per_s": 1.0, "hf_examples_per_s": 1.0, "speedup": speedup}

    rows = [m("cpu", 512, 1.22), m("cpu", 256, 1.24), m("cuda", 4000, 1.33),
            m("cpu", 256, 1.27), m("cuda", 4000, 1.32)]
    path.write_text(json.dumps({"measurements": rows}))
    assert figures.trainer_speedups(path) == ([1.27, 1.22], [1.32], True)
    # only the reported GPU row's stamp counts: an older unstamped one does not
    rows[-1]["commit"] = "a" * 40
    path.write_text(json.dumps({"measurements": rows}))
    assert figures.trainer_speedups(path) == ([1.27, 1.22], [1.32], False)
    path.write_text(json.dumps({"measurements": [{"device": "cpu"}]}))
    with pytest.raises(figures.InputError, match="lacks"):
        figures.trainer_speedups(path)
    with pytest.raises(figures.InputError, match="missing"):
        figures.trainer_speedups(tmp_path / "none.json")


def test_coverage_names_the_methods_short_of_the_planned_seeds() -> None:
    rows = [{"problem": p, "method": m, "seed": s, "n_evals": 100, "log10_gap": 0.0}
            for p in ("zdt1", "dtlz2") for m in ("mobo", "sobol") for s in range(10)]
    rows += [{"problem": "zdt1", "method": "botorch", "seed": s, "n_evals": 100,
              "log10_gap": 0.0} for s in range(3)]
    text = figures._coverage(rows, {"peers_all_met": "yes", "peers_budget": "100"})
    cov = text["peers_coverage"]
    assert "all 10 planned development seeds (0-9) for mobo and sobol" in cov
    assert "botorch has fewer on zdt1 (3)" in cov
    assert "2 of the 7 planned problems" in cov


# ---------------------------------------------------------------------------- diagnosis
def _diagnosis_section(text: str) -> str:
    start = text.index("### 4.4 Why the distillation search piled into 1-layer students")
    # up to the next section, of either level
    ends = [i for i in (text.find("\n## ", start), text.find("\n### ", start + 1)) if i > 0]
    return text[start:min(ends)]


def test_the_diagnosis_section_types_no_number() -> None:
    section = _diagnosis_section(TEMPLATE.read_text())
    words = re.sub(r"\{\{[a-z0-9_]+\}\}", " ", section)
    # the names of things (the section, its figure, the depths compared, the width of the
    # coverage interval) are the only digits the template itself may hold
    for allowed in ("### 4.4", "**Figure 8.**", "1-layer", "4-layer", "3+ layers",
                    "3 layers", "3 or more layers", "±2 sd"):
        words = words.replace(allowed, " ")
    assert not re.findall(r"\d", words), re.findall(r".{20}\d.{20}", words)


def test_the_diagnosis_section_reports_the_json(generated: Path) -> None:
    data = json.loads((RESULTS / "distill_diagnosis.json").read_text())
    journal = figures.find_distill_journal(RESULTS).relative_to(ROOT).as_posix()
    # the paper's own journal is diagnosed in the committed file
    (j,) = [e for e in data["journals"].values() if e["path"] == journal]
    text = _diagnosis_section((generated / "paper.md").read_text())
    flat = " ".join(text.split())
    assert f"`{j['path']}`" in text and "not a new run" in text
    assert "](figures/distill_diagnosis.png)" in text
    props = j["proposals"]
    n = len(props)
    one = [p for p in props if p["params"]["n_layers"] == 1]
    base = [p["fixes"]["baseline"]["proposal"] for p in one]
    assert f"{len(one)} of the {n} sampled proposals are 1-layer" in flat
    assert (f"median {np.median([b['exact_mean'] for b in base]):.1f} ± "
            f"{np.median([b['exact_sd'] for b in base]):.1f} EM") in flat
    observed = [t["exact"] for t in j["trials"] if t["exact"] is not None
                and t["n_layers"] == 1]
    assert f"{len(observed)} 1-layer students never exceeded {max(observed):.1f} EM" in flat
    beyond = np.median([p["strip_summary"]["beyond_depth_best"] for p in one])
    assert f"A median {beyond:.0%} of a 1-layer proposal's EHVI" in flat
    gap = np.median([p["fixes"]["baseline"]["proposal"]["log_ehvi"]
                     - p["fixes"]["baseline"]["alt4"]["log_ehvi"] for p in props])
    assert f"by a median {gap:.1f} nats" in flat
    size_sd = np.median([p["fixes"]["baseline"]["proposal"]["size_sd"] for p in props])
    assert f"a median {size_sd:,.0f} parameters" in flat
    assert f"{j['end']['size_gp']['one_head_step']:,.0f} for one attention head" in flat

    # the calibration table: one row per group, z sd and coverage as fitted and clamped
    cal = (generated / "figures" / "table_distill_diagnosis_calibration.md").read_text()
    assert cal.strip() in text
    rows = {r[0]: r for r in figures.markdown_tables(cal)[0].rows}
    for key, label in (("plateau", "on the threshold"), ("below", "below the threshold"),
                       ("above", "above the threshold"), ("teacher_3plus", "3+ layers")):
        (row,) = [r for name, r in rows.items() if label in name]
        c = j["end"]["calibration"][key]
        k = j["end"]["calibration_clamped"][key]
        assert row[1] == str(c["n"])
        assert row[4:6] == [f"{c['z_sd']:.2f}", f"{c['coverage_2sd']:.0%}"]
        assert row[6:8] == ([f"{k['z_sd']:.2f}", f"{k['coverage_2sd']:.0%}"] if k["n"]
                            else ["–", "–"])

    # the remedies table: counted from every sampled state of the JSON
    rem = (generated / "figures" / "table_distill_diagnosis_remedies.md").read_text()
    assert rem.strip() in text
    rows = {r[0]: r for r in figures.markdown_tables(rem)[0].rows}
    for fix in props[0]["fixes"]:
        scored = [p["fixes"][fix] for p in props]
        flips = sum(r["alt4"]["log_ehvi"] > r["proposal"]["log_ehvi"] for r in scored)
        deep = sum(p["fixes"][fix]["grid_best"]["n_layers"] >= 3 for p in props)
        assert rows[fix][2:4] == [f"{flips}/{n}", f"{deep}/{n}"], fix
    for which in props[0]["repropose"]:
        deep = sum(p["repropose"][which]["n_layers"] >= 3 for p in props)
        teacher = sum(p["repropose"][which]["init"] == "teacher" for p in props)
        assert rows[which][4:6] == [f"{deep}/{n}", f"{teacher}/{n}"], which
    as_run = sum(p["params"]["n_layers"] >= 3 for p in props)
    assert rows["baseline"][4] == f"{as_run}/{n}"

    # the proposer's opt-in options rerun on the same states: their rows and the prose
    options = props[0]["options"]
    assert set(options) == {"known", "known_rank", "known_yj", "rank", "yeo-johnson"}
    deep = {}
    for option in options:
        chosen = [p["options"][option] for p in props]
        deep[option] = f"{sum(c['n_layers'] >= 3 for c in chosen)}/{n}"
        teacher = sum(c["init"] == "teacher" for c in chosen)
        assert rows[option][2:6] == ["–", "–", deep[option], f"{teacher}/{n}"], option
    assert (f"picks 3 or more layers in {deep['known']} states; with it and an output warp "
            f"of exact, {deep['known_rank']} with the rank warp and {deep['known_yj']} with "
            f"the Yeo-Johnson warp, against {deep['rank']} and {deep['yeo-johnson']} with "
            "the warps alone") in flat
    outcome = {(r["n_layers"], r["init"]): r["mean"] for r in j["observed_by_depth"]}

    def run_mean(chosen: list[dict]) -> str:
        return f"{np.mean([outcome[(c['n_layers'], c['init'])] for c in chosen]):.1f}"

    assert (f"scored a mean exact match of {run_mean([p['options']['known'] for p in props])}"
            f" EM with num_parameters known, "
            f"{run_mean([p['options']['known_rank'] for p in props])} with the rank warp "
            f"added and {run_mean([p['options']['known_yj'] for p in props])} with the "
            f"Yeo-Johnson warp added (the journal's own proposals: "
            f"{run_mean([p['params'] for p in props])})") in flat
    medians = [np.median([p["options"][o]["exact_median"] for p in props])
               for o in ("known_rank", "known_yj", "known")]
    assert (f"at those proposals is {medians[0]:.1f} and {medians[1]:.1f} EM "
            f"(num_parameters known alone: {medians[2]:.1f})") in flat


def test_a_bad_diagnosis_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    results = _copy_results(tmp_path)
    data = json.loads((results / "distill_diagnosis.json").read_text())
    for entry in data["journals"].values():
        del entry["end"]
    (results / "distill_diagnosis.json").write_text(json.dumps(data))
    code = figures.main(["--results", str(results), "--paper", str(tmp_path / "p.md"),
                         "--out", str(tmp_path / "f")])
    err = capsys.readouterr().err
    assert code == 2 and "distill_diagnosis.json: not a diagnosis" in err, err
    (results / "distill_diagnosis.json").unlink()
    assert figures.main(["--results", str(results), "--paper", str(tmp_path / "p.md"),
                         "--out", str(tmp_path / "f")]) == 2
    assert "distill_diagnosis.json: missing" in capsys.readouterr().err


def test_the_missed_verdicts_are_named_per_peer_with_their_p_values() -> None:
    def v(problem: str, peer: str, outcome: str, p: float | None) -> Verdict:
        return Verdict(problem, peer, outcome, 1.0, 0.5, 5, 5, p)

    found = [v("zdt1", "botorch", "met", 0.01), v("dtlz2", "botorch", "MISSED", 0.73),
             v("c2dtlz2", "botorch", "MISSED", 0.5), v("zdt1", "tpe", "MISSED", 0.2),
             v("dtlz2", "tpe", "not judged", None)]
    assert figures._missed_words(found) == (
        "missed: no worse than BoTorch qLogNEHVI on dtlz2 and c2dtlz2, one-sided "
        "Mann-Whitney p = 0.500 to 0.730; better than Optuna TPE on zdt1, one-sided "
        "Mann-Whitney p = 0.200")
    assert figures._missed_words(found[:1] + found[-1:]) == ""


def test_the_share_the_paper_calls_current_is_the_tasks_recommendation() -> None:
    # the held-out paragraphs name the share mobo's runs were made with; the one they call
    # the task's recommendation now must be the one the task recommends
    assert f"share {STUDY_OPTIONS['explore']:g} (the task's recommendation now)" in \
        figures.CURRENT_SHARE
    assert f"share {STUDY_OPTIONS['explore']:g}" not in figures.FORMER_SHARE.split("(")[0]


def test_the_kernel_section_sets_ehvi_beside_its_special_functions_bound() -> None:
    ks = figures.KernelSpeed(
        hv=[{"objectives": 2.0, "points": 10000.0, "mobo_ms": 0.5, "moocore_ms": 1.0},
            {"objectives": 3.0, "points": 1000.0, "mobo_ms": 3.0, "moocore_ms": 1.0}],
        ehvi=[{"objectives": 2.0, "mobo": 600000.0, "mobo_reused": 800000.0,
               "botorch": 100000.0, "tails": 1000000.0}],
        source="results/speed_kernels.md")
    missed: list[str] = []
    values, table = figures._kernel_section(ks, missed)
    # EHVI throughput is reported, not judged: only the hypervolume's 3x misses
    assert missed == ["hypervolume with 3 objectives: 3.00 times moocore's time, target at "
                      "most 2"]
    assert values["kernel_ehvi2_ratio"] == "6.0" and values["kernel_ehvi2_tails"] == "1,000,000"
    assert values["kernel_ehvi2_tails_ratio"] == "10.0" and values["kernel_ehvi2_share"] == "80%"
    assert "| its special functions alone, 2 objectives | 1,000,000 candidates/s | " \
           "100,000 candidates/s (BoTorch) | 10.0 (a bound for exact kernels) |" in table
    assert "(no target)" in table and "target at least" not in table


def test_the_fit_subset_sentence_reads_both_variants_at_their_last_common_size() -> None:
    def row(variant: str, seed: int, n: int, gap: float, sec: float) -> dict:
        return {"problem": "dtlz2", "variant": variant, "seed": seed, "n_evals": n,
                "hypervolume": 1.0, "max_hv": 2.0, "log10_gap": gap, "proposal_s": sec,
                "commit": ""}

    rows = [row("subset", s, n, -1.0 - s - n / 1000, 0.4) for s in (0, 1, 2) for n in (256, 400)]
    rows += [row("full", s, 256, -1.0 - s - 0.256, 2.0) for s in (0, 1, 2)]
    words = figures.fit_subset_words(rows, "f.md")
    # the full runs stop at 256: the comparison is there, both medians -2.256
    assert ("dtlz2, 3 and 3 seeds, after 256 evaluations: -2.256 with the subset and -2.256 "
            "without (two-sided Mann-Whitney p = 1.00), 0.40 s and 2.00 s per evaluation") in words
    assert "No long study" in figures.fit_subset_words([], "f.md")
    only = figures.fit_subset_words([r for r in rows if r["variant"] == "subset"], "f.md")
    assert only == "No problem of `f.md` has runs of both variants yet."
