"""Where trial evaluations run: in this process, in a local process pool, or on Ray.

Every backend implements the small :class:`Executor` protocol the study's ``optimize`` loop
drives: ``submit`` a trial when ``len(running()) < capacity``, ``wait`` for at least one
:class:`Outcome`, repeat. The pool is asynchronous -- a worker that finishes gets the next
trial at once, while the others keep running -- which is what lets the optimizer propose
each new point conditioned on the ones still pending (Ginsbourger et al. 2010, "Kriging is
well-suited to parallelize optimization", for the asynchronous batch setting).

Outcomes keep the study's three kinds apart (DESIGN.md §3):

* ``completed``: ``fn`` returned a mapping of metric name to number;
* ``failed``: the trial's parameters caused it -- ``fn`` raised (any exception, including
  ``MemoryError`` and ``torch.cuda.OutOfMemoryError``; ``error`` is ``"ExcType: message"``),
  returned something that is not a mapping of numbers, or ran past ``trial_timeout``
  (``"timed out after X s"``);
* ``abandoned``: the infrastructure failed -- the worker process died (killed, segfault,
  kernel OOM killer, Ray worker or node crash) or the executor was shut down with
  ``cancel=True``. The study re-proposes such trials instead of learning from them.

The process pool is a handful of ``multiprocessing.Process`` workers started with the
"spawn" method (forking a parent that has started torch's thread pools or CUDA is unsafe),
each fed over its own pipe. One worker per trial makes a timeout enforceable: the worker's
whole process group is killed and a fresh worker takes its slot, something a
``concurrent.futures`` pool cannot do to a single task. Workers ignore SIGINT (Ctrl-C is
the driver's to handle) and exit when the driver process dies.

Ray is optional (``pip install 'mobo[ray]'``) and imported only when that backend is made.
"""

from __future__ import annotations

import math
import multiprocessing as mp
import multiprocessing.connection as mp_connection
import os
import pickle
import signal
import sys
import threading
import time
import traceback as traceback_mod
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

__all__ = [
    "BACKENDS",
    "Executor",
    "InlineExecutor",
    "Outcome",
    "ProcessExecutor",
    "RayExecutor",
    "make_executor",
]

BACKENDS = ("inline", "process", "ray")

# longest error text kept in an Outcome (the journal stores it once per failed trial)
_MAX_ERROR = 2000
# how long a worker asked to exit gets before it is killed
_EXIT_GRACE = 5.0

TrialFn = Callable[[dict], Mapping[str, float]]


@dataclass
class Outcome:
    """How one trial ended.

    Attributes:
        number: the trial number given to ``submit``.
        status: ``"completed"``, ``"failed"`` or ``"abandoned"``.
        values: metric name -> float as ``fn`` returned them (``completed`` only); the study
            validates names and finiteness.
        error: one-line error text (``failed`` / ``abandoned``), e.g. ``"ValueError: bad lr"``.
        duration: seconds the trial ran (for timeouts and dead workers: until detected).
        traceback: the full Python traceback where ``fn`` raised, else ``None``.
    """

    number: int
    status: str
    values: dict[str, float] | None
    error: str | None
    duration: float
    traceback: str | None = None


@runtime_checkable
class Executor(Protocol):
    """Runs trials, at most ``capacity`` at once, and reports how each ended."""

    capacity: int

    def submit(self, number: int, fn: TrialFn, params: dict) -> None:
        """Start evaluating ``fn(params)`` as trial ``number``; needs a free slot."""
        ...

    def wait(self, timeout: float | None = None) -> list[Outcome]:
        """Block until at least one outcome is ready (``[]`` after ``timeout`` seconds, or
        at once when nothing is running); returns every outcome ready by then."""
        ...

    def running(self) -> list[int]:
        """Numbers of the trials submitted whose outcome has not been returned yet."""
        ...

    def shutdown(self, cancel: bool = False) -> None:
        """Release the workers. ``cancel=False`` lets running trials finish first (their
        outcomes are dropped: ``wait`` for them before); ``cancel=True`` stops them now."""
        ...


