"""The stage runner's one loop: skip what is done, map the rest on the engine, show progress.

Workers write only their data files; the runner, in the driver, writes each task's marker once
its result is back (``on_done``), so a marker never stands for a task that did not finish.
"""

from collections.abc import Callable

from metacurate.engine import Engine
from metacurate.progress import stage_progress
from metacurate.writers.lease import check_held


def run_step(
    engine: Engine,
    worker: Callable,
    tasks: list,
    done: Callable[[object], bool],
    on_done: Callable[[object, object], None],
    description: str,
    size: Callable[[object], float] = lambda task: 1,
    unit: str = "parts",
) -> list:
    """Map ``worker`` over the tasks not ``done`` with a progress bar (``size``: a task's share
    of it); ``on_done`` writes each task's marker. Returns the tasks skipped."""
    finished_before = [done(task) for task in tasks]
    skipped = [task for task, was in zip(tasks, finished_before, strict=True) if was]
    todo = [task for task, was in zip(tasks, finished_before, strict=True) if not was]
    with stage_progress(description, sum(map(size, tasks)), unit) as advance:
        advance(sum(map(size, skipped)))

        def finished(task, result) -> None:
            check_held()  # a run that lost its folder's lease marks nothing more there
            on_done(task, result)
            advance(size(task))

        engine.map(worker, todo, finished)
    return skipped
