"""Trials as Ray tasks: one machine or a cluster, with GPUs reserved per trial.

Each trial is a Ray task; the optimizer stays in the driver. The task streams two items, a
start marker and then the :class:`~mobo.executors.base.Outcome` the worker classified, so
the trial's timeout counts from when it started rather than from when it was queued. Ray
never retries a task here: a crashed worker or node is reported as an abandoned trial and
the study decides what runs next.

Without a cluster address a private Ray instance is started on this machine, reachable only
through 127.0.0.1 and with the dashboard off. Ray is optional (``pip install 'mobo[ray]'``):
it is imported only when this backend is made, so the other backends work without it.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from mobo.executors.base import (
    Deadlines,
    Outcome,
    TrialFn,
    check_common,
    describe_exception,
    run_trial,
)

__all__ = ["RayExecutor"]


def _import_ray() -> Any:
    """The ``ray`` module, or an ImportError that says how to install it."""
    try:
        # imported here, not at the top: Ray is an optional extra, and a heavy import that
        # users of the inline and process backends should not pay for or need
        import ray
    except ImportError:
        raise ImportError("backend 'ray' needs: pip install 'mobo[ray]'") from None
    return ray


def _driver_pythonpath() -> str:
    """This process's import path as a PYTHONPATH, for the workers of a local Ray instance."""
    entries = [os.path.abspath(p or os.curdir) for p in sys.path]
    entries += os.environ.get("PYTHONPATH", "").split(os.pathsep)
    return os.pathsep.join(dict.fromkeys(p for p in entries if p and os.path.isdir(p)))


def _start_local_ray(ray: Any, num_cpus: int) -> None:
    """Start a private Ray instance on this machine, reachable only through 127.0.0.1.

    Ray on Linux replaces a loopback ``_node_ip_address`` with the machine's routable
    address and its servers then listen on every interface; its own single-machine mode
    (used on macOS/Windows) keeps everything on loopback, so that mode is switched on for
    the duration of ``ray.init``. Workers get this process's import path, so an objective
    defined in an uninstalled checkout or a test module imports there as it does here.
    """
    saved_path = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = _driver_pythonpath()  # inherited by the raylet and workers
    try:
        constants = ray._private.ray_constants
        saved_flag = getattr(constants, "ENABLE_RAY_CLUSTER", None)
    except AttributeError:  # pragma: no cover - a Ray without this switch
        constants, saved_flag = None, None
    try:
        if saved_flag is not None:
            constants.ENABLE_RAY_CLUSTER = False
        ray.init(
            address="local",  # never join a cluster named only by the environment
            include_dashboard=False,
            _node_ip_address="127.0.0.1",
            num_cpus=num_cpus,
            log_to_driver=True,
        )
    finally:
        if saved_flag is not None:
            constants.ENABLE_RAY_CLUSTER = saved_flag
        if saved_path is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = saved_path


def _ray_trial(number: int, fn: TrialFn, params: dict) -> Iterator[Outcome | None]:
    """Body of each Ray task, a generator: first ``None`` (the trial has started, so the
    driver starts its timeout clock; queueing for resources does not count), then the
    :class:`Outcome`, classified on the worker exactly as the process pool does."""
    yield None
    yield run_trial(number, fn, params, catch_all=True)


@dataclass
class _RayTrial:
    number: int
    submitted: float
    started: float | None = None


