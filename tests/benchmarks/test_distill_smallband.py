"""The smallest size band's report (benchmarks/distill_smallband.py): its odds and its ROC
area against plain definitions, its counts against a plain loop, the command line, and the
committed report against the committed JSON."""

from __future__ import annotations

import itertools
import json
import math
import random
from pathlib import Path

import numpy as np
import pytest

from benchmarks import distill_smallband as B
from benchmarks.distill_compare import NAME, records
from mobo import Objective, Study
from tests.benchmarks.journals import space

THRESHOLD = 30.0
TEACHER = 1000.0


def _slow_draws(q: float, chance: float = 0.5) -> int | None:
    """The definition: count draws until the chance of a success reaches ``chance``."""
    if q == 0.0:
        return None
    k = 1
    while 1.0 - (1.0 - q) ** k < chance - 1e-12:
        k += 1
    return k


@pytest.mark.parametrize("q", [1e-3, 0.01, 0.05, 0.1, 0.125, 0.2, 0.25, 1 / 3, 0.5, 0.7,
                               0.99, 1.0, 0.0] + [random.Random(3).random() for _ in range(20)])
def test_draws_needed_is_the_fewest_draws_that_reach_the_chance(q: float) -> None:
    assert B.draws_needed(q) == _slow_draws(q)
    if q > 0:
        assert B.draws_needed(q, 0.8) == _slow_draws(q, 0.8)


def _slow_auc(score: np.ndarray, positive: np.ndarray) -> float | None:
    """The definition: the share of (positive, negative) pairs ordered rightly, ties half."""
    pairs = list(itertools.product(score[positive], score[~positive]))
    if not pairs:
        return None
    return sum(1.0 if p > n else 0.5 if p == n else 0.0 for p, n in pairs) / len(pairs)


@pytest.mark.parametrize("seed", range(8))
def test_auc_counts_the_pairs_it_orders_rightly(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 40))
    # few distinct values, so that ties occur within and across the classes
    score = rng.integers(0, 5, n).astype(float) if seed % 2 else rng.standard_normal(n)
    positive = rng.random(n) < 0.3
    assert B.auc(score, positive) == pytest.approx(_slow_auc(score, positive))


def test_auc_degenerate_inputs() -> None:
    assert B.auc(np.ones(6), np.array([True, False] * 3)) == 0.5  # all tied: chance
    assert B.auc(np.arange(4.0), np.ones(4, dtype=bool)) is None  # one class only
    assert B.auc(np.arange(4.0), np.zeros(4, dtype=bool)) is None
    assert B.auc(np.arange(4.0), np.array([False, False, True, True])) == 1.0
    assert B.auc(np.arange(4.0), np.array([True, True, False, False])) == 0.0


def _rec(trial: int, params: dict, exact: float | None, size: float,
         source: str = "model") -> dict:
    return {"trial": trial, "source": source, "status": "failed" if exact is None
            else "completed", "params": params,
            "values": None if exact is None else {"exact": exact, "num_parameters": size},
            "seconds": 1.0}


def _params(rng: random.Random) -> dict:
    return {"learning_rate": 10 ** rng.uniform(-5, -2), "dropout": rng.uniform(0, 0.5),
            "n_layers": rng.randint(1, 6), "n_heads": rng.randint(1, 12),
            "init": rng.choice(["teacher", "pretrained"]),
            "layer_choice": rng.choice(["spaced", "first"])}


def _exact(p: dict) -> float:
    # learns at a high learning rate only: smooth in the encoded learning rate
    return THRESHOLD + 8.0 * (math.log10(p["learning_rate"]) + 3.5)


def _size(p: dict) -> float:
    return 100.0 * p["n_layers"] + 10.0 * p["n_heads"]


