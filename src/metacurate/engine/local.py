"""The local engine: run a worker over tasks in this process, or in a pool of processes.

Each pool worker is a ``multiprocessing`` process with a pipe of its own: the driver sends it one
task at a time and waits on every pipe and every process at once. A worker that dies is seen at
once (its process ends; a result it was half-way through sending ends in end-of-file on its own
pipe, never in a read that waits forever), and the driver knows which task it held. No thread
runs in the driver, so nothing can keep the interpreter from exiting once the workers are gone.
(``concurrent.futures``' pool, used before, could hang at exit after a worker was killed while
sending a 4 MB result.)

Workers are forked where the platform allows it, after ``setup()`` ran here, so the set-up
(a matcher's table, compiled kernels, a language model) is inherited instead of repeated by every
process. A worker ignores Ctrl-C: the driver stops the pool and prints one line, instead of every
process printing a traceback. On Linux a worker also asks the kernel to kill it when the driver
dies, so a driver killed with SIGKILL leaves no orphan holding memory.
"""

import ctypes
import multiprocessing
import os
import pickle
import signal
import sys
import traceback
from collections.abc import Callable, Iterable, Iterator, Sized
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any

from metacurate.engine.naming import unfinished
from metacurate.errors import WorkerLost

STOP_SECONDS = 5.0  # a stopped worker still running after this is killed
PR_SET_PDEATHSIG = 1  # from <sys/prctl.h>
STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}
_NO_TASK = object()


def _setup(worker: Callable[[Any], Any]) -> None:
    setup = getattr(worker, "setup", None)
    if setup is not None:
        setup()


def _serve(worker: Callable[[Any], Any], pipe: Connection, driver_pid: int) -> None:
    """A worker process: run each task the driver sends until it sends None."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # The driver's own SIGTERM handler is inherited by a fork; a worker told to stop must die,
    # not unwind its task.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)  # blocked by the driver's start
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != driver_pid:  # the driver died before the request took effect
        return
    _setup(worker)
    while True:
        try:
            task = pipe.recv()
        except EOFError:  # the driver is gone
            return
        if task is None:  # the driver is done
            return
        try:
            reply = (True, worker(task))
        except Exception as err:
            reply = (False, _portable(err))
        pipe.send(reply)


def _portable(err: Exception) -> Exception:
    """The task's error as the driver can receive it, with the worker's traceback as a note."""
    where = "".join(traceback.format_exception(err))
    try:
        err.add_note(f"in the worker process:\n{where}")
        pickle.dumps(err)
        return err
    except Exception:  # an error that cannot be pickled
        return RuntimeError(where)


def _death(exitcode: int | None) -> str:
    if exitcode is None or exitcode >= 0:
        return f"exited with status {exitcode}"
    name = signal.Signals(-exitcode).name
    why = " (as the out-of-memory killer does)" if -exitcode == signal.SIGKILL else ""
    return f"was killed by {name}{why}"


@dataclass
class _Slot:
    process: BaseProcess
    pipe: Connection  # the driver's end
    task: Any = _NO_TASK

    @property
    def busy(self) -> bool:
        return self.task is not _NO_TASK


class _Pool:
    def __init__(self, worker: Callable[[Any], Any], processes: int, start: str):
        context = multiprocessing.get_context(start)
        self.slots: list[_Slot] = []
        # A Ctrl-C arriving while a worker is started must not reach it before it ignores
        # Ctrl-C: held here, it is delivered to the driver once the workers are started.
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        try:
            for _ in range(processes):
                driver_end, worker_end = context.Pipe()
                process = context.Process(
                    target=_serve, args=(worker, worker_end, os.getpid()), daemon=True
                )
                process.start()
                worker_end.close()  # the worker's own copy is then the only one: EOF when it dies
                self.slots.append(_Slot(process, driver_end))
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)

    def run(self, tasks: Iterator[Any], on_done: Callable[[Any, Any], None]) -> None:
        for slot in self.slots:
            self._give(slot, tasks)
        while any(slot.busy for slot in self.slots):
            busy = [slot for slot in self.slots if slot.busy]
            ready = set(wait([s.pipe for s in busy] + [s.process.sentinel for s in self.slots]))
            for slot in self.slots:
                if slot.busy and slot.pipe in ready:
                    self._receive(slot, tasks, on_done)
                elif slot.process.sentinel in ready:
                    raise self._lost(slot)

    def _give(self, slot: _Slot, tasks: Iterator[Any]) -> None:
        slot.task = next(tasks, _NO_TASK)
        if slot.busy:
            slot.pipe.send(slot.task)

    def _receive(self, slot: _Slot, tasks: Iterator[Any], on_done) -> None:
        try:
            ok, value = slot.pipe.recv()
        except (EOFError, OSError):  # it died, maybe half-way through sending its result
            raise self._lost(slot) from None
        if not ok:
            raise value
        task, slot.task = slot.task, _NO_TASK
        on_done(task, value)
        self._give(slot, tasks)

    def _lost(self, dead: _Slot) -> WorkerLost:
        dead.process.join(STOP_SECONDS)
        left = unfinished(s.task for s in self.slots if s.busy)
        return WorkerLost(
            f"a worker process {_death(dead.process.exitcode)}; unfinished: {left};"
            " what finished is kept: run the same command again to resume"
        )

    def close(self) -> None:
        """Let the workers finish. (Not by closing the pipes: a worker forked after another
        holds a copy of the driver's end of that one's pipe, so it would never see the end.)"""
        for slot in self.slots:
            slot.pipe.send(None)
            slot.pipe.close()
        for slot in self.slots:
            slot.process.join()

    def stop(self) -> None:
        """End every worker within seconds, whatever it is doing."""
        for slot in self.slots:
            slot.pipe.close()
            if slot.process.is_alive():
                slot.process.terminate()
        for slot in self.slots:
            slot.process.join(STOP_SECONDS)
            if slot.process.is_alive():
                slot.process.kill()
                slot.process.join()


class LocalEngine:
    """This machine: ``workers`` processes, or this process alone when ``workers`` is 1.

    ``start``: how worker processes start, "fork" where the platform has it (they inherit the
    driver's set-up), else "spawn" (each runs ``setup()`` itself).
    """

    name = "local"

    def __init__(self, workers: int = 1, start: str | None = None):
        self.workers = workers
        self.start = start or (
            "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        )

    def __enter__(self) -> "LocalEngine":
        return self

    def __exit__(self, *exc) -> None:
        pass

    def map(
        self,
        worker: Callable[[Any], Any],
        tasks: Iterable[Any],
        on_done: Callable[[Any, Any], None],
    ) -> None:
        """See the contract in ``metacurate.engine``: one task per worker is in flight."""
        # With a pool, even a lone task runs in a worker: the driver stays small (a step of one
        # de-duplication bucket would hold up to 512 MB of ids in it).
        in_process = self.workers <= 1 or (isinstance(tasks, Sized) and not tasks)
        if in_process or self.start == "fork":
            _setup(worker)  # here first: forked workers inherit what it loaded
        if in_process:
            for task in tasks:
                on_done(task, worker(task))
            return
        processes = min(self.workers, len(tasks)) if isinstance(tasks, Sized) else self.workers
        pool = _Pool(worker, processes, self.start)
        try:
            pool.run(iter(tasks), on_done)
        except BaseException:
            pool.stop()
            raise
        pool.close()
