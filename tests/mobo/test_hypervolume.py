"""Hypervolume and box decomposition against brute force and moocore."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from mobo.hypervolume import hypervolume, nondominated_boxes

moocore = pytest.importorskip("moocore")


# ---------------------------------------------------------------------------------------
# slow references
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


def grid_cells(Y: np.ndarray, ref: np.ndarray, bound: np.ndarray):
    """Cells of the grid spanned by all coordinates, `bound` and `ref`, with N-membership.

    A cell's interior lies in N iff no counted point weakly dominates the cell's LOWER
    corner: front coordinates are grid values, so f_j <= z_j for an interior z_j exactly
    when f_j <= the cell's lower edge.
    """
    P = Y[(Y < ref).all(axis=1)]
    m = len(ref)
    axes = []
    for j in range(m):
        c = np.unique(np.concatenate([P[:, j], [bound[j], ref[j]]]))
        axes.append(c[(c >= bound[j]) & (c <= ref[j])])
    lows = np.stack(np.meshgrid(*[a[:-1] for a in axes], indexing="ij"), -1).reshape(-1, m)
    highs = np.stack(np.meshgrid(*[a[1:] for a in axes], indexing="ij"), -1).reshape(-1, m)
    if len(P):
        dominated = (P[None, :, :] <= lows[:, None, :]).all(-1).any(-1)
    else:
        dominated = np.zeros(len(lows), dtype=bool)
    return lows, highs, ~dominated


def in_region(Z: np.ndarray, Y: np.ndarray, ref: np.ndarray) -> np.ndarray:
    P = Y[(Y < ref).all(axis=1)]
    inside = (Z <= ref).all(axis=1)
    if len(P) == 0:
        return inside
    return inside & ~(P[None, :, :] <= Z[:, None, :]).all(-1).any(-1)


def clipped_volume(lower: np.ndarray, upper: np.ndarray, bound: np.ndarray, ref: np.ndarray):
    lo = np.maximum(lower, bound)
    hi = np.minimum(upper, ref)
    return float(np.prod(np.clip(hi - lo, 0.0, None), axis=1).sum())


def check_boxes(Y: np.ndarray, ref: np.ndarray, rng: np.random.Generator) -> None:
    lower, upper = nondominated_boxes(Y, ref)
    m = len(ref)
    assert lower.shape == upper.shape and lower.shape[1] == m
    assert (lower < upper).all()
    assert (upper <= ref).all()
    # a finite lower bound below every point, scaled like the data
    lowest = np.minimum(Y.min(axis=0), ref) if len(Y) else ref
    bound = lowest - np.maximum(ref - lowest, 0.5 * np.abs(ref) + 1e-300)
    # volume of N inside [bound, ref] against the grid
    lows, highs, in_n = grid_cells(Y, ref, bound)
    grid_vol = float(np.prod(highs - lows, axis=1)[in_n].sum())
    assert clipped_volume(lower, upper, bound, ref) == pytest.approx(grid_vol, rel=1e-10, abs=1e-12)
    # every random point lies in exactly one box if in N and in none otherwise
    Z = bound + rng.random((400, m)) * 1.2 * (ref - bound)
    if len(Y):
        # also probe next to the front points, where mistakes would hide
        near = Y[rng.integers(0, len(Y), 200)] + rng.normal(size=(200, m)) * 1e-3 * (ref - bound)
        Z = np.vstack([Z, near])
    count = ((lower[None] < Z[:, None]) & (Z[:, None] < upper[None])).all(-1).sum(1)
    expected = in_region(Z, Y, ref).astype(int)
    # points on a box face (measure zero) could be in zero boxes; none are drawn here
    np.testing.assert_array_equal(count, expected)


# ---------------------------------------------------------------------------------------
# inputs
# ---------------------------------------------------------------------------------------


def sphere_front(n: int, m: int, rng: np.random.Generator) -> np.ndarray:
    X = np.abs(rng.normal(size=(n, m)))
    return 1.0 - X / np.linalg.norm(X, axis=1, keepdims=True)


def degenerate_sets(m: int, rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray]]:
    ref = np.full(m, 1.0)
    base = np.round(rng.random((8, m)) * 4) / 4  # many ties in every coordinate
    on_ref = rng.random((5, m))
    on_ref[np.arange(5), rng.integers(0, m, 5)] = 1.0  # equal to ref in one coordinate
    outside = rng.random((6, m)) * 1.6  # some points beyond ref
    dup = np.repeat(rng.random((3, m)), 3, axis=0)
    return [
        (np.zeros((0, m)), ref),
        (np.full((1, m), 0.5), ref),
        (np.full((1, m), 1.0), ref),
        (base, ref),
        (on_ref, ref),
        (outside, ref),
        (dup, ref),
        (np.vstack([base, dup, on_ref, outside]), ref),
        (sphere_front(10, m, rng), ref),
        (rng.random((10, m)) * 1e6, np.full(m, 1e6)),
        (rng.random((10, m)) * 1e-6, np.full(m, 1e-6)),
    ]


# ---------------------------------------------------------------------------------------
# nondominated_boxes
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("m", [2, 3, 4, 5])
def test_boxes_degenerate(m: int) -> None:
    rng = np.random.default_rng(m)
    for Y, ref in degenerate_sets(m, rng):
        if len(Y) > 12 and m == 5:
            continue  # keep the grid small
        check_boxes(Y, ref, rng)


@pytest.mark.parametrize("m", [2, 3, 4])
def test_boxes_random(m: int) -> None:
    rng = np.random.default_rng(10 + m)
    for n in [1, 2, 3, 5, 9, 14]:
        for _ in range(3):
            check_boxes(rng.random((n, m)), np.full(m, 0.9), rng)


@pytest.mark.parametrize("m", [2, 3, 4, 5])
def test_boxes_volume_complements_hypervolume(m: int) -> None:
    rng = np.random.default_rng(20 + m)
    for Y, ref in degenerate_sets(m, rng):
        scale = ref[0]
        bound = ref - 2.0 * scale  # all inputs are >= 0 > bound
        lower, upper = nondominated_boxes(Y, ref)
        vol_n = clipped_volume(lower, upper, bound, ref)
        total = float(np.prod(ref - bound))
        assert vol_n + hypervolume(Y, ref) == pytest.approx(total, rel=1e-10)


def test_boxes_empty_and_outside() -> None:
    ref = np.array([1.0, 2.0, 3.0])
    for Y in [np.zeros((0, 3)), np.array([[1.0, 0.0, 0.0], [5.0, 5.0, 5.0]])]:
        lower, upper = nondominated_boxes(Y, ref)
        np.testing.assert_array_equal(lower, np.full((1, 3), -np.inf))
        np.testing.assert_array_equal(upper, ref[None])


def test_boxes_2d_are_the_strips() -> None:
    Y = np.array([[3.0, 1.0], [1.0, 3.0], [2.0, 2.0], [2.5, 2.5], [1.0, 3.0]])
    lower, upper = nondominated_boxes(Y, np.array([4.0, 4.0]))
    np.testing.assert_array_equal(lower[:, 0], [-np.inf, 1.0, 2.0, 3.0])
    np.testing.assert_array_equal(upper[:, 0], [1.0, 2.0, 3.0, 4.0])
    np.testing.assert_array_equal(upper[:, 1], [4.0, 3.0, 2.0, 1.0])
    assert np.isneginf(lower[:, 1]).all()


def test_boxes_3d_count_is_linear() -> None:
    rng = np.random.default_rng(3)
    for p in [10, 50, 200]:
        lower, _ = nondominated_boxes(sphere_front(p, 3, rng), np.ones(3))
        assert len(lower) <= 3 * p + 1


def test_boxes_1d() -> None:
    lower, upper = nondominated_boxes(np.array([[0.3], [0.2], [2.0]]), np.array([1.0]))
    np.testing.assert_array_equal(lower, [[-np.inf]])
    np.testing.assert_array_equal(upper, [[0.2]])


@settings(max_examples=60, deadline=None)
@given(
    m=st.integers(2, 4),
    data=st.data(),
)
def test_boxes_hypothesis(m: int, data: st.DataObject) -> None:
    n = data.draw(st.integers(0, 7))
    # a small value set forces ties, duplicates and points on the reference faces
    Y = data.draw(arrays(np.float64, (n, m), elements=st.sampled_from([0.0, 0.25, 0.5, 1.0, 1.5])))
    check_boxes(Y, np.ones(m), np.random.default_rng(n))


# ---------------------------------------------------------------------------------------
# hypervolume
# ---------------------------------------------------------------------------------------


def moocore_hv(Y: np.ndarray, ref: np.ndarray) -> float:
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
    for Y in [rng.random((n, m)), sphere_front(n, m, rng), np.round(rng.random((n, m)), 1)]:
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
    with pytest.raises(ValueError, match="front"):
        nondominated_boxes(np.ones((2, 2, 2)), np.ones(2))
    with pytest.raises(ValueError, match="NaN"):
        nondominated_boxes(np.array([[0.1, np.nan]]), np.ones(2))
    with pytest.raises(ValueError, match="ref"):
        nondominated_boxes(np.ones((2, 3)), np.ones(2))
    # +inf rows are simply outside the reference box
    assert hypervolume(np.array([[np.inf, 0.0], [0.5, 0.5]]), np.ones(2)) == pytest.approx(0.25)


def test_package_level_call_survives_submodule_import() -> None:
    import sys

    import mobo

    # this file imported the submodule first; the package attribute is still the function
    assert sys.modules["mobo.hypervolume"].nondominated_boxes is nondominated_boxes
    assert mobo.hypervolume(np.array([[0.5, 0.5]]), np.ones(2)) == pytest.approx(0.25)
