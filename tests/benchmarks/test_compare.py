"""Tests of the quality benchmark pipeline, on tiny budgets (Sobol and mobo only)."""

from __future__ import annotations

import numpy as np
import pytest

import mobo
from benchmarks import compare as C
from mobo.problems import get_problem


def test_checkpoints() -> None:
    assert C.checkpoints(8) == [8]
    assert C.checkpoints(60) == [25, 50, 60]
    assert C.checkpoints(100) == [25, 50, 100]
    assert C.checkpoints(150) == [25, 50, 100, 150]


def test_score_matches_a_direct_hypervolume() -> None:
    moocore = pytest.importorskip("moocore")  # the independent reference
    prob = get_problem("c2dtlz2")
    run = C.run_sobol(prob, seed=3, budget=30)
    rows = C.score(prob, run, 30)
    assert [r["n_evals"] for r in rows] == [25, 30]
    for row in rows:
        n = row["n_evals"]
        X = run.X[:n]
        feas = prob.is_feasible(X)
        Y = prob.evaluate(X[feas])
        Y = Y[np.all(Y < prob.ref_point, axis=1)]
        hv = float(moocore.hypervolume(Y, ref=prob.ref_point)) if len(Y) else 0.0
        assert row["hypervolume"] == pytest.approx(hv, rel=1e-12, abs=1e-15)
        assert row["n_feasible"] == int(feas.sum())
        assert row["log10_gap"] == pytest.approx(np.log10(prob.max_hv - hv))
    with pytest.raises(ValueError, match="run"):
        C.score(prob, run, 31)


def test_noisy_problem_is_scored_on_noise_free_values() -> None:
    prob = get_problem("branincurrin_noisy").with_noise_seed(0)
    run = C.run_sobol(prob, seed=0, budget=10)
    clean = get_problem("branincurrin")
    assert C.score(prob, run, 10)[0]["hypervolume"] == C.score(clean, run, 10)[0]["hypervolume"]


def test_mobo_and_peers_share_the_initial_design() -> None:
    prob = get_problem("branincurrin")
    n0 = 2 * (prob.space.dim + 1)
    sobol = C.run_sobol(prob, seed=5, budget=n0)
    mobo_run = C.run_mobo(prob, seed=5, budget=n0)
    np.testing.assert_allclose(mobo_run.X, sobol.X)
    design = C.initial_design(prob, 5)
    np.testing.assert_allclose(
        np.array([prob.to_array(prob.space.decode(u)) for u in design]), sobol.X
    )


def test_mobo_models_the_constraint_values(monkeypatch: pytest.MonkeyPatch) -> None:
    told: list[dict] = []
    original = mobo.Study.tell

    def spy(self, trial, values=None, *, failed=False, **kw):  # type: ignore[no-untyped-def]
        assert not failed
        told.append(dict(values))
        return original(self, trial, values, failed=failed, **kw)

    monkeypatch.setattr(mobo.Study, "tell", spy)
    prob = get_problem("c2dtlz2")
    n0 = 2 * (prob.space.dim + 1)
    run = C.run_mobo(prob, seed=0, budget=n0)
    feas = prob.is_feasible(run.X)
    assert not feas.all()  # the Sobol design hits the infeasible region
    # every evaluation reports its constraint value, infeasible ones included
    np.testing.assert_allclose([v["constraint_0"] for v in told], prob.constraints(run.X)[:, 0])
    assert [v["constraint_0"] <= 0 for v in told] == list(feas)