# ------------------------------------------------------------------------------ helpers
def _one_line(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= _MAX_ERROR else line[: _MAX_ERROR - 3] + "..."


def describe_exception(exc: BaseException) -> str:
    """``"ExcType: message"`` on one line (just ``"ExcType"`` when the message is empty)."""
    name = type(exc).__name__
    try:
        text = str(exc)
    except Exception:  # noqa: BLE001 - a broken __str__ must not hide the failure itself
        text = "<exception message could not be rendered>"
    message = _one_line(f"{name}: {text}")
    return message if message != f"{name}:" else name


def _as_values(result: Any) -> dict[str, float]:
    """Check that ``fn`` returned a mapping of metric names to numbers; floats out."""
    if not isinstance(result, Mapping):
        raise TypeError(
            f"the objective returned {type(result).__name__}, expected a mapping of "
            "metric name to number"
        )
    values: dict[str, float] = {}
    for key, value in result.items():
        if not isinstance(key, str):
            raise TypeError(f"the objective returned a metric name {key!r} that is not a string")
        try:
            values[key] = float(value)
        except (TypeError, ValueError):
            raise TypeError(
                f"the objective returned metric {key!r} = {value!r}, which is not a number"
            ) from None
    return values


def _run_trial(number: int, fn: TrialFn, params: dict, *, catch_all: bool) -> Outcome:
    """Evaluate one trial in the current process and classify the result.

    ``catch_all`` also turns ``KeyboardInterrupt``/``SystemExit`` into failures: right in a
    worker process (a trial that exits must not look like a dead worker, which would be
    re-proposed forever), wrong inline, where they must stop the driver.
    """
    start = time.perf_counter()
    caught: tuple[type[BaseException], ...] = (BaseException,) if catch_all else (Exception,)
    try:
        values = _as_values(fn(dict(params)))
    except caught as exc:
        return Outcome(
            number,
            "failed",
            None,
            describe_exception(exc),
            time.perf_counter() - start,
            traceback_mod.format_exc(),
        )
    return Outcome(number, "completed", values, None, time.perf_counter() - start)


def _check_common(workers: int, trial_timeout: float | None, gpus_per_trial: float) -> None:
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be an integer >= 1, got {workers!r}")
    if trial_timeout is not None and (
        isinstance(trial_timeout, bool)
        or not isinstance(trial_timeout, (int, float))
        or not math.isfinite(trial_timeout)
        or trial_timeout <= 0
    ):
        raise ValueError(
            f"trial_timeout must be a positive number of seconds, got {trial_timeout!r}"
        )
    if (
        isinstance(gpus_per_trial, bool)
        or not isinstance(gpus_per_trial, (int, float))
        or not math.isfinite(gpus_per_trial)
        or gpus_per_trial < 0
    ):
        raise ValueError(f"gpus_per_trial must be a number >= 0, got {gpus_per_trial!r}")
    if gpus_per_trial > 1 and gpus_per_trial != int(gpus_per_trial):
        raise ValueError(
            f"gpus_per_trial above 1 must be a whole number of GPUs, got {gpus_per_trial!r}"
        )


# ------------------------------------------------------------------------------ inline
class InlineExecutor:
    """Runs each trial in this process, one at a time, when ``wait`` is called.

    Exceptions from ``fn`` become failed outcomes; ``KeyboardInterrupt`` propagates (the
    trial stays in ``running()`` so the caller can abandon it). No timeout is possible here:
    ``make_executor("inline", trial_timeout=...)`` returns a one-worker process pool instead.
    """

    capacity = 1

    def __init__(self) -> None:
        self._queued: list[tuple[int, TrialFn, dict]] = []

    def submit(self, number: int, fn: TrialFn, params: dict) -> None:
        if self._queued:
            raise RuntimeError(f"executor is full: trial {self._queued[0][0]} is still pending")
        self._queued.append((number, fn, params))

    def wait(self, timeout: float | None = None) -> list[Outcome]:
        if not self._queued:
            return []
        number, fn, params = self._queued[0]
        outcome = _run_trial(number, fn, params, catch_all=False)
        self._queued.pop()
        return [outcome]

    def running(self) -> list[int]:
        return [number for number, _, _ in self._queued]

    def shutdown(self, cancel: bool = False) -> None:
        self._queued.clear()

    def __enter__(self) -> InlineExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown(cancel=True)


# ------------------------------------------------------------------------------ process pool
def _watch_parent() -> None:
    """Exit this worker as soon as the driver process is gone (even if it was SIGKILLed)."""
    parent = mp.parent_process()
    if parent is None:  # pragma: no cover - always set for a multiprocessing child
        return
    mp_connection.wait([parent.sentinel])
    os._exit(70)


def _worker_main(conn: mp_connection.Connection, cuda_devices: str | None) -> None:
    """Worker loop: receive ``(number, fn_blob | None, params)``, run it, send the outcome.

    Messages back: ``("started", number)`` just before ``fn`` runs (the timeout clock starts
    there, so a slow worker start-up or import does not count), then ``("done", Outcome)``.
    ``fn_blob`` is ``None`` when the objective is the same as the previous trial's, so an
    objective that loads heavy state lazily keeps it across trials in the same worker.
    """
    # own process group: a timeout kills the trial's children (data loaders...) with it
    os.setpgrp()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if cuda_devices is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = cuda_devices
    threading.Thread(target=_watch_parent, daemon=True, name="mobo-parent-watch").start()
    fn: TrialFn | None = None
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        number, blob, params = message
        if blob is not None:
            try:
                fn = pickle.loads(blob)
            except BaseException as exc:  # noqa: BLE001 - reported, not fatal to the worker
                fn = None
                outcome = Outcome(
                    number,
                    "failed",
                    None,
                    f"could not load the objective in the worker process: "
                    f"{describe_exception(exc)}",
                    0.0,
                    traceback_mod.format_exc(),
                )
                conn.send(("done", outcome))
                continue
        if fn is None:  # the last objective sent failed to load
            conn.send(("done", Outcome(number, "failed", None, "objective not loaded", 0.0)))
            continue
        conn.send(("started", number))
        outcome = _run_trial(number, fn, params, catch_all=True)
        try:
            conn.send(("done", outcome))
        except Exception as exc:  # noqa: BLE001 - e.g. an unpicklable traceback string? report
            conn.send(
                (
                    "done",
                    Outcome(
                        number,
                        "failed",
                        None,
                        f"could not send the result back: {describe_exception(exc)}",
                        outcome.duration,
                    ),
                )
            )


class _Worker:
    """The driver's view of one worker process."""

    def __init__(self, ctx: Any, cuda_devices: str | None) -> None:
        parent_conn, child_conn = ctx.Pipe(duplex=True)
        self.process = ctx.Process(
            target=_worker_main,
            args=(child_conn, cuda_devices),
            name="mobo-worker",
            daemon=False,  # a trial may start processes of its own (data loaders)
        )
        self.process.start()
        child_conn.close()
        self.conn: mp_connection.Connection = parent_conn
        self.cuda_devices = cuda_devices
        self.number: int | None = None  # trial running here
        self.submitted = 0.0
        self.started: float | None = None  # when the worker reported the trial started
        self.blob: bytes | None = None  # objective the worker holds

    def kill(self) -> None:
        """Kill the worker and everything it started, then reap it."""
        pid = self.process.pid
        if pid is not None and self.process.exitcode is None:
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass  # group not created yet (still starting) or already gone
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.process.join(_EXIT_GRACE)
        self.conn.close()

    def stop(self) -> None:
        """Ask an idle worker to exit; kill it if it does not."""
        try:
            self.conn.send(None)
        except OSError:
            pass
        self.process.join(_EXIT_GRACE)
        self.kill()


def _reap(workers: list[_Worker | None]) -> None:
    for worker in workers:
        if worker is not None:
            worker.kill()


def _death_text(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        return f"worker process died ({name})"
    return f"worker process died (exit code {exitcode})"


def _cuda_assignment(workers: int, gpus_per_trial: float) -> list[str | None]:
    """CUDA_VISIBLE_DEVICES for each worker slot: ``gpus_per_trial`` GPUs each (shared when
    fractional), taken in order from the GPUs this process sees."""
    if gpus_per_trial == 0:
        return [None] * workers
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        devices = [d.strip() for d in visible.split(",") if d.strip()]
    else:
        import torch

        devices = [str(i) for i in range(torch.cuda.device_count())]
    needed = math.ceil(workers * gpus_per_trial - 1e-9)
    if needed > len(devices):
        raise ValueError(
            f"gpus_per_trial={gpus_per_trial} x workers={workers} needs {needed} GPUs, "
            f"but {len(devices)} are visible"
        )
    if gpus_per_trial >= 1:
        k = int(gpus_per_trial)
        return [",".join(devices[i * k : (i + 1) * k]) for i in range(workers)]
    return [devices[int(i * gpus_per_trial + 1e-9)] for i in range(workers)]


class ProcessExecutor:
    """A pool of ``workers`` spawned processes, one trial each at a time, asynchronous.

    ``fn`` and ``params`` are pickled to the worker, so ``fn`` must be a module-level
    function or a picklable object (e.g. a :class:`benchmarks.problems.Problem`). A worker
    keeps the unpickled objective between trials while it does not change.
    """

    def __init__(
        self,
        workers: int = 1,
        *,
        trial_timeout: float | None = None,
        gpus_per_trial: float = 0.0,
        start_method: str = "spawn",
    ) -> None:
        _check_common(workers, trial_timeout, gpus_per_trial)
        self.capacity = workers
        self.trial_timeout = None if trial_timeout is None else float(trial_timeout)
        self._ctx = mp.get_context(start_method)
        self._devices = _cuda_assignment(workers, gpus_per_trial)
        self._workers: list[_Worker | None] = [None] * workers
        self._ready: list[Outcome] = []  # outcomes found outside wait(), returned by it
        self._closed = False
        # kill leftover workers if the executor is dropped or the interpreter exits
        # (registered after multiprocessing's own exit hook, so it runs before it joins)
        self._finalizer = weakref.finalize(self, _reap, self._workers)
        for slot in range(workers):
            self._workers[slot] = _Worker(self._ctx, self._devices[slot])

    # -- protocol
    def submit(self, number: int, fn: TrialFn, params: dict) -> None:
        if self._closed:
            raise RuntimeError("executor is shut down")
        slot = self._free_slot()
        if slot is None:
            raise RuntimeError(f"executor is full: {self.capacity} trials are running")
        try:
            blob = pickle.dumps(fn, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:
            raise TypeError(
                "trials run in worker processes, so the objective must be picklable "
                f"(a module-level function or object): {describe_exception(exc)}"
            ) from None
        worker = self._workers[slot]
        assert worker is not None
        send_blob = None if blob == worker.blob else blob
        try:
            message = pickle.dumps((number, send_blob, dict(params)), pickle.HIGHEST_PROTOCOL)
        except Exception as exc:
            raise TypeError(
                f"trial parameters are not picklable: {describe_exception(exc)}"
            ) from None
        worker.number = number
        worker.submitted = time.monotonic()
        worker.started = None
        try:
            worker.conn.send_bytes(message)
        except OSError:  # died between the liveness check and now
            self._ready.append(self._abandon(slot))
            return
        worker.blob = blob

    def wait(self, timeout: float | None = None) -> list[Outcome]:
        outcomes, self._ready = self._ready, []
        deadline = None if timeout is None else time.monotonic() + max(0.0, timeout)
        while True:
            busy = [(s, w) for s, w in enumerate(self._workers) if w and w.number is not None]
            if not busy:
                return outcomes
            now = time.monotonic()
            if self.trial_timeout is not None:
                for slot, worker in busy:
                    if worker.started is not None and now - worker.started >= self.trial_timeout:
                        outcomes.append(self._time_out(slot))
            wait_for = 0.0 if outcomes else None
            if deadline is not None:
                wait_for = max(0.0, deadline - now) if wait_for is None else 0.0
            if self.trial_timeout is not None:
                starts = [
                    w.started for _, w in busy if w.started is not None and w.number is not None
                ]
                if starts:
                    until = max(0.0, min(starts) + self.trial_timeout - now)
                    wait_for = until if wait_for is None else min(wait_for, until)
            busy = [(s, w) for s, w in busy if w.number is not None]
            handles: list[Any] = [w.conn for _, w in busy] + [w.process.sentinel for _, w in busy]
            ready = set(mp_connection.wait(handles, timeout=wait_for)) if handles else set()
            for slot, worker in busy:
                if worker.conn in ready or worker.process.sentinel in ready:
                    outcome = self._collect(slot)
                    if outcome is not None:
                        outcomes.append(outcome)
            if outcomes:
                return outcomes
            if deadline is not None and time.monotonic() >= deadline:
                return []

    def running(self) -> list[int]:
        return [w.number for w in self._workers if w is not None and w.number is not None]

    def shutdown(self, cancel: bool = False) -> None:
        if self._closed:
            return
        self._closed = True
        if not cancel:
            while self.running():
                self.wait()
        for slot, worker in enumerate(self._workers):
            if worker is None:
                continue
            if worker.number is not None:
                worker.kill()
            else:
                worker.stop()
            self._workers[slot] = None
        self._ready.clear()
        self._finalizer.detach()

    def __enter__(self) -> ProcessExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown(cancel=True)

    # -- internals
    def _free_slot(self) -> int | None:
        for slot, worker in enumerate(self._workers):
            if worker is None or worker.number is None:
                if worker is None or not worker.process.is_alive():
                    self._replace(slot)
                return slot
        return None

    def _replace(self, slot: int) -> None:
        old = self._workers[slot]
        if old is not None:
            old.kill()
        self._workers[slot] = _Worker(self._ctx, self._devices[slot])

    def _abandon(self, slot: int) -> Outcome:
        worker = self._workers[slot]
        assert worker is not None and worker.number is not None
        worker.process.join(1.0)
        outcome = Outcome(
            worker.number,
            "abandoned",
            None,
            _death_text(worker.process.exitcode),
            time.monotonic() - worker.submitted,
        )
        self._replace(slot)
        return outcome

    def _time_out(self, slot: int) -> Outcome:
        worker = self._workers[slot]
        assert worker is not None and worker.number is not None and worker.started is not None
        outcome = Outcome(
            worker.number,
            "failed",
            None,
            f"timed out after {self.trial_timeout:g} s",
            time.monotonic() - worker.started,
        )
        worker.number = None
        self._replace(slot)
        return outcome

    def _collect(self, slot: int) -> Outcome | None:
        """Read what a busy worker sent; an outcome, or an abandonment if it died."""
        worker = self._workers[slot]
        assert worker is not None
        try:
            while worker.conn.poll():
                kind, payload = worker.conn.recv()
                if kind == "started":
                    worker.started = time.monotonic()
                elif kind == "done":
                    worker.number = None
                    if not worker.process.is_alive():  # finished, then died: fresh slot
                        self._replace(slot)
                    return payload
        except (EOFError, OSError):
            pass
        if worker.process.is_alive():
            return None
        return self._abandon(slot)


# ------------------------------------------------------------------------------ ray
def _import_ray() -> Any:
    try:
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


def _ray_trial(number: int, fn: TrialFn, params: dict) -> Any:
    """Body of each Ray task, a generator: first ``None`` (the trial has started, so the
    driver starts its timeout clock; queueing for resources does not count), then the
    :class:`Outcome`, classified on the worker exactly as the process pool does."""
    yield None
    yield _run_trial(number, fn, params, catch_all=True)


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
        _check_common(workers, trial_timeout, gpus_per_trial)
        ray = _import_ray()
        self._ray = ray
        self.capacity = workers
        self.trial_timeout = None if trial_timeout is None else float(trial_timeout)
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
        deadline = None if timeout is None else time.monotonic() + max(0.0, timeout)
        while self._trials:
            now = time.monotonic()
            if self.trial_timeout is not None:
                for generator, trial in list(self._trials.items()):
                    if trial.started is not None and now - trial.started >= self.trial_timeout:
                        ray.cancel(generator, force=True)
                        del self._trials[generator]
                        outcomes.append(
                            Outcome(
                                trial.number,
                                "failed",
                                None,
                                f"timed out after {self.trial_timeout:g} s",
                                now - trial.started,
                            )
                        )
            if not self._trials:
                break
            wait_for = 0.0 if outcomes else None
            if deadline is not None:
                wait_for = max(0.0, deadline - now) if wait_for is None else 0.0
            starts = [t.started for t in self._trials.values() if t.started is not None]
            if self.trial_timeout is not None and starts:
                until = max(0.0, min(starts) + self.trial_timeout - now)
                wait_for = until if wait_for is None else min(wait_for, until)
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
            if deadline is not None and time.monotonic() >= deadline:
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


# ------------------------------------------------------------------------------ factory
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
    _check_common(workers, trial_timeout, gpus_per_trial)
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
