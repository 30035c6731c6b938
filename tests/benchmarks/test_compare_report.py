"""Tests of benchmarks.compare_report: held-out and development seeds side by side."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from benchmarks import compare as C
from benchmarks import compare_report as R

PLAN = R.Plan(problems=("zdt1", "dtlz2"), methods=("mobo", "botorch", "tpe", "sobol"),
              budget=100)
DEV_SEEDS = tuple(range(10))


def _rows(problem: str, method: str, seeds: list[int], gaps: list[float]) -> list[dict]:
    rows = []
    for seed, gap in zip(seeds, gaps, strict=True):
        for n in (25, 50, 100):
            # the earlier checkpoints carry a worse gap: only the budget's row counts
            rows.append({"problem": problem, "method": method, "seed": seed, "n_evals": n,
                         "hypervolume": 1.0, "max_hv": 2.0,
                         "log10_gap": gap + (100 - n) / 10, "n_feasible": n,
                         "wall_s": float(n + seed)})
    return rows


def _write(path: Path, rows: list[dict]) -> Path:
    C.append_rows(path, rows)
    return path


def _synthetic(tmp_path: Path) -> tuple[Path, Path]:
    """Development: mobo beats every peer. Held-out: mobo loses to BoTorch on zdt1, TPE has
    no held-out run, Sobol only two held-out seeds; dtlz2 has no held-out run at all."""
    held = list(R.HELDOUT_SEEDS)
    dev = []
    for prob in PLAN.problems:
        dev += _rows(prob, "mobo", list(DEV_SEEDS), [-2.0 - 0.01 * s for s in DEV_SEEDS])
        dev += _rows(prob, "botorch", list(DEV_SEEDS), [-1.0 - 0.01 * s for s in DEV_SEEDS])
        dev += _rows(prob, "tpe", list(DEV_SEEDS), [0.5 + 0.01 * s for s in DEV_SEEDS])
        dev += _rows(prob, "sobol", list(DEV_SEEDS), [1.0 + 0.01 * s for s in DEV_SEEDS])
    heldout = (_rows("zdt1", "mobo", held, [0.1, 0.1, 0.2, 0.2, 0.3, 0.3, 0.4, 0.4, 0.5, 0.5])
               + _rows("zdt1", "botorch", held,
                       [-0.5, -0.5, -0.4, -0.4, -0.3, -0.3, -0.2, -0.2, -0.1, -0.1])
               + _rows("zdt1", "sobol", held[:2], [2.0, 2.2]))
    return (_write(tmp_path / "dev.csv", dev), _write(tmp_path / "held.csv", heldout))


def _table_row(text: str, problem: str, method: str) -> list[str]:
    section = text[text.index(f"### {problem}\n"):]
    line = next(ln for ln in section.splitlines() if ln.startswith(f"| {method} |"))
    return [c.strip() for c in line.strip("|").split("|")]


def _line(text: str, start: str, heading: str) -> str:
    section = text[text.index(heading):]
    return next(ln for ln in section.splitlines() if ln.startswith(start))


def test_report_puts_each_seed_set_in_its_own_columns(tmp_path: Path) -> None:
    dev, held = _synthetic(tmp_path)
    text = R.generate(dev, held, PLAN)
    # the held-out columns come first, the development ones beside them
    assert "held-out 100-109: median [IQR] | n | p | development 0-9: median [IQR]" in text
    mobo = _table_row(text, "zdt1", "mobo")
    assert mobo[1:3] == ["0.300 [0.200, 0.400]", "10"]
    dev_gaps = [-2.0 - 0.01 * s for s in DEV_SEEDS]
    med, q25, q75 = (np.percentile(dev_gaps, q) for q in (50, 25, 75))
    assert mobo[4:6] == [f"{med:.3f} [{q25:.3f}, {q75:.3f}]", "10"]
    assert _table_row(text, "zdt1", "botorch")[1:3] == ["-0.300 [-0.400, -0.200]", "10"]
    assert _table_row(text, "zdt1", "tpe")[1:3] == ["not run yet", "0"]
    assert _table_row(text, "zdt1", "sobol")[1:3] == ["2.100 [2.050, 2.150]", "2"]
    assert _table_row(text, "dtlz2", "mobo")[1:3] == ["not run yet", "0"]
    # the headline table is the first one
    assert text.index("held-out 100-109") < text.index("development 0-9")


def test_p_values_point_the_way_of_each_seed_set(tmp_path: Path) -> None:
    dev, held = _synthetic(tmp_path)
    text = R.generate(dev, held, PLAN)
    botorch = _table_row(text, "zdt1", "botorch")
    # held-out: mobo's gaps are all higher than BoTorch's, so the one-sided p is large;
    # development: all lower, so it is small
    assert float(botorch[3]) > 0.9
    assert botorch[6] == "<0.001"
    assert _table_row(text, "zdt1", "mobo")[3] == ""  # mobo is not tested against itself
    held_line = _line(text, "- zdt1:", "## Verdicts on held-out")
    dev_line = _line(text, "- zdt1:", "## Verdicts on development")
    assert "vs botorch: MISSED (0.300 vs -0.300; n 10 and 10; p = " in held_line
    assert "vs botorch: met (" in dev_line
    assert "vs tpe: not judged (tpe not run yet)" in held_line
    assert "vs sobol: met (0.300 vs 2.100; n 10 and 2;" in held_line
    assert _line(text, "- dtlz2:", "## Verdicts on held-out") == \
        "- dtlz2: not judged (mobo not run yet)"


def test_verdicts_that_differ_and_the_coverage_are_stated(tmp_path: Path) -> None:
    dev, held = _synthetic(tmp_path)
    text = R.generate(dev, held, PLAN)
    differ = text[text.index("## Where held-out and development verdicts differ"):]
    differ = differ[:differ.index("\n## ")]
    assert "- zdt1 vs botorch: met on development seeds" in differ
    assert "MISSED on held-out seeds (0.300 vs -0.300" in differ
    assert "zdt1 vs sobol" not in differ  # met on both
    assert "1 of the 2 verdicts judged on both seed sets differ" in differ
    cov = text[text.index("## Coverage of the held-out run"):]
    assert "- complete (10 of 10 seeds): 2 of 8 (problem, method) cells" in cov
    assert "- partial, 2 of 10 seeds (100, 101): 1 cell: zdt1: sobol" in cov
    assert "- missing (no seed yet): 5 cells: zdt1: tpe; dtlz2: every method" in cov
    assert "Held-out coverage: 2 of the 8 planned (problem, method) cells have all 10 " \
           "held-out seeds, 1 have fewer and 5 none yet" in text


def test_partial_cells_are_grouped_by_the_seeds_they_have(tmp_path: Path) -> None:
    dev, _ = _synthetic(tmp_path)
    held = list(R.HELDOUT_SEEDS)
    rows = []
    for prob in PLAN.problems:
        for m in PLAN.methods:
            # a run made seed by seed: every cell has the first 8 seeds, but one that
            # has the first 5 only
            got = held[:5] if (prob, m) == ("dtlz2", "botorch") else held[:8]
            rows += _rows(prob, m, got, [0.1 * k for k in range(len(got))])
    text = R.generate(dev, _write(tmp_path / "h.csv", rows), PLAN)
    cov = text[text.index("## Coverage of the held-out run"):]
    assert "- partial, 8 of 10 seeds (100-107): 7 cells: zdt1: every method; " \
           "dtlz2: mobo, tpe, sobol" in cov
    assert "- partial, 5 of 10 seeds (100-104): 1 cell: dtlz2: botorch" in cov
    cov_all = R.coverage_lines(
        R.Coverage([], [(c, held[:8]) for c in
                        ((p, m) for p in PLAN.problems for m in PLAN.methods)], []),
        R.SeedSet("held-out", R.HELDOUT_SEEDS, "h.csv", {}, 0), PLAN)
    assert "- partial, 8 of 10 seeds (100-107): 8 cells: every cell" in cov_all


def test_the_earlier_checkpoints_are_judged_and_their_misses_listed(tmp_path: Path) -> None:
    dev, held = _synthetic(tmp_path)
    # held-out zdt1 after 25 evaluations (the rows carry the gap + 7.5 there): mobo
    # between BoTorch (7.2) and Sobol (9.6)
    rows = list(C.read_rows(held))
    for r in rows:
        if (r["method"], r["n_evals"]) == ("mobo", 25):
            r["log10_gap"] = 8.0
    text = R.generate(dev, _write(tmp_path / "h25.csv", rows), PLAN)
    early = text[text.index("## Verdicts at the earlier checkpoints"):]
    early = early[:early.index("\n## ")]
    after25 = early[early.index("### After 25 evaluations"):early.index("### After 50")]
    assert "- held-out seeds 100-109: met 1 of the 2 judged; missed: zdt1 vs botorch: " \
           "MISSED (8.000 vs 7.200; n 10 and 10; p = " in after25
    assert "vs sobol" not in after25  # 8.0 < 9.6: met, and only misses are listed
    assert "- development seeds 0-9: met 6 of the 6 judged\n" in after25
    after50 = early[early.index("### After 50 evaluations"):]
    assert "- held-out seeds 100-109: met 1 of the 2 judged; missed: zdt1 vs botorch" \
        in after50
    # the budget's verdicts are those of the budget's rows alone
    held_line = _line(text, "- zdt1:", "## Verdicts on held-out")
    assert "vs sobol: met (0.300 vs 2.100; n 10 and 2;" in held_line


def test_swapped_files_are_not_read_as_the_other_seed_set(tmp_path: Path) -> None:
    dev, held = _synthetic(tmp_path)
    text = R.generate(held, dev, PLAN)  # each file holds the other set's seeds
    assert _table_row(text, "zdt1", "mobo")[1:3] == ["not run yet", "0"]
    assert _table_row(text, "zdt1", "mobo")[4:6] == ["not run yet", "0"]
    assert "80 rows of seeds outside 100-109" in text
    assert "22 rows of seeds outside 0-9" in text


def test_a_missing_heldout_file_means_not_run_yet(tmp_path: Path) -> None:
    dev, _ = _synthetic(tmp_path)
    out = tmp_path / "report.md"
    assert R.main(["--development", str(dev), "--heldout", str(tmp_path / "none.csv"),
                   "--out", str(out)]) == 0
    text = out.read_text()
    assert "all 42 (problem, method) cells are missing" in text  # the default plan
    assert "No verdict is judged on held-out seeds yet." in text
    assert "No verdict is judged on both seed sets yet." in text
    assert "No held-out run yet." in text
    assert not re.search(r"\| mobo \| -?\d", text)


def test_a_row_cut_short_is_left_out() -> None:
    text = ",".join(C.FIELDS) + "\nzdt1,mobo,100,100,1.0,2.0,0.5,100,3.0\nzdt1,mobo,101,10"
    rows = R.parse_text(text)
    assert len(rows) == 1 and rows[0]["seed"] == 100 and rows[0]["log10_gap"] == 0.5
    assert R.parse_text(None) == []


def test_one_sided_mann_whitney_is_small_when_the_first_sample_is_lower() -> None:
    low, high = [0.0, 0.1, 0.2, 0.3, 0.4], [1.0, 1.1, 1.2, 1.3, 1.4]
    assert C.mann_whitney_p(low, high, alternative="less") < 0.01
    assert C.mann_whitney_p(high, low, alternative="less") > 0.99
    assert R.one_sided_p(low, []) is None
    assert R.span([0, 1, 2, 3]) == "0-3" and R.span([100, 101]) == "100, 101"


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    return tmp_path


def test_staged_text_is_what_git_would_commit(repo: Path) -> None:
    path = repo / "results" / "held.csv"
    path.parent.mkdir()
    path.write_text("a\n1\n")
    assert R.staged_text(path) is None  # not tracked: not run yet
    subprocess.run(["git", "add", "results/held.csv"], cwd=repo, check=True)
    path.write_text("a\n1\n2\n")  # a running command appends after the snapshot
    assert R.staged_text(path) == "a\n1\n"


def test_staged_text_outside_git_is_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                             ) -> None:
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    path = tmp_path / "held.csv"
    assert R.staged_text(path) is None
    path.write_text("a\n1\n")
    assert R.staged_text(path) == "a\n1\n"


def test_compare_writes_the_report_for_the_development_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dev, _ = _synthetic(tmp_path)
    monkeypatch.setattr(R, "REPORT", tmp_path / "compare.md")
    C.write_table(dev, tmp_path / "compare.md")
    assert (tmp_path / "compare.md").read_text() == R.generate(dev)
    C.write_table(dev, tmp_path / "other.md")  # any other output: the one-file table
    assert (tmp_path / "other.md").read_text().startswith("# Quality: log10 hypervolume gap")


def test_the_committed_report_is_what_the_committed_results_give() -> None:
    # the held-out rows as git's index holds them: a command still appending to the file
    # does not change what the committed report must be
    assert R.REPORT.read_text() == R.generate(), \
        "results/compare.md is stale: run python -m benchmarks.compare_report"
