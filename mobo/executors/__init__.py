"""Where trial evaluations run: in this process, in a local process pool, or on Ray.

Every backend implements the :class:`Executor` protocol the study's ``optimize`` loop drives
(``submit`` while there is capacity, ``wait`` for outcomes, repeat) and reports each trial
as completed, failed or abandoned; :mod:`mobo.executors.base` explains the three kinds.

* :mod:`mobo.executors.inline`: :class:`InlineExecutor`, one trial at a time in this process;
* :mod:`mobo.executors.process`: :class:`ProcessExecutor`, a pool of spawned worker
  processes that can time out, kill and replace a single trial's worker;
* :mod:`mobo.executors.ray_backend`: :class:`RayExecutor`, one Ray task per trial (Ray is an
  optional dependency, imported only when this backend is made);
* :mod:`mobo.executors.factory`: :func:`make_executor`, the backend chosen by name.
"""

from __future__ import annotations

from mobo.executors.base import Executor, Outcome, TrialFn, describe_exception
from mobo.executors.factory import BACKENDS, make_executor
from mobo.executors.inline import InlineExecutor
from mobo.executors.process import ProcessExecutor
from mobo.executors.ray_backend import RayExecutor

__all__ = [
    "BACKENDS",
    "Executor",
    "InlineExecutor",
    "Outcome",
    "ProcessExecutor",
    "RayExecutor",
    "TrialFn",
    "describe_exception",
    "make_executor",
]
