"""The exploration share's density: proposals drawn where the good trials are dense.

EHVI spends a proposal where the model promises the most volume, and where the model is
sure of little -- a plateau of trials that learned nothing beside a few that did -- it can
keep promising a corner that is cheap in a known objective while good configurations
elsewhere stay unsampled: the gap is in where the trials are, not in the model fitted to
them. With probability ``explore`` (:class:`mobo.acquisition.Proposer`) a model proposal is
instead drawn from where the trials that beat the reference point are dense, as the
tree-structured Parzen estimator proposes (Bergstra, Bardenet, Bengio & Kegl 2011,
"Algorithms for hyper-parameter optimization"; with "good" read as beating every
threshold, in the multi-objective spirit of MOTPE, Ozaki, Tanigaki, Watanabe & Onishi
2020): ``l`` is a Gaussian-kernel density over the encoded inputs of the good trials and
``g`` one over all other completed, failed and pending trials (a pending trial is not yet
known to be good, so parallel asks spread out instead of drawing next to the same good
trial), each mixed with the uniform density on the cube at weight 1 / (n + 1) (the prior
component of TPE; :func:`parzen_log_density`).

The good trials (:func:`good_trials`) are, of the completed trials that beat the reference
point (at face value, as TPE reads them: unlike the trust region's centres, a trial that
beats it by less than its posterior sd counts, so the cheap end of the front, where such
trials sit, keeps being drawn from), those of the best non-domination ranks, whole ranks
best first until at least max(2, min(ceil(n / 10), 25)) of the n completed trials are in
(:func:`good_count`; MOTPE's split by rank, with the count of good trials that Optuna's
TPESampler uses by default): where trials crowd one part of the front, a density of every
trial that beats the reference would draw there almost always, while the ranks keep the
front's other parts in. Candidates are drawn from ``l`` (:func:`draw`: a good trial's input
plus Gaussian noise, bandwidth per coordinate the good inputs' spread times Scott's factor
k^(-1/(d+4)) for k good trials, at least :data:`MIN_BANDWIDTH`; :func:`bandwidths`), the
proposer rounds them, and the one with the largest ``l / g`` (:func:`log_ratio`) that is not
taken wins.

Where the good ranks come from (``explore_good``): by default the trials that beat the
reference point, so a configuration that only ties it -- at the cheap end of a known
objective, the smallest students that answer "no answer" to everything -- is never good,
and the share draws near the cheap end only once something there beats the reference.
``explore_good="all"`` (a development setting) ranks every completed trial that meets the
constraints, the reference aside, as MOTPE does (Ozaki et al. 2020): the cheapest trials
are on the first rank whatever their other values, and the share keeps drawing near them.
Tried on the distillation task and not adopted there: it drew near the collapsed small
students as meant, and found more collapsed small students, while the hypervolume and the
accurate students' size band fell (``results/distill_dev/README.md``,
``xeon167_explore_all/``).

Along a cost (``Proposer(extend_by="drift")``, a development setting): where an objective
is known in closed form, the settings that make a configuration beat the reference can
drift with its cost -- smaller neural networks train best at larger learning rates (the
trend Kaplan et al. 2020, "Scaling laws for neural language models", fit for the best
learning rate against model size) -- and the good trials nearest a cheaper configuration
then carry settings fitted to their own, larger cost. :func:`cost_slopes` fits that drift by
least squares, one slope per continuous input over the good trials' log cost;
:func:`draw_owned` draws as :func:`draw` does and names each draw's good trial, whose cost
the draw's continuous inputs are then moved from, along the slopes, to the draw's own; and
:func:`parzen_log_density` scores the moved draws against the good trials moved the same
way to each draw's cost (a density of the good inputs conditional on the cost under a
linear drift with Gaussian kernels).

All inputs live in the unit cube (:meth:`mobo.space.Space.encode`); objectives are
minimised, as everywhere in mobo.
"""

from __future__ import annotations

import math

import numpy as np

from mobo.pareto import nondominated_sort

__all__ = ["EXPLORE_GOOD", "MIN_BANDWIDTH", "bandwidths", "cost_slopes", "draw", "draw_owned",
           "drifted", "good_count", "good_trials", "log_ratio", "parzen_log_density"]

# the kernel bandwidth floor, unit-cube units: about one cell of a parameter with ten
# values, so a good trial's neighbours are drawn, not only itself
MIN_BANDWIDTH = 0.05
# where the good ranks come from (``Proposer(explore_good=...)``)
EXPLORE_GOOD: tuple[str, ...] = ("beating", "all")


def good_count(n: int) -> int:
    """How many of n completed trials the exploration share counts as good (at least):
    max(2, min(ceil(n / 10), 25)), Optuna's documented default for its TPESampler."""
    return max(2, min(math.ceil(n / 10), 25))


