"""One run at a time in an output folder: a lock the kernel drops when its process ends."""

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

LOCK = ".metacurate.lock"


@contextmanager
def lock(folder: Path) -> Iterator[None]:
    """Hold the folder's lock for this process; say who holds it when another run does. The
    kernel releases it when the process ends, however it ends, so no lock is ever stale."""
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
            holder = handle.read().strip() or "holder unknown"
            raise OutputConflict(
                f"{folder} is in use by another metacurate run ({holder}); wait for it to end"
                " or choose another --out"
            ) from None
        started = datetime.now().strftime("%Y-%m-%d %H:%M:%S")
        try:  # who holds it, for the message of a second run
            handle.seek(0)
            handle.truncate()
            handle.write(
                f"pid {os.getpid()} on {socket.gethostname()} since {started}:"
                f" {shlex.join(sys.argv)}\n"
            )
            handle.flush()
        except OSError as err:
            raise OutputError(
                f"{folder}: cannot write in the output folder ({err.strerror})"
            ) from None
        yield
