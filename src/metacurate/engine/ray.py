"""The Ray engine: one Ray core task per task, on a running cluster or on a local Ray it starts.

Why core tasks and not Ray Data: a stage's task is a whole shard (read, match, write a part), so
the scheduling unit is already coarse, and issue 10 reports Ray Data 5-10x slower than one task
per file for this work (not re-measured in this repository). The worker object is put in the object store once; each worker process
fetches it and runs its ``setup()`` the first time it meets it, then keeps it, so the matcher's
table and the language model are loaded once per process, not per task. At most ``in_flight``
tasks are submitted at a time (``ray.wait`` for the first to finish), so a stream of a million
shards never sits in the driver or the scheduler at once.

Faults: a task whose process or node dies is retried by Ray (``max_retries``); one that dies every
time ends the map with ``WorkerLost``. A task that raises is not retried: the error is ours to
report. Ctrl-C or SIGTERM cancels what is in flight (killing its processes) and, where the engine
started the local Ray, stops it, so no process outlives the run.
"""

import logging
import os
import signal
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from metacurate.engine.naming import label, unfinished
from metacurate.errors import InputError, WorkerLost, import_extra

MAX_RETRIES = 3  # retries of a task whose worker process or node died
# Compiled kernels are cached here on each node: Ray's workers are started fresh, not forked from
# a warm driver, and compiling them again costs seconds per process.
NUMBA_CACHE = Path.home() / ".cache" / "metacurate" / "numba"

AUTH_LOGGER = "ray._private.authentication.authentication_token_setup"

_ready: dict[str, Any] = {}  # in a worker process: set-up workers by their object id


def _run(holder: list, task: Any) -> Any:
    """A task in a Ray worker process. ``holder`` wraps the worker's object ref so that Ray
    passes the ref, not the worker: it is fetched and set up once per process."""
    import ray

    (ref,) = holder
    key = ref.hex()
    worker = _ready.get(key)
    if worker is None:
        worker = ray.get(ref)
        setup = getattr(worker, "setup", None)
        if setup is not None:
            setup()
        _ready.clear()  # one stage's worker at a time: drop an earlier stage's tables
        _ready[key] = worker
    return worker(task)


class RayEngine:
    """Ray core tasks on the cluster at ``address`` ("auto": the one this node belongs to), or on
    a local Ray of ``workers`` CPUs started for the run and stopped after it.

    Use it as a context manager around every stage of a command, so one local Ray serves them.
    """

    name = "ray"

    def __init__(self, address: str | None = None, workers: int | None = None):
        self.address = address
        self.workers = workers
        self._started = False
        self._ray = None
        self._interrupted: KeyboardInterrupt | None = None  # what our SIGTERM handler raised

    def __enter__(self) -> "RayEngine":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._started:
            self._ray.shutdown()
            self._started = False

    def _connect(self):
        if self._ray is not None:
            return self._ray
        ray = import_extra("ray", "ray", "--engine ray")
        if not ray.is_initialized():
            options = dict(logging_level=logging.WARNING, log_to_driver=False)
            sigterm = signal.getsignal(signal.SIGTERM)
            try:
                if self.address is None:
                    self._start_local(ray, options)
                else:
                    # Workers on other nodes inherit nothing from this process: tell them.
                    env = {"NUMBA_CACHE_DIR": os.environ.get("NUMBA_CACHE_DIR", str(NUMBA_CACHE))}
                    ray.init(address=self.address, runtime_env={"env_vars": env}, **options)
            except ConnectionError as err:
                raise InputError(f"--ray-address {self.address}: {err}") from None
            finally:
                self._keep_sigterm(sigterm)
        self._ray = ray
        return ray

    def _start_local(self, ray, options: dict) -> None:
        # Inherited by the workers the local Ray starts (a runtime_env would make it discard
        # the workers it prestarts: measured 0.8 s more per run).
        os.environ.setdefault("NUMBA_CACHE_DIR", str(NUMBA_CACHE))
        # Ray warns on every start that it chose token authentication, its default.
        logging.getLogger(AUTH_LOGGER).setLevel(logging.ERROR)
        # "local": a new Ray, not the cluster a `ray start` or a test's Cluster on this machine
        # left in /tmp/ray/ray_current_cluster (address=None would join that one).
        ray.init(address="local", num_cpus=self.workers, include_dashboard=False, **options)
        self._started = True

    def _keep_sigterm(self, handler) -> None:
        """Put back the SIGTERM handler ``ray.init`` replaced (Ray's exits with status 1 and no
        word), so SIGTERM stays an interruption. Ray turns an interruption raised by a handler
        inside ``ray.wait``/``ray.get`` into a bare KeyboardInterrupt (a Ctrl-C): keep the one
        raised, for ``map`` to raise instead."""
        # Ray sets it only in the main thread; None: not set from Python.
        if handler is None or threading.current_thread() is not threading.main_thread():
            return
        if not callable(handler):
            signal.signal(signal.SIGTERM, handler)
            return

        def on_sigterm(signum, frame) -> None:
            try:
                handler(signum, frame)
            except KeyboardInterrupt as err:
                self._interrupted = err
                raise

        signal.signal(signal.SIGTERM, on_sigterm)

    def in_flight(self) -> int:
        """Tasks submitted at a time: one per CPU of the cluster, plus one each so that a CPU
        that finishes finds its next task already scheduled."""
        cpus = int(self._connect().cluster_resources().get("CPU", 1))
        return 2 * max(cpus, 1)

    def map(
        self,
        worker: Callable[[Any], Any],
        tasks: Iterable[Any],
        on_done: Callable[[Any, Any], None],
    ) -> None:
        """See the contract in ``metacurate.engine``."""
        ray = self._connect()
        remote = ray.remote(_run).options(
            num_cpus=1, max_retries=MAX_RETRIES, retry_exceptions=False
        )
        holder = [ray.put(worker)]
        pending: dict[Any, Any] = {}  # object ref -> task
        stream: Iterator[Any] = iter(tasks)
        limit = self.in_flight()
        try:
            while True:
                while len(pending) < limit:
                    task = next(stream, _END)
                    if task is _END:
                        break
                    pending[remote.remote(holder, task)] = task
                if not pending:
                    return
                (ready,), _ = ray.wait(list(pending), num_returns=1)
                task = pending.pop(ready)
                on_done(task, self._result(ray, ready, task, pending))
        except BaseException as err:
            for ref in pending:
                ray.cancel(ref, force=True)
            if isinstance(err, KeyboardInterrupt) and self._interrupted not in (None, err):
                raise self._interrupted from None
            raise

    def _result(self, ray, ref, task, pending) -> Any:
        try:
            return ray.get(ref)
        except ray.exceptions.RayTaskError as err:  # our task raised: its own error
            cause = getattr(err, "cause", None)
            raise (cause if isinstance(cause, Exception) else err) from None
        except (
            ray.exceptions.WorkerCrashedError,
            ray.exceptions.NodeDiedError,
            ray.exceptions.OutOfMemoryError,
            ray.exceptions.ObjectLostError,
        ) as err:
            left = unfinished([task, *pending.values()])
            raise WorkerLost(
                f"a Ray worker died {MAX_RETRIES + 1} times running {label(task)}"
                f" ({type(err).__name__}); unfinished: {left}; what finished is kept:"
                " run the same command again to resume"
            ) from None


_END = object()
