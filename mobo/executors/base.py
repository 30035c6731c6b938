"""What every executor shares: the protocol, how a trial ended, and the timing rules.

Every backend implements the small :class:`Executor` protocol the study's ``optimize`` loop
drives: ``submit`` a trial when ``len(running()) < capacity``, ``wait`` for at least one
:class:`Outcome`, repeat. The pool is asynchronous -- a worker that finishes gets the next
trial at once, while the others keep running -- which is what lets the optimizer propose
each new point conditioned on the ones still pending (Ginsbourger et al. 2010, "Kriging is
well-suited to parallelize optimization", for the asynchronous batch setting).

Outcomes keep the study's three kinds apart:

* ``completed``: ``fn`` returned a mapping of metric name to number;
* ``failed``: the trial's parameters caused it -- ``fn`` raised (any exception, including
  ``MemoryError`` and ``torch.cuda.OutOfMemoryError``; ``error`` is ``"ExcType: message"``),
  returned something that is not a mapping of numbers, or ran past ``trial_timeout``
  (``"timed out after X s"``);
* ``abandoned``: the infrastructure failed -- the worker process died (killed, segfault,
  kernel OOM killer, Ray worker or node crash) or the executor was shut down with
  ``cancel=True``. The study re-proposes such trials instead of learning from them.

:func:`run_trial` evaluates and classifies one trial wherever it runs (this process, a pool
worker, a Ray worker), so every backend reports the same outcome for the same objective.
:class:`Deadlines` holds the timeout arithmetic the process pool and Ray share: when a
trial has run out of time and how long one ``wait`` may block.
"""

from __future__ import annotations

import math
import time
import traceback as traceback_mod
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

__all__ = [
    "Deadlines",
    "Executor",
    "Outcome",
    "TrialFn",
    "as_values",
    "check_common",
    "describe_exception",
    "run_trial",
]

# longest error text kept in an Outcome (the journal stores it once per failed trial)
_MAX_ERROR = 2000

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


# ------------------------------------------------------------------------------ outcomes
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


def as_values(result: Any) -> dict[str, float]:
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


def run_trial(number: int, fn: TrialFn, params: dict, *, catch_all: bool) -> Outcome:
    """Evaluate one trial in the current process and classify the result.

    ``catch_all`` also turns ``KeyboardInterrupt``/``SystemExit`` into failures: right in a
    worker process (a trial that exits must not look like a dead worker, which would be
    re-proposed forever), wrong inline, where they must stop the driver.
    """
    start = time.perf_counter()
    caught: tuple[type[BaseException], ...] = (BaseException,) if catch_all else (Exception,)
    try:
        values = as_values(fn(dict(params)))
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


# ------------------------------------------------------------------------------ settings
def check_common(workers: int, trial_timeout: float | None, gpus_per_trial: float) -> None:
    """Refuse settings no backend can honour, with the setting's name in the message."""
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


# ------------------------------------------------------------------------------ deadlines
@dataclass(frozen=True)
class Deadlines:
    """Timeout arithmetic of a pool whose trials may each run ``trial_timeout`` seconds.

    Every method takes the current time ``now`` (``time.monotonic()`` in the backends) as an
    argument instead of reading a clock, so the rules are checked without waiting. A trial's
    clock starts when its worker reports that it started, so queueing and worker start-up
    do not count against it; ``started`` is ``None`` until then.
    """

    trial_timeout: float | None

    @staticmethod
    def wait_end(timeout: float | None, now: float) -> float | None:
        """When a ``wait(timeout)`` called at ``now`` must return (``None``: no limit)."""
        return None if timeout is None else now + max(0.0, timeout)

    @staticmethod
    def passed(wait_end: float | None, now: float) -> bool:
        """Whether the ``wait`` that ends at ``wait_end`` has run out of time at ``now``."""
        return wait_end is not None and now >= wait_end

    def expired(self, started: float | None, now: float) -> bool:
        """Whether a trial that started at ``started`` has used up its time at ``now``."""
        return (
            self.trial_timeout is not None
            and started is not None
            and now - started >= self.trial_timeout
        )

    def timeout_error(self) -> str:
        """The error text of a trial stopped for running too long."""
        return f"timed out after {self.trial_timeout:g} s"

    def block_for(
        self,
        now: float,
        wait_end: float | None,
        starts: Iterable[float | None],
        have_outcomes: bool,
    ) -> float | None:
        """How long ``wait`` may block for news from the running trials (``None``: for ever).

        Not at all when it already has outcomes to return; no longer than the ``wait``'s own
        limit ``wait_end``, nor than until the earliest of the running trials' ``starts``
        reaches its timeout, so an expired trial is stopped on time.
        """
        wait_for = 0.0 if have_outcomes else None
        if wait_end is not None:
            wait_for = max(0.0, wait_end - now) if wait_for is None else 0.0
        if self.trial_timeout is not None:
            started = [s for s in starts if s is not None]
            if started:
                until = max(0.0, min(started) + self.trial_timeout - now)
                wait_for = until if wait_for is None else min(wait_for, until)
        return wait_for
