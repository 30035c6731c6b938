"""Box decompositions of the non-dominated region against brute force (a grid of cells and
random probes), and their index for the EHVI kernels."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from mobo.boxes import boxes_from_bounds, decompose, nondominated_boxes
from mobo.volume import hypervolume
from tests.mobo.references import degenerate_fronts, degenerate_sets, random_front

# ---------------------------------------------------------------------------------------
# slow references
# ---------------------------------------------------------------------------------------


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
        lower, _ = nondominated_boxes(random_front(rng, p, 3), np.ones(3))
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
# the index for the EHVI kernels
# ---------------------------------------------------------------------------------------


def test_strips_have_p_plus_one_boxes() -> None:
    front = np.array([[0.2, 0.8], [0.5, 0.5], [0.5, 0.6], [0.8, 0.2], [0.8, 0.2], [1.0, 0.1]])
    boxes = decompose(front, np.ones(2))
    # [0.5, 0.6] is dominated, the duplicate counts once, [1.0, 0.1] lies on the reference
    assert len(boxes) == 4
    np.testing.assert_array_equal(boxes.upper[:, 1], [1.0, 0.8, 0.5, 0.2])


@pytest.mark.parametrize("m", [1, 2, 3, 4])
def test_box_index_matches_a_direct_lookup(m: int) -> None:
    """Every box side is found at its coordinate in the grid of its axis, which holds each
    distinct finite coordinate once, sorted; random and degenerate (repeated, all -inf,
    single-box) bounds."""
    rng = np.random.default_rng(m)
    cases = []
    for n_boxes in (1, 2, 7, 40):
        # repeated coordinates
        lower = rng.choice([-np.inf, 0.0, 0.25, 0.5], size=(n_boxes, m))
        width = rng.choice([0.25, 0.5, 1.0], size=(n_boxes, m))
        cases.append((lower, np.where(np.isinf(lower), 0.0, lower) + width))
        # distinct coordinates
        lower = rng.uniform(-1.0, 1.0, size=(n_boxes, m))
        lower[rng.random((n_boxes, m)) < 0.3] = -np.inf
        width = rng.uniform(0.1, 1.0, size=(n_boxes, m))
        cases.append((lower, np.where(np.isinf(lower), 0.0, lower) + width))
    cases.append((np.full((3, m), -np.inf), np.ones((3, m))))
    for lower, upper in cases:
        boxes = boxes_from_bounds(lower, upper)
        for j in range(m):
            coords = sorted({float(v) for v in lower[:, j] if np.isfinite(v)}
                            | {float(v) for v in upper[:, j]})
            count = int(boxes.counts[j])
            assert boxes.grid[j, :count].tolist() == coords
            assert np.all(np.isposinf(boxes.grid[j, count:]))
            for k in range(len(lower)):
                ui = boxes.upper_index[k, j]
                assert boxes.grid[j, ui] == upper[k, j]
                li = boxes.lower_index[k, j]
                if np.isfinite(lower[k, j]):
                    assert boxes.grid[j, li] == lower[k, j]
                else:
                    assert li == -1


@pytest.mark.parametrize("m", [1, 2, 3, 4])
def test_decompose_indexes_the_nondominated_boxes(m: int) -> None:
    """EHVI's decomposition is the hypervolume module's, box for box (one strip builder for
    both), and its index points back at the bounds."""
    rng = np.random.default_rng(60 + m)
    ref = np.ones(m)
    for name, front in degenerate_fronts(rng, m).items():
        boxes = decompose(front, ref)
        lower, upper = nondominated_boxes(front, ref)
        np.testing.assert_array_equal(boxes.lower, lower, err_msg=name)
        np.testing.assert_array_equal(boxes.upper, upper, err_msg=name)
        assert boxes.strips == (m == 2), name
        for j in range(m):
            np.testing.assert_array_equal(boxes.grid[j, boxes.upper_index[:, j]], upper[:, j])


# ---------------------------------------------------------------------------------------
# validation
# ---------------------------------------------------------------------------------------


def test_validation_errors() -> None:
    with pytest.raises(ValueError, match="front"):
        nondominated_boxes(np.ones((2, 2, 2)), np.ones(2))
    with pytest.raises(ValueError, match="NaN"):
        nondominated_boxes(np.array([[0.1, np.nan]]), np.ones(2))
    with pytest.raises(ValueError, match="ref"):
        nondominated_boxes(np.ones((2, 3)), np.ones(2))
    with pytest.raises(ValueError, match="upper"):
        boxes_from_bounds(np.zeros((1, 2)), np.zeros((1, 2)))
    with pytest.raises(ValueError, match="lower"):
        boxes_from_bounds(np.full((1, 2), np.nan), np.ones((1, 2)))