def good_trials(X: np.ndarray, Y: np.ndarray, ref: np.ndarray, ok: np.ndarray,
                every: bool = False) -> np.ndarray:
    """Indices of the good trials among the (n, d) inputs ``X`` with (n, m) minimised values
    ``Y``: of the completed trials that beat ``ref`` (m,) in every column and meet the
    constraints (``ok``, (n,) bool), taken at face value (with ``every``, of all that meet
    the constraints, ``ref`` aside: MOTPE's split as published, ``explore_good="all"``),
    whole non-domination ranks best first (:func:`mobo.pareto.nondominated_sort`) until at
    least :func:`good_count` (n) are in (MOTPE's split, Ozaki et al. 2020, with Optuna's
    documented default share of good trials). Ranks, not every trial that beats ``ref``:
    where many trials crowd one part of the front (large, accurate students), a density of
    all of them would draw there almost always, while the ranks keep the front's other parts
    in. Face value, not the trust region's credible centres
    (:func:`mobo.trust_region.beating`): a trial that beats ``ref`` by less than
    the GP's sd at the cheap end of a known objective is on the first rank, and the share
    keeps drawing near it, as TPE does, where the trust region would never go; the density
    ``g`` of the trials that failed there limits how often. Fewer than 2 candidates: those
    there are."""
    pool = np.flatnonzero(ok if every else ok & np.all(Y < ref, axis=1))
    if len(pool) < 2:
        return pool
    target = good_count(len(X))
    rank = nondominated_sort(Y[pool])
    # the first rank whose running count reaches the target closes the set
    counts = np.cumsum(np.bincount(rank))
    last = int(np.searchsorted(counts, min(target, len(pool))))
    return pool[rank <= last]


def bandwidths(G: np.ndarray) -> np.ndarray:
    """(d,) per-coordinate kernel bandwidths of the density of the (k, d) good inputs ``G``:
    their spread times Scott's factor k^(-1/(d+4)) (Scott 1992, "Multivariate density
    estimation", ch. 6), at least :data:`MIN_BANDWIDTH`."""
    k, d = G.shape
    return np.maximum(G.std(axis=0) * k ** (-1.0 / (d + 4)), MIN_BANDWIDTH)


def draw(G: np.ndarray, h: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """(n, d) draws from the kernel part of the density of the (k, d) inputs ``G`` with
    bandwidths ``h`` (d,): each a row of ``G`` drawn uniformly plus Gaussian noise of sd
    ``h``, clipped to the unit cube (not rounded: the space rounds)."""
    return draw_owned(G, h, n, rng)[0]


def draw_owned(G: np.ndarray, h: np.ndarray, n: int, rng: np.random.Generator
               ) -> tuple[np.ndarray, np.ndarray]:
    """:func:`draw`'s (n, d) draws (the same random stream) and the (n,) row of ``G`` each
    was drawn around."""
    k, d = G.shape
    owner = rng.integers(k, size=n)
    return np.clip(G[owner] + h * rng.standard_normal((n, d)), 0.0, 1.0), owner


def cost_slopes(X: np.ndarray, t: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """(d,) per column of the (k, d) inputs ``X`` the least-squares slope of that column on
    the (k,) costs ``t`` (an ordinary regression line per column); 0 outside ``columns``
    ((d,) bool), and everywhere with fewer than 3 rows or costs that do not vary."""
    slope = np.zeros(X.shape[1])
    if len(t) < 3:
        return slope
    tc = t - t.mean()
    var = float(tc @ tc)
    if var <= 1e-12 * max(1.0, float(np.abs(t).max()) ** 2):
        return slope
    cols = X[:, columns]
    slope[columns] = tc @ (cols - cols.mean(axis=0)) / var
    return slope


def drifted(G: np.ndarray, t_G: np.ndarray, slope: np.ndarray, t: np.ndarray) -> np.ndarray:
    """(q, k, d): the (k, d) inputs ``G`` of costs ``t_G`` (k,) moved along ``slope`` (d,)
    to each of the (q,) costs ``t``: G + slope * (t - t_G), not clipped (a kernel centre
    may lie outside the cube)."""
    return G[None, :, :] + slope[None, None, :] * (t[:, None, None] - t_G[None, :, None])


def log_ratio(Z: np.ndarray, G: np.ndarray, B: np.ndarray, h: np.ndarray) -> np.ndarray:
    """(q,) log l(z) - log g(z) at the rows of ``Z`` (q, d): ``l`` the density of the good
    inputs ``G`` (k, d), ``g`` that of the others ``B`` (b, d), both with bandwidths ``h``
    (d,) and TPE's uniform prior component (:func:`parzen_log_density`)."""
    return parzen_log_density(Z, G, h) - parzen_log_density(Z, B, h)


def parzen_log_density(Z: np.ndarray, P: np.ndarray, h: np.ndarray) -> np.ndarray:
    """(q,) log density at the rows of ``Z`` (q, d) of the mixture, with equal weights, of
    a Gaussian kernel of per-coordinate bandwidths ``h`` (d,) at each row of ``P`` (n, d)
    and the uniform density on the unit cube (log density 0): the Parzen estimator with
    TPE's prior component (Bergstra et al. 2011), weight 1 / (n + 1) each. ``P`` may also
    be (q, n, d), one set of centres per row of ``Z`` (:func:`drifted`). With ``P`` empty
    it is the uniform density alone."""
    n, d = P.shape[-2:]
    if n == 0:
        return np.zeros(len(Z))
    # centres shared by every query (n, d), or one set per query (q, n, d): drifted()
    u = (Z[:, None, :] - (P[None, :, :] if P.ndim == 2 else P)) / h
    log_k = -0.5 * np.sum(u * u, axis=2) - np.sum(np.log(h)) - 0.5 * d * math.log(2 * math.pi)
    terms = np.hstack([log_k, np.zeros((len(Z), 1))])
    top = terms.max(axis=1, keepdims=True)
    return (top[:, 0] + np.log(np.exp(terms - top).sum(axis=1))) - math.log(n + 1)
