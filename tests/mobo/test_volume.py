"""Hypervolume against inclusion-exclusion and moocore."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import mobo.improvement
import mobo.volume
from mobo.volume import contributions, hypervolume
from tests.mobo.references import cells_alone, degenerate_sets, random_front

# ---------------------------------------------------------------------------------------
# slow reference
# ---------------------------------------------------------------------------------------


def hv_inclusion_exclusion(Y: np.ndarray, ref: np.ndarray) -> float:
    """Sum over subsets of (-1)^(|S|+1) * vol(box of the componentwise max of S)."""
    P = Y[(Y < ref).all(axis=1)]
    total = 0.0
    for k in range(1, len(P) + 1):
        for S in itertools.combinations(range(len(P)), k):
            corner = P[list(S)].max(axis=0)
            total += (-1) ** (k + 1) * np.prod(ref - corner)
    return float(total)


# ---------------------------------------------------------------------------------------
# hypervolume
# ---------------------------------------------------------------------------------------


def moocore_hv(Y: np.ndarray, ref: np.ndarray) -> float:
    """Hypervolume by moocore, the independent reference (skips the test without it)."""
    moocore = pytest.importorskip("moocore")
    return float(moocore.hypervolume(Y, ref=ref)) if len(Y) else 0.0


@pytest.mark.parametrize("m", [1, 2, 3, 4, 5])
def test_hv_against_inclusion_exclusion(m: int) -> None:
    rng = np.random.default_rng(30 + m)
    for n in range(0, 8):
        Y = rng.random((n, m))
        ref = np.full(m, 0.85)
        assert hypervolume(Y, ref) == pytest.approx(hv_inclusion_exclusion(Y, ref), abs=1e-12)


@pytest.mark.parametrize("m", [2, 3, 4, 5])
def test_hv_against_moocore_degenerate(m: int) -> None:
    rng = np.random.default_rng(40 + m)
    for Y, ref in degenerate_sets(m, rng):
        # moocore gives zero volume to points equal to ref in some coordinate, the same
        # volume as excluding them
        expected = moocore_hv(Y, ref)
        assert hypervolume(Y, ref) == pytest.approx(expected, rel=1e-12, abs=1e-300)


@pytest.mark.parametrize("m,n", [(2, 500), (3, 300), (4, 80), (5, 30)])
def test_hv_against_moocore_random(m: int, n: int) -> None:
    rng = np.random.default_rng(50 + m)
    for Y in [rng.random((n, m)), random_front(rng, n, m), np.round(rng.random((n, m)), 1)]:
        ref = np.full(m, 1.05)
        assert hypervolume(Y, ref) == pytest.approx(moocore_hv(Y, ref), rel=1e-11)


@settings(max_examples=80, deadline=None)
@given(m=st.integers(2, 5), data=st.data())
def test_hv_hypothesis(m: int, data: st.DataObject) -> None:
    n = data.draw(st.integers(0, 12))
    Y = data.draw(
        arrays(np.float64, (n, m), elements=st.sampled_from([0.0, 0.1, 0.5, 0.9, 1.0, 2.0]))
    )
    ref = np.ones(m)
    assert hypervolume(Y, ref) == pytest.approx(moocore_hv(Y, ref), abs=1e-12)


def test_hv_simple_values() -> None:
    assert hypervolume(np.zeros((0, 2)), np.ones(2)) == 0.0
    assert hypervolume(np.array([[0.5, 0.5]]), np.ones(2)) == pytest.approx(0.25)
    assert hypervolume(np.array([[0.5, 1.0]]), np.ones(2)) == 0.0
    assert hypervolume(np.array([[0.2], [0.5], [3.0]]), np.array([1.0])) == pytest.approx(0.8)
    assert hypervolume(np.array([[0.0, 0.0, 0.0]]), np.array([1.0, 2.0, 3.0])) == 6.0
    # a point outside in one objective does not count even if excellent in the others
    assert hypervolume(np.array([[-5.0, 1.5]]), np.ones(2)) == 0.0


def test_hv_invariant_to_order_and_duplicates() -> None:
    rng = np.random.default_rng(7)
    Y = rng.random((60, 3))
    ref = np.ones(3)
    base = hypervolume(Y, ref)
    assert hypervolume(Y[::-1], ref) == pytest.approx(base, rel=1e-13)
    assert hypervolume(np.vstack([Y, Y]), ref) == pytest.approx(base, rel=1e-13)


@pytest.mark.parametrize("m", [2, 3])
@pytest.mark.parametrize("seed", range(4))
def test_contributions_against_counted_cells(m: int, seed: int) -> None:
    # integer data, so each row's volume alone is a count of unit cells; rows that are
    # dominated, duplicated or not below the reference are among them
    rng = np.random.default_rng(seed)
    Y = rng.integers(-6, 2, size=(9, m)).astype(float)
    Y[3] = Y[2]
    ref = np.zeros(m)
    np.testing.assert_allclose(contributions(Y, ref), cells_alone(Y, ref), atol=1e-9)
    front = random_front(rng, 5, m)
    alone = contributions(front, np.ones(m))
    assert (alone > 0).all() and alone.sum() <= hypervolume(front, np.ones(m))


def test_validation_errors() -> None:
    with pytest.raises(ValueError, match="Y"):
        hypervolume(np.ones(3), np.ones(3))
    with pytest.raises(ValueError, match="ref"):
        hypervolume(np.ones((2, 3)), np.ones(2))
    with pytest.raises(ValueError, match="ref"):
        hypervolume(np.ones((2, 2)), np.array([1.0, np.inf]))
    with pytest.raises(ValueError, match="NaN"):
        hypervolume(np.array([[0.1, np.nan]]), np.ones(2))
    with pytest.raises(ValueError, match="-inf"):
        hypervolume(np.array([[0.1, -np.inf]]), np.ones(2))
    # +inf rows are simply outside the reference box
    assert hypervolume(np.array([[np.inf, 0.0], [0.5, 0.5]]), np.ones(2)) == pytest.approx(0.25)


def test_package_level_names_are_the_functions() -> None:
    # the modules are named apart from the functions, so importing them leaves the
    # package attributes the functions
    assert mobo.hypervolume is mobo.volume.hypervolume is hypervolume
    assert mobo.ehvi is mobo.improvement.ehvi
    assert mobo.log_ehvi is mobo.improvement.log_ehvi
    assert mobo.hypervolume(np.array([[0.5, 0.5]]), np.ones(2)) == pytest.approx(0.25)
