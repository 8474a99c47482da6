"""The stage runner's one loop: skip what is done, map the rest on the engine, show progress.

Workers write only their data files; the runner, in the driver, writes each task's marker once
its result is back (``on_done``), so a marker never stands for a task that did not finish.
Tasks are a sequence that makes each task when asked (a run's plan of a million shards is a few
arrays): the runner walks it, and never holds a list of tasks.
"""

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from metacurate.engine import Engine
from metacurate.progress import stage_progress
from metacurate.writers.lease import check_held


@dataclass(frozen=True)
class _Remaining:
    """The tasks not done, counted once and then made one at a time (the engines take a
    stream; the count tells the local engine how many processes are worth starting)."""

    tasks: Sequence
    done: Callable[[object], bool]
    count: int

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator:
        return (task for task in self.tasks if not self.done(task))


def run_step(
    engine: Engine,
    worker: Callable,
    tasks: Sequence,
    done: Callable[[object], bool],
    on_done: Callable[[object, object], None],
    description: str,
    size: Callable[[object], float] = lambda task: 1,
    unit: str = "parts",
    on_skip: Callable[[object], None] = lambda task: None,
) -> int:
    """Map ``worker`` over the tasks not ``done`` with a progress bar (``size``: a task's share
    of it); ``on_done`` writes each task's marker, ``on_skip`` takes in each task done before.
    Returns how many were done before."""
    total = skipped = 0.0
    skipped_count = 0
    for task in tasks:
        total += size(task)
        if done(task):
            on_skip(task)
            skipped += size(task)
            skipped_count += 1
    with stage_progress(description, total, unit) as advance:
        advance(skipped)

        def finished(task, result) -> None:
            check_held()  # a run that lost its folder's lease marks nothing more there
            on_done(task, result)
            advance(size(task))

        remaining = _Remaining(tasks, done, len(tasks) - skipped_count)
        engine.map(worker, remaining, finished)
    return skipped_count
