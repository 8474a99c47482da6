"""Run a per-shard worker over tasks on this machine: in-process or in a process pool.

The worker object (for example a matcher with its table) is sent to each process once, when the
process starts, rather than with every task.
"""

import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
from typing import Any

_WORKER: Callable[[Any], Any] | None = None


def _install(worker: Callable[[Any], Any]) -> None:
    global _WORKER
    _WORKER = worker


def _call(task: Any) -> Any:
    assert _WORKER is not None, "worker process started without its worker"
    return _WORKER(task)


def run_tasks(
    worker: Callable[[Any], Any],
    tasks: Sequence[Any],
    workers: int,
    on_done: Callable[[Any, Any], None] = lambda task, result: None,
) -> list[Any]:
    """Results of ``worker(task)`` in task order; ``on_done`` is called as each one finishes.

    The first failure cancels the tasks not yet started and is raised; finished tasks have
    already written their outputs, so a re-run resumes after them.
    """
    if workers <= 1 or len(tasks) <= 1:
        results = []
        for task in tasks:
            results.append(worker(task))
            on_done(task, results[-1])
        return results
    # spawn: a fork would copy the progress display's thread and any locks it holds.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        min(workers, len(tasks)), mp_context=context, initializer=_install, initargs=(worker,)
    ) as pool:
        futures = {pool.submit(_call, task): i for i, task in enumerate(tasks)}
        results: list[Any] = [None] * len(tasks)
        pending = set(futures)
        while pending:
            done, pending = wait(pending, return_when=FIRST_EXCEPTION)
            for future in done:
                i = futures[future]
                results[i] = future.result()  # raises the worker's error here
                on_done(tasks[i], results[i])
        return results
