from __future__ import annotations

import json
import math

import numba
import numpy as np
import pytest
import torch
from torch.distributions import LogNormal

from mobo import gp as gpmod
from mobo.gp import fit_gp, matern52


def branin_like(X: np.ndarray) -> np.ndarray:
    return np.stack([np.sin(5 * X[:, 0]) + X[:, 1] ** 2, np.cos(3 * (X[:, 0] + X[:, 1]))], 1)


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(0)
    X = rng.random((30, 2))
    Y = branin_like(X) * np.array([10.0, 0.1]) + np.array([100.0, -3.0])
    return X, Y, fit_gp(X, Y)


def test_matern52_reference():
    rng = np.random.default_rng(1)
    A, B = rng.random((4, 3)), rng.random((5, 3))
    ls = np.array([[0.3, 0.5, 2.0], [1.0, 1.0, 1.0]])
    K = matern52(torch.from_numpy(A), torch.from_numpy(B), torch.from_numpy(ls)).numpy()
    for j in range(2):
        for a in range(4):
            for b in range(5):
                r = math.sqrt(sum(((A[a, i] - B[b, i]) / ls[j, i]) ** 2 for i in range(3)))
                ref = (1 + math.sqrt(5) * r + 5 * r * r / 3) * math.exp(-math.sqrt(5) * r)
                assert K[j, a, b] == pytest.approx(ref, rel=1e-10, abs=1e-12)



@pytest.mark.parametrize("case", ["random", "duplicates", "far", "single"])
def test_fused_cross_kernel_matches_reference(case):
    """The vectorised cross kernel against the textbook formula with math.exp, on random
    inputs, repeated points (distance exactly 0), points beyond exp's range (tiny
    lengthscales: the kernel underflows to 0) and single points."""
    rng = np.random.default_rng(3)
    Xq, X = rng.random((9, 3)), rng.random((13, 3))
    ls = np.array([[0.3, 0.5, 2.0], [1.0, 1.0, 1.0]])
    if case == "duplicates":
        Xq[:4] = X[[0, 0, 5, 12]]
    elif case == "far":
        ls = np.array([[1e-3, 2e-3, 5e-3], [0.05, 1.0, 1.0]])
    elif case == "single":
        Xq, X = Xq[:1], X[:1]
    os_ = np.array([1.7, 0.2])
    out = np.empty((2, len(Xq), len(X)))
    gpmod._cross_kernel(Xq, X, ls, os_, out)
    for j in range(2):
        for a in range(len(Xq)):
            for b in range(len(X)):
                r = math.sqrt(5.0 * sum(((Xq[a, i] - X[b, i]) / ls[j, i]) ** 2
                                        for i in range(3)))
                ref = os_[j] * (1 + r + r * r / 3) * math.exp(-r)
                # both round r differently, and exp turns an absolute error in r into a
                # relative one: the tolerance grows with r
                assert out[j, a, b] == pytest.approx(ref, rel=1e-15 * (8.0 + r), abs=1e-300)
    if case == "duplicates":
        np.testing.assert_array_equal(out[:, 0, 0], os_)
    if case == "far":
        assert (out[0] == 0.0).sum() > 0

def test_posterior_interpolates_in_raw_units(fitted):
    X, Y, gp = fitted
    assert gp.fit_ok
    mu, sd = gp.posterior(X)
    rng_y = Y.max(0) - Y.min(0)
    assert np.all(np.abs(mu - Y) < 0.02 * rng_y)
    # variance shrinks at the data and grows away from it
    far = np.array([[3.0, 3.0]])
    _, sd_far = gp.posterior(far)
    assert np.all(sd.max(0) < 0.1 * sd_far[0])
    assert np.all(sd_far[0] > 0.3 * Y.std(0))


def test_posterior_predicts_held_out_points(fitted):
    X, Y, gp = fitted
    rng = np.random.default_rng(5)
    Xt = rng.random((200, 2))
    mu, sd = gp.posterior(Xt)
    Yt = branin_like(Xt) * np.array([10.0, 0.1]) + np.array([100.0, -3.0])
    rmse = np.sqrt(((mu - Yt) ** 2).mean(0))
    assert np.all(rmse < 0.1 * Yt.std(0))
    # calibrated-ish: most errors within 3 std
    assert np.mean(np.abs(mu - Yt) < 3 * sd + 1e-9) > 0.9


@pytest.fixture(scope="module")
def fitted_many():
    """More observations than the fit's subset: the paths for many (triangular inverse and
    product from LAPACK/BLAS)."""
    rng = np.random.default_rng(1)
    X = rng.random((gpmod.FIT_SUBSET + 44, 2))
    Y = branin_like(X) * np.array([10.0, 0.1]) + np.array([100.0, -3.0])
    Y = Y + 0.01 * rng.standard_normal(Y.shape)
    return X, Y, fit_gp(X, Y)


