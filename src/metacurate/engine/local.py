"""The local engine: run a worker over tasks in this process, or in a pool of processes.

Pool workers are forked where the platform allows it, after ``setup()`` ran here, so the set-up
(a matcher's table, compiled kernels, a language model) is inherited instead of repeated by every
process. A worker ignores Ctrl-C: the driver stops the pool and prints one line, instead of every
process printing a traceback. On Linux a worker also asks the kernel to kill it when the driver
dies, so a driver killed with SIGKILL leaves no orphan holding memory.
"""

import ctypes
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable, Iterable, Sized
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.process import BaseProcess
from typing import Any

from metacurate.errors import WorkerLost

IN_FLIGHT_PER_WORKER = 2
STOP_SECONDS = 5.0  # a stopped worker still running after this is killed
PR_SET_PDEATHSIG = 1  # from <sys/prctl.h>
MAX_NAMED_TASKS = 5
STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}

_WORKER: Callable[[Any], Any] | None = None


def _setup(worker: Callable[[Any], Any]) -> None:
    setup = getattr(worker, "setup", None)
    if setup is not None:
        setup()


def _start_worker(worker: Callable[[Any], Any], driver_pid: int) -> None:
    global _WORKER
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # The driver's own SIGTERM handler is inherited by a fork; a worker told to stop must die,
    # not unwind its task.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)  # blocked by the driver's submit
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != driver_pid:  # the driver died before the request took effect
        os._exit(1)
    _setup(worker)
    _WORKER = worker


def _run(task: Any) -> Any:
    assert _WORKER is not None, "worker process started without its worker"
    return _WORKER(task)


def _label(task: Any) -> str:
    return str(getattr(task, "name", task))


def _death(exitcode: int) -> str:
    if exitcode >= 0:
        return f"exited with status {exitcode}"
    name = signal.Signals(-exitcode).name
    why = " (as the out-of-memory killer does)" if -exitcode == signal.SIGKILL else ""
    return f"was killed by {name}{why}"


class _Pool:
    """A process pool that is stopped, not waited for, when a map ends early."""

    def __init__(self, worker: Callable[[Any], Any], processes: int):
        methods = multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
        self.executor = ProcessPoolExecutor(
            processes, context, initializer=_start_worker, initargs=(worker, os.getpid())
        )
        # Held so that, once the pool breaks, their exit codes tell how a worker died.
        self.processes: dict[int, BaseProcess] = {}

    def submit(self, task: Any) -> Future:
        # A submit may start workers: a Ctrl-C arriving while one is forked must neither
        # interrupt the pool's bookkeeping nor reach the worker before it ignores Ctrl-C. Held
        # here, it is delivered to the driver once the submit is done.
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        try:
            future = self.executor.submit(_run, task)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        for process in multiprocessing.active_children():
            self.processes.setdefault(process.pid, process)
        return future

    def lost(self, tasks: Iterable[Any]) -> WorkerLost:
        codes = [p.exitcode for p in self.processes.values() if p.exitcode not in (None, 0)]
        # The pool terminates the other workers once one dies: name the first that did not
        # die of that.
        codes.sort(key=lambda code: code == -signal.SIGTERM)
        how = _death(codes[0]) if codes else "stopped unexpectedly"
        names = [_label(task) for task in tasks]
        unfinished = ", ".join(names[:MAX_NAMED_TASKS])
        if len(names) > MAX_NAMED_TASKS:
            unfinished += f" and {len(names) - MAX_NAMED_TASKS} more"
        return WorkerLost(
            f"a worker process {how}; unfinished: {unfinished}; what finished is kept:"
            " run the same command again to resume"
        )

    def close(self) -> None:
        self.executor.shutdown(wait=True)

    def stop(self) -> None:
        """Cancel what has not started and end every worker within seconds."""
        self.executor.shutdown(wait=False, cancel_futures=True)
        processes = list(self.processes.values())
        for process in processes:
            if process.is_alive():
                process.terminate()
        for process in processes:
            process.join(STOP_SECONDS)
            if process.is_alive():
                process.kill()
                process.join()
        # The workers are gone: let the pool's own thread finish now, so that nothing of the
        # pool is left for the interpreter's exit to wake (it may find its pipes closed).
        self.executor.shutdown(wait=True)


class LocalEngine:
    """This machine: ``workers`` processes, or this process alone when ``workers`` is 1."""

    def __init__(self, workers: int = 1):
        self.workers = workers

    def map(
        self,
        worker: Callable[[Any], Any],
        tasks: Iterable[Any],
        on_done: Callable[[Any, Any], None],
    ) -> None:
        """See the contract in ``metacurate.engine``."""
        _setup(worker)  # here first: forked workers inherit what it loaded
        if self.workers <= 1 or (isinstance(tasks, Sized) and len(tasks) <= 1):
            for task in tasks:
                on_done(task, worker(task))
            return
        pool = _Pool(worker, self.workers)
        in_flight: dict[Future, Any] = {}
        try:
            for task in tasks:
                if len(in_flight) >= IN_FLIGHT_PER_WORKER * self.workers:
                    _collect(in_flight, on_done)
                in_flight[pool.submit(task)] = task
            while in_flight:
                _collect(in_flight, on_done)
        except BrokenProcessPool:
            pool.stop()
            raise pool.lost(in_flight.values()) from None
        except BaseException:
            pool.stop()
            raise
        pool.close()


def _collect(in_flight: dict[Future, Any], on_done: Callable[[Any, Any], None]) -> None:
    """Hand over the result of a finished task (the earliest submitted, of those finished)."""
    done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
    future = next(f for f in in_flight if f in done)
    result = future.result()  # raises the task's error, or BrokenProcessPool
    on_done(in_flight.pop(future), result)
