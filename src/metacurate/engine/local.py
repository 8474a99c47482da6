"""Run a per-shard worker over tasks on this machine: in-process or in a process pool.

Workers are forked where the platform allows it, so the worker object (a matcher with its
table, say) and the compiled kernels it has warmed up are inherited rather than pickled and
re-loaded by every process.
"""

import multiprocessing
from collections import deque
from collections.abc import Callable, Iterable, Sequence
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
    on_done: Callable[[Any, Any], None],
) -> None:
    """Call ``on_done(task, worker(task))`` for each task as it finishes, in any order.

    Results are handed over, not kept: a stage with many parts must not hold them all.

    A worker with a ``warm_up()`` method gets it called here first, before any process starts.
    The first failure stops the pool and is raised; finished tasks have already written their
    outputs, so a re-run resumes after them.
    """
    if hasattr(worker, "warm_up"):
        worker.warm_up()
    if workers <= 1 or len(tasks) <= 1:
        for task in tasks:
            on_done(task, worker(task))
        return
    with _pool(worker, min(workers, len(tasks))) as pool:
        for i, result in pool.imap_unordered(_call, enumerate(tasks)):
            on_done(tasks[i], result)


def run_stream(
    worker: Callable[[Any], Any],
    tasks: Iterable[Any],
    workers: int,
    on_done: Callable[[Any], None],
) -> None:
    """Call ``on_done(worker(task))`` for each task of a stream too large to hold, in order.

    At most two tasks per worker are in flight, so a fast producer (a dump reader) cannot fill
    memory ahead of slow workers. Failures behave as in ``run_tasks``.
    """
    if workers <= 1:
        for task in tasks:
            on_done(worker(task))
        return
    in_flight: deque = deque()
    with _pool(worker, workers) as pool:
        for task in tasks:
            if len(in_flight) >= 2 * workers:
                on_done(in_flight.popleft().get()[1])
            in_flight.append(pool.apply_async(_call, ((0, task),)))
        while in_flight:
            on_done(in_flight.popleft().get()[1])


def _pool(worker: Callable[[Any], Any], processes: int):
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    return context.Pool(processes, initializer=_install, initargs=(worker,))
