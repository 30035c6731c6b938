"""A local pool of worker processes: parallel trials that can be stopped.

The pool is a handful of ``multiprocessing.Process`` workers started with the "spawn"
method (forking a parent that has started torch's thread pools or CUDA is unsafe), each fed
over its own pipe. One worker per trial makes a timeout enforceable: the worker's whole
process group is killed and a fresh worker takes its slot, something a
``concurrent.futures`` pool cannot do to a single task. A worker that dies (killed,
segfault, kernel OOM killer) is replaced the same way and its trial reported abandoned.
Workers ignore SIGINT (Ctrl-C is the driver's to handle) and exit when the driver process
dies, even when it was killed with SIGKILL.

With ``gpus_per_trial`` each worker sees only its share of the visible GPUs through
``CUDA_VISIBLE_DEVICES``, set before the objective can initialise CUDA.
"""

from __future__ import annotations

import math
import multiprocessing as mp
import multiprocessing.connection as mp_connection
import os
import pickle
import signal
import threading
import time
import traceback as traceback_mod
import weakref
from typing import Any

from mobo.executors.base import (
    Deadlines,
    Outcome,
    TrialFn,
    check_common,
    describe_exception,
    run_trial,
)

__all__ = ["ProcessExecutor"]

# how long a worker asked to exit gets before it is killed
_EXIT_GRACE = 5.0


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
        outcome = run_trial(number, fn, params, catch_all=True)
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
        import torch  # only here: a CPU-only pool never pays for importing torch

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
    function or a picklable object (e.g. a :class:`mobo.problems.Problem`). A worker
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
        check_common(workers, trial_timeout, gpus_per_trial)
        self.capacity = workers
        self.trial_timeout = None if trial_timeout is None else float(trial_timeout)
        self._deadlines = Deadlines(self.trial_timeout)
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
        deadlines = self._deadlines
        wait_end = deadlines.wait_end(timeout, time.monotonic())
        while True:
            busy = [(s, w) for s, w in enumerate(self._workers) if w and w.number is not None]
            if not busy:
                return outcomes
            now = time.monotonic()
            for slot, worker in busy:
                if deadlines.expired(worker.started, now):
                    outcomes.append(self._time_out(slot))
            busy = [(s, w) for s, w in busy if w.number is not None]  # timed-out slots are free
            wait_for = deadlines.block_for(
                now, wait_end, [w.started for _, w in busy], bool(outcomes)
            )
            handles: list[Any] = [w.conn for _, w in busy] + [w.process.sentinel for _, w in busy]
            ready = set(mp_connection.wait(handles, timeout=wait_for)) if handles else set()
            for slot, worker in busy:
                if worker.conn in ready or worker.process.sentinel in ready:
                    outcome = self._collect(slot)
                    if outcome is not None:
                        outcomes.append(outcome)
            if outcomes:
                return outcomes
            if deadlines.passed(wait_end, time.monotonic()):
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
            self._deadlines.timeout_error(),
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
