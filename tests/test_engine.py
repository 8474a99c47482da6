"""The engine contract (see ``metacurate.engine``), checked on the local engine: every task
reported once, set-up in the process that runs the worker, streams consumed lazily, and a
failing task, a dead worker or Ctrl-C each ending the map with no worker process left."""

import multiprocessing
import os
import signal
import threading
import time

import numpy as np
import pytest
from helpers import alive

from metacurate.engine import LocalEngine
from metacurate.errors import WorkerLost


class Square:
    """Squares numbers; -1 raises, -9 kills the process running it."""

    def __init__(self):
        self.setup_in: set[int] = set()

    def setup(self):
        self.setup_in.add(os.getpid())

    def __call__(self, x):
        if x == -9:
            os.kill(os.getpid(), signal.SIGKILL)
        if x < 0:
            raise ValueError(f"negative task {x}")
        time.sleep(0.01)
        return x * x, os.getpid() in self.setup_in


def _no_workers_left() -> bool:
    # Asks the kernel: the pool's own bookkeeping may list a worker for a moment after a thread
    # of the pool reaped it.
    return not any(alive(p.pid) for p in multiprocessing.active_children())


@pytest.mark.parametrize("workers", [1, 2])
def test_every_task_reported_once_after_setup_in_its_process(workers):
    done = {}
    LocalEngine(workers).map(
        Square(), range(20), lambda task, result: done.setdefault(task, result)
    )
    assert done == {x: (x * x, True) for x in range(20)}
    assert _no_workers_left()


def test_a_stream_is_consumed_one_task_per_worker_ahead():
    produced, finished = [], []

    def tasks():
        for x in range(30):
            produced.append(x)
            yield x

    def on_done(task, result):
        finished.append(task)
        assert len(produced) - len(finished) <= 2  # the other worker's task, at most

    LocalEngine(2).map(Square(), tasks(), on_done)
    assert sorted(finished) == list(range(30))


@pytest.mark.parametrize("workers", [1, 2])
def test_a_failing_task_raises_its_error(workers):
    with pytest.raises(ValueError, match="negative task -1"):
        LocalEngine(workers).map(Square(), [1, 2, -1, 3, 4, 5], lambda task, result: None)
    assert _no_workers_left()


def test_a_killed_worker_ends_the_map_within_seconds():
    done = []
    started = time.monotonic()
    with pytest.raises(WorkerLost, match=r"killed by SIGKILL .*unfinished: .*-9"):
        LocalEngine(2).map(Square(), [1, 2, -9, *range(3, 40)], lambda t, r: done.append(t))
    assert time.monotonic() - started < 10
    assert _no_workers_left()
    assert -9 not in done


class BigResult:
    def __call__(self, x):
        return os.getpid(), np.zeros(1 << 19)  # 4 MB: sent in many pipe-fulls


def test_a_worker_killed_while_sending_a_large_result_ends_the_map():
    """The other worker is (most likely) blocked half-way through sending its result while the
    driver is busy with the first one: killed there, it leaves a torn message, not a hang."""

    def on_done(task, result):
        pid, _ = result
        for process in multiprocessing.active_children():
            if process.pid != pid:
                os.kill(process.pid, signal.SIGKILL)
        time.sleep(0.2)

    started = time.monotonic()
    with pytest.raises(WorkerLost, match="killed by SIGKILL"):
        LocalEngine(2).map(BigResult(), range(10), on_done)
    assert time.monotonic() - started < 10
    assert _no_workers_left()


def test_ctrl_c_in_the_driver_stops_every_worker():
    """SIGINT reaches the driver (workers ignore it: one message, not one per process)."""
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        LocalEngine(2).map(Square(), range(100_000), lambda t, r: None)
    assert time.monotonic() - started < 10
    assert _no_workers_left()