class RayExecutor:
    """Each trial a Ray task with ``num_gpus=gpus_per_trial``; the optimizer stays here.

    Connects to ``address`` when given (a cluster the user runs, where ``mobo`` and the
    objective's module must be importable); otherwise, unless Ray is already initialised in
    this process, starts a local instance bound to 127.0.0.1 with the dashboard off, which
    :meth:`shutdown` stops again. Ray never retries a task: a crashed worker is reported
    abandoned and the study decides what runs next. Timeouts cancel the task with
    ``ray.cancel(force=True)``, which kills its worker process.
    """

    def __init__(
        self,
        workers: int = 1,
        *,
        trial_timeout: float | None = None,
        gpus_per_trial: float = 0.0,
        address: str | None = None,
    ) -> None:
        check_common(workers, trial_timeout, gpus_per_trial)
        ray = _import_ray()
        self._ray = ray
        self.capacity = workers
        self.trial_timeout = None if trial_timeout is None else float(trial_timeout)
        self._deadlines = Deadlines(self.trial_timeout)
        self._owns_ray = False
        if not ray.is_initialized():
            if address:
                ray.init(address=address, log_to_driver=True)
            else:
                # enough CPU slots that `workers` one-CPU trials really run at once
                _start_local_ray(ray, max(workers, os.cpu_count() or 1))
            self._owns_ray = True
        self._task = ray.remote(_ray_trial).options(
            num_cpus=1,
            num_gpus=gpus_per_trial,
            num_returns="streaming",
            max_retries=0,
            retry_exceptions=False,
            name="mobo-trial",
        )
        self._fn: Any = None  # the objective last put in the object store, and its ref
        self._fn_ref: Any = None
        self._trials: dict[Any, _RayTrial] = {}  # streaming generator -> its trial
        self._closed = False

    def submit(self, number: int, fn: TrialFn, params: dict) -> None:
        if self._closed:
            raise RuntimeError("executor is shut down")
        if len(self._trials) >= self.capacity:
            raise RuntimeError(f"executor is full: {self.capacity} trials are running")
        if fn is not self._fn:  # ship a big objective once, not with every task
            self._fn_ref = self._ray.put(fn)
            self._fn = fn
        generator = self._task.remote(number, self._fn_ref, dict(params))
        self._trials[generator] = _RayTrial(number, time.monotonic())

    def wait(self, timeout: float | None = None) -> list[Outcome]:
        ray = self._ray
        outcomes: list[Outcome] = []
        deadlines = self._deadlines
        wait_end = deadlines.wait_end(timeout, time.monotonic())
        while self._trials:
            now = time.monotonic()
            for generator, trial in list(self._trials.items()):
                if deadlines.expired(trial.started, now):
                    assert trial.started is not None
                    ray.cancel(generator, force=True)
                    del self._trials[generator]
                    outcomes.append(
                        Outcome(
                            trial.number,
                            "failed",
                            None,
                            deadlines.timeout_error(),
                            now - trial.started,
                        )
                    )
            if not self._trials:
                break
            starts = [t.started for t in self._trials.values()]
            wait_for = deadlines.block_for(now, wait_end, starts, bool(outcomes))
            pending = list(self._trials)
            ready, rest = ray.wait(pending, num_returns=1, timeout=wait_for)
            if ready and rest:  # collect every other item that is ready too
                more, _ = ray.wait(rest, num_returns=len(rest), timeout=0)
                ready += more
            for generator in ready:
                outcome = self._next_item(generator)
                if outcome is not None:
                    outcomes.append(outcome)
            if outcomes:
                break
            if deadlines.passed(wait_end, time.monotonic()):
                break
        return outcomes

    def _next_item(self, generator: Any) -> Outcome | None:
        """Consume one ready item of a trial's stream: its start marker or its outcome."""
        ray = self._ray
        trial = self._trials[generator]
        try:
            item = ray.get(next(generator))
        except StopIteration:  # pragma: no cover - the stream always ends with an outcome
            item = Outcome(trial.number, "abandoned", None, "trial ended without a result", 0.0)
        except ray.exceptions.OutOfMemoryError as exc:
            # Ray's memory monitor killed the task for using too much host memory
            item = self._outcome(trial, "failed", describe_exception(exc))
        except ray.exceptions.RayTaskError as exc:
            # the task body catches everything, so this failed around it (e.g. the objective
            # could not be deserialised on the worker): the trial cannot run as given
            cause = exc.cause if getattr(exc, "cause", None) is not None else exc
            item = self._outcome(trial, "failed", describe_exception(cause))
        except ray.exceptions.RayError as exc:
            # worker or node crash, lost object, cancelled: infrastructure
            item = self._outcome(trial, "abandoned", describe_exception(exc))
        if item is None:
            trial.started = time.monotonic()
            return None
        del self._trials[generator]
        return item

    @staticmethod
    def _outcome(trial: _RayTrial, status: str, error: str) -> Outcome:
        since = trial.started if trial.started is not None else trial.submitted
        return Outcome(trial.number, status, None, error, time.monotonic() - since)

    def running(self) -> list[int]:
        return [trial.number for trial in self._trials.values()]

    def shutdown(self, cancel: bool = False) -> None:
        if self._closed:
            return
        self._closed = True
        ray = self._ray
        if not cancel:
            while self._trials:
                self.wait()
        for generator in self._trials:
            ray.cancel(generator, force=True)
        self._trials.clear()
        self._fn = self._fn_ref = None
        if self._owns_ray:
            ray.shutdown()

    def __enter__(self) -> RayExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown(cancel=True)