def test_cli_writes_csv_and_table_and_resumes(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "c"
    argv = [
        "--problems",
        "BraninCurrin",
        "--methods",
        "sobol",
        "mobo",
        "--seeds",
        "0",
        "--budget",
        "8",
        "--out",
        str(out),
    ]
    assert C.main(argv) == 0
    rows = C.read_rows(out.with_suffix(".csv"))
    assert sorted((r["method"], r["n_evals"]) for r in rows) == [("mobo", 8), ("sobol", 8)]
    for r in rows:
        assert r["problem"] == "branincurrin" and r["seed"] == 0
        assert np.isfinite(r["log10_gap"]) and r["hypervolume"] > 0
        assert r["n_feasible"] == 8
    table = out.with_suffix(".md").read_text()
    assert "## branincurrin" in table and "| mobo | 1 |" in table and "| sobol | 1 |" in table
    csv_text = out.with_suffix(".csv").read_text()
    capsys.readouterr()
    # a second run finds everything done and leaves the CSV as it was
    assert C.main(argv) == 0
    assert "0 runs to do" in capsys.readouterr().err
    assert out.with_suffix(".csv").read_text() == csv_text


def test_missing_peer_is_reported_and_skipped(tmp_path, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setitem(C.REQUIREMENTS, "botorch", ("no_such_package_xyz",))
    out = tmp_path / "m"
    argv = [
        "--problems",
        "zdt1",
        "--methods",
        "botorch",
        "sobol",
        "--seeds",
        "1",
        "--budget",
        "4",
        "--out",
        str(out),
    ]
    assert C.main(argv) == 0
    assert "skipping botorch: missing no_such_package_xyz" in capsys.readouterr().err
    assert {r["method"] for r in C.read_rows(out.with_suffix(".csv"))} == {"sobol"}


def test_bad_arguments_exit_2(tmp_path) -> None:  # type: ignore[no-untyped-def]
    for argv in (["--problems", "nope"], ["--budget", "0"], ["--methods", "cmaes"]):
        with pytest.raises(SystemExit) as e:
            C.parse_args([*argv, "--out", str(tmp_path / "x")])
        assert e.value.code == 2


def test_a_mobo_variant_is_refused_beside_peers_and_in_the_records(tmp_path) -> None:  # type: ignore[no-untyped-def]
    for argv in (["--mobo-noisy", "--methods", "mobo", "sobol", "--out", str(tmp_path / "v")],
                 ["--mobo-noisy", "--out", str(tmp_path / "v")],  # every method by default
                 ["--no-mobo-noisy", "--methods", "mobo", "--out", "compare"],
                 ["--mobo-noisy", "--methods", "mobo", "--out", "compare_heldout"],
                 ["--mobo-noisy", "--methods", "mobo", "--out",
                  str(C.RESULTS_DIR / "compare")],
                 # front samples: a setting of noisy mode, positive
                 ["--methods", "mobo", "--mobo-front-samples", "8", "--out", str(tmp_path / "v")],
                 ["--no-mobo-noisy", "--methods", "mobo", "--mobo-front-samples", "8", "--out",
                  str(tmp_path / "v")],
                 ["--mobo-noisy", "--methods", "mobo", "--mobo-front-samples", "0", "--out",
                  str(tmp_path / "v")],
                 # the sampled front alone: a variant as well
                 ["--mobo-sample-front", "--methods", "mobo", "botorch", "--out",
                  str(tmp_path / "v")],
                 ["--mobo-sample-front", "--methods", "mobo", "--out", "compare"],
                 ["--no-mobo-sample-front", "--methods", "mobo", "--mobo-front-samples", "8",
                  "--out", str(tmp_path / "v")],
                 # the plug-in front: only with a sampled front, and it takes no samples
                 ["--mobo-plug-in-front", "--methods", "mobo", "--out", str(tmp_path / "v")],
                 ["--no-mobo-sample-front", "--mobo-plug-in-front", "--methods", "mobo",
                  "--out", str(tmp_path / "v")],
                 ["--mobo-sample-front", "--mobo-plug-in-front", "--mobo-front-samples", "8",
                  "--methods", "mobo", "--out", str(tmp_path / "v")]):
        with pytest.raises(SystemExit) as e:
            C.parse_args(argv)
        assert e.value.code == 2
    args = C.parse_args(["--mobo-noisy", "--methods", "mobo", "--out", str(tmp_path / "v")])
    assert args.mobo_noisy is True
    args = C.parse_args(["--mobo-sample-front", "--mobo-front-samples", "8", "--methods",
                         "mobo", "--out", str(tmp_path / "v")])
    assert (args.mobo_sample_front, args.mobo_front_samples, args.mobo_noisy) == (True, 8, None)
    assert C.parse_args(["--out", str(tmp_path / "d")]).mobo_noisy is None


def test_the_noisy_variant_reaches_the_study(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[bool] = []
    options: list[object] = []
    original = mobo.Study.__init__

    def spy(self, *a, **kw):  # type: ignore[no-untyped-def]
        made.append(kw["noisy"])
        options.append(kw["proposer_options"])
        original(self, *a, **kw)

    monkeypatch.setattr(mobo.Study, "__init__", spy)
    clean, noisy = get_problem("branincurrin"), get_problem("branincurrin_noisy")
    for prob, flag in ((clean, None), (noisy, None), (clean, True), (noisy, False)):
        C.run_mobo(prob, seed=0, budget=2, noisy=flag)
    # by default as the problem says; the variant overrides it either way
    assert made == [False, True, True, False]
    assert options == [None] * 4  # the proposer's own number of front samples
    rows = C.run_one("branincurrin", "mobo", 0, 2, mobo_noisy=True, mobo_front_samples=8)
    assert made[-1] is True and rows[-1]["method"] == "mobo"
    assert options[-1] == {"n_front_samples": 8}
    C.run_one("branincurrin", "mobo", 0, 2, mobo_front_samples=8, mobo_sample_front=True)
    assert made[-1] is False  # the problem's own noise prior
    assert options[-1] == {"n_front_samples": 8, "sample_front": True}
    assert C.proposer_options(None, False) == {"sample_front": False}
    C.run_one("branincurrin", "mobo", 0, 2, mobo_sample_front=True, mobo_plug_in_front=True)
    assert options[-1] == {"sample_front": True, "plug_in_front": True}
    args = C.parse_args(["--mobo-sample-front", "--mobo-plug-in-front", "--methods", "mobo",
                         "--out", "results/compare_dev/x"])
    assert args.mobo_plug_in_front is True


def test_markdown_verdicts() -> None:
    def rows(method: str, gaps: list[float]) -> list[dict]:
        return [
            {"problem": "p", "method": method, "seed": s, "n_evals": 100, "log10_gap": g}
            for s, g in enumerate(gaps)
        ]

    table = C.markdown_table(
        rows("mobo", [-2.0, -1.0, -3.0])
        + rows("botorch", [-1.5, -1.5, -1.5])
        + rows("sobol", [0.0, 1.0, 0.5])
    )
    assert "| mobo | 3 | -2.000 [-2.500, -1.500] |" in table
    assert "vs botorch -2.000 vs -1.500: met (botorch 3 seeds, mobo 3; Mann-Whitney p = " \
        in table
    assert "better than sobol: met" in table
    # fewer peer seeds than mobo's: the verdict says it is provisional; identical samples
    # give p = 1, fully separated ones of 5 and 5 seeds the exact p = 2 / C(10, 5)
    table = C.markdown_table(rows("mobo", [-2.0] * 3) + rows("botorch", [-2.0]))
    assert "met (botorch 1 seed, mobo 3: provisional; Mann-Whitney p = 1.00)" in table
    table = C.markdown_table(rows("mobo", [-3.0, -2.9, -2.8, -2.7, -2.6])
                             + rows("botorch", [-1.0, -0.9, -0.8, -0.7, -0.6]))
    assert f"Mann-Whitney p = {2 / 252:.2f})" in table
    table = C.markdown_table(rows("mobo", [0.0]) + rows("botorch", [-1.0]) + rows("tpe", [-0.5]))
    assert "vs botorch 0.000 vs -1.000: MISSED" in table
    assert "better than tpe: MISSED (tpe)" in table


def test_mann_whitney_p_separates_disjoint_samples_from_ties() -> None:
    assert C.mann_whitney_p([1.0, 2.0, 3.0], [1.0, 2.0, 3.0]) == pytest.approx(1.0)
    assert C.mann_whitney_p(list(range(10)), list(range(100, 110))) < 0.001
    assert C.mann_whitney_p([], [1.0]) == 1.0