@pytest.mark.parametrize("which", ["fitted", "fitted_many"])
def test_posterior_numpy_matches_torch_and_direct_formula(which, request):
    X, Y, gp = request.getfixturevalue(which)
    assert gpmod._large(len(X)) == (which == "fitted_many")
    Xq = np.random.default_rng(2).random((7, 2))
    mu, sd = gp.posterior(Xq)
    mt, st = gp.posterior_torch(torch.from_numpy(Xq))
    np.testing.assert_allclose(mu, mt.detach().numpy(), rtol=1e-10)
    # a posterior variance is a difference of nearly equal terms among many close
    # observations, so the two products' roundings differ relative to the prior sd
    for j in range(2):
        np.testing.assert_allclose(sd[:, j], st.detach().numpy()[:, j], rtol=1e-8,
                                   atol=1e-8 * gp.y_scale[j])
    # textbook formulas with explicit inverses
    for j in range(2):
        ls = gp.lengthscale[j : j + 1]
        s, nz, c = float(gp.outputscale[j]), float(gp.noise[j]), float(gp.mean[j])
        Xt = torch.from_numpy(X)
        Qt = torch.from_numpy(Xq)
        K = s * matern52(Xt, Xt, ls)[0].numpy() + nz * np.eye(len(X))
        k = s * matern52(Qt, Xt, ls)[0].numpy()
        ys = (Y[:, j] - gp.y_mean[j]) / gp.y_scale[j]
        m_ref = c + k @ np.linalg.solve(K, ys - c)
        v_ref = s - np.einsum("qn,qn->q", k, np.linalg.solve(K, k.T).T)
        np.testing.assert_allclose(mu[:, j], m_ref * gp.y_scale[j] + gp.y_mean[j], rtol=1e-8)
        np.testing.assert_allclose(sd[:, j], np.sqrt(np.maximum(v_ref, 1e-12)) * gp.y_scale[j],
                                   rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize("which", ["fitted", "fitted_many"])
def test_posterior_mean_is_the_posteriors_mean_to_the_last_bit(which, request):
    """``posterior_mean`` skips the variance: the mean it returns is the one of
    ``posterior`` at the same chunking, bit for bit (the plug-in front's proposals rest
    on that), and a direct solve agrees with it. Across chunkings the means agree to
    rounding only: a BLAS may sum a matrix-vector product in another order for another
    number of rows (an Intel CPU with AVX-512 does)."""
    X, Y, gp = request.getfixturevalue(which)
    Xq = np.vstack([np.random.default_rng(3).random((11, 2)), X[:5], X[:1]])
    for chunk in (4096, 4, 1):
        mean = gp.posterior_mean(Xq, chunk)
        np.testing.assert_array_equal(mean, gp.posterior(Xq, chunk)[0])
        np.testing.assert_allclose(mean, gp.posterior(Xq)[0], rtol=1e-10)
    assert gp.posterior_mean(Xq[:0]).shape == (0, 2)
    for j in range(2):
        Xt, Qt = torch.from_numpy(X), torch.from_numpy(Xq)
        ls = gp.lengthscale[j : j + 1]
        s, nz, c = float(gp.outputscale[j]), float(gp.noise[j]), float(gp.mean[j])
        K = s * matern52(Xt, Xt, ls)[0].numpy() + nz * np.eye(len(X))
        k = s * matern52(Qt, Xt, ls)[0].numpy()
        ys = (Y[:, j] - gp.y_mean[j]) / gp.y_scale[j]
        m_ref = c + k @ np.linalg.solve(K, ys - c)
        np.testing.assert_allclose(gp.posterior_mean(Xq)[:, j],
                                   m_ref * gp.y_scale[j] + gp.y_mean[j], rtol=1e-8)


def test_posterior_input_gradient_matches_finite_differences(fitted):
    _, _, gp = fitted
    x0 = np.array([[0.37, 0.61]])
    xt = torch.from_numpy(x0).requires_grad_(True)
    mu, sd = gp.posterior_torch(xt)
    w = torch.tensor([[0.7, -1.3]], dtype=torch.float64)
    (g,) = torch.autograd.grad((mu * w).sum() + (sd * w).sum(), xt)
    eps = 1e-6
    fd = np.zeros(2)
    for i in range(2):
        e = np.zeros((1, 2))
        e[0, i] = eps
        mp, sp = gp.posterior(x0 + e)
        mm, sm = gp.posterior(x0 - e)
        wn = w.numpy()
        fd[i] = (((mp - mm) * wn).sum() + ((sp - sm) * wn).sum()) / (2 * eps)
    np.testing.assert_allclose(g.numpy()[0], fd, rtol=1e-5, atol=1e-6)


def test_fit_objective_gradient_matches_finite_differences():
    rng = np.random.default_rng(3)
    X = rng.random((25, 3))
    Y = branin_like(X) + 0.05 * rng.standard_normal((25, 2))
    Ys, _, _ = gpmod._standardise(Y)
    hyper = gpmod._Hyper(2, 3)
    obj = gpmod._Objective(X, Ys, hyper)
    th = hyper.default().ravel() + rng.normal(0, 0.3, size=hyper.width * 2)
    th[hyper.d + 1] = math.log(0.05)  # well-conditioned noise so differences are accurate
    th[hyper.width + hyper.d + 1] = math.log(0.02)
    v, g = obj.value_and_grad(th)
    assert v == pytest.approx(obj.value(th), rel=1e-12)
    eps = 1e-6
    fd = np.array([(obj.value(th + eps * e) - obj.value(th - eps * e)) / (2 * eps)
                   for e in np.eye(len(th))])
    np.testing.assert_allclose(g, fd, rtol=1e-5, atol=1e-5)


def test_value_is_negative_log_posterior_reference():
    rng = np.random.default_rng(4)
    X = rng.random((6, 2))
    Y = rng.standard_normal((6, 1))
    Ys, _, _ = gpmod._standardise(Y)
    hyper = gpmod._Hyper(1, 2)
    obj = gpmod._Objective(X, Ys, hyper)
    th = np.array([math.log(0.4), math.log(0.9), math.log(1.3), math.log(0.1), 0.2])
    ls, s, nz, c = np.exp(th[:2]), math.exp(th[2]), math.exp(th[3]) + 1e-6, th[4]
    K = s * matern52(torch.from_numpy(X), torch.from_numpy(X),
                     torch.from_numpy(ls[None]))[0].numpy() + nz * np.eye(6)
    r = Ys[:, 0] - c
    nll = 0.5 * r @ np.linalg.solve(K, r) + 0.5 * np.linalg.slogdet(K)[1]
    nll += 3 * math.log(2 * math.pi)

    def lognormal(x, mu, sig):
        return -math.log(x) - math.log(sig) - 0.5 * math.log(2 * math.pi) \
            - 0.5 * ((math.log(x) - mu) / sig) ** 2

    mu_ls = math.sqrt(2) + 0.5 * math.log(2)
    lp = sum(lognormal(v, mu_ls, math.sqrt(3)) for v in ls)
    lp += lognormal(s, 0.0, 1.0) + lognormal(nz, -4.0, 1.0) - 0.5 * c * c
    assert obj.value(th) == pytest.approx(nll - lp, rel=1e-10)


def test_single_observation():
    gp = fit_gp(np.array([[0.2, 0.4]]), np.array([[3.0, -1.0]]))
    mu, sd = gp.posterior(np.array([[0.2, 0.4], [0.9, 0.9]]))
    assert np.all(np.isfinite(mu)) and np.all(np.isfinite(sd))
    np.testing.assert_allclose(mu[0], [3.0, -1.0], atol=0.05)
    assert np.all(sd[1] > sd[0])


def test_duplicate_inputs_and_constant_outputs():
    X = np.array([[0.5, 0.5]] * 5 + [[0.1, 0.2]] * 3)
    Y = np.column_stack([np.full(8, 7.0), np.r_[np.full(5, 1.0), np.full(3, 2.0)]])
    gp = fit_gp(X, Y)
    mu, sd = gp.posterior(np.array([[0.5, 0.5], [0.1, 0.2], [0.9, 0.1]]))
    assert np.all(np.isfinite(mu)) and np.all(np.isfinite(sd)) and np.all(sd >= 0)
    np.testing.assert_allclose(mu[:, 0], 7.0, atol=1e-6)  # constant objective stays constant
    assert mu[0, 1] == pytest.approx(1.0, abs=0.05) and mu[1, 1] == pytest.approx(2.0, abs=0.05)
    assert gp.model_state()["y_scale"][0] == 1.0


def test_duplicates_with_conflicting_values_are_noise():
    X = np.array([[0.3]] * 4 + [[0.8]] * 4)
    Y = np.array([[0.0], [1.0], [0.0], [1.0], [5.0], [6.0], [5.0], [6.0]])
    gp = fit_gp(X, Y)
    mu, _ = gp.posterior(np.array([[0.3], [0.8]]))
    np.testing.assert_allclose(mu[:, 0], [0.5, 5.5], atol=0.3)
    assert gp.noise[0] > 1e-3


def test_outlier_does_not_break_fit():
    rng = np.random.default_rng(6)
    X = rng.random((20, 2))
    Y = branin_like(X)
    Y[3, 0] = 1e6
    gp = fit_gp(X, Y)
    mu, sd = gp.posterior(rng.random((10, 2)))
    assert np.all(np.isfinite(mu)) and np.all(np.isfinite(sd))


def test_fit_failure_falls_back_to_defaults(monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("optimizer exploded")

    monkeypatch.setattr(gpmod.scipy.optimize, "minimize", boom)
    X = np.random.default_rng(0).random((5, 2))
    gp = fit_gp(X, branin_like(X))
    assert not gp.fit_ok
    np.testing.assert_allclose(gp.theta, gpmod._Hyper(2, 2).default())
    mu, sd = gp.posterior(X)
    assert np.all(np.isfinite(mu)) and np.all(np.isfinite(sd))


def test_model_state_json_and_warm_start(fitted):
    X, Y, gp = fitted
    state = json.loads(json.dumps(gp.model_state()))
    assert np.array(state["lengthscales"]).shape == (2, 2)
    warm = fit_gp(X, Y, warm_start=state)
    np.testing.assert_allclose(warm.posterior(X)[0], gp.posterior(X)[0], rtol=1e-3, atol=1e-3)
    # mismatched or malformed warm starts are ignored, not fatal
    for bad in ({"lengthscales": [[1.0]]}, {"nonsense": 1}, None, {"lengthscales": "x"}):
        assert fit_gp(X, Y, warm_start=bad).fit_ok


def test_condition_keeps_hyperparameters_and_interpolates(fitted):
    X, Y, gp = fitted
    x_new = np.array([[0.95, 0.05]])
    mu0, sd0 = gp.posterior(x_new)
    y_new = mu0 + 2 * sd0
    gp2 = gp.condition(x_new, y_new)
    np.testing.assert_array_equal(gp2.theta, gp.theta)
    mu, sd = gp2.posterior(x_new)
    assert np.all(np.abs(mu - y_new) < 0.2 * np.abs(mu0 - y_new))
    assert np.all(sd[0] < 0.5 * sd0[0])
    # the believer fantasy (posterior mean) leaves the mean unchanged and shrinks the std
    gp3 = gp.condition(x_new, mu0)
    np.testing.assert_allclose(gp3.posterior(x_new)[0], mu0, rtol=1e-6)


def test_sample_joint_moments(fitted):
    X, Y, gp = fitted
    Xq = np.random.default_rng(7).random((4, 2))
    S = gp.sample_joint(Xq, 4000, np.random.default_rng(0))
    assert S.shape == (4000, 4, 2)
    mu, sd = gp.posterior(Xq)
    np.testing.assert_allclose(S.mean(0), mu, atol=4 * sd.max() / math.sqrt(4000) + 1e-9)
    np.testing.assert_allclose(S.std(0), sd, rtol=0.1, atol=1e-6)


def test_given_latent_is_the_gaussian_conditional(fitted):
    """f(x) given f(X) = F, against the dense Gaussian-conditioning formula in
    standardised units, and the law of total variance over posterior samples of F."""
    X, Y, gp = fitted
    Xs, Xq = X[:8], np.random.default_rng(3).random((5, 2))
    F = gp.sample_joint(Xs, 1, np.random.default_rng(1))[0]  # (8, 2)
    mu, sd = gp.given_latent(Xs, F).posterior(Xq)
    ls, os_, mean = gp.lengthscale.numpy(), gp.outputscale.numpy(), gp.mean.numpy()
    def k(A: np.ndarray, B: np.ndarray, j: int) -> np.ndarray:
        K = matern52(torch.from_numpy(A), torch.from_numpy(B), torch.from_numpy(ls[j:j + 1]))
        return os_[j] * K.numpy()[0]

    for j in range(2):
        Kss = k(Xs, Xs, j) + 1e-6 * np.eye(8)  # the noise floor
        Kqs, Kqq = k(Xq, Xs, j), k(Xq, Xq, j)
        f = (F[:, j] - gp.y_mean[j]) / gp.y_scale[j]
        m_ref = mean[j] + Kqs @ np.linalg.solve(Kss, f - mean[j])
        v_ref = np.diag(Kqq - Kqs @ np.linalg.solve(Kss, Kqs.T))
        np.testing.assert_allclose(mu[:, j], m_ref * gp.y_scale[j] + gp.y_mean[j], rtol=1e-6)
        np.testing.assert_allclose(sd[:, j], np.sqrt(v_ref) * gp.y_scale[j], rtol=1e-5)
    # averaged over samples of F at the observed inputs, the conditionals give back the
    # GP's own posterior: E[mean | F] = mean, E[var | F] + Var[mean | F] = var
    S = gp.sample_joint(X, 3000, np.random.default_rng(2))
    means = np.stack([gp.given_latent(X, s).posterior(Xq)[0] for s in S])
    sd_c = gp.given_latent(X, S[0]).posterior(Xq)[1]
    mu0, sd0 = gp.posterior(Xq)
    np.testing.assert_allclose(means.mean(0), mu0, atol=5 * sd0.max() / math.sqrt(3000))
    np.testing.assert_allclose(np.sqrt(sd_c**2 + means.var(0)), sd0, rtol=0.1)


def test_bad_input_raises_valueerror():
    with pytest.raises(ValueError, match="X, Y"):
        fit_gp(np.zeros((3, 2)), np.zeros((2, 1)))
    with pytest.raises(ValueError, match="finite"):
        fit_gp(np.zeros((2, 2)), np.array([[np.nan], [1.0]]))


def test_single_threaded_restores_settings_and_nests():
    before = (torch.get_num_threads(), numba.get_num_threads())
    with gpmod.single_threaded():
        assert torch.get_num_threads() == 1 and numba.get_num_threads() == 1
        with gpmod.single_threaded():
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 1 and numba.get_num_threads() == 1
    assert (torch.get_num_threads(), numba.get_num_threads()) == before


@pytest.mark.parametrize("duplicates", [False, True])
def test_fused_fit_kernel_matches_reference(duplicates):
    rng = np.random.default_rng(8)
    X = rng.random((9, 3))
    if duplicates:
        X[4] = X[1]
        X[7] = X[1]
    ls = rng.uniform(0.1, 2.0, size=(2, 3))
    os, noise = np.array([0.7, 1.9]), np.array([1e-3, 0.2])
    K = np.empty((2, 9, 9))
    R = np.empty((2, 9, 9))
    gpmod._fit_kernel(X, ls, os, noise, K, R)
    ref = os[:, None, None] * matern52(torch.from_numpy(X), torch.from_numpy(X),
                                       torch.from_numpy(ls)).numpy()
    ref += noise[:, None, None] * np.eye(9)
    np.testing.assert_allclose(K, ref, rtol=1e-12, atol=1e-14)
    # gradient contraction against the dense formula sum(G * dK/dtheta)
    G = rng.standard_normal((2, 9, 9))
    G = G + G.transpose(0, 2, 1)
    g_ls, g_os = np.empty((2, 3)), np.empty(2)
    gpmod._fit_kernel_grad(X, ls, os, R, G, g_ls, g_os)
    eps = 1e-6
    for j in range(2):
        for t in range(3):
            lp, lm = ls.copy(), ls.copy()
            lp[j, t] *= np.exp(eps)
            lm[j, t] *= np.exp(-eps)
            Kp, Km = np.empty_like(K), np.empty_like(K)
            gpmod._fit_kernel(X, lp, os, noise, Kp, np.empty_like(R))
            gpmod._fit_kernel(X, lm, os, noise, Km, np.empty_like(R))
            fd = (G[j] * (Kp[j] - Km[j])).sum() / (2 * eps)
            assert g_ls[j, t] == pytest.approx(fd, rel=1e-5, abs=1e-8)
        assert g_os[j] == pytest.approx((G[j] * (K[j] - noise[j] * np.eye(9))).sum(), rel=1e-10)


def test_noise_prior_option():
    rng = np.random.default_rng(9)
    X = rng.random((25, 2))
    Y = branin_like(X)[:, :1] + 0.3 * rng.standard_normal((25, 1))
    tight = fit_gp(X, Y)
    wide = fit_gp(X, Y, noise_prior=gpmod.NOISY_NOISE_PRIOR)
    assert wide.noise[0] > tight.noise[0]
    with pytest.raises(ValueError, match="noise_prior"):
        fit_gp(X, Y, noise_prior=(0.0, -1.0))


def test_posterior_rejects_wrong_width(fitted):
    _, _, gp = fitted
    with pytest.raises(ValueError, match="Xq"):
        gp.posterior(np.zeros((3, 5)))
    assert gp.posterior(np.zeros((0, 2)))[0].shape == (0, 2)


def reference_log_prior(hyper, th: torch.Tensor) -> torch.Tensor:
    """The prior written with torch.distributions on the natural parameters (autograd
    gives its gradient in the unconstrained ones): LogNormal lengthscales, outputscale and
    noise, N(0, 1) mean without its normalising constant."""
    def lognormal(mu: float, sigma: float) -> LogNormal:
        # float64 parameters: python floats would make float32 tensors
        return LogNormal(torch.tensor(mu, dtype=torch.float64),
                         torch.tensor(sigma, dtype=torch.float64))

    ls, os, noise, mean = hyper.unpack(th)
    return (lognormal(hyper.ls_mu, hyper.ls_sigma).log_prob(ls).sum()
            + lognormal(0.0, 1.0).log_prob(os).sum()
            + lognormal(*hyper.noise_prior).log_prob(noise).sum()
            - 0.5 * (mean * mean).sum())


@pytest.mark.parametrize("noise_prior", [gpmod.NOISE_PRIOR, (-2.0, 1.5)])
def test_closed_form_log_prior_matches_autograd(noise_prior):
    """The fit's closed-form log prior and gradient against torch.distributions and autograd,
    at random points of the box, including a noise at the bottom of its range (where the
    floor dominates the noise variance)."""
    hyper = gpmod._Hyper(3, 4, noise_prior=noise_prior)
    b = np.array(hyper.bounds()).reshape(3, hyper.width, 2)
    rng = np.random.default_rng(5)
    for k in range(6):
        th = rng.uniform(b[..., 0], b[..., 1])
        if k == 0:
            th[:, hyper.d + 1] = b[:, hyper.d + 1, 0]
        t = torch.from_numpy(th).requires_grad_(True)
        want = reference_log_prior(hyper, t)
        (want_grad,) = torch.autograd.grad(want, t)
        got, got_grad = hyper.log_prior_and_grad(th)
        assert got == pytest.approx(float(want.detach()), rel=1e-12, abs=1e-12)
        np.testing.assert_allclose(got_grad, want_grad.numpy(), rtol=1e-12, atol=1e-12)


def test_given_latents_share_one_factorisation_and_match_one_by_one(fitted):
    """GPs given several latent value sets at the same inputs share the factorisation,
    and their batched posteriors (values and input gradients) are those of the GPs built
    one by one; GPs that share nothing go through the batched functions one by one."""
    X, Y, gp = fitted
    Xs = X[:12]
    Fs = gp.sample_joint(Xs, 4, np.random.default_rng(4))
    shared = gp.given_latents(Xs, Fs)
    alone = [gp.given_latent(Xs, F) for F in Fs]
    assert all(g.L is shared[0].L for g in shared)
    assert gp.given_latents(Xs, Fs[:0]) == []
    Xq = np.random.default_rng(5).random((9, 2))
    for (m1, s1), g in zip(gpmod.posterior_many(shared, Xq), alone, strict=True):
        m2, s2 = g.posterior(Xq)
        np.testing.assert_array_equal(m1, m2)
        np.testing.assert_array_equal(s1, s2)
    # unshared models (different inputs) are handled one by one
    mixed = [shared[0], gp]
    for (m1, s1), g in zip(gpmod.posterior_many(mixed, Xq), mixed, strict=True):
        m2, s2 = g.posterior(Xq)
        np.testing.assert_array_equal(m1, m2)
        np.testing.assert_array_equal(s1, s2)
    # gradients of a weighted sum of all posteriors with respect to the query points
    w = torch.from_numpy(np.random.default_rng(6).standard_normal((9, 2)))

    def grad(posts, xt):
        total = sum(((m * w).sum() + (s * w * w).sum()) for m, s in posts)
        return torch.autograd.grad(total, xt)[0].numpy()

    xt1 = torch.from_numpy(Xq).requires_grad_(True)
    xt2 = torch.from_numpy(Xq).requires_grad_(True)
    g1 = grad(gpmod.posterior_torch_many(shared, xt1), xt1)
    g2 = grad([g.posterior_torch(xt2) for g in alone], xt2)
    np.testing.assert_allclose(g1, g2, rtol=1e-12, atol=1e-12)


def test_fit_subset_spreads_evenly_from_first_to_last():
    assert gpmod.fit_subset(5, 8).tolist() == [0, 1, 2, 3, 4]
    assert gpmod.fit_subset(8, 8).tolist() == list(range(8))
    idx = gpmod.fit_subset(1000, 256, refresh=1)
    assert len(idx) == 256 and idx[0] == 0 and idx[-1] == 999
    assert np.all(np.diff(idx) > 0)  # sorted and distinct
    # evenly spaced: every gap is the mean gap rounded one way or the other
    assert set(np.diff(idx).tolist()) <= {3, 4}
    assert gpmod.fit_subset(9, 3, refresh=1).tolist() == [0, 4, 8]


def test_fit_subset_is_drawn_again_only_every_refresh_observations():
    size, refresh = 8, 4
    # first past the size: the first ``size`` rows, until ``refresh`` more have come
    for n in range(size + 1, size + refresh):
        assert gpmod.fit_subset(n, size, refresh).tolist() == list(range(size))
    # then spread over the first size + refresh, for the next ``refresh`` sizes
    drawn = gpmod.fit_subset(size + refresh, size, refresh)
    assert drawn[-1] == size + refresh - 1 and len(drawn) == size
    for n in range(size + refresh, size + 2 * refresh):
        np.testing.assert_array_equal(gpmod.fit_subset(n, size, refresh), drawn)
    assert gpmod.fit_subset(size + 2 * refresh, size, refresh)[-1] == size + 2 * refresh - 1
    # at every n: n' = size + a multiple of refresh, with n - refresh < n' <= n
    for n in range(size + 1, 80):
        last = int(gpmod.fit_subset(n, size, refresh)[-1])
        assert (last + 1 - size) % refresh == 0 and n - refresh < last + 1 <= n


def test_many_observations_fit_the_hyperparameters_on_the_subset_and_condition_on_all():
    rng = np.random.default_rng(7)
    n = gpmod.FIT_SUBSET + 90
    X = rng.random((n, 3))
    Y = np.column_stack([np.sin(6 * X[:, 0]) + X[:, 1], X[:, 2] ** 2])
    Y = Y + 0.01 * rng.standard_normal(Y.shape)
    gp = fit_gp(X, Y)
    assert gp.n == n  # the posterior conditions on every observation
    rows = gpmod.fit_subset(n)
    # the units are the subset's own standardisation
    np.testing.assert_allclose(gp.y_mean, Y[rows].mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(gp.y_scale, Y[rows].std(axis=0), rtol=1e-12)
    # shuffling the outputs among the rows left out of the fit: the hyper-parameters must
    # not move at all (the fitting problem is the same), the posterior must
    out = np.setdiff1d(np.arange(n), rows)
    Y2 = Y.copy()
    Y2[out] = Y[rng.permutation(out)]
    gp2 = fit_gp(X, Y2)
    np.testing.assert_array_equal(gp2.theta, gp.theta)
    assert not np.allclose(gp2.posterior(X[out[:5]])[0], gp.posterior(X[out[:5]])[0])
    # changing one row of the subset moves them
    Y3 = Y.copy()
    Y3[[0, n - 1]] = Y[[n - 1, 0]]
    assert np.abs(fit_gp(X, Y3).theta - gp.theta).max() > 1e-2


@pytest.mark.parametrize("n", [5, gpmod.FIT_SUBSET + 7])
def test_inverse_factor_is_the_inverse_on_both_paths(n):
    rng = np.random.default_rng(n)
    A = rng.standard_normal((2, n, n))
    K = torch.from_numpy(A @ np.transpose(A, (0, 2, 1)) + n * np.eye(n))
    L = torch.linalg.cholesky(K)
    Linv_T = gpmod._inverse_factor_t(L).numpy()
    assert Linv_T.shape == (2, n, n)
    for j in range(2):
        # upper triangular, and the transpose of L's inverse
        np.testing.assert_array_equal(np.tril(Linv_T[j], -1), 0.0)
        np.testing.assert_allclose(Linv_T[j].T @ L[j].numpy(), np.eye(n), atol=1e-12)


def _count_fits(monkeypatch) -> list[int]:
    """A list that grows by one at each hyper-parameter optimisation gp makes."""
    calls: list[int] = []
    minimize = gpmod.scipy.optimize.minimize

    def counting(*a, **k):
        calls.append(1)
        return minimize(*a, **k)

    monkeypatch.setattr(gpmod.scipy.optimize, "minimize", counting)
    return calls


def test_a_fit_whose_subset_is_unchanged_reuses_the_warm_start_result(monkeypatch):
    rng = np.random.default_rng(11)
    size, refresh = gpmod.FIT_SUBSET, gpmod.FIT_REFRESH
    n = size + refresh + 3
    X = rng.random((n + refresh, 3))
    Y = np.column_stack([np.sin(5 * X[:, 0]) + X[:, 1], X[:, 2] ** 2])
    Y = Y + 0.01 * rng.standard_normal(Y.shape)
    calls = _count_fits(monkeypatch)
    gp = fit_gp(X[:n], Y[:n])
    assert len(calls) == 1
    state = json.loads(json.dumps(gp.model_state()))
    assert isinstance(state["fit_key"], str)
    # more observations before the next draw of the subset: no optimisation, the same
    # hyper-parameters and units, the new observations conditioned on
    m = size + 2 * refresh - 1
    gp2 = fit_gp(X[:m], Y[:m], state)
    assert len(calls) == 1
    assert gp2.model_state()["fit_key"] == state["fit_key"] and gp2.n == m
    np.testing.assert_allclose(gp2.theta, gp.theta, rtol=1e-14, atol=1e-14)
    np.testing.assert_array_equal(gp2.y_mean, gp.y_mean)
    mu, _ = gp2.posterior(X[n:m])
    np.testing.assert_allclose(mu, Y[n:m], atol=0.05)
    # the same model as one built by hand with those hyper-parameters on all m points
    ref = gpmod.GP(X[:m], Y[:m], gp.theta, gp.y_mean, gp.y_scale)
    np.testing.assert_allclose(gp2.posterior(X[:4])[0], ref.posterior(X[:4])[0], rtol=1e-10)
    # the subset drawn again: optimised
    gp3 = fit_gp(X[: m + 1], Y[: m + 1], state)
    assert len(calls) == 2 and gp3.model_state()["fit_key"] != state["fit_key"]
    # a changed value inside the subset, or other priors: another problem, optimised
    Y4 = Y[:m].copy()
    Y4[0] += 1.0
    fit_gp(X[:m], Y4, state)
    assert len(calls) == 3
    fit_gp(X[:m], Y[:m], state, noise_prior=(-2.0, 1.5))
    assert len(calls) == 4
    # a warm start without the key (or below the subset's size) never skips the fit
    fit_gp(X[:m], Y[:m], {k: v for k, v in state.items() if k != "fit_key"})
    assert len(calls) == 5


def test_the_fit_key_is_in_the_model_state_only_past_the_subset(fitted):
    _, _, gp = fitted
    assert "fit_key" not in gp.model_state()


def test_lapack_objective_matches_the_torch_objective():
    rng = np.random.default_rng(12)
    X = rng.random((40, 3))
    X[5] = X[4]  # a duplicate input: the kernel matrix is near singular at low noise
    Y = branin_like(X[:, :2]) + 0.05 * rng.standard_normal((40, 2))
    Ys, _, _ = gpmod._standardise(Y)
    hyper = gpmod._Hyper(2, 3)
    ref, fast = gpmod._Objective(X, Ys, hyper), gpmod._Objective(X, Ys, hyper, lapack=True)
    for k in range(4):
        th = hyper.default().ravel() + rng.normal(0, 0.5, size=hyper.width * 2)
        if k == 3:
            th[hyper.d + 1] = th[hyper.width + hyper.d + 1] = -20.0  # the noise floor alone
        assert fast.value(th) == pytest.approx(ref.value(th), rel=1e-9)
        v, g = fast.value_and_grad(th)
        v_ref, g_ref = ref.value_and_grad(th)
        assert v == pytest.approx(v_ref, rel=1e-9)
        np.testing.assert_allclose(g, g_ref, rtol=1e-6, atol=1e-6 * np.abs(g_ref).max())


def test_lapack_factors_are_choleskys_with_jitter_where_needed():
    rng = np.random.default_rng(13)
    A = rng.standard_normal((2, 30, 30))
    K = A @ np.transpose(A, (0, 2, 1)) + 30 * np.eye(30)
    L = gpmod._cholesky_lapack(K)
    for j in range(2):
        np.testing.assert_allclose(L[j], np.linalg.cholesky(K[j]), rtol=1e-12, atol=1e-12)
    # rank one: not positive definite; the smallest jitter that works is added
    v = rng.standard_normal(30)
    S = np.stack([np.outer(v, v), K[0]])
    L = gpmod._cholesky_lapack(S)
    np.testing.assert_array_equal(np.triu(L[0], 1), 0.0)
    resid = L[0] @ L[0].T - S[0]
    scale = np.mean(np.diag(S[0]))
    assert np.allclose(resid, np.diag(np.diag(resid)), atol=1e-9 * scale)
    assert 0 < np.diag(resid).mean() <= 1e-2 * scale * (1 + 1e-9)
    np.testing.assert_allclose(L[1], np.linalg.cholesky(K[0]), rtol=1e-12, atol=1e-12)
    with pytest.raises(np.linalg.LinAlgError):
        gpmod._cholesky_lapack(np.full((1, 3, 3), -1.0))
    # without jitter (the first draw of the bordered factors): refused, not perturbed
    with pytest.raises(np.linalg.LinAlgError):
        gpmod._cholesky_lapack(S, jitter=False)
    np.testing.assert_array_equal(gpmod._cholesky_lapack(K, jitter=False),
                                  gpmod._cholesky_lapack(K))


def test_the_subset_follows_fit_subset_as_it_is_at_the_call(monkeypatch):
    # benchmarks.fit_subset switches the subset off (and tests switch it on for small n)
    # by setting FIT_SUBSET: every default must read it at the call
    rng = np.random.default_rng(14)
    X = rng.random((30, 2))
    Y = branin_like(X) + 0.01 * rng.standard_normal((30, 2))
    plain = fit_gp(X, Y)
    monkeypatch.setattr(gpmod, "FIT_SUBSET", 40)
    above = fit_gp(X, Y)
    assert above.fit_ok and "fit_key" not in above.model_state()
    np.testing.assert_array_equal(above.theta, plain.theta)
    monkeypatch.setattr(gpmod, "FIT_SUBSET", 20)
    monkeypatch.setattr(gpmod, "FIT_REFRESH", 4)
    rows = gpmod.fit_subset(30)
    assert len(rows) == 20 and rows[-1] == 27  # the first 28 = 20 + 2 x 4 drawn from
    small = fit_gp(X, Y)
    assert small.fit_ok and "fit_key" in small.model_state()
    np.testing.assert_allclose(small.y_mean, Y[rows].mean(axis=0), rtol=1e-12)
    assert np.abs(small.theta - plain.theta).max() > 1e-3


def _kernel_matrices(X: np.ndarray, gp: gpmod.GP) -> np.ndarray:
    """(m, n, n) the textbook kernel matrices of ``gp``'s hyper-parameters at ``X``, plus
    noise: the reference the factorisations of many observations are checked against."""
    Xt = torch.from_numpy(X)
    K = gp.outputscale[:, None, None] * matern52(Xt, Xt, gp.lengthscale)
    return K.numpy() + gp.noise.numpy()[:, None, None] * np.eye(len(X))


@pytest.fixture
def small_subset(monkeypatch):
    """The paths for many observations from 20 on, the subset drawn every 4."""
    monkeypatch.setattr(gpmod, "FIT_SUBSET", 20)
    monkeypatch.setattr(gpmod, "FIT_REFRESH", 4)
    gpmod._factor_memo.clear()
    yield
    gpmod._factor_memo.clear()


def _factor_case(case: str, n: int) -> tuple[np.ndarray, gpmod.GP]:
    rng = np.random.default_rng(15)
    X = rng.random((n, 3))
    if case == "duplicates":
        X[n - 1] = X[2]
        X[n - 3] = X[n - 4] + 1e-9  # a near duplicate among the bordered rows
        X[7] = X[3]  # and an exact one in the first draw's rows
    Y = np.column_stack([np.sin(5 * X[:, 0]) + X[:, 1], X[:, 2] ** 2])
    gp = fit_gp(X, Y + 0.01 * rng.standard_normal(Y.shape))
    return X, gp


@pytest.mark.parametrize("case", ["random", "duplicates"])
def test_factors_of_many_observations_are_choleskys_and_their_inverses(small_subset, case):
    n = 31  # the first 28 (20 + 2 x 4) factorised whole, 3 bordered on
    X, gp = _factor_case(case, n)
    assert gpmod._large(n) and gpmod._last_draw(n) == 28
    K = _kernel_matrices(X, gp)
    L, U = gp.L.numpy(), gp.Linv_T.numpy()
    for j in range(gp.m):
        np.testing.assert_allclose(L[j], np.linalg.cholesky(K[j]), rtol=1e-9, atol=1e-9)
        np.testing.assert_array_equal(np.triu(L[j], 1), 0.0)
        np.testing.assert_array_equal(np.tril(U[j], -1), 0.0)
        inv = np.linalg.inv(np.linalg.cholesky(K[j]))
        scale = np.abs(inv).max()
        np.testing.assert_allclose(U[j], inv.T, rtol=0, atol=1e-9 * scale)


def test_factors_are_the_same_bits_whichever_memo_they_start_from(small_subset):
    n = 31
    X, gp = _factor_case("random", n)
    args = (gp.theta, gp.lengthscale.numpy(), gp.outputscale.numpy(), gp.noise.numpy())
    gpmod._factor_memo.clear()
    L, U = gpmod._factors(X, *args)  # from the first draw's 28 rows
    assert len(gpmod._factor_memo) == 1
    for start in (28, 29, 30):
        gpmod._factor_memo.clear()
        gpmod._factors(X[:start], *args)
        L2, U2 = gpmod._factors(X, *args)  # bordered on from the memo's rows
        np.testing.assert_array_equal(L2, L)
        np.testing.assert_array_equal(U2, U)
    # a memo entry of other inputs, other hyper-parameters, or an earlier draw is not used
    gpmod._factor_memo.clear()
    other = X.copy()
    other[5, 0] += 1e-3
    gpmod._factors(other[:30], *args)
    gpmod._factors(X[:30], gp.theta + 1e-3, *args[1:])
    gpmod._factors(X[:27], *args)  # n' = 24: the draw before
    stale = list(gpmod._factor_memo)
    assert gpmod._memo_factors(gp.theta.tobytes(), 28, X) is None
    L3, _ = gpmod._factors(X, *args)
    np.testing.assert_array_equal(L3, L)
    assert gpmod._factor_memo[:3] == stale


def test_a_study_resumed_past_the_subset_gives_the_same_model(small_subset):
    # the GP of a running study borders its last factorisation; a resumed one (no memo)
    # computes it from the draw: the same numbers to the last bit
    X, _ = _factor_case("random", 30)
    Y = np.column_stack([np.sin(5 * X[:, 0]) + X[:, 1], X[:, 2] ** 2])
    state = fit_gp(X[:29], Y[:29]).model_state()
    live = fit_gp(X, Y, state)
    gpmod._factor_memo.clear()
    resumed = fit_gp(X, Y, json.loads(json.dumps(state)))
    Xq = np.random.default_rng(16).random((5, 3))
    for a, b in zip(live.posterior(Xq), resumed.posterior(Xq), strict=True):
        np.testing.assert_array_equal(a, b)


def test_factors_fall_back_to_the_whole_factorisation_where_bordering_fails(
        small_subset, monkeypatch):
    X, gp = _factor_case("random", 31)
    args = (gp.theta, gp.lengthscale.numpy(), gp.outputscale.numpy(), gp.noise.numpy())
    full = gpmod._full_factors(X, *args[1:])
    monkeypatch.setattr(gpmod, "_border", lambda *a: False)
    gpmod._factor_memo.clear()
    L, U = gpmod._factors(X, *args)
    np.testing.assert_array_equal(L, full[0])
    np.testing.assert_array_equal(U, full[1])
    assert not gpmod._factor_memo  # nothing remembered from a fallback


def test_border_refuses_a_pivot_below_the_noise():
    # the Schur complement of a kernel matrix plus noise is at least the noise: a row
    # whose pivot rounding (here: an inconsistent kernel row) took below half of it
    # is refused, and the factor's row is left as it was
    L = np.zeros((2, 2))
    U = np.zeros((2, 2))
    L[0, 0], U[0, 0] = 1.0, 1.0
    assert not gpmod._border(L, U, np.array([1.0, 0.5]), 1e-2, 1)
    assert L[1].tolist() == [0.0, 0.0]
    assert gpmod._border(L, U, np.array([0.5, 1.0]), 1e-2, 1)
    np.testing.assert_allclose(L @ L.T, [[1.0, 0.5], [0.5, 1.01]], rtol=1e-14)
    np.testing.assert_allclose(U.T @ L, np.eye(2), atol=1e-14)


def test_the_memo_keeps_the_newest_entries_within_its_limits(monkeypatch):
    monkeypatch.setattr(gpmod, "_factor_memo", [])
    X = np.zeros((3, 1))
    entries = [gpmod._Factors(bytes([k]), 0, X, np.zeros((1, 3, 3)), np.zeros((1, 3, 3)))
               for k in range(6)]
    for e in entries:
        gpmod._remember_factors(e)
    assert gpmod._factor_memo == entries[-gpmod.FACTOR_MEMO_ENTRIES:]
    monkeypatch.setattr(gpmod, "FACTOR_MEMO_BYTES", 2 * entries[0].nbytes)
    gpmod._remember_factors(entries[0])
    assert gpmod._factor_memo == [entries[-1], entries[0]]


@pytest.mark.parametrize("transpose", [False, True])
def test_upper_product_matches_the_general_product(transpose):
    rng = np.random.default_rng(17)
    U = np.triu(rng.standard_normal((2, 9, 9)))
    for q in (1, 4):
        B = rng.standard_normal((2, q, 9))
        ref = B @ (np.transpose(U, (0, 2, 1)) if transpose else U)
        np.testing.assert_allclose(gpmod._upper_product(B, U, transpose), ref, rtol=1e-13,
                                   atol=1e-13)
    # non-contiguous operands (a transposed gradient) are read as they are
    B = rng.standard_normal((2, 9, 4)).transpose(0, 2, 1)
    np.testing.assert_allclose(gpmod._upper_product(B, U), B @ U, rtol=1e-13, atol=1e-13)


def test_upper_product_gradient_matches_autograd_of_the_general_product():
    rng = np.random.default_rng(18)
    U = torch.from_numpy(np.triu(rng.standard_normal((2, 7, 7))))
    B = torch.from_numpy(rng.standard_normal((2, 3, 7))).requires_grad_(True)
    W = torch.from_numpy(rng.standard_normal((2, 3, 7)))
    V = gpmod._UpperProduct.apply(B, U)
    (g,) = torch.autograd.grad((V * V * W).sum(), B)
    Vr = B @ U
    (g_ref,) = torch.autograd.grad((Vr * Vr * W).sum(), B)
    np.testing.assert_allclose(g.numpy(), g_ref.numpy(), rtol=1e-12, atol=1e-12)
    assert torch.autograd.gradcheck(lambda b: gpmod._UpperProduct.apply(b, U),
                                    (B.detach().clone().requires_grad_(True),))


def test_the_same_inputs_again_share_the_remembered_factors(small_subset):
    X, gp = _factor_case("random", 31)
    again = gpmod.GP(X, gp.Y_np, gp.theta, gp.y_mean, gp.y_scale)
    assert np.shares_memory(again.L.numpy(), gp.L.numpy())
    assert len(gpmod._factor_memo) == 1
    np.testing.assert_array_equal(again.posterior(X[:3])[1], gp.posterior(X[:3])[1])
