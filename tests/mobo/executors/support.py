"""Objectives and checks shared by the executor tests.

The objectives live at module level in an importable module so that spawned pool workers
and Ray workers can unpickle them by name.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

from mobo.executors import Executor, Outcome, TrialFn


# ------------------------------------------------------------------ objectives (module level)
def quick(params: dict) -> dict:
    return {"f0": float(params["x"]) ** 2, "f1": 1.0 - float(params["x"]), "pid": os.getpid()}


def wait_for_file(params: dict) -> dict:
    """Finish only once the file exists (or give up after 30 s): a trial that is slow for as
    long as the test wants, without depending on timing."""
    deadline = time.monotonic() + 30.0
    while not os.path.exists(params["go"]):
        if time.monotonic() > deadline:
            return {"gave_up": 1.0}
        time.sleep(0.02)
    return {"f0": float(params["x"])}


def raises(params: dict) -> dict:
    raise ValueError(f"learning rate {params['x']} diverged\nloss=nan")


def memory_error(params: dict) -> dict:
    raise MemoryError("cannot allocate 64.0 GiB for the attention scores")


def cuda_oom(params: dict) -> dict:
    # torch is heavy: the workers that run the other objectives should not load it
    import torch

    raise torch.cuda.OutOfMemoryError(
        "CUDA out of memory. Tried to allocate 20.00 GiB (GPU 0; 15.78 GiB total capacity)"
    )


def sleeps(params: dict) -> dict:
    time.sleep(float(params["sleep"]))
    return {"f0": 0.0}


def kills_itself(params: dict) -> dict:
    os.kill(os.getpid(), signal.SIGKILL)
    return {"f0": 0.0}  # never reached


def records_pid_then_sleeps(params: dict) -> dict:
    Path(params["pidfile"]).write_text(str(os.getpid()))
    time.sleep(60)
    return {"f0": 0.0}


def returns_list(params: dict) -> list:
    return [1.0, 2.0]


def returns_text_metric(params: dict) -> dict:
    return {"f0": "high"}


def exits(params: dict) -> dict:
    sys.exit(3)


def interrupted(params: dict) -> dict:
    raise KeyboardInterrupt


class CountingObjective:
    """Keeps state in the instance: a worker that keeps the objective keeps the count."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, params: dict) -> dict:
        self.calls += 1
        return {"calls": float(self.calls), "pid": os.getpid()}


# ------------------------------------------------------------------ helpers
def drain(executor: Executor, timeout: float = 60.0) -> list[Outcome]:
    """Every outcome, in the order the executor reported them."""
    outcomes: list[Outcome] = []
    deadline = time.monotonic() + timeout
    while executor.running():
        assert time.monotonic() < deadline, f"trials {executor.running()} still running"
        outcomes += executor.wait(timeout=max(0.0, deadline - time.monotonic()))
    return outcomes


def run_one(executor: Executor, fn: TrialFn, params: dict | None = None) -> Outcome:
    executor.submit(7, fn, params or {"x": 0.5})
    [outcome] = drain(executor)
    assert outcome.number == 7
    return outcome


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers kill(0); it is dead for our purposes
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def wait_until(predicate: Callable[[], bool], timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def check_asynchronous(executor: Executor, tmp_path: Path) -> None:
    """A slow trial submitted first must not hold back a fast one submitted after it, and the
    freed slot takes new work while the slow trial still runs."""
    go = tmp_path / "go"
    executor.submit(0, wait_for_file, {"x": 3.0, "go": str(go)})
    executor.submit(1, quick, {"x": 0.5})
    assert sorted(executor.running()) == [0, 1]
    first = executor.wait(timeout=60)
    assert [o.number for o in first] == [1]
    assert first[0].status == "completed" and first[0].values["f0"] == 0.25
    executor.submit(2, quick, {"x": 2.0})  # the free slot, while trial 0 still runs
    second = executor.wait(timeout=60)
    assert [(o.number, o.values["f0"]) for o in second] == [(2, 4.0)]
    assert executor.running() == [0]
    go.touch()
    [last] = drain(executor)
    assert (last.number, last.status, last.values) == (0, "completed", {"f0": 3.0})


def check_failures(executor: Executor) -> None:
    """Raising objectives fail with "ExcType: message" on one line; the pool carries on."""
    failed = run_one(executor, raises, {"x": 0.3})
    assert failed.status == "failed" and failed.values is None
    assert failed.error == "ValueError: learning rate 0.3 diverged loss=nan"
    assert "in raises" in (failed.traceback or "")
    oom = run_one(executor, memory_error)
    assert (oom.status, oom.error) == (
        "failed",
        "MemoryError: cannot allocate 64.0 GiB for the attention scores",
    )
    assert run_one(executor, quick).status == "completed"
