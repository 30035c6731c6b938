"""mobo.gp against GPyTorch, the slow and obviously correct reference, through the
GPyTorch form of the fit (:func:`mobo.surrogate.to_gpytorch`).

Each objective becomes a ``gpytorch.models.ExactGP`` with ``ConstantMean``,
``ScaleKernel(MaternKernel(nu=2.5, ard_num_dims=d))`` and ``GaussianLikelihood`` in float64,
the priors documented in ``mobo.gp`` registered on its modules. Its constraints are
log-parametrised, so its raw parameters are exactly the unconstrained vector that
``mobo.gp`` optimises, per objective ``[log lengthscale (d), log outputscale, log(noise -
1e-6), constant mean]``; the noise floor 1e-6 is the constraint's lower bound. GPyTorch's
``ExactMarginalLogLikelihood`` (which divides by n) times n is the reference log posterior,
and its exact (Cholesky) prediction the reference posterior.

``mobo.gp`` has no public accessor for its likelihood and prior terms, so the tests read
them through its internals ``_Hyper.log_prior_and_grad`` and ``_Objective.value`` /
``value_and_grad``, the exact functions its L-BFGS-B fit minimises.

One documented difference: ``mobo.gp`` writes the Normal(0, 1) prior of the constant mean
without its normalising constant (``-c^2 / 2``), so its log prior is GPyTorch's plus
``m log(2 pi) / 2``. The constant does not move the MAP estimate.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import gpytorch
import numpy as np
import pytest
import scipy.optimize
import torch
from gpytorch.utils.warnings import GPInputWarning

from mobo import gp as gpmod
from mobo.gp import GP, NOISE_PRIOR, NOISY_NOISE_PRIOR, fit_gp, single_threaded
from mobo.surrogate import ObjectiveGP, to_gpytorch

_F64 = torch.float64
_NOISE_FLOOR = 1e-6
_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    # GPyTorch's many small ops slow down ~40x when torch threads contend for busy cores
    with single_threaded():
        yield


def _exact() -> Any:
    """GPyTorch's exact paths: Cholesky solves and log-determinants, no fast variances."""
    return gpytorch.settings.fast_computations(False, False, False)


# ---------------------------------------------------------------------------- reference
def _raw(model: ObjectiveGP) -> list[torch.Tensor]:
    return [model.covar_module.base_kernel.raw_lengthscale,
            model.covar_module.raw_outputscale,
            model.likelihood.noise_covar.raw_noise,
            model.mean_module.raw_constant]


def _theta(models: list[ObjectiveGP]) -> np.ndarray:
    """The raw parameters of the models as mobo.gp's unconstrained (m, d + 3) array."""
    with torch.no_grad():
        return np.stack([torch.cat([p.reshape(-1) for p in _raw(mod)]).numpy()
                         for mod in models])


def _set_theta(models: list[ObjectiveGP], theta: np.ndarray) -> None:
    """Load mobo.gp's unconstrained vector (m, d + 3) into the raw parameters."""
    th = torch.as_tensor(np.asarray(theta).reshape(len(models), -1), dtype=_F64)
    with torch.no_grad():
        for row, mod in zip(th, models, strict=True):
            d = row.numel() - 3
            ls, os, noise, mean = _raw(mod)
            ls.copy_(row[:d].reshape(ls.shape))
            os.copy_(row[d])
            noise.copy_(row[d + 1 : d + 2])
            mean.copy_(row[d + 2])


