"""Engines decide where a stage's tasks run; the per-task work itself is engine-free.

The contract every engine keeps (``LocalEngine``: this machine's processes; ``RayEngine``: Ray
core tasks on a cluster):

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
from metacurate.engine.ray import RayEngine

ENGINES = ("local", "ray")


class Engine(Protocol):
    name: str
    workers: int | None

    def map(
        self,
        worker: Callable[[Any], Any],
        tasks: Iterable[Any],
        on_done: Callable[[Any, Any], None],
    ) -> None: ...

    def __enter__(self) -> "Engine": ...

    def __exit__(self, *exc) -> None: ...


def make_engine(name: str = "local", workers: int | None = None, address: str | None = None):
    """The engine a command's ``--engine``, ``--workers`` and ``--ray-address`` ask for."""
    if name == "local":
        return LocalEngine(workers or 1)
    if name == "ray":
        return RayEngine(address, workers)
    raise ValueError(f"unknown engine {name!r}; expected one of {', '.join(ENGINES)}")


def describe(engine: Engine) -> dict:
    """How a run's summary records the engine that made it."""
    return {"engine": engine.name, "workers": engine.workers}


__all__ = ["ENGINES", "Engine", "LocalEngine", "RayEngine", "describe", "make_engine"]
