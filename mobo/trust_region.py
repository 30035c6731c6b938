"""The trust region: boxes around the inputs of the front of the trials that beat the reference.

In many dimensions the GP knows little away from the trials, its variance there is the
prior's, and EHVI rewards that variance wherever a good outcome would add volume -- on a
task with a threshold, far from the trials that beat it. A trust region keeps the search
near what works (TuRBO, Eriksson, Pearce, Gardner, Turner & Poloczek 2019, "Scalable global
optimization via local Bayesian optimization"; with several regions around the Pareto set
for several objectives as in MORBO, Daulton, Eriksson, Balandat & Bakshy 2022):

- the centres (:func:`region_centres`) are the inputs of the front formed by the completed trials
  that beat the reference point in every objective and meet the constraints, each weighted
  by its share of the hypervolume it alone dominates (MORBO favours the centres that
  contribute most). A trial that beats the reference by less than its posterior sd
  anchors no box while others beat it credibly (:func:`beating`): a collapsed
  configuration that scores a hair above a threshold by luck would otherwise anchor the
  search where nothing learns;
- each centre has a box of half-width ``radius`` (``Proposer(trust_region=...)``) in the
  unit cube; candidates are Sobol points spread over those boxes, a centre drawn at random
  for each with its weight, and Gaussian perturbations of the centres clipped to their
  boxes (:func:`region_candidates`);
- recombinations of two centres (each parameter from one or the other: uniform crossover,
  Syswerda 1989, "Uniform crossover in genetic algorithms"; :func:`crossovers`) are
  candidates too, and a recombination's box joins the region for that proposal, so what one
  front point does well in some inputs (say, the training settings of a large model) is
  tried with another's other inputs (a smaller model's shape) instead of being searched
  for again near each;
- each L-BFGS-B refinement stays in the box of its start's nearest centre or
  recombination (:func:`region_bounds`); the discrete hill-climb that follows steps only to
  neighbours whose numeric coordinates stay in a box (:func:`in_region`), while a
  categorical may change at each step (a categorical changes only through it: a trust
  region in Hamming distance, as CASMOPOLITAN, Wan et al. 2021, treats categorical inputs).

The region's size is fixed, not adapted; until a trial beats the reference point, the
search is global (:class:`mobo.acquisition.Proposer` then screens the whole space).
:func:`credible_caps` serves the front extension's ``extend_by="split"`` and
``"split_drift"`` (development settings): the smallest known value among the credible
trials.

All inputs live in the unit cube (:meth:`mobo.space.Space.encode`), (n, d) arrays; outputs
are (n, m) arrays, minimised, as everywhere in mobo.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mobo.gp import GP
from mobo.pareto import is_nondominated
from mobo.space import Space
from mobo.volume import hypervolume

__all__ = ["N_CROSSOVERS", "beating", "credible_caps", "crossovers", "in_region",
           "region_bounds", "region_candidates", "region_centres"]

# recombinations of the centres scored per proposal
N_CROSSOVERS = 256


def beating(X: np.ndarray, Y: np.ndarray, ref: np.ndarray, ok: np.ndarray, gp: GP,
            modelled: Sequence[int]) -> np.ndarray:
    """Indices of the completed trials (``X`` (n, d), ``Y`` (n, m)) that beat ``ref`` (m,)
    in every column and meet the constraints (``ok``, (n,) bool), keeping only those that
    beat it credibly -- the GP's posterior mean plus one sd beats it in every ``modelled``
    column (the GP's outputs, in order) -- while any does."""
    inside = ok & np.all(Y < ref, axis=1)
    keep = np.flatnonzero(inside)
    if not len(keep):
        return keep
    cols = list(modelled)
    mean, sd = gp.posterior(X[keep])
    credible = np.all(mean + sd < ref[cols], axis=1)
    return keep[credible] if credible.any() else keep


def credible_caps(X: np.ndarray, Y: np.ndarray, ref: np.ndarray, ok: np.ndarray, gp: GP,
                  modelled: Sequence[int], columns: Sequence[int]) -> np.ndarray | None:
    """``extend_by="split"``'s (and ``"split_drift"``'s) caps, (len(columns),): per known
    column, the smallest value among the trials that beat ``ref`` credibly (:func:`beating`:
    by the GP's posterior sd in every ``modelled`` column, or at face value while none
    does); None when no trial beats it."""
    keep = beating(X, Y, ref, ok, gp, modelled)
    if not len(keep):
        return None
    return Y[keep][:, list(columns)].min(axis=0)


def region_centres(X: np.ndarray, Y: np.ndarray, ref: np.ndarray, ok: np.ndarray, gp: GP,
            modelled: Sequence[int]) -> tuple[np.ndarray, np.ndarray] | None:
    """The region's centres, (k, d) inputs of the front of the trials :func:`beating`
    keeps, and their (k,) weights, each centre's share of the hypervolume that it alone
    dominates (uniform if none dominates any alone); None when no trial beats ``ref``."""
    keep = beating(X, Y, ref, ok, gp, modelled)
    if not len(keep):
        return None
    front = is_nondominated(Y[keep])
    P, F = X[keep][front], Y[keep][front]
    total = hypervolume(F, ref)
    alone = np.array([total - hypervolume(np.delete(F, i, axis=0), ref)
                      for i in range(len(F))])
    alone = np.maximum(alone, 0.0)
    weights = alone / alone.sum() if alone.sum() > 0 else np.full(len(F), 1.0 / len(F))
    return P, weights


def region_candidates(space: Space, centres: np.ndarray, weights: np.ndarray, radius: float,
                      n_local: int, rng: np.random.Generator, n_sobol: int) -> np.ndarray:
    """(n_sobol + n_local * min(k, 16), d) rounded candidates in the boxes of half-width
    ``radius`` around ``centres`` (k, d): Sobol points mapped into the box of a centre drawn
    for each with probability ``weights`` (k,), and ``n_local`` Gaussian perturbations each
    (sd 0.02 or 0.1, as the proposer's global candidates) around the (up to) 16 centres of
    largest weight, clipped to their boxes."""
    seed = int(rng.integers(2**63 - 1))
    U = space.sobol(n_sobol, seed=seed)
    owner = rng.choice(len(centres), size=len(U), p=weights)
    parts = [centres[owner] + (2.0 * U - 1.0) * radius]
    if n_local:
        P = centres
        if len(P) > 16:
            P = P[np.argsort(-weights, kind="stable")[:16]]
        scale = np.where(rng.random((len(P), n_local, 1)) < 0.5, 0.02, 0.1)
        step = np.clip(scale * rng.standard_normal((len(P), n_local, P.shape[1])),
                       -radius, radius)
        parts.append((P[:, None, :] + step).reshape(-1, P.shape[1]))
    return space.round(np.clip(np.vstack(parts), 0.0, 1.0))


def crossovers(space: Space, centres: np.ndarray, weights: np.ndarray,
               rng: np.random.Generator, n: int = N_CROSSOVERS) -> np.ndarray:
    """(n, d) recombinations of the ``centres`` (k, d) when k >= 2, else (0, d): per child
    a first parent drawn with probability ``weights`` (k,), a second drawn uniformly among
    the other centres, a share p ~ U(0, 1), and per parameter of ``space`` (all encoded
    columns of a categorical together) the second parent's value with probability p, the
    first's otherwise (uniform crossover with a random mixing rate; Syswerda 1989)."""
    k, d = centres.shape
    if k < 2:
        return np.zeros((0, d))
    first = rng.choice(k, size=n, p=weights)
    # uniform among the k - 1 others: skip over the first parent's index
    second = rng.integers(k - 1, size=n)
    second = second + (second >= first)
    share = rng.random((n, 1))
    swap = rng.random((n, len(space.params))) < share
    cols = np.empty((n, d), dtype=bool)
    for i, sl in enumerate(space.slices):
        cols[:, sl] = swap[:, i : i + 1]
    return np.where(cols, centres[second], centres[first])


def in_region(space: Space, Z: np.ndarray, centres: np.ndarray, radius: float) -> np.ndarray:
    """(n,) whether each rounded row of ``Z`` (n, d) could come from the box of half-width
    ``radius`` of one of the ``centres`` (k, d) in its numeric (not one-hot) coordinates:
    per coordinate, the stretch that rounds to it (:meth:`mobo.space.Space.cells`) meets the
    box."""
    numeric = space.is_numeric()
    lo, hi = space.cells(Z)
    C = centres[None, :, numeric]
    gap = np.maximum(np.maximum(lo[:, None, numeric] - C, C - hi[:, None, numeric]), 0.0)
    return (gap.max(axis=2, initial=0.0) <= radius + 1e-12).any(axis=1)


def region_bounds(centres: np.ndarray, starts: np.ndarray, radius: float) -> np.ndarray:
    """(s, d, 2) per row of ``starts`` (s, d), the box of half-width ``radius`` of its
    nearest centre of ``centres`` (k, d) in the max-norm, within the unit cube."""
    dist = np.max(np.abs(starts[:, None, :] - centres[None, :, :]), axis=2)
    c = centres[np.argmin(dist, axis=1)]
    return np.stack([np.clip(c - radius, 0.0, 1.0), np.clip(c + radius, 0.0, 1.0)], axis=2)
