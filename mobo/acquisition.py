"""Proposals: fit the surrogate, maximise exact (log) EHVI, handle pending and failed trials.

One call of :meth:`Proposer.propose` (all objectives minimised):

1. Fit one GP per objective on the completed trials (:func:`mobo.gp.fit_gp`, MAP,
   warm-started from the previous proposal's hyper-parameters; a wider noise prior when
   the objectives are declared noisy).
2. Pending trials: Kriging believer (Ginsbourger, Le Riche & Carraro 2010) -- the GP is
   conditioned on the pending inputs with its own posterior mean as fantasy outputs (same
   hyper-parameters), and the fantasies join the front, so k asks without a tell see the
   variance collapse and the improvement claimed at every pending point and spread out.
   (With a sampled front, below, the pending inputs are sampled jointly with the observed
   ones instead.)
3. Front: the non-dominated observed outputs. In noisy mode the front itself is uncertain
   (and ``sample_front`` treats it so whatever the noise: even a fitted noise of a
   deterministic objective leaves the GP's sd next to a trial at that noise's order, and
   EHVI over the observed values then pays for re-sampling next to a front point); the
   acquisition is averaged over joint posterior samples of the latent values at the
   observed (and pending) inputs: per sample, the front is the sample's non-dominated part
   and the candidate's predictive is the GP *given that sample* (a Gaussian conditional,
   :meth:`mobo.gp.GP.given_latent`), so candidate and front stay correlated, and the
   expected improvement over that front is computed exactly. This is the noisy EHVI of
   Daulton, Balandat & Bakshy 2021 ("Parallel Bayesian optimization of multiple noisy
   objectives with expected hypervolume improvement") with the inner integral over the
   candidate done in closed form instead of by Monte Carlo. Ignoring the correlation (the
   candidate's marginal posterior against each sampled front) rewards re-sampling next to
   a lucky observation. The sample average is a Monte Carlo estimate of the noisy EHVI;
   too few samples make the proposal chase the estimate's noise, while a proposal's cost
   grows with the number of samples. The default, 64 (BoTorch's qLogNEHVI averages over
   128 quasi-Monte Carlo samples), was chosen on development seeds of noisy Branin-Currin;
   its verdict on the held-out seeds is in ``results/compare.md``. ``plug_in_front``
   replaces the samples by the posterior mean of the latent values (one front, the
   candidate conditioned on it): still no gain next to a trial, at the cost of one sample.
4. Acquisition: log EHVI (exact, :mod:`mobo.improvement`; Emmerich et al. 2016, Yang et
   al. 2019) of the GP posterior mean and standard deviation, which keeps ranking where
   EHVI itself underflows (Ament et al. 2023), plus the log probability of success from a
   feasibility model when some trials failed.
5. Optimisation: score a scrambled Sobol set and Gaussian perturbations of the current
   Pareto-set inputs in bulk (past the GP's fit subset, :data:`mobo.gp.FIT_SUBSET`
   observations, fewer Sobol points, in proportion, so that the screen's arithmetic, the
   posterior variance's n-by-n product per candidate, stays where it was at that size:
   :meth:`Proposer._screened`); refine the best few with one batched L-BFGS-B run on the
   continuous relaxation, gradients by the chain rule -- the EHVI kernel's analytic partials
   in (mean, std) pulled back through the GP posterior with torch autograd; round integers
   and categoricals (:meth:`mobo.space.Space.round`) and hill-climb over discrete neighbours.
6. Never propose a point that was already evaluated, failed or is pending: the best
   non-duplicate candidate wins, else a random feasible point.

Outcome constraints: metrics that must stay within bounds (``C`` with ``C_bounds``) get
one GP each on the completed trials; the acquisition adds the log probability that every
constraint holds, sum_c log P(l_c <= g_c(x) <= u_c) under those independent posteriors (the
constrained EI of Gardner, Kusner, Xu, Weinberger & Cunningham 2014, "Bayesian
optimization with inequality constraints", with EHVI in place of EI), and only completed
points that meet every constraint form the front. Each constraint's predictive is read as
Tukey's contaminated normal, 90% N(mu, sd^2) + 10% N(mu, (10 sd)^2) (Tukey 1960, "A survey
of sampling from contaminated distributions"): a GP extrapolating a smooth constraint
into an unexplored corner can be confidently wrong, putting feasible regions it has not
seen (on C2-DTLZ2, the extremes of the front) at a vanishing probability, and the wide
component keeps such regions at a small but usable probability (z = -9.5 becomes
P = 0.017), while near observations, where sd is small, infeasibility still rules a
region out. The treatment was chosen on development seeds of C2-DTLZ2; its verdict on the
held-out seeds is in ``results/compare.md``.

Feasibility model: a GP regression on labels +1 (completed) / -1 (failed) over all
evaluated inputs, with lengthscales of at least 0.1 (failure regions are taken to be wide,
not speckled), squashed by a probit, ``p(x) = Phi(mu(x) / sqrt(sigma(x)^2 + 1/10))``. It is
a cheap stand-in for the GP classifier that Gelbart, Snoek & Adams 2014 ("Bayesian
optimization with unknown constraints") use in the same role.

Objectives known in closed form (``known``: a function of the parameters, a parameter
count say) are not modelled: the GP covers the other objectives only, and a candidate's
prediction of a known objective is its exact value with zero variance (the EHVI of
:mod:`mobo.improvement` takes a zero standard deviation as a point mass). The value at a
candidate is the function at the candidate as it would be evaluated (the rounded point,
:meth:`mobo.space.Space.round`), cached by that point, since many candidates share their
discrete coordinates; on the continuous relaxation it is piecewise constant, so its
gradient is zero and the refinement moves only the modelled objectives. A pending trial's
fantasy and every noisy front sample take the known value itself.

Output warping (``warp``, :mod:`mobo.warping`): each modelled objective is mapped by a
strictly increasing transform fitted to its observed values (never a known one), the GP
is fitted to the warped values, and EHVI is computed in warped units: front, reference
point, fantasies and predictions are all warped, and a monotone map keeps dominance and
which points beat the reference point (the warped GPs of Snelson, Rasmussen & Ghahramani
2004, with a warp fitted beforehand as in HEBO, Cowen-Rivers et al. 2022).

Threshold model (``threshold_model``, off by default): for objectives with a threshold
(a reference value the user gave, not an inferred one), outcomes at or beyond the
threshold add nothing to the hypervolume, yet often dominate the data -- a plateau of
trials that did not work at all and a cliff next to it. One stationary GP fitted to the
plateau and to the trials that do beat the threshold is mis-specified twice: too wide on
the plateau, too narrow where values vary. The threshold model splits the question as
the feasibility model above splits off failures (the constrained acquisition of Gardner
et al. 2014 and Gelbart et al. 2014): a classifier GP (the same probit-squashed
regression on labels +1 / -1 as the feasibility model) learns whether a trial beats
every modelled threshold, and the objectives' GP is fitted only to the trials that do
(strictly better than the reference in every thresholded column, minimisation form). The
acquisition is log P(beats | x) + log EHVI(x) with EHVI from that GP; the front is the
same, since a point that does not beat the reference never enters it. With several
thresholded objectives there is one classifier, on beating all of them, and every GP
uses the trials that beat all of them (the simplest consistent choice: the EHVI of a
candidate that misses one threshold is 0 whatever the others do). The plain behaviour
(every GP on every trial, no classifier) is kept while fewer than 2 trials beat the
thresholds (no GP to fit) or none fails to (nothing to classify). Known objectives are
never modelled, so their thresholds do not enter the labels (their exact values already
enter EHVI); a warp is fitted to the values the GP sees, the trials that beat the
thresholds, and applied to every value and the reference point alike. In noisy mode the
front samples are drawn at the inputs of those trials (and the pending ones).

Trust region (``trust_region``, off by default): the search is kept in boxes of half-width
``trust_region`` around the inputs of the front of the trials that beat the reference point
credibly, and around recombinations of two of them, as TuRBO and MORBO do
(:mod:`mobo.trust_region` says why and how); each refinement stays in its start's box and
the discrete hill-climb steps only to neighbours in some box. Until a trial beats the
reference point, the search is global.

Exploration share (``explore``, off by default): with probability ``explore`` a model
proposal is drawn from where the trials that beat the reference point are dense instead of
maximising EHVI, as the tree-structured Parzen estimator proposes (:mod:`mobo.explore` says
why and how; ``explore_good`` picks which trials are good there). It ignores known
objectives and the trust region; with fewer than 2 good trials the proposal is the usual
one. An exploration proposal's ``timings`` carry an ``"explore"`` entry (its seconds); its
``acq_value`` is the EHVI at the point, as for any proposal.

Front extension (``extend``, off by default; a development setting): where an objective is
known in closed form (a cost, a parameter count), hypervolume values the front's cheap end
by the area a new point adds there, and next to the reference point that area is small --
a configuration a little cheaper than the cheapest one that beats the reference, and a
little better than the reference, adds a sliver -- so EHVI, and any proposal that
maximises hypervolume, seldom goes below the front's cheapest point, however much a user
who wants "the best model under this size" cares. With probability ``extend`` a model
proposal is instead the EHVI maximiser among the candidates strictly cheaper, in one known
objective (drawn at random among several), than every completed trial that beats the
reference in every column: the epsilon-constraint method of multi-objective optimisation
(Haimes, Lasdon & Wismer 1971; Miettinen 1999, "Nonlinear multiobjective optimization",
ch. 3.2) with the cap at the front's cheap end, the criterion inside it EHVI (with nothing
good below the cap, EHVI there is the expected amount by which a point beats the reference
times how much cheaper it is). Candidates are Sobol points of the whole space and Gaussian
perturbations of the best trials below the cap, both rounded and kept where the known
value is below it; the best few are refined with their integer and categorical values
held (their cells, :meth:`mobo.space.Space.cells`), so the known value stays put where it
depends on those alone. With no trial beating the reference, or no candidate below the
cap, the proposal is the usual one. The draw is made after the exploration share's, and
only when the setting is on. A proposal of the setting carries an ``"extend"`` entry in
its ``timings``. Tried on the distillation task and not adopted there: below the cap every
trial sat on a plateau, and EHVI then ranks by the posterior's spread, widest at the
space's edges (``results/distill_dev/README.md``, ``epyc1_extend/``).

``extend_by="density"`` (a development setting) picks the point below the cap as the
exploration share picks its own: of the rounded draws from the density ``l`` of the good
trials, those whose known value is below the cap compete, and the one not taken with the
largest ``l / g`` wins (none below the cap: the usual proposal). Where EHVI below the cap
is flat and its maximiser sits at the space's edges, the density keeps the point near the
inputs of the trials that did beat the reference -- their training settings with a
smaller shape -- and away from the failures already tried there. Tried on the distillation
task and not adopted there: it found small students that learn where the defaults found
none, but the proposals it took cost the larger students' band and the hypervolume
(``results/distill_dev/README.md``, ``xeon167_extend_density/``).

``extend_by="cheapest"`` (a development setting) draws as ``"density"`` does, from a density
of the good trials nearest the cap instead of the share's good ranks: the completed trials
that beat the reference, cheapest first in the known objective, the first
max(2, min(ceil(n / 10), 25)) of them (the share's count of good trials, n the completed
trials). Where the settings that make a configuration beat the reference differ with its
cost (a small student learns at a higher learning rate than a large one), the cheapest
trials that beat it carry the settings nearest to what a configuration below the cap
needs, where the share's ranks carry those of the whole front. Tried on the distillation
task and not adopted there, as ``"density"``: small students that learn were found, and
each one joined the share's good ranks, whose draws then followed it below the cap at the
cost of the larger students' band and the hypervolume (``results/distill_dev/README.md``,
``xeon167_extend_cheapest/``).

``extend_by="split"`` (a development setting) divides the known objective's range between the
two: the cap is the smallest known value among the trials that beat the reference credibly
(by the GP's posterior sd in every modelled column, as the trust region's centres do; at face
value while none does), the extension draws below it as ``"cheapest"`` does, and the
exploration share takes its good ranks only from trials at or above it in every known
objective (those below count among its bad ones). A configuration below the cap that beats
the reference by less than the noise -- what the extension mostly finds there -- then moves
neither the cap nor the share's draws, which stay on the front the credible trials make; one
that beats it credibly lowers the cap, and both follow. Tried on the distillation task and
not adopted there: the share, kept off the students below the credible cap, drew among the
large ones, more of its proposals beat the reference and the larger students' band gained,
while the cheap end of the front it no longer drew at was found later and the hypervolume
fell; the extension alone found nothing that learns in the smallest band
(``results/distill_dev/README.md``, ``xeon167_extend_split/``).

``extend_by="drift"`` (a development setting) draws as ``"cheapest"`` does and moves each
draw's continuous inputs along the drift of the good trials' settings with their cost: one
least-squares slope per continuous input over the log of the known value of every completed
trial that beats the reference (:func:`mobo.explore.cost_slopes`), the draw moved by the
slope times the difference between its own log cost and that of the good trial it was drawn
around; the draws are scored by the exploration share's ``l / g`` with ``l`` the cheapest
good trials' density moved the same way to each draw's cost (:mod:`mobo.explore`). Where a
cheaper configuration needs other settings than the cheapest ones that beat the reference
(on the distillation task a smaller student learns only at a larger learning rate), the
density carries the settings of its cost, not theirs (``results/distill_smallband.md``:
within the smallest band the GP ranks the students at about chance, while the learning rate
of the students that learn rises as they shrink). Tried on the distillation task and not
adopted there: on one seed of three it reached a small student that learns and the highest
hypervolume, but most of its draws missed the settings the drift aimed at (slopes over ten
settings fitted to a few dozen trials are mostly noise), and what it found below the cap
drew the exploration share after it, at the cost of the larger students' band and the
median hypervolume (``results/distill_dev/README.md``, ``xeon167_extend_drift/``).

``extend_by="split_drift"`` (a development setting) joins the two before it: the cap, and the
exploration share's good ranks at or above it, are ``"split"``'s (the cheapest trial that
beats the reference credibly), and the point below the cap is ``"drift"``'s. Each of them
failed for a reason the other answers: below a cap set by what beats the reference at
face value, the extension's finds -- small configurations a hair above the reference --
drew the share after them (``"drift"``), while the share kept above the credible cap held
the larger configurations' band but the extension's density draws found nothing below it
(``"split"``). Whether the drift's draws find, under the credible cap, what the density's
did not was measured on the distillation task, and it was not adopted there: under the
credible cap most of its draws were configurations only a little smaller than the large
ones, few reached the smallest ones and none of those beat the reference, while the median
hypervolume and the larger configurations' band fell (``results/distill_dev/README.md``,
``xeon167_extend_split_drift/``).

A proposal depends only on its arguments (and the rng state), never on hidden state.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.optimize
import torch

from mobo.boxes import Boxes, decompose
from mobo.definition import check_explore, check_share, check_trust_region
from mobo.explore import (
    EXPLORE_GOOD,
    bandwidths,
    cost_slopes,
    draw,
    draw_owned,
    drifted,
    good_count,
    good_trials,
    log_ratio,
    parzen_log_density,
)
from mobo.gp import (
    GP,
    NOISE_PRIOR,
    NOISY_NOISE_PRIOR,
    fit_gp,
    posterior_many,
    posterior_torch_many,
    single_threaded,
    subset_share,
)
from mobo.improvement import log_ehvi_boxes, log_ehvi_boxes_and_grad
from mobo.pareto import is_nondominated
from mobo.space import Space
from mobo.trust_region import (
    credible_caps,
    crossovers,
    in_region,
    region_bounds,
    region_candidates,
    region_centres,
)
from mobo.warping import check_warp, fit_warp, warp_columns

__all__ = ["Proposal", "Proposer"]

# a value the L-BFGS objective uses in place of log 0 (its gradient there is 0 anyway)
_LOG_FLOOR = -1e4
# label noise of the probit squashing of the feasibility GP (in label units)
_FEAS_TAU2 = 0.1
# failure regions (out-of-memory, divergence) are assumed wide, not speckled: a floor on
# the feasibility GP's lengthscales stops it from fitting a step between a success and a
# failure and reverting to its prior mean right behind the failures
_FEAS_MIN_LENGTHSCALE = 0.1
_DUP_TOL = 1e-9
# robust probability of feasibility (see the module docstring): the constraint GP's
# predictive is read as (1 - eps) N(mu, sd^2) + eps N(mu, (widen sd)^2)
_CONS_EPS = 0.1
_CONS_WIDEN = 10.0
# how the front extension picks its point below the cap (Proposer(extend_by=...))
EXTEND_BY: tuple[str, ...] = ("ehvi", "density", "cheapest", "split", "drift", "split_drift")
# the settings whose cap is the cheapest credible trial, the share kept at or above it
_CREDIBLE_CAP: tuple[str, ...] = ("split", "split_drift")


@dataclass
class Proposal:
    """The next point to evaluate.

    Attributes:
        x: (d,) encoded, feasible point.
        acq_value: EHVI times the probability of success at ``x`` (0.0 when it underflows).
        model_state: JSON-serialisable GP hyper-parameters (warm start for the next call).
        timings: seconds spent in ``"fit"`` and ``"acquisition"``.
        log_acq_value: natural log of ``acq_value``, finite where ``acq_value`` underflows.
    """

    x: np.ndarray
    acq_value: float
    model_state: dict[str, Any]
    timings: dict[str, float]
    log_acq_value: float = field(default=-math.inf)


def _log_prob_within(mu: torch.Tensor, sd: torch.Tensor, lower: torch.Tensor,
                     upper: torch.Tensor) -> torch.Tensor:
    """log P(lower <= G <= upper) for G ~ N(mu, sd^2), elementwise (bounds may be +-inf).

    The difference of the two normal CDFs is formed on the side of the mean where it does
    not cancel: Phi(b) - Phi(a) when the interval lies mostly below the mean, else
    Phi(-a) - Phi(-b); both as log Phi(big) + log(1 - exp(log Phi(small) - log Phi(big))).
    """
    a = (lower - mu) / sd
    b = (upper - mu) / sd
    flip = (a + b) > 0  # interval above the mean: use the upper tails
    big = torch.where(flip, -a, b)
    small = torch.where(flip, -b, a)
    # a one-sided bound leaves small = -inf and no correction; a finite stand-in keeps
    # the unused branch (and so the backward pass) free of inf - inf
    one_sided = torch.isneginf(small)
    small = torch.where(one_sided, big - 40.0, small)
    log_big = torch.special.log_ndtr(big)
    x = torch.special.log_ndtr(small) - log_big  # <= 0
    corr = torch.log(-torch.expm1(x.clamp_max(-1e-300)))
    return log_big + torch.where(one_sided, torch.zeros_like(corr), corr)


def _log_prob_feasible(mu: torch.Tensor, sd: torch.Tensor, lower: torch.Tensor,
                       upper: torch.Tensor) -> torch.Tensor:
    """log P(lower <= G <= upper) for G the contaminated normal
    (1 - eps) N(mu, sd^2) + eps N(mu, (widen sd)^2), elementwise."""
    narrow = _log_prob_within(mu, sd, lower, upper) + math.log1p(-_CONS_EPS)
    wide = _log_prob_within(mu, _CONS_WIDEN * sd, lower, upper) + math.log(_CONS_EPS)
    return torch.logaddexp(narrow, wide)


def _log_prob_positive(classifier: GP, Xt: torch.Tensor) -> torch.Tensor:
    """(q,) log p(label +1) of a GP regression on labels +1 / -1, squashed by a probit
    (the feasibility model's reading, see the module docstring)."""
    mu, sd = classifier.posterior_torch(Xt)
    return torch.special.log_ndtr(mu[:, 0] / torch.sqrt(sd[:, 0] ** 2 + _FEAS_TAU2))


def _warp_fitted_to(Y: np.ndarray, ref: np.ndarray, columns: Sequence[int], warp: str,
                    rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``Y`` and ``ref`` with each of ``columns`` warped by a warp fitted to that column's
    values in ``rows`` only (the values the GP sees); the other columns unchanged (copies)."""
    Y = np.array(Y, dtype=np.float64)
    ref = np.array(ref, dtype=np.float64)
    for j in columns:
        w = fit_warp(Y[rows, j], warp)
        ref[j] = float(w(ref[j]))
        Y[:, j] = w(Y[:, j])
    return Y, ref


class _KnownValues:
    """The objectives known in closed form, evaluated at candidates and cached.

    Args:
        space: decodes a candidate to the parameters the functions take.
        known: objective column -> function of the decoded parameters giving the
            objective's minimised value.
        m: the number of objectives.
    """

    def __init__(self, space: Space, known: Mapping[int, Callable[[dict[str, Any]], float]],
                 m: int) -> None:
        self.space = space
        self.columns = sorted(known)
        self.functions = [known[j] for j in self.columns]
        self.modelled = [j for j in range(m) if j not in known]
        self.m = m
        # rounded point (bytes) -> values: candidates share discrete coordinates, and the
        # functions may be slow (a model's parameter count)
        self._cache: dict[bytes, np.ndarray] = {}

    def values(self, X: np.ndarray) -> np.ndarray:
        """(q, k) the known objectives at the points ``X`` (q, d) as they would be
        evaluated (rounded)."""
        R = self.space.round(np.atleast_2d(X))
        out = np.empty((len(R), len(self.columns)))
        for i, r in enumerate(R):
            key = r.tobytes()
            v = self._cache.get(key)
            if v is None:
                params = self.space.decode(r)
                v = np.array([float(fn(params)) for fn in self.functions])
                if not np.all(np.isfinite(v)):
                    raise ValueError(f"a known objective is not finite at {params}: "
                                     f"{v.tolist()}")
                self._cache[key] = v
            out[i] = v
        return out

    def complete(self, modelled: np.ndarray, known: np.ndarray) -> np.ndarray:
        """(q, m) from the modelled objectives' columns (q, m - k) and the known ones (q, k)."""
        out = np.empty((len(modelled), self.m))
        out[:, self.modelled] = modelled
        out[:, self.columns] = known
        return out

    def predictions(self, X: np.ndarray, mean: np.ndarray, std: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
        """All m objectives' (mean, std) at ``X`` from the GP's over the modelled ones."""
        values = self.values(X)
        return (self.complete(mean, values),
                self.complete(std, np.zeros_like(values)))


class _Acquisition:
    """log(EHVI averaged over front samples) + log p(success) + log p(constraints hold)
    + log p(beats the thresholds), batched over candidates."""

    def __init__(self, models: list[GP], boxes: list[Boxes], feas: GP | None,
                 cons: GP | None = None, bounds: np.ndarray | None = None,
                 known: _KnownValues | None = None, beats: GP | None = None) -> None:
        self.models = models  # one per front sample (the GP given that sample), zipped strictly
        self.boxes = boxes
        self.feas = feas
        self.cons = cons
        self.beats = beats  # the threshold model's classifier (None: off or not applicable)
        self.known = known  # objectives known in closed form (the models cover the others)
        if cons is not None:
            assert bounds is not None
            self._lower = torch.from_numpy(np.ascontiguousarray(bounds[:, 0]))
            self._upper = torch.from_numpy(np.ascontiguousarray(bounds[:, 1]))
        self.log_s = math.log(len(boxes))

    def _combine(self, values: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """log mean exp over samples and the softmax weights of each sample, (S, q)."""
        V = np.stack(values)  # (S, q)
        top = V.max(0)
        finite = np.isfinite(top)
        safe_top = np.where(finite, top, 0.0)
        W = np.exp(V - safe_top)
        tot = W.sum(0)
        out = np.where(finite, safe_top + np.log(np.where(finite, tot, 1.0)) - self.log_s,
                       -np.inf)
        W = np.where(finite, W / np.where(finite, tot, 1.0), 0.0)
        return out, W

    def score(self, X: np.ndarray) -> np.ndarray:
        """(q,) log acquisition at encoded points ``X`` (q, d); -inf where EHVI is 0."""
        X = np.atleast_2d(X)
        values = []
        for (mean, std), b in zip(posterior_many(self.models, X), self.boxes, strict=True):
            if self.known is not None:
                mean, std = self.known.predictions(X, mean, std)
            values.append(log_ehvi_boxes(mean, std, b))
        out, _ = self._combine(values)
        if self.feas is not None or self.cons is not None or self.beats is not None:
            with torch.no_grad():
                out = out + self._log_success_torch(torch.from_numpy(X)).numpy()
        return out

    def _log_success_torch(self, Xt: torch.Tensor) -> torch.Tensor:
        """(q,) log p(the trial succeeds) + log p(every outcome constraint holds)
        + log p(the trial beats every modelled threshold)."""
        total = torch.zeros(Xt.shape[0], dtype=Xt.dtype)
        if self.feas is not None:
            total = total + _log_prob_positive(self.feas, Xt)
        if self.cons is not None:
            mu, sd = self.cons.posterior_torch(Xt)
            total = total + _log_prob_feasible(mu, sd, self._lower, self._upper).sum(-1)
        if self.beats is not None:
            total = total + _log_prob_positive(self.beats, Xt)
        return total

    def score_and_grad(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(q,) log acquisition and its (q, d) gradient with respect to ``X``."""
        Xt = torch.from_numpy(np.ascontiguousarray(X)).requires_grad_(True)
        posts, vals, dms, dss = [], [], [], []
        for (mean, std), b in zip(posterior_torch_many(self.models, Xt), self.boxes,
                                  strict=True):
            mean_np, std_np = mean.detach().numpy(), std.detach().numpy()
            if self.known is not None:
                mean_np, std_np = self.known.predictions(X, mean_np, std_np)
            v, dm, ds = log_ehvi_boxes_and_grad(mean_np, std_np, b)
            if self.known is not None:
                # a known objective is piecewise constant in x: no gradient through it
                dm, ds = dm[:, self.known.modelled], ds[:, self.known.modelled]
            posts.append((mean, std))
            vals.append(v)
            dms.append(dm)
            dss.append(ds)
        out, W = self._combine(vals)
        # d log(mean_s exp v_s) = sum_s w_s dv_s, pulled back through each sample's posterior
        total = torch.zeros((), dtype=Xt.dtype)
        for (mean, std), w, dm, ds in zip(posts, W, dms, dss, strict=True):
            total = total + (mean * torch.from_numpy(w[:, None] * dm)).sum() \
                + (std * torch.from_numpy(w[:, None] * ds)).sum()
        if self.feas is not None or self.cons is not None or self.beats is not None:
            lf = self._log_success_torch(Xt)
            total = total + lf.sum()
            out = out + lf.detach().numpy()
        (g,) = torch.autograd.grad(total, Xt)
        return out, g.numpy()


class Proposer:
    """Proposes the next point of a multi-objective Bayesian optimisation.

    Args:
        space: the search space (its encoded dimension fixes ``d``).
        noisy: the observations are noisy: the GP's wider noise prior, and (unless
            ``sample_front`` says otherwise) EHVI averaged over posterior samples of the front.
        n_candidates: Sobol candidates scored in bulk.
        n_local: Gaussian perturbations per Pareto-set input (at most 16 inputs are used).
        n_starts: best candidates refined by L-BFGS-B.
        max_iter: L-BFGS-B iterations of the refinement.
        n_front_samples: posterior samples of the front (when the front is sampled).
        neighbourhood_steps: hill-climbing steps over discrete neighbours.
        known: objective column -> ``fn(params)``, the minimised value of an objective
            known in closed form from the decoded parameters (the GP covers the others; at
            least one objective must be modelled). Default: none.
        warp: ``None`` (default), ``"rank"`` or ``"yeo-johnson"``: the output warp of the
            modelled objectives (:mod:`mobo.warping`); EHVI is then in warped units.
        threshold_model: model whether a trial beats the thresholds with a classifier and
            fit the objectives' GP to the trials that do (see the module docstring).
            Default: off.
        thresholded: the objective columns whose reference value is a threshold the user
            gave (the threshold model's columns, known ones aside). Default: every column.
        trust_region: ``None`` (default: a global search) or the half-width, in the unit
            cube, of the boxes around the inputs of the front beating the reference point
            (and around recombinations of two of them) that candidates are drawn from (see
            the module docstring), in (0, 1].
        explore: ``None`` (default) or the probability, in (0, 1), that a proposal is
            drawn from the density of the trials that beat the reference point instead of
            maximising EHVI (see the module docstring).
        sample_front: average EHVI over posterior samples of the front (step 3 of the
            module docstring) whatever the noise prior; ``None`` (default): when ``noisy``.
        plug_in_front: with a sampled front, take the latent values at their posterior
            mean instead of ``n_front_samples`` samples of them: one deterministic front,
            the candidate's predictive conditioned on it (a plug-in estimate at the cost
            of one sample, without Monte Carlo noise). Default: off.
        extend: ``None`` (default) or the probability, in (0, 1), that a proposal
            maximises EHVI only among candidates cheaper in a known objective than every
            trial that beats the reference point (see the module docstring); needs
            ``known``.
        explore_good: which trials the exploration share's good ranks are taken from:
            ``"beating"`` (default), the completed trials that beat the reference point;
            ``"all"``, every completed trial that meets the constraints (MOTPE's split as
            published; a development setting, see the module docstring).
        extend_by: how the front extension picks its point below the cap: ``"ehvi"``
            (default), the EHVI maximiser there; ``"density"``, the exploration share's
            draw from the good trials' density kept to the candidates below the cap;
            ``"cheapest"``, the same draw from the density of the cheapest trials that beat
            the reference; ``"split"``, as ``"cheapest"`` below the cheapest trial that beats
            it credibly, the exploration share's good ranks kept at or above that trial;
            ``"drift"``, as ``"cheapest"`` with the draws' continuous inputs moved along
            the good trials' drift with their cost; ``"split_drift"``, the cap and the
            share's good ranks of ``"split"`` with the draws of ``"drift"`` (development
            settings, see the module docstring).
    """

    def __init__(
        self,
        space: Space,
        *,
        noisy: bool = False,
        n_candidates: int = 2000,
        n_local: int = 32,
        n_starts: int = 5,
        max_iter: int = 50,
        n_front_samples: int = 64,
        neighbourhood_steps: int = 5,
        known: Mapping[int, Callable[[dict[str, Any]], float]] | None = None,
        warp: str | None = None,
        threshold_model: bool = False,
        thresholded: Sequence[int] | None = None,
        trust_region: float | None = None,
        explore: float | None = None,
        sample_front: bool | None = None,
        plug_in_front: bool = False,
        extend: float | None = None,
        explore_good: str = "beating",
        extend_by: str = "ehvi",
    ) -> None:
        if not isinstance(space, Space):
            raise ValueError(f"space: expected a mobo.Space, got {type(space).__name__}")
        known = dict(known or {})
        for j, fn in known.items():
            if isinstance(j, bool) or not isinstance(j, int) or j < 0 or not callable(fn):
                raise ValueError(f"known: expected objective column -> callable, got "
                                 f"{j!r} -> {fn!r}")
        for name, value, low in (
            ("n_candidates", n_candidates, 1), ("n_local", n_local, 0),
            ("n_starts", n_starts, 0), ("max_iter", max_iter, 0),
            ("n_front_samples", n_front_samples, 1),
            ("neighbourhood_steps", neighbourhood_steps, 0),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name}: expected an integer >= {low}, got {value!r}")
        if sample_front is not None and not isinstance(sample_front, bool | np.bool_):
            raise ValueError(f"sample_front: expected a bool or None, got {sample_front!r}")
        if not isinstance(plug_in_front, bool | np.bool_):
            raise ValueError(f"plug_in_front: expected a bool, got {plug_in_front!r}")
        self.space = space
        self.noisy = bool(noisy)
        self.plug_in_front = bool(plug_in_front)
        self.sample_front = self.noisy if sample_front is None else bool(sample_front)
        self.n_candidates = n_candidates
        self.n_local = n_local
        self.n_starts = n_starts
        self.max_iter = max_iter
        self.n_front_samples = n_front_samples
        self.neighbourhood_steps = neighbourhood_steps
        self._discrete = bool(space.is_discrete().any())
        self.known = known
        self.warp = check_warp(warp)
        if not isinstance(threshold_model, bool | np.bool_):
            raise ValueError(f"threshold_model: expected a bool, got {threshold_model!r}")
        self.threshold_model = bool(threshold_model)
        if thresholded is not None:
            thresholded = list(thresholded)
            if any(isinstance(j, bool) or not isinstance(j, int | np.integer) or j < 0
                   for j in thresholded):
                raise ValueError(f"thresholded: expected objective columns, got {thresholded!r}")
        self.thresholded = None if thresholded is None else sorted({int(j) for j in thresholded})
        self.trust_region = check_trust_region(trust_region)
        self.explore = check_explore(explore)
        self.extend = check_share("extend", extend)
        if explore_good not in EXPLORE_GOOD:
            raise ValueError(f"explore_good: expected one of {', '.join(EXPLORE_GOOD)}, "
                             f"got {explore_good!r}")
        self.explore_good = explore_good
        if extend_by not in EXTEND_BY:
            raise ValueError(f"extend_by: expected one of {', '.join(EXTEND_BY)}, "
                             f"got {extend_by!r}")
        self.extend_by = extend_by
        if self.extend is not None and not known:
            raise ValueError("extend: needs an objective known in closed form (known=...)")
        self._known_values: _KnownValues | None = None  # built once m is known, then kept

    # ------------------------------------------------------------------ checks
    def _check(self, name: str, A: np.ndarray | None, cols: int, allow_empty: bool) -> np.ndarray:
        if A is None:
            return np.zeros((0, cols))
        A = np.asarray(A, dtype=np.float64)
        if A.ndim == 1 and A.size == 0:
            A = A.reshape(0, cols)
        if A.ndim != 2 or A.shape[1] != cols:
            raise ValueError(f"{name}: expected shape (n, {cols}), got {A.shape}")
        if not allow_empty and len(A) == 0:
            raise ValueError(f"{name}: needs at least one row")
        if not np.all(np.isfinite(A)):
            raise ValueError(f"{name}: must be finite")
        return A

    # ------------------------------------------------------------------ main entry
    def propose(
        self,
        X: np.ndarray,
        Y: np.ndarray,
        ref: np.ndarray,
        *,
        rng: np.random.Generator,
        X_failed: np.ndarray | None = None,
        X_pending: np.ndarray | None = None,
        warm_start: dict | None = None,
        C: np.ndarray | None = None,
        C_bounds: np.ndarray | None = None,
    ) -> Proposal:
        """The next point to evaluate (see the module docstring for the algorithm).

        Args:
            X: (n, d) encoded inputs of completed trials, n >= 1.
            Y: (n, m) their objective values, minimised, raw scale.
            ref: (m,) reference point.
            rng: source of all randomness.
            X_failed: (f, d) encoded inputs of failed trials.
            X_pending: (k, d) encoded inputs of running trials.
            warm_start: a previous ``Proposal.model_state``.
            C: (n, c) outcome-constraint values of the completed trials (raw scale).
            C_bounds: (c, 2) the (lower, upper) bound of each constraint; -inf / +inf
                for a side without one. A completed trial is feasible when every value
                lies within its bounds.
        """
        d = self.space.dim
        X = self._check("X", X, d, allow_empty=False)
        Y = np.asarray(Y, dtype=np.float64)
        if Y.ndim != 2 or len(Y) != len(X) or Y.shape[1] < 1:
            raise ValueError(f"Y: expected shape ({len(X)}, m), got {Y.shape}")
        if not np.all(np.isfinite(Y)):
            raise ValueError("Y: must be finite")
        m = Y.shape[1]
        ref = np.asarray(ref, dtype=np.float64)
        if ref.shape != (m,) or not np.all(np.isfinite(ref)):
            raise ValueError(f"ref: expected {m} finite values, got {ref!r}")
        if self.known and (max(self.known) >= m or len(self.known) >= m):
            raise ValueError(f"known: columns {sorted(self.known)} do not leave one of the "
                             f"{m} objectives to model")
        X_failed = self._check("X_failed", X_failed, d, allow_empty=True)
        X_pending = self._check("X_pending", X_pending, d, allow_empty=True)
        if (C is None) != (C_bounds is None):
            raise ValueError("C and C_bounds: give both or neither")
        if C is not None:
            C_bounds = np.asarray(C_bounds, dtype=np.float64)
            if C_bounds.ndim != 2 or C_bounds.shape[1] != 2 or len(C_bounds) < 1:
                raise ValueError(f"C_bounds: expected shape (c, 2), got {C_bounds.shape}")
            if np.isnan(C_bounds).any() or not (C_bounds[:, 0] < C_bounds[:, 1]).all():
                raise ValueError("C_bounds: every lower bound must be below its upper bound")
            C = self._check("C", C, len(C_bounds), allow_empty=False)
            if len(C) != len(X):
                raise ValueError(f"C: expected {len(X)} rows (one per row of X), got {len(C)}")
        if not isinstance(rng, np.random.Generator):
            raise ValueError(f"rng: expected a numpy Generator, got {type(rng).__name__}")
        with single_threaded():
            return self._propose(X, Y, ref, rng, X_failed, X_pending, warm_start, C,
                                 C_bounds)

    def _propose(
        self,
        X: np.ndarray,
        Y: np.ndarray,
        ref: np.ndarray,
        rng: np.random.Generator,
        X_failed: np.ndarray,
        X_pending: np.ndarray,
        warm_start: dict | None,
        C: np.ndarray | None = None,
        C_bounds: np.ndarray | None = None,
    ) -> Proposal:
        t0 = time.perf_counter()
        warm = warm_start if isinstance(warm_start, dict) else {}
        kv = None
        if self.known:
            if self._known_values is None or self._known_values.m != Y.shape[1]:
                self._known_values = _KnownValues(self.space, self.known, Y.shape[1])
            kv = self._known_values
        modelled = kv.modelled if kv is not None else list(range(Y.shape[1]))
        above, beats = self._threshold_split(X, Y, ref, modelled, warm)
        if self.warp is not None:
            # the front, the reference point and the GP all live in warped units
            if above is None:
                Y, ref = warp_columns(Y, ref, modelled, self.warp)
            else:
                Y, ref = _warp_fitted_to(Y, ref, modelled, self.warp, above)
        # the trials the objectives' GP is fitted to and the front is formed from: with the
        # threshold model, those that beat the thresholds (the others never enter the front)
        XG, YG = (X, Y) if above is None else (X[above], Y[above])
        gp = fit_gp(XG, YG if kv is None else YG[:, kv.modelled], warm_start,
                    noise_prior=NOISY_NOISE_PRIOR if self.noisy else NOISE_PRIOR)
        feas = None
        if len(X_failed):
            labels = np.r_[np.ones(len(X)), -np.ones(len(X_failed))][:, None]
            feas = fit_gp(np.vstack([X, X_failed]), labels, warm.get("feasibility"),
                          min_lengthscale=_FEAS_MIN_LENGTHSCALE)
        cons = None
        ok = np.ones(len(X), dtype=bool)  # completed trials that meet every constraint
        if C is not None:
            assert C_bounds is not None
            cons = fit_gp(X, C, warm.get("constraints"))
            ok = np.all((C >= C_bounds[:, 0]) & (C <= C_bounds[:, 1]), axis=1)
        okG = ok if above is None else ok[above]
        t_fit = time.perf_counter() - t0

        t1 = time.perf_counter()
        # a pending point claims its improvement only where it is believed feasible
        believed = np.ones(len(X_pending), dtype=bool)
        if cons is not None and len(X_pending):
            assert C_bounds is not None
            c_mean, _ = cons.posterior(X_pending)
            believed = np.all((c_mean >= C_bounds[:, 0]) & (c_mean <= C_bounds[:, 1]), axis=1)
        if self.sample_front:
            # joint samples of the latent values at the observed and pending inputs; per
            # sample, the front is its non-dominated part and the candidate's predictive is
            # the GP given that sample, so candidate and front stay correlated (a candidate
            # next to an observed point cannot beat that point's sampled value by chance)
            n, X_all = len(XG), np.vstack([XG, X_pending])
            if self.plug_in_front:
                # the posterior mean as the one "sample": no draw from the random stream
                samples = gp.posterior_mean(X_all)[None]
            else:
                samples = gp.sample_joint(X_all, self.n_front_samples, rng)
            # one factorisation for all samples (same inputs and hyper-parameters)
            models = gp.given_latents(X_all, samples)
            if kv is not None:
                # a known objective is noise-free: its values in every sample
                exact = np.vstack([YG[:, kv.columns], kv.values(X_pending)])
                samples = np.stack([kv.complete(s, exact) for s in samples])
            boxes = [decompose(np.vstack([s[:n][okG], s[n:][believed]]), ref) for s in samples]
        else:
            model = gp
            front_extra = np.zeros((0, Y.shape[1]))
            if len(X_pending):
                fantasy, _ = gp.posterior(X_pending)
                model = gp.condition(X_pending, fantasy)
                if kv is not None:  # a known objective's fantasy is its value
                    fantasy = kv.complete(fantasy, kv.values(X_pending))
                front_extra = fantasy[believed]
            models = [model]
            boxes = [decompose(np.vstack([YG[okG], front_extra]), ref)]
        acq = _Acquisition(models, boxes, feas, cons, C_bounds, kv, beats)

        taken = np.vstack([X, X_failed, X_pending])
        # extend_by="split" or "split_drift": the caps below which the extension alone
        # draws, and the trials the exploration share may take its good ranks from (none
        # cheaper)
        caps, share_ok = None, ok
        if self.extend is not None and self.extend_by in _CREDIBLE_CAP and kv is not None:
            caps = credible_caps(X, Y, ref, ok, gp, modelled, kv.columns)
            if caps is not None:
                share_ok = ok & np.all(Y[:, kv.columns] >= caps, axis=1)
        # the draw is made only when the share is on: without it the rng stream, and so
        # every proposal, is what it was before the share existed
        if self.explore is not None and rng.random() < self.explore:
            t2 = time.perf_counter()
            x = self._explore(X, Y, ref, share_ok, np.vstack([X_failed, X_pending]), taken,
                              rng)
            if x is not None:
                s = float(acq.score(x[None])[0])
                t3 = time.perf_counter()
                timings = {"fit": t_fit, "acquisition": t3 - t1, "explore": t3 - t2}
                return self._proposal(x, s, gp, feas, cons, beats, timings)
        # likewise drawn only when the setting is on
        if self.extend is not None and kv is not None and rng.random() < self.extend:
            t2 = time.perf_counter()
            x, s = self._extend(acq, kv, X, Y, ref, ok, np.vstack([X_failed, X_pending]),
                                taken, rng, caps)
            if x is not None:
                t3 = time.perf_counter()
                timings = {"fit": t_fit, "acquisition": t3 - t1, "extend": t3 - t2}
                return self._proposal(x, s, gp, feas, cons, beats, timings)
        # local search around the feasible Pareto set (around all points while none is)
        near = ok if ok.any() else np.ones(len(X), dtype=bool)
        radius = self.trust_region
        region = None if radius is None else region_centres(X, Y, ref, ok, gp, modelled)
        centres = None if region is None else region[0]
        if region is None or radius is None:
            cands = self._candidates(X[near], Y[near], rng, self._screened(len(X)))
        else:
            cands = region_candidates(self.space, *region, radius, self.n_local, rng,
                                      self._screened(len(X)))
            children = crossovers(self.space, *region, rng)
            if len(children):
                # a recombination is a candidate, and its box joins the region for this
                # proposal: the refinement and the hill-climb may polish it there
                cands = np.vstack([cands, children])
                centres = np.vstack([region[0], children])
        # each refinement stays in the box of its start's nearest centre (if any)
        x, s = self._screen_and_refine(
            acq, cands, taken,
            lambda starts, c=centres, r=radius: (None if c is None or r is None else
                                                 region_bounds(c, starts, r)))
        if x is not None and self._discrete and self.neighbourhood_steps:
            x, s = self._neighbourhood(acq, x, s, taken, centres)
        if x is None:
            x, s = self._random_new(acq, taken, rng)
        t_acq = time.perf_counter() - t1
        return self._proposal(x, s, gp, feas, cons, beats,
                              {"fit": t_fit, "acquisition": t_acq})

    @staticmethod
    def _proposal(x: np.ndarray, s: float, gp: GP, feas: GP | None, cons: GP | None,
                  beats: GP | None, timings: dict[str, float]) -> Proposal:
        """The proposal of ``x`` with log acquisition ``s`` and the fitted models' state."""
        state = gp.model_state()
        if feas is not None:
            state["feasibility"] = feas.model_state()
        if cons is not None:
            state["constraints"] = cons.model_state()
        if beats is not None:
            state["threshold"] = beats.model_state()
        s = float(s)
        return Proposal(
            x=np.asarray(x, dtype=np.float64).copy(),
            acq_value=math.exp(s) if s > -745.0 else 0.0,
            model_state=state,
            timings=timings,
            log_acq_value=s,
        )

    # ------------------------------------------------------------------ pieces
    def _threshold_split(self, X: np.ndarray, Y: np.ndarray, ref: np.ndarray,
                         modelled: list[int], warm: Mapping[str, Any]
                         ) -> tuple[np.ndarray | None, GP | None]:
        """The threshold model's mask of the completed trials that beat every modelled
        threshold and its classifier, or (None, None) where it does not apply (off, no
        modelled threshold, fewer than 2 trials beating them or none missing them)."""
        if not self.threshold_model:
            return None, None
        columns = [j for j in (self.thresholded if self.thresholded is not None
                               else range(Y.shape[1])) if j in modelled]
        if not columns:
            return None, None
        # strictly better than the reference, as a point must be to enter the front
        above = np.all(Y[:, columns] < ref[columns], axis=1)
        if above.sum() < 2 or above.all():
            return None, None
        labels = np.where(above, 1.0, -1.0)[:, None]
        beats = fit_gp(X, labels, warm.get("threshold"), min_lengthscale=_FEAS_MIN_LENGTHSCALE)
        return above, beats

    def _explore(self, X: np.ndarray, Y: np.ndarray, ref: np.ndarray, ok: np.ndarray,
                 X_other: np.ndarray, taken: np.ndarray, rng: np.random.Generator,
                 keep: Callable[[np.ndarray], np.ndarray] | None = None,
                 good: np.ndarray | None = None) -> np.ndarray | None:
        """The exploration share's point (:mod:`mobo.explore`): of ``n_candidates`` rounded
        draws from the density ``l`` of the (k, d) good inputs (:func:`good_trials`, or the
        rows ``good`` of ``X`` where given), the one not ``taken`` with the largest
        ``l / g``, ``g`` the density of the other completed inputs and of ``X_other``
        (failed and pending ones); only the draws where ``keep`` (rows -> bool mask) holds
        compete, where given. None with fewer than 2 good inputs or when every draw is
        taken or left out."""
        if good is None:
            good = good_trials(X, Y, ref, ok, self.explore_good == "all")
        if len(good) < 2:
            return None
        G = X[good]
        B = np.vstack([np.delete(X, good, axis=0), X_other])
        h = bandwidths(G)
        Z = self.space.round(draw(G, h, self.n_candidates, rng))
        if keep is not None:
            Z = Z[keep(Z)]
            if not len(Z):
                return None
        x, _ = self._best_new(Z, log_ratio(Z, G, B, h), taken)
        return x

    def _extend(self, acq: _Acquisition, kv: _KnownValues, X: np.ndarray, Y: np.ndarray,
                ref: np.ndarray, ok: np.ndarray, X_other: np.ndarray, taken: np.ndarray,
                rng: np.random.Generator, caps: np.ndarray | None = None
                ) -> tuple[np.ndarray | None, float]:
        """The front extension's point and its log acquisition (see the module docstring):
        the best not ``taken`` of the candidates whose value in a known objective (drawn
        among ``kv.columns``) is below every completed trial's that beats ``ref`` in every
        column and meets the constraints (``ok``) -- best by EHVI, or with
        ``extend_by="density"`` by the exploration share's ``l / g`` among its draws
        (:meth:`_explore`, ``X_other`` the failed and pending inputs), with
        ``extend_by="cheapest"`` the same among draws from the density of the
        :func:`mobo.explore.good_count` cheapest trials that beat it, and with
        ``extend_by="split"`` as ``"cheapest"`` below ``caps`` (per known column,
        :func:`mobo.trust_region.credible_caps`) instead, with ``extend_by="drift"`` by
        :meth:`_drift`, and with ``extend_by="split_drift"`` by :meth:`_drift` below
        ``caps``; (None, -inf) when no trial beats it or no candidate is below the
        cap."""
        good = ok & np.all(Y < ref, axis=1)
        if not good.any():
            return None, -math.inf
        col = int(rng.integers(len(kv.columns))) if len(kv.columns) > 1 else 0
        cap = float(Y[good, kv.columns[col]].min() if caps is None else caps[col])
        if self.extend_by != "ehvi":
            nearest = None
            if self.extend_by != "density":  # the cheapest good trials
                pool = np.flatnonzero(good)
                order = np.argsort(Y[pool, kv.columns[col]], kind="stable")
                nearest = pool[order[:good_count(len(X))]]
            if nearest is not None and self.extend_by in ("drift", "split_drift"):
                x = self._drift(X, Y, kv, col, cap, good, nearest, X_other, taken, rng)
            else:
                x = self._explore(X, Y, ref, ok, X_other, taken, rng,
                                  keep=lambda Z: kv.values(Z)[:, col] < cap, good=nearest)
            return (None, -math.inf) if x is None else (x, float(acq.score(x[None])[0]))
        below = Y[:, kv.columns[col]] < cap
        cands = self.space.round(self._candidates(X[below], Y[below][:, kv.modelled], rng,
                                                  self._screened(len(X))))
        C = cands[kv.values(cands)[:, col] < cap]
        if not len(C):
            return None, -math.inf
        return self._screen_and_refine(acq, C, taken, self._held_cells,
                                       keep=lambda R: kv.values(R)[:, col] < cap)

    def _drift(self, X: np.ndarray, Y: np.ndarray, kv: _KnownValues, col: int, cap: float,
               good: np.ndarray, nearest: np.ndarray, X_other: np.ndarray,
               taken: np.ndarray, rng: np.random.Generator) -> np.ndarray | None:
        """``extend_by="drift"``'s point below ``cap`` in known column ``col`` (module
        docstring), None when fewer than 2 trials are ``nearest`` (indices of the
        :func:`mobo.explore.good_count` cheapest of the ``good`` ones, (n,) bool: they beat
        the reference) or no draw is below the cap and new: ``n_candidates`` draws from the
        density of the ``nearest``, rounded, each one's continuous inputs moved along
        :func:`mobo.explore.cost_slopes` (over all good trials) from its good trial's cost
        to its own and rounded again; of those below
        the cap, the one not ``taken`` with the largest ``l / g``, ``l`` the cheapest good
        trials' density moved to the draw's cost (:func:`mobo.explore.drifted`), ``g`` that
        of the other completed inputs and of ``X_other``. Costs are the known values on a
        log scale where every good trial's is positive (a parameter count, a price), else
        as they are."""
        pool = np.flatnonzero(good)
        costs = Y[:, kv.columns[col]]
        if len(nearest) < 2:
            return None
        positive = bool(np.all(costs[pool] > 0))

        def scale(v: np.ndarray) -> np.ndarray:
            return np.log(np.maximum(v, np.finfo(float).tiny)) if positive else v

        slope = cost_slopes(X[pool], scale(costs[pool]), ~self.space.is_discrete())
        G, t_G = X[nearest], scale(costs[nearest])
        h = bandwidths(G)
        Z, owner = draw_owned(G, h, self.n_candidates, rng)
        Z = self.space.round(Z)
        move = slope[None, :] * (scale(kv.values(Z)[:, col]) - t_G[owner])[:, None]
        Z = self.space.round(np.clip(Z + move, 0.0, 1.0))
        cost = kv.values(Z)[:, col]
        Z, t_Z = Z[cost < cap], scale(cost[cost < cap])
        if not len(Z):
            return None
        B = np.vstack([np.delete(X, nearest, axis=0), X_other])
        score = (parzen_log_density(Z, drifted(G, t_G, slope, t_Z), h)
                 - parzen_log_density(Z, B, h))
        x, _ = self._best_new(Z, score, taken)
        return x

    def _screen_and_refine(
        self, acq: _Acquisition, cands: np.ndarray, taken: np.ndarray,
        bounds_for: Callable[[np.ndarray], np.ndarray | None],
        keep: Callable[[np.ndarray], np.ndarray] | None = None,
    ) -> tuple[np.ndarray | None, float]:
        """The best point of ``cands`` (q, d) not ``taken`` and its log acquisition: all
        scored in bulk, the ``n_starts`` best distinct ones refined by L-BFGS-B within
        ``bounds_for(starts)`` ((k, d, 2), None: the unit cube) and rounded, the refined
        points ``keep`` refuses ((k,) mask) dropped; the best of the top screened and the
        refined, else of all screened; (None, -inf) when every candidate is taken."""
        scores = acq.score(cands)
        order = np.argsort(-scores, kind="stable")
        top = order[: max(self.n_starts, 1) * 4]
        pool_x, pool_s = [cands[top]], [scores[top]]
        starts = self._distinct(cands[order], self.n_starts)
        if len(starts) and self.max_iter > 0:
            refined = self.space.round(self._refine(acq, starts, bounds_for(starts)))
            if keep is not None:
                refined = refined[keep(refined)]
            if len(refined):
                pool_x.append(refined)
                pool_s.append(acq.score(refined))
        x, s = self._best_new(np.vstack(pool_x), np.concatenate(pool_s), taken)
        if x is None:
            x, s = self._best_new(cands[order], scores[order], taken)
        return x, s

    def _held_cells(self, starts: np.ndarray) -> np.ndarray:
        """(k, d, 2) per start, bounds that hold its integer and categorical values: an
        integer's cell (:meth:`mobo.space.Space.cells`), a one-hot column fixed, a float
        column the whole [0, 1]."""
        lo, hi = self.space.cells(starts)
        free = ~self.space.is_discrete()
        lo[:, free], hi[:, free] = 0.0, 1.0
        return np.stack([lo, hi], axis=2)

    def _screened(self, n: int) -> int:
        """Sobol candidates to score for n completed trials: ``n_candidates``, and past the
        GP's fit subset the share of them that keeps the screen's arithmetic (candidates x
        n, the variance's triangular product) where it was at the subset's size
        (:func:`mobo.gp.subset_share`), at least a quarter of them."""
        return max(math.ceil(self.n_candidates * subset_share(n)), self.n_candidates // 4, 1)

    def _candidates(self, X: np.ndarray, Y: np.ndarray, rng: np.random.Generator,
                    n_sobol: int) -> np.ndarray:
        """``n_sobol`` (:meth:`_screened`) Sobol points of the whole space and
        ``n_local`` Gaussian perturbations each around (up to 16 of) the inputs of the
        front of ``X`` (k, d), ``Y`` (k, m)."""
        seed = int(rng.integers(2**63 - 1))
        sob = self.space.sobol(n_sobol, seed=seed)
        parts = [sob]
        if self.n_local:
            P = X[is_nondominated(Y)]
            if len(P) > 16:
                P = P[rng.choice(len(P), 16, replace=False)]
            # two perturbation scales: one to polish, one to jump to a nearby basin
            scale = np.where(rng.random((len(P), self.n_local, 1)) < 0.5, 0.02, 0.1)
            local = P[:, None, :] + scale * rng.standard_normal((len(P), self.n_local, X.shape[1]))
            parts.append(self.space.round(local.reshape(-1, X.shape[1])))
        return np.vstack(parts)

    @staticmethod
    def _distinct(C: np.ndarray, k: int) -> np.ndarray:
        """The first ``k`` rows of ``C`` that differ from each other."""
        out: list[np.ndarray] = []
        for c in C:
            if len(out) >= k:
                break
            if all(np.max(np.abs(c - o)) > 1e-6 for o in out):
                out.append(c)
        return np.array(out).reshape(len(out), C.shape[1])

    def _refine(self, acq: _Acquisition, starts: np.ndarray,
                bounds: np.ndarray | None = None) -> np.ndarray:
        """Batched L-BFGS-B on the sum of the starts' log acquisitions (separable), each
        start within its (d, 2) box of ``bounds`` (k, d, 2); default the unit cube."""
        k, d = starts.shape
        box = [(0.0, 1.0)] * (k * d) if bounds is None else \
            [(float(lo), float(hi)) for lo, hi in bounds.reshape(k * d, 2)]

        def f(z: np.ndarray) -> tuple[float, np.ndarray]:
            v, g = acq.score_and_grad(z.reshape(k, d))
            low = ~(v > _LOG_FLOOR)
            v = np.where(low, _LOG_FLOOR, v)
            g = np.where(low[:, None], 0.0, g)
            return -float(v.sum()), -g.ravel()

        try:
            res = scipy.optimize.minimize(
                f, starts.ravel(), jac=True, method="L-BFGS-B",
                bounds=box, options={"maxiter": self.max_iter},
            )
            Z = res.x.reshape(k, d)
        except (ValueError, RuntimeError, FloatingPointError, np.linalg.LinAlgError):
            return starts
        return np.where(np.isfinite(Z), Z, starts)

    @staticmethod
    def _is_taken(x: np.ndarray, taken: np.ndarray) -> bool:
        if len(taken) == 0:
            return False
        return bool((np.max(np.abs(taken - x), axis=1) <= _DUP_TOL).any())

    def _best_new(
        self, PX: np.ndarray, PS: np.ndarray, taken: np.ndarray
    ) -> tuple[np.ndarray | None, float]:
        for i in np.argsort(-PS, kind="stable"):
            if not self._is_taken(PX[i], taken):
                return PX[i], float(PS[i])
        return None, -math.inf

    def _neighbourhood(
        self, acq: _Acquisition, x: np.ndarray, s: float, taken: np.ndarray,
        centres: np.ndarray | None = None,
    ) -> tuple[np.ndarray, float]:
        """Greedy steps to the best discrete neighbour while it scores higher; with the
        trust region's ``centres``, only to neighbours whose numeric coordinates stay in
        some centre's box (a categorical may change at every step)."""
        for _ in range(self.neighbourhood_steps):
            N = self.space.neighbours(x)
            if len(N) and centres is not None and self.trust_region is not None:
                N = N[in_region(self.space, N, centres, self.trust_region)]
            if len(N) == 0:
                break
            keep = np.array([not self._is_taken(n, taken) for n in N])
            if not keep.any():
                break
            N = N[keep]
            ns = acq.score(N)
            j = int(np.argmax(ns))
            if not ns[j] > s:
                break
            x, s = N[j], float(ns[j])
        return x, s

    def _random_new(
        self, acq: _Acquisition, taken: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, float]:
        R = self.space.random(256, rng)
        for r in R:
            if not self._is_taken(r, taken):
                return r, float(acq.score(r[None])[0])
        # every sampled point is taken (a tiny, exhausted discrete space): repeat the first
        return R[0], float(acq.score(R[:1])[0])
