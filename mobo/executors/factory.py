"""Choosing an executor by name, as the study and the command line do.

:func:`make_executor` turns the user's settings (backend name, number of workers, trial
timeout, GPUs per trial, Ray address) into one of the backends and refuses combinations
that a backend would silently ignore.
"""

from __future__ import annotations

from mobo.executors.base import Executor, check_common
from mobo.executors.inline import InlineExecutor
from mobo.executors.process import ProcessExecutor
from mobo.executors.ray_backend import RayExecutor

__all__ = ["BACKENDS", "make_executor"]

BACKENDS = ("inline", "process", "ray")


def make_executor(
    backend: str = "inline",
    workers: int = 1,
    *,
    trial_timeout: float | None = None,
    gpus_per_trial: float = 0.0,
    address: str | None = None,
) -> Executor:
    """Build the executor for ``backend`` ("inline", "process" or "ray").

    ``inline`` runs trials in this process; with a ``trial_timeout`` it runs them in a
    single child process instead, the only way to stop a trial stuck in native code.
    ``workers`` must be 1 for ``inline``. ``address`` is a Ray cluster address (``ray``
    only); ``gpus_per_trial`` reserves GPUs per trial on Ray, and pins each pool worker to
    its share of the visible GPUs with ``CUDA_VISIBLE_DEVICES`` for ``process``.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}; got {backend!r}")
    check_common(workers, trial_timeout, gpus_per_trial)
    if address is not None and backend != "ray":
        raise ValueError(f"address is only used by backend 'ray', not {backend!r}")
    if backend == "inline":
        if workers != 1:
            raise ValueError(
                f"backend 'inline' runs one trial at a time (workers=1), got workers={workers}; "
                "use backend 'process' for parallel trials"
            )
        if gpus_per_trial:
            raise ValueError("gpus_per_trial needs backend 'process' or 'ray', not 'inline'")
        if trial_timeout is None:
            return InlineExecutor()
        return ProcessExecutor(1, trial_timeout=trial_timeout)
    if backend == "process":
        return ProcessExecutor(workers, trial_timeout=trial_timeout, gpus_per_trial=gpus_per_trial)
    return RayExecutor(
        workers, trial_timeout=trial_timeout, gpus_per_trial=gpus_per_trial, address=address
    )