def _log_terms(models: list[ObjectiveGP]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(log likelihood, log prior, GPyTorch's MLL * n), each summed over the objectives."""
    loglik = log_prior = total = torch.zeros((), dtype=_F64)
    for mod in models:
        mod.train()
        with _exact():
            out = mod(*mod.train_inputs)
            loglik = loglik + mod.likelihood(out).log_prob(mod.train_targets)
            log_prior = log_prior + sum(prior.log_prob(closure(module)).sum()
                                        for _, module, prior, closure, _ in mod.named_priors())
            mll = gpytorch.mlls.ExactMarginalLogLikelihood(mod.likelihood, mod)
            total = total + mll(out, mod.train_targets) * out.event_shape.numel()
        mod.eval()
    return loglik, log_prior, total


def _neg_log_posterior(models: list[ObjectiveGP], theta: np.ndarray) -> tuple[float, np.ndarray]:
    """GPyTorch's MAP loss and its autograd gradient in the raw parameters."""
    _set_theta(models, theta)
    for mod in models:
        for p in _raw(mod):
            p.grad = None
    loss = -_log_terms(models)[2]
    loss.backward()
    grad = np.stack([torch.cat([p.grad.reshape(-1) for p in _raw(mod)]).numpy()
                     for mod in models])
    return float(loss.detach()), grad.ravel()


def _predict(models: list[ObjectiveGP], Xq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Latent posterior mean and variance at ``Xq`` (q, d), standardised, (q, m) each."""
    means, variances = [], []
    for mod in models:
        mod.eval()
        with torch.no_grad(), warnings.catch_warnings(), \
                gpytorch.settings.fast_pred_var(False), _exact():
            # querying at the training inputs is deliberate (duplicates, interpolation)
            warnings.simplefilter("ignore", GPInputWarning)
            post = mod(torch.from_numpy(Xq))
            means.append(post.mean.numpy().copy())
            variances.append(post.variance.numpy().copy())
    return np.stack(means, 1), np.stack(variances, 1)


def _standardised(gp: GP, Y: np.ndarray) -> np.ndarray:
    state = gp.model_state()
    return (Y - np.asarray(state["y_mean"])) / np.asarray(state["y_scale"])


def _gp_terms(gp: GP, X: np.ndarray, Y: np.ndarray,
              noise_prior: tuple[float, float]) -> tuple[float, float, float, np.ndarray]:
    """mobo.gp's (log likelihood, log prior, value, grad) at its fitted theta (internals)."""
    hyper = gpmod._Hyper(gp.m, gp.d, noise_prior=noise_prior)
    obj = gpmod._Objective(X, _standardised(gp, Y), hyper)
    theta = gp.theta.ravel()
    log_prior, _ = hyper.log_prior_and_grad(gp.theta)
    value = obj.value(theta)
    value2, grad = obj.value_and_grad(theta)
    # value builds K from |a|^2 + |b|^2 - 2 a.b, value_and_grad from coordinate differences;
    # the rounding difference is amplified by the condition number (~1e8 in the worst case)
    assert value2 == pytest.approx(value, rel=1e-9, abs=1e-9)
    return -(value + log_prior), log_prior, value, grad


def _data(n: int, d: int, m: int, seed: int, dup: bool = False, constant: bool = False,
          noise_sd: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.random((n, d))
    if dup and n >= 2:
        X[n // 2:] = X[: n - n // 2]  # every point of the second half repeats one of the first
    W = rng.standard_normal((d, m))
    Y = np.sin(3.0 * X @ W) + noise_sd * rng.standard_normal((n, m))
    Y = Y * rng.uniform(0.1, 50.0, m) + rng.uniform(-100.0, 100.0, m)
    if constant:
        Y[:, 0] = 7.5
    return X, Y


CASES = [
    # n, d, m, seed, duplicates, constant first column, noise prior[, data noise sd]
    (1, 1, 1, 0, False, False, NOISE_PRIOR),
    (1, 3, 2, 1, False, False, NOISE_PRIOR),
    (2, 2, 1, 2, True, False, NOISE_PRIOR),
    (6, 1, 3, 3, False, True, NOISE_PRIOR),
    (9, 2, 2, 4, True, False, NOISY_NOISE_PRIOR),
    (17, 4, 2, 5, False, False, NOISE_PRIOR),
    (24, 3, 1, 6, True, False, NOISY_NOISE_PRIOR),
    # noise-free, dense and duplicated: noise near its floor, kernel condition number ~1e8
    (30, 1, 1, 7, True, False, NOISE_PRIOR, 0.0),
]


@pytest.fixture(scope="module", params=CASES, ids=lambda c: "n{}-d{}-m{}-s{}".format(*c[:4]))
def case(request):
    n, d, m, seed, dup, constant, noise_prior, *noise_sd = request.param
    X, Y = _data(n, d, m, seed, dup, constant, *noise_sd)
    gp = fit_gp(X, Y, noise_prior=noise_prior)
    return X, Y, gp, noise_prior


def test_standardisation_matches_an_independent_computation(case):
    X, Y, gp, _ = case
    state = gp.model_state()
    mu, sd = Y.mean(0), Y.std(0)  # population std (ddof 0)
    sd = np.where(sd > 1e-9 * np.maximum(1.0, np.abs(mu)), sd, 1.0)  # constant -> unit scale
    np.testing.assert_allclose(state["y_mean"], mu, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(state["y_scale"], sd, rtol=1e-13)
    assert np.all(np.asarray(state["noises"]) > _NOISE_FLOOR)
    # the GPyTorch models train on exactly these standardised outputs and carry the scale
    for j, mod in enumerate(to_gpytorch(gp)):
        np.testing.assert_allclose(mod.train_targets.numpy(), (Y[:, j] - mu[j]) / sd[j],
                                   rtol=1e-12, atol=1e-12)
        assert (mod.y_mean, mod.y_scale, mod.sign) == (gp.y_mean[j], gp.y_scale[j], 1.0)


def test_converted_models_hold_the_fit_exactly(case):
    X, Y, gp, noise_prior = case
    models = to_gpytorch(gp, noise_prior=noise_prior, names=[f"f{j}" for j in range(gp.m)],
                         signs=[(-1.0) ** j for j in range(gp.m)])
    assert len(models) == gp.m
    # the raw GPyTorch parameters are mobo.gp's unconstrained vector, bit for bit, and the
    # constrained ones are the GP's hyper-parameters
    np.testing.assert_array_equal(_theta(models), gp.theta)
    ls_mu, ls_sigma = math.sqrt(2.0) + 0.5 * math.log(gp.d), math.sqrt(3.0)
    for j, mod in enumerate(models):
        assert isinstance(mod, gpytorch.models.ExactGP) and isinstance(mod, ObjectiveGP)
        assert not mod.training and not mod.likelihood.training
        assert mod.name == f"f{j}" and mod.sign == (-1.0) ** j
        assert all(p.dtype == _F64 for p in mod.parameters())
        assert mod.train_inputs[0].dtype == _F64 and mod.train_targets.dtype == _F64
        np.testing.assert_array_equal(mod.train_inputs[0].numpy(), X)
        kernel = mod.covar_module
        assert isinstance(kernel, gpytorch.kernels.ScaleKernel)
        assert isinstance(kernel.base_kernel, gpytorch.kernels.MaternKernel)
        assert kernel.base_kernel.nu == 2.5 and kernel.base_kernel.ard_num_dims == gp.d
        assert isinstance(mod.mean_module, gpytorch.means.ConstantMean)
        assert isinstance(mod.likelihood, gpytorch.likelihoods.GaussianLikelihood)
        with torch.no_grad():
            np.testing.assert_array_equal(kernel.base_kernel.lengthscale.numpy()[0],
                                          gp.lengthscale.numpy()[j])
            assert kernel.outputscale.item() == gp.outputscale[j].item()
            assert mod.likelihood.noise.item() == gp.noise[j].item()
            assert mod.mean_module.constant.item() == gp.mean[j].item()
        priors = {name: prior for name, _, prior, _, _ in mod.named_priors()}
        assert len(priors) == 4
        for name, prior in priors.items():
            assert prior.loc.dtype == _F64 and prior.scale.dtype == _F64, name
            if "lengthscale" in name:
                expected = (gpytorch.priors.LogNormalPrior, ls_mu, ls_sigma)
            elif "outputscale" in name:
                expected = (gpytorch.priors.LogNormalPrior, 0.0, 1.0)
            elif "noise" in name:
                expected = (gpytorch.priors.LogNormalPrior, *noise_prior)
            else:
                expected = (gpytorch.priors.NormalPrior, 0.0, 1.0)
            assert isinstance(prior, expected[0]), name
            assert (prior.loc.item(), prior.scale.item()) == pytest.approx(expected[1:],
                                                                           rel=1e-15)


def test_likelihood_and_priors_match_gpytorch(case):
    X, Y, gp, noise_prior = case
    ref = to_gpytorch(gp, noise_prior=noise_prior)
    loglik, log_prior, value, grad = _gp_terms(gp, X, Y, noise_prior)
    ref_loglik, ref_prior, ref_total = (float(t.detach()) for t in _log_terms(ref))
    assert loglik == pytest.approx(ref_loglik, rel=1e-10, abs=1e-10)
    assert log_prior == pytest.approx(ref_prior + gp.m * _HALF_LOG_2PI, rel=1e-12, abs=1e-12)
    assert ref_total == pytest.approx(ref_loglik + ref_prior, rel=1e-12, abs=1e-12)
    assert value == pytest.approx(-ref_total - gp.m * _HALF_LOG_2PI, rel=1e-10, abs=1e-10)

    # the closed-form gradient (R&W eq. 5.9 + numba partials) against GPyTorch autograd
    ref_value, ref_grad = _neg_log_posterior(ref, gp.theta)
    assert ref_value == pytest.approx(-ref_total, rel=1e-12)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-7, atol=1e-7 * max(1.0, abs(value)))


def test_objective_and_gradient_match_gpytorch_off_the_optimum():
    """Random (not fitted) hyper-parameters, where the gradient is far from zero."""
    rng = np.random.default_rng(11)
    for n, d, m, dup in ((1, 2, 1, False), (5, 3, 2, True), (14, 2, 3, False)):
        X, Y = _data(n, d, m, 20 + n, dup)
        gp = fit_gp(X, Y, max_iter=1)
        Ys = _standardised(gp, Y)
        theta = np.concatenate([
            rng.uniform(-2.5, 1.0, (m, d)), rng.uniform(-1.5, 1.5, (m, 1)),
            rng.uniform(-9.0, -1.0, (m, 1)), rng.uniform(-1.0, 1.0, (m, 1))], 1)
        hyper = gpmod._Hyper(m, d)
        value, grad = gpmod._Objective(X, Ys, hyper).value_and_grad(theta.ravel())
        ref = to_gpytorch(gp)
        np.testing.assert_allclose(np.stack([r.train_targets.numpy() for r in ref], 1), Ys,
                                   rtol=1e-15, atol=1e-15)
        ref_value, ref_grad = _neg_log_posterior(ref, theta)
        assert value == pytest.approx(ref_value - m * _HALF_LOG_2PI, rel=1e-10, abs=1e-10)
        assert np.abs(ref_grad).max() > 1e-2
        np.testing.assert_allclose(grad, ref_grad, rtol=1e-7, atol=1e-8 * np.abs(ref_grad).max())


def _query_points(X: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    d = X.shape[1]
    return np.vstack([rng.random((20, d)), X[:3], rng.uniform(-1.0, 2.0, (3, d))])


def _assert_posterior_matches(mu: np.ndarray, sd: np.ndarray, ref_mu_s: np.ndarray,
                              ref_var_s: np.ndarray, gp: GP) -> None:
    state = gp.model_state()
    scale, shift = np.asarray(state["y_scale"]), np.asarray(state["y_mean"])
    os = np.asarray(state["outputscales"])
    # mean: relative to the output scale (the shift can dwarf the mean's variation)
    np.testing.assert_allclose((mu - shift) / scale, ref_mu_s, rtol=1e-8, atol=1e-9)
    # std: 1e-8 relative; the variance os - k K^-1 k cancels at the data, so allow an
    # absolute floor on the variance of 1e-12 of the prior variance
    var_s = (sd / scale) ** 2
    tol = 2e-8 * ref_var_s + 1e-12 * os
    assert np.all(np.abs(var_s - ref_var_s) <= tol), np.abs(var_s - ref_var_s).max()


def test_posterior_matches_gpytorch(case):
    X, Y, gp, noise_prior = case
    ref = to_gpytorch(gp, noise_prior=noise_prior)
    Xq = _query_points(X, 7)
    ref_mu, ref_var = _predict(ref, Xq)
    mu, sd = gp.posterior(Xq)
    _assert_posterior_matches(mu, sd, ref_mu, ref_var, gp)
    # the models' own prediction, in raw units (a minimised objective: no sign change)
    raw = [mod.predict(Xq) for mod in ref]
    mu_r, var_r = np.stack([r[0] for r in raw], 1), np.stack([r[1] for r in raw], 1)
    _assert_posterior_matches(mu, sd, (mu_r - gp.y_mean) / gp.y_scale,
                              var_r / gp.y_scale**2, gp)
    mu_t, sd_t = gp.posterior_torch(torch.from_numpy(Xq))
    _assert_posterior_matches(mu_t.numpy(), sd_t.numpy(), ref_mu, ref_var, gp)
    # where the posterior variance is not a small difference of large numbers, all its
    # digits are meaningful: plain relative tolerance on the std
    far = ref_var > 1e-3 * gp.outputscale.numpy()
    assert far.any()
    np.testing.assert_allclose((sd / gp.y_scale)[far], np.sqrt(ref_var[far]), rtol=1e-8)


def test_posterior_gradient_matches_gpytorch():
    X, Y = _data(12, 3, 2, 30)
    gp = fit_gp(X, Y)
    ref = to_gpytorch(gp)
    Xq = np.random.default_rng(31).random((4, 3))
    Xt = torch.from_numpy(Xq).requires_grad_(True)
    mu, sd = gp.posterior_torch(Xt)
    g_mu, g_sd = (torch.autograd.grad(v.sum(), Xt, retain_graph=True)[0].numpy()
                  for v in (mu / gp._scale_t, sd / gp._scale_t))
    Xr = torch.from_numpy(Xq).requires_grad_(True)
    r_mu = np.zeros_like(Xq)
    r_sd = np.zeros_like(Xq)
    with gpytorch.settings.fast_pred_var(False), _exact():
        for mod in ref:
            post = mod(Xr)
            for out, v in ((r_mu, post.mean), (r_sd, post.variance.sqrt())):
                out += torch.autograd.grad(v.sum(), Xr, retain_graph=True)[0].numpy()
    np.testing.assert_allclose(g_mu, r_mu, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(g_sd, r_sd, rtol=1e-7, atol=1e-9)


def test_joint_samples_follow_gpytorch_posterior_covariance():
    """``sample_joint`` returns mean + chol(C + 1e-9 I) z; recover C exactly.

    Uses the internal draw order of ``sample_joint`` (one ``standard_normal((s, m, q, 1))``
    call): with s = q samples, the q x q matrix of normals Z_j is invertible, so the factor
    is D_j Z_j^-1 with D_j the centred samples, and C_j its Gram matrix.
    """
    X, Y = _data(11, 2, 2, 45, dup=True)
    gp = fit_gp(X, Y)
    ref = to_gpytorch(gp)
    Xq = np.vstack([np.random.default_rng(46).random((4, 2)), X[:1]])
    q = len(Xq)
    S = gp.sample_joint(Xq, q, np.random.default_rng(47))  # (s, q, m)
    Z = np.random.default_rng(47).standard_normal((q, gp.m, q, 1))[..., 0]  # (s, m, q)
    with torch.no_grad(), gpytorch.settings.fast_pred_var(False), _exact():
        posts = [mod(torch.from_numpy(Xq)) for mod in ref]
        ref_mean = np.stack([p.mean.numpy() for p in posts])  # (m, q)
        ref_cov = np.stack([p.covariance_matrix.numpy() for p in posts])  # (m, q, q)
    Ss = (S - gp.y_mean) / gp.y_scale
    for j in range(gp.m):
        D = Ss[:, :, j].T - ref_mean[j][:, None]  # (q, s)
        Lc = D @ np.linalg.inv(Z[:, j, :].T)
        np.testing.assert_allclose(np.tril(Lc), Lc, atol=1e-9)  # a Cholesky factor
        cov = Lc @ Lc.T
        np.testing.assert_allclose(cov, ref_cov[j] + 1e-9 * np.eye(q), rtol=1e-7,
                                   atol=1e-10 * gp.outputscale[j].item())


def test_conditioned_posterior_matches_gpytorch():
    X, Y = _data(10, 2, 2, 40)
    gp = fit_gp(X, Y)
    rng = np.random.default_rng(41)
    X_new = np.vstack([rng.random((3, 2)), X[:1]])
    Y_new = rng.normal(Y.mean(0), Y.std(0), (4, 2))
    cond = gp.condition(X_new, Y_new)
    # same hyper-parameters and standardisation: the reference just sees more data
    ref = to_gpytorch(cond)
    np.testing.assert_allclose(np.stack([r.train_targets.numpy() for r in ref], 1),
                               _standardised(cond, np.vstack([Y, Y_new])), rtol=1e-15)
    Xq = _query_points(cond.X_np, 42)
    ref_mu, ref_var = _predict(ref, Xq)
    mu, sd = cond.posterior(Xq)
    _assert_posterior_matches(mu, sd, ref_mu, ref_var, cond)


# ---------------------------------------------------------------------------- MAP fit
def _branin(X: np.ndarray) -> np.ndarray:
    x1, x2 = 15.0 * X[:, 0] - 5.0, 15.0 * X[:, 1]
    b = x2 - 5.1 / (4 * math.pi ** 2) * x1 ** 2 + 5.0 / math.pi * x1 - 6.0
    return (b ** 2 + 10.0 * (1 - 1 / (8 * math.pi)) * np.cos(x1) + 10.0)[:, None]


def _two_objectives(X: np.ndarray) -> np.ndarray:
    f1 = np.sin(2 * math.pi * X[:, 0]) + X[:, 1] ** 2 - 0.5 * X[:, 2]
    f2 = np.exp(-4.0 * ((X - 0.3) ** 2).sum(1))
    return np.stack([f1, f2], 1)


MAP_CASES = [
    ("branin", 12, 2, _branin, 0.0, NOISE_PRIOR),
    ("two-objectives", 16, 3, _two_objectives, 0.0, NOISE_PRIOR),
    ("two-objectives-noisy", 20, 3, _two_objectives, 0.1, NOISY_NOISE_PRIOR),
]


@pytest.mark.parametrize("name, n, d, f, noise_sd, noise_prior", MAP_CASES,
                         ids=[c[0] for c in MAP_CASES])
def test_map_fit_is_at_least_as_good_as_gpytorch(name, n, d, f, noise_sd, noise_prior):
    rng = np.random.default_rng(50 + n)
    X = rng.random((n, d))
    Y = f(X)
    Y = Y + noise_sd * Y.std(0) * rng.standard_normal(Y.shape)
    m = Y.shape[1]
    gp = fit_gp(X, Y, noise_prior=noise_prior)
    assert gp.fit_ok
    ref = to_gpytorch(gp, noise_prior=noise_prior)

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        return _neg_log_posterior(ref, theta)

    gp_loss = loss(gp.theta)[0]

    # the same problem in GPyTorch: the starts mobo.gp documents (lengthscales 0.5, 0.15
    # and 2, unit outputscale, noise 1e-6 + e^-4, zero mean), screened by the loss, then
    # scipy's L-BFGS-B on the autograd gradient with mobo.gp's box and a much tighter stop
    starts = []
    for ls in (0.5, 0.15, 2.0):
        th = np.zeros((m, d + 3))
        th[:, :d] = math.log(ls)
        th[:, d + 1] = -4.0
        starts.append(th.ravel())
    start = min(starts, key=lambda th: loss(th)[0])
    bounds = gpmod._Hyper(m, d, noise_prior=noise_prior).bounds()
    options = {"maxiter": 2000, "ftol": 1e-14, "gtol": 1e-9}
    res = scipy.optimize.minimize(loss, start, jac=True, method="L-BFGS-B",
                                  bounds=bounds, options=options)
    assert np.isfinite(res.fun)
    # mobo.gp stops at a relative decrease of 1e-6 after at most 100 iterations
    tol = 2e-5 * max(1.0, abs(float(res.fun)))
    assert gp_loss <= float(res.fun) + tol, (name, gp_loss, float(res.fun))
    # and GPyTorch, started at mobo.gp's optimum, finds no markedly better point nearby
    polish = scipy.optimize.minimize(loss, gp.theta.ravel(), jac=True,
                                     method="L-BFGS-B", bounds=bounds, options=options)
    assert gp_loss <= float(polish.fun) + tol, (name, gp_loss, float(polish.fun))
