"""Engines decide where a stage's tasks run; the per-task work itself is engine-free.

The contract every engine keeps (``LocalEngine`` now, a Ray engine later):

- A worker is a picklable callable ``worker(task) -> result``. Its heavy set-up (tables,
  models, compiled kernels) is an optional ``setup()`` method, which the engine calls in each
  process that runs the worker; ``setup()`` may run more than once and must be cheap the
  second time.
- ``engine.map(worker, tasks, on_done)`` calls ``on_done(task, result)`` in the driver for
  every task, in any order, as tasks finish. ``tasks``
  may be a stream: one task per worker is in flight, so a fast producer cannot fill
  memory ahead of slow workers.
- A task's ``name`` attribute (else its ``str``) names it in messages.
- A task that raises ends the map with that error; a worker process that dies (killed, out
  of memory) ends it with ``WorkerLost``; Ctrl-C or SIGTERM ends it with ``Interrupted``.
  Whichever way it ends, no worker process outlives ``map``, and what finished tasks wrote
  stays, so running the same command again resumes.
"""

from collections.abc import Callable, Iterable
from typing import Any, Protocol

from metacurate.engine.local import LocalEngine


class Engine(Protocol):
    def map(
        self,
        worker: Callable[[Any], Any],
        tasks: Iterable[Any],
        on_done: Callable[[Any, Any], None],
    ) -> None: ...


__all__ = ["Engine", "LocalEngine"]
