"""The trust region (:mod:`mobo.trust_region`, used by :mod:`mobo.acquisition`): candidates
and refinements kept in boxes around the inputs of the front that beats the reference
point, the global search while no trial beats it, and its record in the journal, in
:class:`mobo.Study` and in ``python -m mobo.run``."""

from __future__ import annotations

import argparse
import io
import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mobo.acquisition import Proposer
from mobo.gp import fit_gp
from mobo.pareto import is_nondominated
from mobo.run import main
from mobo.space import Categorical, Float, Int, Space
from mobo.study import Study
from mobo.tasks import Task, TaskEntry, register_task, unregister_task
from mobo.trial import Objective
from mobo.trust_region import (
    N_CROSSOVERS,
    crossovers,
    in_region,
    region_bounds,
    region_candidates,
    region_centres,
)

SPACE3 = Space([Float("a", 0.0, 1.0), Float("b", 0.0, 1.0), Float("c", 0.0, 1.0)])
# small and fast: the tests check where proposals go, not their quality
FAST = {"n_candidates": 256, "n_local": 8, "n_starts": 2, "max_iter": 10}


def _problem(X: np.ndarray) -> np.ndarray:
    """Two minimised objectives on [0,1]^3."""
    return np.stack([X[:, 0] + 0.3 * X[:, 2], 1.0 - X[:, 0] ** 2 + 0.3 * X[:, 1]], axis=1)


