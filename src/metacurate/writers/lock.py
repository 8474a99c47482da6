"""One run at a time in an output folder.

A local folder is locked with ``flock``: the kernel drops the lock when its process ends,
however it ends, so no lock is ever stale. An object store has no locks: there a run holds a
lease it renews (``writers/lease.py``).
"""

import fcntl
import os
import shlex
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from metacurate.errors import OutputConflict, OutputError
from metacurate.location import Location

LOCK = ".metacurate.lock"


@contextmanager
def lock(folder: Location | Path) -> Iterator[None]:
    """Hold the folder's lock for this process; say who holds it when another run does."""
    folder = Location.of(folder)
    if folder.remote:
        from metacurate.writers.lease import lease

        with lease(folder, folder / LOCK, holder()):
            yield
        return
    with _flock(folder.path):
        yield


def holder() -> str:
    """Who runs: pid, host, start time and command, for the message of a second run."""
    started = datetime.now().strftime("%Y-%m-%d %H:%M:%S")
    return f"pid {os.getpid()} on {socket.gethostname()} since {started}: {shlex.join(sys.argv)}"


def in_use(folder: object, holder: str, how: str = "") -> OutputConflict:
    return OutputConflict(
        f"{folder} is in use by another metacurate run ({holder}{how}); wait for it to end"
        " or choose another --out"
    )


@contextmanager
def _flock(folder: Path) -> Iterator[None]:
    path = folder / LOCK
    try:
        handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115 (held until the block ends)
    except OSError as err:
        raise OutputError(f"{folder}: cannot write in the output folder ({err.strerror})") from None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            raise in_use(folder, handle.read().strip() or "holder unknown") from None
        try:  # who holds it, for the message of a second run
            handle.seek(0)
            handle.truncate()
            handle.write(holder() + "\n")
            handle.flush()
        except OSError as err:
            raise OutputError(
                f"{folder}: cannot write in the output folder ({err.strerror})"
            ) from None
        yield
