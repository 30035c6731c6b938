"""InlineExecutor: trials run in the test's own process, and how each kind of end is told."""

from __future__ import annotations

import os
import time

import pytest

from mobo.executors import InlineExecutor, make_executor
from tests.mobo.executors.support import (
    check_failures,
    cuda_oom,
    interrupted,
    quick,
    returns_list,
    returns_text_metric,
    run_one,
    sleeps,
)


def test_inline_runs_and_classifies() -> None:
    ex = InlineExecutor()
    assert ex.wait(timeout=0) == [] and ex.running() == []
    ok = run_one(ex, quick, {"x": 3})
    assert ok.status == "completed" and ok.values == {"f0": 9.0, "f1": -2.0, "pid": os.getpid()}
    assert ok.error is None and ok.duration >= 0
    check_failures(ex)
    bad = run_one(ex, returns_list)
    assert bad.status == "failed" and bad.error.startswith("TypeError: the objective returned list")
    bad = run_one(ex, returns_text_metric)
    assert bad.status == "failed" and "metric 'f0' = 'high'" in bad.error
    ex.submit(1, quick, {"x": 1})
    with pytest.raises(RuntimeError, match="full"):
        ex.submit(2, quick, {"x": 1})
    ex.shutdown()
    assert ex.running() == []


def test_inline_cuda_out_of_memory_is_a_failure() -> None:
    oom = run_one(InlineExecutor(), cuda_oom)
    assert oom.status == "failed"
    assert oom.error.startswith("OutOfMemoryError: CUDA out of memory. Tried to allocate 20.00 GiB")


def test_inline_keyboard_interrupt_reaches_the_caller_and_leaves_the_trial_running() -> None:
    ex = InlineExecutor()
    ex.submit(4, interrupted, {})
    with pytest.raises(KeyboardInterrupt):
        ex.wait()
    assert ex.running() == [4]  # the caller abandons it
    ex.shutdown(cancel=True)
    assert ex.running() == []


def test_inline_with_timeout_kills_the_trial() -> None:
    with make_executor("inline", trial_timeout=1.0) as ex:
        start = time.monotonic()
        out = run_one(ex, sleeps, {"sleep": 60})
        assert (out.status, out.error) == ("failed", "timed out after 1 s")
        assert 1.0 <= out.duration < 10 and time.monotonic() - start < 30
        # the timer starts when the trial does: a fresh worker's start-up is not counted
        assert run_one(ex, sleeps, {"sleep": 0.3}).status == "completed"
