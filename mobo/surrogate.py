"""The fitted surrogate in GPyTorch form: one ``gpytorch.models.ExactGP`` per objective.

mobo fits and queries its GPs with the hand-written batched code of :mod:`mobo.gp` (faster
than GPyTorch for the few hundred points a study has). This module turns such a fit into
standard GPyTorch models, for inspection, plotting or further work in the GPyTorch /
BoTorch ecosystem (Gardner, Pleiss, Bindel, Weinberger & Wilson 2018, "GPyTorch: blackbox
matrix-matrix Gaussian process inference with GPU acceleration"). The conversion changes
no number: each model holds the fitted hyper-parameters exactly, and its posterior of the
latent function equals :meth:`mobo.gp.GP.posterior` up to rounding.

Each objective ``j`` becomes an :class:`ObjectiveGP` (an ``ExactGP``, float64, in eval mode)
with the model of :mod:`mobo.gp` (Rasmussen & Williams 2006):

- ``ConstantMean`` with a Normal(0, 1) prior on the constant;
- ``ScaleKernel(MaternKernel(nu=2.5, ard_num_dims=d))`` with LogNormal priors on the
  lengthscales (the dimension-scaled prior of Hvarfner, Hellsten & Nardi 2024) and on the
  outputscale;
- ``GaussianLikelihood`` with the LogNormal noise prior the fit used (the wider one for
  noisy studies) and the noise floor of :mod:`mobo.gp` as its constraint's lower bound.

The positive parameters are parametrised by their logarithms
(``GreaterThan(lower, transform=exp, inv_transform=log)``), so the raw GPyTorch parameters
of objective ``j`` are exactly row ``j`` of ``GP.theta``: ``[log lengthscale (d), log
outputscale, log(noise - floor), constant mean]``, and a GPyTorch optimiser works in the
same coordinates as mobo's L-BFGS-B fit. ``ExactMarginalLogLikelihood`` times ``n`` is then
the log marginal likelihood plus the log priors, the MAP objective of :mod:`mobo.gp` (which
omits the Normal prior's normalising constant, ``log(2 pi) / 2`` per objective).

Scales. Inputs are the study's encoded unit cube (:meth:`mobo.space.Space.encode`).
Training targets are standardised minimisation-scale values: a maximised objective is
negated first, then ``(y - y_mean) / y_scale`` with the ``y_mean`` and ``y_scale`` of the fit
(a constant objective gets unit scale), both carried by the model.
:meth:`ObjectiveGP.predict` maps the latent posterior back to the objective's own units:
``mean = sign * (mean_s * y_scale + y_mean)`` and ``variance = variance_s * y_scale^2``, with
``sign = -1`` for a maximised objective.

Objectives known in closed form (``Objective(..., known=fn)``) are not modelled, so a
study's surrogate has no model for them. With an output warp (``Study(..., warp=...)``,
:mod:`mobo.warping`) the training targets are the *warped* minimisation-scale values, and
``predict`` returns ``sign`` times the warped value: warped units, oriented like the
objective, as the acquisition sees them (the model's ``warp`` attribute names the warp;
mapping a Gaussian back through a nonlinear warp is not a Gaussian, so it is not done).

GPyTorch is imported only when a model is built: it is slow to import, and a
user of the kernels alone must not pay for it.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from mobo.gp import (
    _NOISE_FLOOR,
    GP,
    NOISE_PRIOR,
    NOISY_NOISE_PRIOR,
    _Hyper,
    fit_gp,
    single_threaded,
)

# ObjectiveGP is built on first access (module __getattr__ below)
__all__ = ["ObjectiveGP", "fit_surrogate", "to_gpytorch"]  # noqa: F822

_F64 = torch.float64
# the priors of mobo.gp that do not depend on the data (see its module docstring)
_OUTPUTSCALE_PRIOR = (0.0, 1.0)  # LogNormal (loc, scale)
_MEAN_PRIOR = (0.0, 1.0)  # Normal (loc, scale)


@functools.cache
def _model_class() -> type:
    """The :class:`ObjectiveGP` class, defined on first use (it subclasses a GPyTorch class)."""
    # imported here: gpytorch is heavy and only the GPyTorch form of the surrogate needs it
    import gpytorch
    from gpytorch.utils.warnings import GPInputWarning

    class ObjectiveGP(gpytorch.models.ExactGP):  # type: ignore[misc, name-defined]
        """One objective's fitted GP (see the module docstring for its model and scales).

        Attributes:
            name: the objective's name ("" when built from a bare GP without names).
            sign: +1 for a minimised objective, -1 for a maximised one (user value * sign =
                minimisation-scale value).
            y_mean, y_scale: the standardisation of the minimisation-scale outputs.
            warp: the output warp the targets went through ("rank", "yeo-johnson"), or
                None: predictions are then in warped units (see the module docstring).
        """

        def __init__(self, X: torch.Tensor, y: torch.Tensor,
                     likelihood: gpytorch.likelihoods.GaussianLikelihood,
                     kernel: gpytorch.kernels.ScaleKernel, mean: gpytorch.means.ConstantMean,
                     *, name: str, sign: float, y_mean: float, y_scale: float,
                     warp: str | None = None) -> None:
            super().__init__(X, y, likelihood)
            self.mean_module = mean
            self.covar_module = kernel
            self.name = name
            self.sign = float(sign)
            self.y_mean = float(y_mean)
            self.y_scale = float(y_scale)
            self.warp = warp

        def forward(self, x: torch.Tensor) -> gpytorch.distributions.MultivariateNormal:
            return gpytorch.distributions.MultivariateNormal(self.mean_module(x),
                                                             self.covar_module(x))

        def to_raw(self, mean_s: np.ndarray, variance_s: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray]:
            """Standardised latent mean and variance -> the objective's own units."""
            return (self.sign * (mean_s * self.y_scale + self.y_mean),
                    variance_s * (self.y_scale * self.y_scale))

        def predict(self, Xq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            """Posterior mean and variance of the latent f at ``Xq`` (q, d, encoded), each
            (q,), in the objective's own units (un-standardised, maximised objectives
            un-negated); the exact Cholesky path, not GPyTorch's fast approximations."""
            Xq = np.atleast_2d(np.asarray(Xq, dtype=np.float64))
            self.eval()
            with torch.no_grad(), warnings.catch_warnings(), single_threaded(), \
                    gpytorch.settings.fast_pred_var(False), \
                    gpytorch.settings.fast_computations(False, False, False):
                # querying at the training inputs is legitimate here (a slice through a
                # trial, the posterior at the data), not a forgotten model.train()
                warnings.simplefilter("ignore", GPInputWarning)
                post = self(torch.from_numpy(Xq))
                mean_s = post.mean.numpy().copy()
                var_s = post.variance.numpy().copy()
            return self.to_raw(mean_s, var_s)

    ObjectiveGP.__module__ = __name__
    ObjectiveGP.__qualname__ = "ObjectiveGP"
    return ObjectiveGP


def __getattr__(name: str) -> Any:
    # ``from mobo.surrogate import ObjectiveGP`` (and unpickling) build the class on demand
    if name == "ObjectiveGP":
        return _model_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _positive(lower: float) -> Any:
    """A log-parametrised ``GreaterThan(lower)`` constraint with an exact float64 bound."""
    from gpytorch.constraints import GreaterThan  # heavy: see the module docstring

    constraint = GreaterThan(lower, transform=torch.exp, inv_transform=torch.log)
    # GPyTorch stores the bound in the default dtype (float32 turns 1e-6 into
    # 9.99999997e-7, a visible error next to a fitted noise near the floor)
    constraint.lower_bound = torch.tensor(lower, dtype=_F64)
    return constraint


def _f64(*values: float) -> list[torch.Tensor]:
    # GPyTorch priors evaluate in the dtype of their parameters: float64 tensors keep them exact
    return [torch.tensor(float(v), dtype=_F64) for v in values]


def to_gpytorch(
    gp: GP,
    *,
    noise_prior: tuple[float, float] = NOISE_PRIOR,
    names: Sequence[str] | None = None,
    signs: Sequence[float] | None = None,
    warp: str | None = None,
) -> list[Any]:
    """One :class:`ObjectiveGP` per objective of the fitted ``gp``, in objective order.

    Args:
        gp: a fitted :class:`mobo.gp.GP` (from :func:`mobo.gp.fit_gp`).
        noise_prior: the (loc, scale) of the LogNormal noise prior the fit used; the GP
            does not record it, and it only matters to the models' priors (their posterior
            does not depend on it).
        names: the objectives' names (default empty strings).
        signs: per objective +1 (minimised) or -1 (maximised, the GP saw negated values);
            default all +1. Only :meth:`ObjectiveGP.predict` and ``to_raw`` use it.
        warp: the output warp ``gp`` was fitted under (recorded on the models), or None.

    Returns models in eval mode, float64, with the training data ``gp.X_np`` and the
    standardised outputs of ``gp`` set and the hyper-parameters ``gp.theta`` loaded.
    """
    import gpytorch  # heavy: see the module docstring

    names = [""] * gp.m if names is None else list(names)
    signs = [1.0] * gp.m if signs is None else [float(s) for s in signs]
    if len(names) != gp.m or len(signs) != gp.m:
        raise ValueError(f"names, signs: expected {gp.m} of each, got {len(names)} and "
                         f"{len(signs)}")
    loc, scale = noise_prior
    hyper = _Hyper(gp.m, gp.d, noise_prior=(float(loc), float(scale)))
    cls = _model_class()
    X = torch.from_numpy(gp.X_np.copy())
    # the standardised outputs, by the same arithmetic as GP._set_outputs
    Ys = (gp.Y_np - gp.y_mean) / gp.y_scale
    theta = torch.from_numpy(gp.theta.copy())
    d = gp.d
    models = []
    for j in range(gp.m):
        likelihood = gpytorch.likelihoods.GaussianLikelihood(
            noise_prior=gpytorch.priors.LogNormalPrior(*_f64(*hyper.noise_prior)),
            noise_constraint=_positive(_NOISE_FLOOR),
        )
        kernel = gpytorch.kernels.ScaleKernel(
            gpytorch.kernels.MaternKernel(
                nu=2.5, ard_num_dims=d,
                lengthscale_prior=gpytorch.priors.LogNormalPrior(
                    *_f64(hyper.ls_mu, hyper.ls_sigma)),
                lengthscale_constraint=_positive(0.0),
            ),
            outputscale_prior=gpytorch.priors.LogNormalPrior(*_f64(*_OUTPUTSCALE_PRIOR)),
            outputscale_constraint=_positive(0.0),
        )
        mean = gpytorch.means.ConstantMean(
            constant_prior=gpytorch.priors.NormalPrior(*_f64(*_MEAN_PRIOR)))
        model = cls(X, torch.from_numpy(np.ascontiguousarray(Ys[:, j])), likelihood, kernel,
                    mean, name=names[j], sign=signs[j], y_mean=gp.y_mean[j],
                    y_scale=gp.y_scale[j], warp=warp)
        model.double()
        with torch.no_grad():
            kernel.base_kernel.raw_lengthscale.copy_(theta[j, :d].unsqueeze(0))
            kernel.raw_outputscale.copy_(theta[j, d])
            likelihood.noise_covar.raw_noise.copy_(theta[j, d + 1 : d + 2])
            mean.raw_constant.copy_(theta[j, d + 2])
        model.eval()
        models.append(model)
    return models


def fit_surrogate(
    X: np.ndarray,
    Y: np.ndarray,
    *,
    names: Sequence[str],
    signs: Sequence[float],
    noisy: bool,
    warm_start: Mapping[str, Any] | None = None,
    warp: str | None = None,
) -> dict[str, Any]:
    """The surrogate a study's next proposal fits, as GPyTorch models by objective name.

    The fit is the proposer's own (:class:`mobo.acquisition.Proposer`): :func:`mobo.gp.fit_gp`
    on ``X`` (n, d, encoded) and ``Y`` (n, m, minimisation scale), warm-started from the
    last proposal's ``warm_start``, with the wider noise prior when ``noisy``. It is
    deterministic and touches nothing outside this call. Raises ValueError when ``X`` has
    no rows. ``warp`` names the output warp ``Y`` already went through (recorded only).
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or len(X) < 1:
        raise ValueError(f"surrogate: needs at least 1 completed trial, got "
                         f"{len(X) if X.ndim else 0}")
    noise_prior = NOISY_NOISE_PRIOR if noisy else NOISE_PRIOR
    gp = fit_gp(X, Y, warm_start, noise_prior=noise_prior)
    models = to_gpytorch(gp, noise_prior=noise_prior, names=names, signs=signs, warp=warp)
    return dict(zip(names, models, strict=True))