def _centres_reference(X: np.ndarray, Y: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """The inputs of the non-dominated trials among those strictly better than ``ref`` in
    every column, by pairwise comparison; of those, only the ones whose GP posterior mean
    beats ``ref`` by a posterior sd in every column, if there are any (the GP the proposer
    fits: all trials, no warm start)."""
    inside = [i for i in range(len(X)) if all(Y[i, j] < ref[j] for j in range(Y.shape[1]))]
    mean, sd = fit_gp(X, Y).posterior(X)
    credible = [i for i in inside
                if all(mean[i, j] + sd[i, j] < ref[j] for j in range(Y.shape[1]))]
    inside = credible or inside
    keep = []
    for i in inside:
        dominated = any(np.all(Y[k] <= Y[i]) and np.any(Y[k] < Y[i]) for k in inside)
        if not dominated:
            keep.append(i)
    return X[keep]


def _area_2d(F: np.ndarray, ref: np.ndarray) -> float:
    """Area dominated by the points ``F`` (minimised) within ``ref``: the union of their
    rectangles, summed over the vertical strips between consecutive first coordinates."""
    xs = sorted({float(f[0]) for f in F} | {float(ref[0])})
    area = 0.0
    for lo, hi in zip(xs[:-1], xs[1:], strict=True):
        below = [f[1] for f in F if f[0] <= lo]
        if below:
            area += (hi - lo) * (ref[1] - min(below))
    return area


def _within(x: np.ndarray, centres: np.ndarray, r: float) -> bool:
    return any(float(np.max(np.abs(x - c))) <= r + 1e-12 for c in centres)


def _recombinations(centres: np.ndarray, space: Space) -> np.ndarray:
    """Every point that takes each parameter's encoded columns from one of two centres:
    all pairs, all 2^(parameters) choices, by enumeration."""
    out = []
    for a in centres:
        for b in centres:
            for mask in itertools.product([False, True], repeat=len(space.params)):
                z = a.copy()
                for take, sl in zip(mask, space.slices, strict=True):
                    if take:
                        z[sl] = b[sl]
                out.append(z)
    return np.array(out)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_proposal_stays_in_a_box_around_the_front_or_a_recombination_of_it(seed: int) -> None:
    rng = np.random.default_rng(seed)
    X = rng.random((12, 3))
    Y = _problem(X)
    ref = np.quantile(Y, 0.6, axis=0)  # some trials beat it, some do not
    centres = _centres_reference(X, Y, ref)
    assert 0 < len(centres) < len(X)
    region = _recombinations(centres, SPACE3)
    for r in (0.05, 0.2):
        p = Proposer(SPACE3, trust_region=r, **FAST).propose(X, Y, ref,
                                                             rng=np.random.default_rng(seed))
        assert _within(p.x, region, r)


MIXED3 = Space([Float("a", 0.0, 1.0), Int("k", 1, 6), Categorical("c", ["x", "y", "z"]),
                Float("b", 0.0, 1.0, log=False)])


def test_crossovers_take_each_parameter_from_one_of_two_centres() -> None:
    rng = np.random.default_rng(11)
    centres = MIXED3.random(4, rng)
    weights = np.array([0.7, 0.1, 0.1, 0.1])
    children = crossovers(MIXED3, centres, weights, np.random.default_rng(0))
    assert children.shape == (N_CROSSOVERS, MIXED3.dim)
    pairs = []
    for z in children:
        # the parents: the pairs (a, b) such that every parameter's block is a's or b's
        fits = [(i, j) for i in range(4) for j in range(4) if i != j and all(
            np.array_equal(z[sl], centres[i][sl]) or np.array_equal(z[sl], centres[j][sl])
            for sl in MIXED3.slices)]
        assert fits
        pairs.append(fits)
        # a categorical's one-hot block moves whole: still one-hot
        assert np.isclose(z[MIXED3.slices[2]].sum(), 1.0)
    # the first parent follows the weights: centre 0 takes part in most children
    share0 = np.mean([any(0 in f for f in fits) for fits in pairs])
    assert share0 > 0.6
    # both parents show up: some children differ from every centre
    assert any(not any(np.array_equal(z, c) for c in centres) for z in children)
    # fewer than two centres: nothing to recombine
    assert crossovers(MIXED3, centres[:1], np.ones(1), rng).shape == (0, MIXED3.dim)


def test_a_recombination_the_model_favours_is_proposed() -> None:
    # a sets the first objective (a size), b mostly the second (an error); no trial has
    # both a small a and a good b, so the front's small-a end has a poor b. The GP, fitted
    # to a grid of smooth outcomes, expects a small a with a good b to dominate it: a
    # recombination of two front points, which no box around either reaches
    space = Space([Float("a", 0.0, 1.0), Float("b", 0.0, 1.0)])
    g = np.linspace(0.0, 1.0, 6)
    X = np.array([[a, b] for a in g for b in g])
    Y = np.stack([X[:, 0], (1.0 - X[:, 1]) ** 2 + 0.5 * (1.0 - X[:, 0])], axis=1)
    keep = ~((X[:, 0] < 0.5) & (X[:, 1] > 0.5))  # no trial with a small a and a good b
    X, Y = X[keep], Y[keep]
    ref = np.array([1.0, 1.0])
    p = Proposer(space, trust_region=0.05, **FAST).propose(X, Y, ref,
                                                           rng=np.random.default_rng(0))
    centres = _centres_reference(X, Y, ref)
    assert not _within(p.x, centres, 0.05)
    assert _within(p.x, _recombinations(centres, space), 0.05)


def test_candidates_and_refinement_bounds_against_loops() -> None:
    rng = np.random.default_rng(3)
    X = rng.random((10, 3))
    Y = _problem(X)
    ref = np.quantile(Y, 0.7, axis=0)
    region = region_centres(X, Y, ref, np.ones(len(X), dtype=bool), fit_gp(X, Y), [0, 1])
    assert region is not None
    centres, weights = region
    expected = _centres_reference(X, Y, ref)
    assert sorted(map(tuple, centres)) == sorted(map(tuple, expected))
    # each centre's weight: its share of the area it alone dominates
    F = np.array([Y[int(np.flatnonzero((X == c).all(axis=1))[0])] for c in centres])
    alone = np.array([_area_2d(F, ref) - _area_2d(np.delete(F, i, axis=0), ref)
                      for i in range(len(F))])
    assert np.allclose(weights, alone / alone.sum())
    C = region_candidates(SPACE3, centres, weights, 0.1, FAST["n_local"],
                          np.random.default_rng(0), FAST["n_candidates"])
    assert len(C) == FAST["n_candidates"] + FAST["n_local"] * len(centres)
    assert all(_within(c, centres, 0.1) for c in C)
    assert np.all((C >= 0.0) & (C <= 1.0))
    # each start gets the box of its nearest centre in the max-norm, cut to the cube
    starts = rng.random((6, 3))
    B = region_bounds(centres, starts, 0.1)
    for s, b in zip(starts, B, strict=True):
        d = [float(np.max(np.abs(s - c))) for c in centres]
        c = centres[int(np.argmin(d))]
        assert np.allclose(b[:, 0], np.maximum(c - 0.1, 0.0))
        assert np.allclose(b[:, 1], np.minimum(c + 0.1, 1.0))


def test_constraint_breakers_are_no_centres() -> None:
    rng = np.random.default_rng(4)
    X = rng.random((10, 3))
    Y = _problem(X)
    ref = np.full(2, 10.0)  # every trial beats it
    ok = np.ones(len(X), dtype=bool)
    best = int(np.argmin(Y[:, 0]))
    ok[best] = False  # the best trial breaks a constraint
    region = region_centres(X, Y, ref, ok, fit_gp(X, Y), [0, 1])
    assert region is not None
    centres = region[0]
    assert not any(np.array_equal(c, X[best]) for c in centres)
    assert sorted(map(tuple, centres)) == sorted(
        map(tuple, X[ok][is_nondominated(Y[ok])]))


def test_search_is_global_while_no_trial_beats_the_reference() -> None:
    rng = np.random.default_rng(5)
    X = rng.random((8, 3))
    Y = _problem(X)
    ref = Y.min(axis=0) - 1.0  # nothing beats it
    on = Proposer(SPACE3, trust_region=0.1, **FAST).propose(X, Y, ref,
                                                            rng=np.random.default_rng(7))
    off = Proposer(SPACE3, **FAST).propose(X, Y, ref, rng=np.random.default_rng(7))
    assert np.array_equal(on.x, off.x)


def test_mixed_space_proposal_is_a_valid_point_near_the_front() -> None:
    space = Space([Float("a", 0.0, 1.0), Int("k", 1, 6), Categorical("c", ["x", "y", "z"])])
    rng = np.random.default_rng(6)
    X = space.sobol(14, seed=1)
    Y = np.stack([X[:, 0] + 0.1 * X[:, 1], 1.0 - X[:, 0] + 0.2 * X[:, 2]], axis=1)
    ref = np.quantile(Y, 0.6, axis=0)
    centres = _centres_reference(X, Y, ref)
    p = Proposer(space, trust_region=0.1, neighbourhood_steps=0, **FAST).propose(
        X, Y, ref, rng=rng)
    assert np.array_equal(space.round(p.x[None])[0], p.x)
    # rounding moves a discrete coordinate by at most half a level beyond the box
    assert _within(p.x, centres, 0.1 + 0.5 / 5)


@pytest.mark.parametrize("bad", [0.0, -0.1, 1.5, True, "0.1", float("nan")])
def test_bad_half_widths_are_refused(bad: Any) -> None:
    with pytest.raises(ValueError, match="trust_region"):
        Proposer(SPACE3, trust_region=bad)
    with pytest.raises(ValueError, match="trust_region"):
        Study(SPACE3, ["f0", "f1"], trust_region=bad)


def _fn(params: dict[str, Any]) -> dict[str, float]:
    y = _problem(np.array([[params["a"], params["b"], params["c"]]]))[0]
    return {"f0": float(y[0]), "f1": float(y[1])}


def test_study_records_it_uses_it_and_checks_it_on_resume(tmp_path: Path) -> None:
    objectives = [Objective("f0", threshold=0.8), Objective("f1", threshold=0.9)]
    on, off = tmp_path / "on.jsonl", tmp_path / "off.jsonl"
    with Study(SPACE3, objectives, storage=on, seed=0, n_initial=6, proposer_options=FAST,
               trust_region=0.1) as s:
        s.optimize(_fn, 9)
        assert s._get_proposer().trust_region == 0.1
    with Study(SPACE3, objectives, storage=off, seed=0, n_initial=6,
               proposer_options=FAST) as s:
        s.optimize(_fn, 7)
    assert json.loads(on.read_text().splitlines()[0])["trust_region"] == 0.1
    assert "trust_region" not in json.loads(off.read_text().splitlines()[0])
    assert Study.read(on).trust_region == 0.1 and Study.read(off).trust_region is None
    loaded = Study.load(on, FAST)
    assert loaded.trust_region == 0.1
    loaded.close()
    before = on.read_bytes()
    with pytest.raises(ValueError, match="trust_region"):
        Study(SPACE3, objectives, storage=on, seed=0, n_initial=6, trust_region=0.2)
    assert on.read_bytes() == before
    # every model proposal of the run lies near a front point of the trials before it
    s = Study.read(on)
    ref = np.array([0.8, 0.9])
    for k, t in enumerate(s.trials):
        if t.source != "model":
            continue
        done = [u for u in s.trials[:k] if u.status == "completed"]
        Xk = np.array([SPACE3.encode(u.params) for u in done])
        Yk = np.array([[u.values["f0"], u.values["f1"]] for u in done])
        centres = _centres_reference(Xk, Yk, ref)
        if len(centres):
            assert _within(SPACE3.encode(t.params), centres, 0.1)


def test_cli_flag_recorded_kept_on_resume_and_checked(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    journal = tmp_path / "t.jsonl"
    base = ["--problem", "zdt1", "--seed", "1", "--storage", str(journal)]
    shown = io.StringIO()
    assert main([*base, "--budget", "9", "--trust-region", "0.2"], out=shown) == 0
    assert "settings: trust region 0.2\n" in shown.getvalue()
    assert json.loads(journal.read_text().splitlines()[0])["trust_region"] == 0.2
    assert main([*base, "--budget", "10"], out=io.StringIO()) == 0  # the journal's
    assert Study.read(journal).trust_region == 0.2
    before = journal.read_bytes()
    assert main([*base, "--budget", "11", "--trust-region", "none"], out=io.StringIO()) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "trust_region" in err[0]
    assert journal.read_bytes() == before
    for bad in ("2", "-0.1", "wide"):
        assert main(["--problem", "zdt1", "--budget", "3", "--trust-region", bad],
                    out=io.StringIO()) == 2
        assert "--trust-region" in capsys.readouterr().err


def test_task_recommendation_applies_to_new_studies_unless_a_flag_says_otherwise(
        tmp_path: Path) -> None:
    def build(args: argparse.Namespace, seed: int) -> Task:
        return Task(SPACE3, [Objective("f0", threshold=0.8), Objective("f1", threshold=0.9)],
                    _fn)

    register_task(TaskEntry("tr-recommends", "a task that recommends a trust region", build,
                            study_options={"trust_region": 0.15}))
    try:
        fresh, flagged = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
        assert main(["--problem", "tr-recommends", "--budget", "8", "--storage", str(fresh)],
                    out=io.StringIO()) == 0
        assert Study.read(fresh).trust_region == 0.15
        assert main(["--problem", "tr-recommends", "--budget", "8", "--storage",
                     str(flagged), "--trust-region", "0"], out=io.StringIO()) == 0
        assert Study.read(flagged).trust_region is None
        # resumed without a flag: each keeps its own
        assert main(["--problem", "tr-recommends", "--budget", "9", "--storage",
                     str(flagged)], out=io.StringIO()) == 0
        assert Study.read(flagged).trust_region is None
    finally:
        unregister_task("tr-recommends")


def test_task_entry_refuses_unknown_study_options() -> None:
    with pytest.raises(ValueError, match="study_options"):
        TaskEntry("x", "y", lambda a, s: None, study_options={"trust": 0.1})  # type: ignore


def test_repeated_outcomes_make_one_centre_of_full_weight() -> None:
    # two trials with the same outcome: one centre (the first), which alone dominates all
    X = np.array([[0.1, 0.2, 0.3], [0.6, 0.5, 0.4], [0.9, 0.9, 0.9]])
    Y = np.array([[0.2, 0.3], [0.2, 0.3], [0.9, 0.9]])
    region = region_centres(
        X, Y, np.array([0.5, 0.5]), np.ones(3, dtype=bool), fit_gp(X, Y), [0, 1])
    assert region is not None
    centres, weights = region
    assert np.array_equal(centres, X[:1]) and np.allclose(weights, 1.0)


class _FixedPosterior:
    """A stand-in GP whose posterior at the i-th input is (means[i], sds[i])."""

    def __init__(self, X: np.ndarray, means: np.ndarray, sds: np.ndarray) -> None:
        self.X, self.means, self.sds = X, means, sds

    def posterior(self, Xq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rows = [int(np.flatnonzero((self.X == x).all(axis=1))[0]) for x in Xq]
        return self.means[rows], self.sds[rows]


def test_a_trial_within_its_posterior_sd_of_the_reference_anchors_only_alone() -> None:
    # column 0 modelled (sd 0.5 everywhere), column 1 known; reference (0, 10)
    X = np.array([[0.1, 0.1, 0.1], [0.5, 0.5, 0.5], [0.9, 0.9, 0.9]])
    Y = np.array([[-0.1, 1.0],    # beats the reference by a hair: within its sd
                  [-5.0, 6.0],    # beats it credibly
                  [1.0, 0.5]])    # does not beat it
    ref = np.array([0.0, 10.0])
    gp = _FixedPosterior(X, Y[:, :1].copy(), np.full((3, 1), 0.5))
    region = region_centres(X, Y, ref, np.ones(3, dtype=bool), gp, [0])  # type: ignore
    assert region is not None and np.array_equal(region[0], X[1:2])
    # without a credible one, the trial that beats the reference by a hair is the centre
    alone = region_centres(X[[0, 2]], Y[[0, 2]], ref, np.ones(2, dtype=bool), gp,
                           [0])  # type: ignore
    assert alone is not None and np.array_equal(alone[0], X[:1])


MIXED = Space([Int("layers", 1, 6), Int("heads", 1, 12), Categorical("init", ["t", "p"])])


def _reachable(z: np.ndarray, centres: np.ndarray, r: float) -> bool:
    """Whether some point of a centre's box, clipped to the cube, rounds to ``z`` in the
    integer coordinates (the categorical left free): a search over a fine grid."""
    grid = np.linspace(0.0, 1.0, 1201)
    for c in centres:
        ok = True
        for col in (0, 1):
            u = grid[(grid >= c[col] - r) & (grid <= c[col] + r)]
            probe = np.tile(z, (len(u), 1))
            probe[:, col] = u
            if not np.any(np.abs(MIXED.round(probe)[:, col] - z[col]) < 1e-12):
                ok = False
                break
        if ok:
            return True
    return False


def test_region_membership_of_rounded_points_against_a_grid_search() -> None:
    rng = np.random.default_rng(8)
    centres = MIXED.random(3, rng)
    Z = MIXED.random(60, rng)
    got = in_region(MIXED, Z, centres, 0.1)
    assert got.any() and not got.all()
    assert list(got) == [_reachable(z, centres, 0.1) for z in Z]


def test_hill_climb_stays_in_the_region_and_may_change_a_categorical() -> None:
    def score(z: np.ndarray) -> float:
        # rewards few layers and heads, and the other choice of the categorical
        p = MIXED.decode(z)
        return -p["layers"] - 0.1 * p["heads"] + (1.0 if p["init"] == "p" else 0.0)

    class Scorer:
        def score(self, Z: np.ndarray) -> np.ndarray:
            return np.array([score(z) for z in Z])

    start = MIXED.encode({"layers": 5, "heads": 9, "init": "t"})
    prop = Proposer(MIXED, trust_region=0.1, neighbourhood_steps=10, **FAST)
    taken = np.zeros((0, MIXED.dim))
    x, _ = prop._neighbourhood(Scorer(), start, score(start), taken,  # type: ignore
                               start[None])
    p = MIXED.decode(x)
    assert p["init"] == "p"  # the categorical changed
    assert (p["layers"], p["heads"]) == (4, 8)  # one level down each: the box's edge
    free, _ = prop._neighbourhood(Scorer(), start, score(start), taken)  # type: ignore
    assert MIXED.decode(free)["layers"] < 4  # without the region it walks on
