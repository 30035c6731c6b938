"""Tests of the report of mobo's development variants beside its defaults and the peers."""

from __future__ import annotations

from pathlib import Path

from benchmarks import compare as C
from benchmarks import compare_variants as V


def _rows(problem: str, method: str, gap_by_seed: dict[int, float],
          at: tuple[int, ...] = (25, 100)) -> list[dict]:
    return [{"problem": problem, "method": method, "seed": s, "n_evals": c, "hypervolume": 1.0,
             "max_hv": 2.0, "log10_gap": g, "n_feasible": c, "wall_s": 1.0, "commit": "x"}
            for s, g in gap_by_seed.items() for c in at]


def test_meets_is_no_worse_than_botorch_and_better_than_the_others() -> None:
    assert V.meets(-1.0, {"botorch": -1.0, "sobol": -0.5})
    assert not V.meets(-1.0, {"botorch": -1.1})
    assert not V.meets(-1.0, {"botorch": -0.5, "tpe": -1.0})  # a tie with TPE is no win


def test_the_report_compares_on_the_variants_seeds(tmp_path: Path) -> None:
    record = tmp_path / "compare.csv"
    seeds = range(4)
    C.append_rows(record, _rows("zdt1", "mobo", {s: -0.5 - 0.01 * s for s in seeds})
                  + _rows("zdt1", "botorch", {s: -0.8 for s in seeds})
                  + _rows("zdt1", "sobol", {s: 1.0 for s in seeds})
                  # a problem the variant has no run of: not in its section
                  + _rows("dtlz2", "mobo", {s: -1.0 for s in seeds}))
    variants = tmp_path / "dev"
    variants.mkdir()
    # seeds 0-2 only: the defaults and the peers are read on those
    C.append_rows(variants / "noisy.csv", _rows("zdt1", "mobo", {0: -1.0, 1: -1.1, 2: -0.9}))
    text = V.report(record, variants)
    assert "## noisy" in text and "dtlz2" not in text
    # defaults' median on seeds 0-2 is -0.51; the variant's -1.0 meets BoTorch's -0.8
    assert "| zdt1 | 25 | 3 | -1.000 | -0.510 |" in text
    assert "| met | met |" not in text and "| MISSED | met |" in text
    assert "defaults 0 of 2, variant 2 of 2" in text


def test_missing_inputs_exit_2(tmp_path: Path) -> None:
    assert V.main(["--record", str(tmp_path / "none.csv"), "--dir", str(tmp_path)]) == 2
    record = tmp_path / "compare.csv"
    C.append_rows(record, _rows("zdt1", "mobo", {0: -1.0}))
    assert V.main(["--record", str(record), "--dir", str(tmp_path / "empty")]) == 2
