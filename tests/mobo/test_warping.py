"""Output warps: monotone, invertible, and the Yeo-Johnson transform and its lambda as the
formulas of Yeo & Johnson (2000) define them."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats
from scipy.special import ndtri

from mobo.warping import (
    WARPS,
    RankWarp,
    YeoJohnsonWarp,
    _yj,
    check_warp,
    fit_warp,
    warp_columns,
    yeo_johnson_llf,
)

SAMPLES = {
    "normal": np.random.default_rng(0).normal(3.0, 2.0, 40),
    "lognormal": np.random.default_rng(1).lognormal(0.0, 1.0, 60),
    "negative_skew": -np.random.default_rng(2).lognormal(0.0, 0.8, 30),
    "ties": np.array([1.0, 2.0, 2.0, 2.0, 5.0, 5.0, 7.0, 1.0]),
    "plateau": np.r_[np.full(20, 32.17), [11.0, 20.0, 36.3, 51.0, 72.3, 95.7]],
    "all_equal": np.full(7, 4.2),
    "one": np.array([3.0]),
    "two": np.array([-1.0, 2.5]),
    "two_equal": np.array([0.0, 0.0]),
}


@pytest.mark.parametrize("warp", WARPS)
@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_monotone_and_inverse(warp: str, name: str) -> None:
    y = SAMPLES[name]
    w = fit_warp(y, warp)
    lo, hi = y.min(), y.max()
    span = max(hi - lo, 1.0)
    # the observed range and beyond it on both sides (reference points, fantasies)
    grid = np.linspace(lo - 0.3 * span, hi + 0.3 * span, 401)
    grid = np.sort(np.r_[grid, y])
    z = w(grid)
    assert np.all(np.isfinite(z))
    # (points closer than rounding can resolve are not compared)
    assert np.all(np.diff(z)[np.diff(grid) > 1e-9 * span] > 0), "not strictly increasing"
    assert np.all(w.derivative(grid) > 0)
    np.testing.assert_allclose(w.inverse(z), grid, rtol=1e-9, atol=1e-9 * span)


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_rank_warp_is_the_normal_scores_of_mid_ranks(name: str) -> None:
    y = SAMPLES[name]
    n = len(y)
    expected = ndtri((scipy.stats.rankdata(y, method="average") - 0.5) / n)
    np.testing.assert_allclose(RankWarp(y)(y), expected, rtol=0, atol=1e-12)


def test_rank_warp_extrapolates_the_end_segments() -> None:
    y = np.array([0.0, 1.0, 3.0])
    w = RankWarp(y)
    z = w(y)
    assert w(np.array(-2.0)) == pytest.approx(z[0] - 2.0 * (z[1] - z[0]))
    assert w(np.array(5.0)) == pytest.approx(z[2] + 2.0 * (z[2] - z[1]) / 2.0)
    # a single value: slope 1 / max(|y|, 1), centred on it
    one = RankWarp(np.array([40.0]))
    assert one(np.array(44.0)) == pytest.approx(0.1)


def _yj_direct(u: np.ndarray, lam: float) -> np.ndarray:
    """The four cases of Yeo & Johnson (2000), written out."""
    out = np.empty_like(u)
    for i, x in enumerate(u):
        if x >= 0:
            out[i] = np.log(x + 1) if lam == 0 else ((x + 1) ** lam - 1) / lam
        else:
            out[i] = -np.log(1 - x) if lam == 2 else -((1 - x) ** (2 - lam) - 1) / (2 - lam)
    return out


@pytest.mark.parametrize("lam", [-2.5, -0.7, 0.0, 0.4, 1.0, 1.9, 2.0, 3.3])
def test_yeo_johnson_formulas(lam: float) -> None:
    u = np.linspace(-4.0, 4.0, 81)
    np.testing.assert_allclose(_yj(u, lam), _yj_direct(u, lam), rtol=1e-9, atol=1e-12)
    # next to the logarithmic cases the direct formula cancels; the limit is continuous
    np.testing.assert_allclose(_yj(u, lam + 1e-12), _yj(u, lam), rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(_yj(u, lam), scipy.stats.yeojohnson(u, lam), rtol=1e-9,
                               atol=1e-12)


@pytest.mark.parametrize("name", ["normal", "lognormal", "negative_skew", "plateau"])
def test_yeo_johnson_jacobian_and_inverse(name: str) -> None:
    y = SAMPLES[name]
    w = YeoJohnsonWarp(y)
    grid = np.linspace(y.min() - 0.5, y.max() + 0.5, 57)
    grid = grid[np.abs(grid - w.loc) > 1e-3]  # the two branches meet at the mean
    h = 1e-6 * max(1.0, float(np.abs(grid).max()))
    fd = (w(grid + h) - w(grid - h)) / (2 * h)
    np.testing.assert_allclose(w.derivative(grid), fd, rtol=1e-6)
    # the inverse from the formulas: u = (1 + lam psi)^(1/lam) - 1 above, 1 - (1 -
    # (2 - lam) psi)^(1 / (2 - lam)) below, around the standardisations
    psi = w(grid) * w.z_scale + w.z_loc
    lam = w.lam
    with np.errstate(invalid="ignore"):  # each branch is evaluated on both sides
        u = np.where(psi >= 0, (1 + lam * psi) ** (1 / lam) - 1,
                     1 - (1 - (2 - lam) * psi) ** (1 / (2 - lam)))
    np.testing.assert_allclose(w.inverse(w(grid)), u * w.scale + w.loc, rtol=1e-9,
                               atol=1e-9)


@pytest.mark.parametrize("name", ["normal", "lognormal", "negative_skew", "plateau", "two"])
def test_yeo_johnson_lambda_is_the_likelihood_maximum(name: str) -> None:
    y = SAMPLES[name]
    w = YeoJohnsonWarp(y)
    u = (y - y.mean()) / y.std()
    grid = np.linspace(-5.0, 5.0, 20001)
    llf = np.array([yeo_johnson_llf(u, float(lam)) for lam in grid])
    best = int(np.argmax(llf))
    # nothing on a fine grid beats the fitted lambda, and it sits at the grid's maximum
    assert yeo_johnson_llf(u, w.lam) >= llf[best] - 1e-9
    assert abs(w.lam - grid[best]) <= 1e-3
    # the log-likelihood as scipy writes it, up to its constant
    offset = scipy.stats.yeojohnson_llf(0.7, u) - yeo_johnson_llf(u, 0.7)
    for lam in (-1.0, 0.0, 1.5, 2.0):
        assert scipy.stats.yeojohnson_llf(lam, u) - yeo_johnson_llf(u, lam) == \
            pytest.approx(offset, abs=1e-8)


def test_yeo_johnson_output_is_standardised() -> None:
    y = SAMPLES["lognormal"]
    z = YeoJohnsonWarp(y)(y)
    assert z.mean() == pytest.approx(0.0, abs=1e-12)
    assert z.std() == pytest.approx(1.0, abs=1e-12)
    assert YeoJohnsonWarp(SAMPLES["all_equal"]).lam == 1.0


def test_warp_columns_and_check() -> None:
    Y = np.column_stack([SAMPLES["normal"][:8], SAMPLES["ties"]])
    ref = np.array([9.0, 8.0])
    W, r = warp_columns(Y, ref, [1], "rank")
    np.testing.assert_array_equal(W[:, 0], Y[:, 0])
    assert r is not None and r[0] == 9.0
    np.testing.assert_array_equal(W[:, 1], RankWarp(Y[:, 1])(Y[:, 1]))
    assert r[1] == RankWarp(Y[:, 1])(np.array(8.0))
    assert check_warp(None) is None and check_warp("rank") == "rank"
    for bad in ("Rank", "log", 1, True):
        with pytest.raises(ValueError, match="warp"):
            check_warp(bad)
    with pytest.raises(ValueError, match="finite"):
        RankWarp(np.array([]))
