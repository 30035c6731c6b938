"""Non-dominated filtering and sorting against O(n^2) brute force."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from mobo.pareto import is_nondominated, nondominated_sort


def dominates(a: np.ndarray, b: np.ndarray) -> bool:
    return bool((a <= b).all() and (a < b).any())


def brute_nondominated(Y: np.ndarray) -> np.ndarray:
    n = len(Y)
    keep = np.ones(n, dtype=bool)
    for i in range(n):
        for j in range(n):
            if dominates(Y[j], Y[i]) or (j < i and (Y[j] == Y[i]).all()):
                keep[i] = False
                break
    return keep


def brute_sort(Y: np.ndarray) -> np.ndarray:
    """Peel fronts: rank r = non-dominated (duplicates kept) among ranks >= r."""
    n = len(Y)
    rank = np.full(n, -1)
    r = 0
    while (rank < 0).any():
        rest = np.flatnonzero(rank < 0)
        for i in rest:
            if not any(dominates(Y[j], Y[i]) for j in rest):
                rank[i] = r
        r += 1
    return rank


def inputs(m: int, rng: np.random.Generator) -> list[np.ndarray]:
    out = [
        np.zeros((0, m)),
        rng.random((1, m)),
        rng.random((40, m)),
        np.round(rng.random((40, m)) * 3) / 3,  # heavy ties
        np.repeat(rng.random((5, m)), 4, axis=0)[rng.permutation(20)],  # duplicates
        np.ones((6, m)),  # all equal
        rng.random((30, m)) * 1e6,
        rng.random((30, m)) * 1e-6,
    ]
    X = np.abs(rng.normal(size=(30, m)))
    out.append(X / np.linalg.norm(X, axis=1, keepdims=True))  # all mutually non-dominated
    with_inf = rng.random((15, m))
    with_inf[rng.integers(0, 15, 4), rng.integers(0, m, 4)] = np.inf
    with_inf[rng.integers(0, 15, 2), rng.integers(0, m, 2)] = -np.inf
    out.append(with_inf)
    return out


@pytest.mark.parametrize("m", [1, 2, 3, 4, 5])
def test_is_nondominated_against_brute_force(m: int) -> None:
    rng = np.random.default_rng(m)
    for Y in inputs(m, rng):
        mask = is_nondominated(Y)
        assert mask.dtype == bool and mask.shape == (len(Y),)
        np.testing.assert_array_equal(mask, brute_nondominated(Y))


@pytest.mark.parametrize("m", [1, 2, 3, 4, 5])
def test_nondominated_sort_against_brute_force(m: int) -> None:
    rng = np.random.default_rng(10 + m)
    for Y in inputs(m, rng):
        rank = nondominated_sort(Y)
        assert rank.shape == (len(Y),) and rank.dtype == np.int64
        np.testing.assert_array_equal(rank, brute_sort(Y))


def test_duplicates_keep_first_occurrence() -> None:
    Y = np.array([[2.0, 2.0], [1.0, 3.0], [2.0, 2.0], [3.0, 3.0], [1.0, 3.0]])
    np.testing.assert_array_equal(is_nondominated(Y), [True, True, False, False, False])
    np.testing.assert_array_equal(nondominated_sort(Y), [0, 0, 0, 1, 0])
    Y3 = np.array([[1.0, 2.0, 3.0], [1.0, 2.0, 3.0], [0.0, 5.0, 5.0]])
    np.testing.assert_array_equal(is_nondominated(Y3), [True, False, True])


def test_chain_ranks() -> None:
    Y = np.arange(10.0)[::-1, None] * np.ones((1, 3))
    np.testing.assert_array_equal(nondominated_sort(Y), np.arange(10)[::-1])
    np.testing.assert_array_equal(is_nondominated(Y), np.arange(10) == 9)


def test_large_2d_front_is_fast_and_exact() -> None:
    rng = np.random.default_rng(0)
    t = np.sort(rng.random(20000))
    Y = np.column_stack([t, 1.0 - t])  # all non-dominated
    Y = np.vstack([Y, Y + 0.01])  # plus as many dominated ones
    mask = is_nondominated(Y)
    assert mask[:20000].all() and not mask[20000:].any()


@settings(max_examples=100, deadline=None)
@given(m=st.integers(1, 4), data=st.data())
def test_hypothesis(m: int, data: st.DataObject) -> None:
    n = data.draw(st.integers(0, 15))
    Y = data.draw(arrays(np.float64, (n, m), elements=st.sampled_from([0.0, 1.0, 2.0, np.inf])))
    np.testing.assert_array_equal(is_nondominated(Y), brute_nondominated(Y))
    np.testing.assert_array_equal(nondominated_sort(Y), brute_sort(Y))


def test_validation() -> None:
    with pytest.raises(ValueError, match="2-D"):
        is_nondominated(np.ones(3))
    with pytest.raises(ValueError, match="NaN in row"):
        is_nondominated(np.array([[0.0, 1.0], [np.nan, 0.0]]))
    with pytest.raises(ValueError, match="NaN"):
        nondominated_sort(np.array([[np.nan]]))
    with pytest.raises(ValueError, match="at least one"):
        nondominated_sort(np.ones((3, 0)))


def test_3d_staircase_on_larger_tied_sets() -> None:
    rng = np.random.default_rng(5)
    for Y in [np.round(rng.random((400, 3)) * 6) / 6, rng.random((400, 3))]:
        le = (Y[:, None, :] <= Y[None, :, :]).all(-1)  # le[j, i]: j weakly dominates i
        lt = (Y[:, None, :] < Y[None, :, :]).any(-1)
        eq = (Y[:, None, :] == Y[None, :, :]).all(-1)
        earlier = np.tril(np.ones((400, 400), dtype=bool), -1).T  # earlier[j, i]: j < i
        dropped = (le & lt).any(0) | (eq & earlier).any(0)
        np.testing.assert_array_equal(is_nondominated(Y), ~dropped)
