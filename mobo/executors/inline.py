"""The simplest executor: each trial runs in the driver's own process, one at a time.

Nothing is pickled and nothing is started, so any callable works as the objective and a
debugger or profiler sees the trial directly. The price is that a trial cannot be stopped
from outside: a run that needs a timeout uses a one-worker process pool instead (see
:func:`mobo.executors.make_executor`).
"""

from __future__ import annotations

from mobo.executors.base import Outcome, TrialFn, run_trial

__all__ = ["InlineExecutor"]


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
        outcome = run_trial(number, fn, params, catch_all=False)
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
