"""make_executor: the settings it refuses and the backend it picks for each."""

from __future__ import annotations

import pytest

from mobo.executors import Executor, InlineExecutor, ProcessExecutor, make_executor


def test_make_executor_validates_its_arguments() -> None:
    with pytest.raises(ValueError, match="backend must be one of inline, process, ray"):
        make_executor("dask")
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(ValueError, match="workers must be an integer >= 1"):
            make_executor("process", bad)  # type: ignore[arg-type]
    for bad in (0, -1.0, float("inf"), float("nan"), "10"):
        with pytest.raises(ValueError, match="trial_timeout must be a positive"):
            make_executor("inline", trial_timeout=bad)  # type: ignore[arg-type]
    for bad in (-1, float("nan"), "1"):
        with pytest.raises(ValueError, match="gpus_per_trial must be a number >= 0"):
            make_executor("process", gpus_per_trial=bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="whole number of GPUs"):
        make_executor("ray", gpus_per_trial=1.5)
    with pytest.raises(ValueError, match="workers=1"):
        make_executor("inline", 2)
    with pytest.raises(ValueError, match="address is only used by backend 'ray'"):
        make_executor("process", address="10.0.0.1:6379")
    with pytest.raises(ValueError, match="gpus_per_trial needs backend"):
        make_executor("inline", gpus_per_trial=1)


def test_make_executor_picks_the_backend() -> None:
    assert isinstance(make_executor(), InlineExecutor)
    with make_executor("inline", trial_timeout=5) as ex:  # a timeout needs a child process
        assert isinstance(ex, ProcessExecutor) and ex.capacity == 1
    with make_executor("process", 2) as ex:
        assert isinstance(ex, ProcessExecutor) and ex.capacity == 2
        assert isinstance(ex, Executor)
