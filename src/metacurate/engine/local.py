"""Run a per-shard worker over tasks on this machine: in-process or in a process pool.

Workers are forked where the platform allows it, so the worker object (a matcher with its
table, say) and the compiled kernels it has warmed up are inherited rather than pickled and
re-loaded by every process.
"""

import multiprocessing
from collections.abc import Callable, Sequence
from typing import Any

_WORKER: Callable[[Any], Any] | None = None


def _install(worker: Callable[[Any], Any]) -> None:
    global _WORKER
    _WORKER = worker


def _call(indexed: tuple[int, Any]) -> tuple[int, Any]:
    assert _WORKER is not None, "worker process started without its worker"
    index, task = indexed
    return index, _WORKER(task)


def run_tasks(
    worker: Callable[[Any], Any],
    tasks: Sequence[Any],
    workers: int,
    on_done: Callable[[Any, Any], None] = lambda task, result: None,
) -> list[Any]:
    """Results of ``worker(task)`` in task order; ``on_done`` is called as each one finishes.

    A worker with a ``warm_up()`` method gets it called here first, before any process starts.
    The first failure stops the pool and is raised; finished tasks have already written their
    outputs, so a re-run resumes after them.
    """
    if hasattr(worker, "warm_up"):
        worker.warm_up()
    results: list[Any] = [None] * len(tasks)
    if workers <= 1 or len(tasks) <= 1:
        for i, task in enumerate(tasks):
            results[i] = worker(task)
            on_done(task, results[i])
        return results
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    with context.Pool(min(workers, len(tasks)), initializer=_install, initargs=(worker,)) as pool:
        for i, result in pool.imap_unordered(_call, enumerate(tasks)):
            results[i] = result
            on_done(tasks[i], result)
    return results