def _folder(root: Path, runs: dict[str, list[dict]], threshold: float = THRESHOLD,
            mobo_trials: int = 30) -> Path:
    """A comparison folder: peer runs as given, and one mobo journal (it names the space)
    of ``mobo_trials`` trials of the smooth black box above."""
    (root / NAME).mkdir(parents=True)
    (root / NAME / "reference.json").write_text(
        json.dumps({"exact": threshold, "num_parameters": TEACHER}))
    for name, recs in runs.items():
        (root / NAME / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    study = Study(space(), [Objective("exact", maximize=True, threshold=threshold),
                            Objective("num_parameters")],
                  seed=0, n_initial=mobo_trials, storage=root / NAME / "mobo-0.jsonl")
    with study:
        for _ in range(mobo_trials):
            t = study.ask()
            study.tell(t, {"exact": _exact(t.params), "num_parameters": _size(t.params)})
    return root


def test_counts_match_a_plain_loop_and_repeats_count_once(tmp_path: Path) -> None:
    rng = random.Random(0)
    pool = [_params(rng) for _ in range(30)]
    runs = {}
    for s in range(3):
        recs = []
        for k in range(40):
            p = rng.choice(pool)  # configurations repeat within and across runs
            fail = rng.random() < 0.1
            recs.append(_rec(k, p, None if fail else _exact(p), _size(p),
                             "initial" if k < 5 else "model"))
        runs[f"tpe-{s}"] = recs
    folder = _folder(tmp_path / "f", runs)
    cap = 0.6 * TEACHER
    data = B.analyse([folder], band=0.6, budget=30)

    first: dict[str, tuple[dict, float]] = {}
    # the mobo journal's trials as the comparison reads them, then the peers', in order
    every = records(folder, "mobo", 0)[:30] + [r for m in ("tpe-0", "tpe-1", "tpe-2")
                                                for r in runs[m][:30]]
    for r in every:
        if r["status"] == "completed" and r["values"]["num_parameters"] <= cap:
            first.setdefault(json.dumps(r["params"], sort_keys=True),
                             (r["params"], r["values"]["exact"]))
    assert data["students"] == len(first)
    want: dict[str, list[int]] = {}
    for p, e in first.values():
        g = want.setdefault(B.group_of(p), [0] * (1 + len(B.LEVELS)))
        g[0] += 1 if e > THRESHOLD else 0
        for i, lv in enumerate(B.LEVELS):
            g[i + 1] += 1 if e > lv else 0
    got = {g["group"]: g["above"] for g in data["groups"]}
    assert got == want
    assert sum(g["n"] for g in data["groups"]) == len(first)
    # every size band's groups, counted from every run's completed trials by hand
    seen: dict[str, tuple[dict, float, float]] = {}
    for r in every:
        if r["status"] == "completed":
            seen.setdefault(json.dumps(r["params"], sort_keys=True),
                            (r["params"], r["values"]["exact"], r["values"]["num_parameters"]))
    bands = [(0.0, 0.6), (0.6, 0.7), (0.7, 0.8), (0.8, math.inf)]
    assert [b["students"] for b in data["by_size"]] == [
        sum(lo < n / TEACHER <= hi for _, _, n in seen.values()) for lo, hi in bands]
    for b, (lo, hi) in zip(data["by_size"], bands, strict=True):
        counts: dict[str, list[int]] = {}
        for p, e, n in seen.values():
            if lo < n / TEACHER <= hi:
                c = counts.setdefault(B.group_of(p), [0, 0])
                c[0] += e > THRESHOLD
                c[1] += 1
        assert {g["group"]: [g["above"][0], g["n"]] for g in b["groups"]} == counts
    tpe1 = next(r for r in data["runs"] if r["run"].endswith("tpe-1"))
    inside = [r for r in runs["tpe-1"][:30]
              if r["status"] == "completed" and r["values"]["num_parameters"] <= cap]
    assert tpe1["in_band"] == len(inside)
    assert tpe1["model_in_band"] == sum(r["source"] == "model" for r in inside)
    assert tpe1["above"] == sum(r["values"]["exact"] > THRESHOLD for r in inside)
    assert tpe1["best"] == max(r["values"]["exact"] for r in inside)


def test_the_gp_ranks_a_smooth_band_well_and_never_scores_what_it_was_fitted_on(
        tmp_path: Path) -> None:
    rng = random.Random(1)
    test = [_params(rng) | {"n_layers": 1, "n_heads": 2} for _ in range(40)]
    folder = _folder(tmp_path / "f", {"tpe-0": [_rec(k, p, _exact(p), _size(p))
                                                for k, p in enumerate(test)]},
                     mobo_trials=40)
    data = B.analyse([folder])
    mobo = next(r for r in data["runs"] if r["run"].endswith("mobo-0"))
    # the mobo run's own band students are not among those it is scored on
    assert mobo["gp"]["n_test"] == data["students"] - mobo["in_band"]
    assert mobo["gp"]["auc"] is not None and mobo["gp"]["auc"] > 0.9


def test_different_references_are_a_one_line_error(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    a = _folder(tmp_path / "a", {}, mobo_trials=3)
    b = _folder(tmp_path / "b", {}, threshold=31.0, mobo_trials=3)
    out = tmp_path / "s.json"
    assert B.main(["--folders", str(a), str(b), "--out-json", str(out),
                   "--out-md", str(tmp_path / "s.md")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "differs from" in err[0]
    assert not out.exists()


@pytest.mark.parametrize("argv, needle", [
    (["--band", "0"], "expected a share in (0, 1]"),
    (["--folders", "/no/such/folder"], "is not a comparison folder"),
    (["--out-md", "/no/such/folder/s.md"], "is not a folder"),
])
def test_bad_arguments_exit_2_before_anything_is_written(
        argv: list[str], needle: str, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        B.main(["--out-json", str(tmp_path / "s.json"), *argv])
    assert e.value.code == 2 and needle in capsys.readouterr().err
    assert not (tmp_path / "s.json").exists()


def test_the_committed_report_is_made_from_the_committed_json() -> None:
    data = json.loads(B.DEFAULT_JSON.read_text())
    assert B.DEFAULT_MD.read_text() == B.markdown(data)
    assert data["folders"] == [str(f.relative_to(B.ROOT)) for f in B.DEFAULT_FOLDERS]
