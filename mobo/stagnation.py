"""How long a search has stalled: the model proposals since the last one that paid off.

A local search that keeps proposing near the same inputs and no longer gains anything
should look further afield; one that still gains should stay. This counts, for the
trust region of :mod:`mobo.acquisition`, the completed model proposals since the last one
that raised the hypervolume of the front by a clear margin (a *success*). The trust
region widens with that count and returns to its set size after a success: the rule of
variable neighbourhood search (Mladenovic & Hansen 1997, "Variable neighborhood search":
move to a larger neighbourhood when the current one yields no improvement, back to the
smallest after one does), with TuRBO's notion of success as an improvement by a margin
relative to what has been reached (Eriksson et al. 2019).

A gain below the margin is no success: a hair's improvement of the best point, or a
collapsed configuration that happens to land a hair above a threshold, adds a sliver of
volume, and a search that counted slivers as progress would never leave them.

All objectives are minimised; a point counts for the hypervolume only when it is strictly
better than the reference point in every objective (:func:`mobo.volume.hypervolume`).
"""

from __future__ import annotations

import numpy as np

from mobo.volume import hypervolume

__all__ = ["STALL_MARGIN", "stall_length"]

# a model proposal is a success when it raises the hypervolume by at least this share of
# the hypervolume reached before it (any gain counts while that is still zero)
STALL_MARGIN = 0.01


def stall_length(Y: np.ndarray, ref: np.ndarray, model: np.ndarray,
                 margin: float = STALL_MARGIN) -> int:
    """The number of model proposals among the last rows of ``Y`` since the last success.

    Args:
        Y: (n, m) minimised values of the completed trials that count for the front (those
            that meet the constraints), in the order they were asked.
        ref: (m,) reference point.
        model: (n,) whether each row is a model proposal (the initial design's rows are
            no proposals: they neither succeed nor stall, but their volume counts).
        margin: the share of the hypervolume before a proposal that it must add.

    Returns:
        The count of trailing model rows after the last successful model row (all model
        rows when none succeeded); 0 when the last model row succeeded or there is none.
    """
    Y = np.asarray(Y, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    model = np.asarray(model, dtype=bool)
    if Y.ndim != 2 or ref.shape != (Y.shape[1],) or model.shape != (len(Y),):
        raise ValueError(f"Y, ref, model: need (n, m), (m,) and (n,), got {Y.shape}, "
                         f"{ref.shape} and {model.shape}")
    if not margin >= 0.0:
        raise ValueError(f"margin: expected a share >= 0, got {margin!r}")
    stall = 0
    before = 0.0
    for i in range(len(Y)):
        after = hypervolume(Y[: i + 1], ref)
        if model[i]:
            gained = after > before if before == 0.0 else after - before >= margin * before
            stall = 0 if gained else stall + 1
        before = after
    return stall
