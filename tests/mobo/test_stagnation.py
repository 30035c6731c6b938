"""The stall count of :mod:`mobo.stagnation` against a slow reference: the area dominated
by each prefix of the trials, from the union of their rectangles, and a plain count."""

from __future__ import annotations

import numpy as np
import pytest

from mobo.stagnation import STALL_MARGIN, stall_length


def _area(Y: np.ndarray, ref: np.ndarray) -> float:
    """Area dominated by the rows of ``Y`` (minimised, two columns) that beat ``ref`` in
    both: over the vertical strips between consecutive first coordinates, the height
    below ``ref`` of the lowest row to the strip's left."""
    P = [y for y in Y if y[0] < ref[0] and y[1] < ref[1]]
    xs = sorted({float(p[0]) for p in P} | {float(ref[0])})
    area = 0.0
    for lo, hi in zip(xs[:-1], xs[1:], strict=True):
        heights = [ref[1] - p[1] for p in P if p[0] <= lo]
        if heights:
            area += (hi - lo) * max(heights)
    return area


def _stall_reference(Y: np.ndarray, ref: np.ndarray, model: np.ndarray,
                     margin: float) -> int:
    successes = [i for i in range(len(Y)) if model[i] and (
        _area(Y[: i + 1], ref) - _area(Y[:i], ref) >= margin * _area(Y[:i], ref)
        if _area(Y[:i], ref) > 0 else _area(Y[: i + 1], ref) > 0)]
    after = successes[-1] + 1 if successes else 0
    return int(np.sum(model[after:]))


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("margin", [0.0, STALL_MARGIN, 0.2])
def test_stall_against_the_reference_on_random_runs(seed: int, margin: float) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 40))
    # rounded values: ties, duplicates and rows on the reference's edges all occur
    Y = np.round(rng.random((n, 2)), 1)
    ref = np.array([0.8, 0.9])
    model = rng.random(n) < 0.7
    assert stall_length(Y, ref, model, margin) == _stall_reference(Y, ref, model, margin)


def test_stalls_count_up_and_a_gain_resets_them() -> None:
    ref = np.array([1.0, 1.0])
    Y = np.array([[0.5, 0.5],  # the design's point: 0.25 of volume
                  [0.6, 0.6], [0.5, 0.5], [0.9, 0.2],  # dominated, a duplicate, +0.03
                  [0.1, 0.1]])  # a clear gain
    model = np.array([False, True, True, True, True])
    assert [stall_length(Y[:k], ref, model[:k]) for k in range(1, 6)] == [0, 1, 2, 0, 0]
    # with a 20% margin the 0.03 gain (12% of 0.25) is no success
    assert stall_length(Y[:4], ref, model[:4], margin=0.2) == 3


def test_degenerate_inputs() -> None:
    ref = np.array([1.0, 1.0])
    # nothing yet, no model row, nothing inside the reference
    assert stall_length(np.zeros((0, 2)), ref, np.zeros(0, dtype=bool)) == 0
    assert stall_length(np.full((3, 2), 0.5), ref, np.zeros(3, dtype=bool)) == 0
    assert stall_length(np.full((3, 2), 2.0), ref, np.ones(3, dtype=bool)) == 3
    # while the volume is zero, any gain counts
    Y = np.array([[2.0, 2.0], [0.999, 0.999]])
    assert stall_length(Y, ref, np.array([True, True])) == 0
    # one objective, three objectives
    assert stall_length(np.array([[0.5], [0.4], [0.45]]), np.array([1.0]),
                        np.array([False, True, True])) == 1
    Y3 = np.array([[0.5, 0.5, 0.5], [0.4, 0.6, 0.5], [0.5, 0.5, 0.5]])
    assert stall_length(Y3, np.ones(3), np.array([False, True, True])) == 1


@pytest.mark.parametrize("args", [
    (np.zeros((2, 2)), np.ones(3), np.zeros(2, dtype=bool)),
    (np.zeros((2, 2)), np.ones(2), np.zeros(3, dtype=bool)),
    (np.zeros(2), np.ones(2), np.zeros(2, dtype=bool)),
])
def test_bad_shapes_are_refused(args: tuple[np.ndarray, ...]) -> None:
    with pytest.raises(ValueError, match="need"):
        stall_length(*args)


def test_a_negative_margin_is_refused() -> None:
    with pytest.raises(ValueError, match="margin"):
        stall_length(np.zeros((1, 2)), np.ones(2), np.ones(1, dtype=bool), margin=-0.1)
