"""One run at a time in an output folder.

A local folder is locked with ``flock``: the kernel drops the lock when its process ends,
however it ends, so no lock is ever stale. An object store has no locks: a run holds a lease,
an object it renews every ``RENEW_S`` seconds and deletes when it ends. A lease not renewed for
``LEASE_S`` seconds is a killed run's, and so is one whose holder, on this same host, is no
longer running: either is taken over, so the same command resumes a killed run.
"""

import contextlib
import fcntl
import json
import os
import shlex
import socket
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from metacurate.errors import InputError, OutputConflict, OutputError
from metacurate.location import Location

LOCK = ".metacurate.lock"
RENEW_S = 10.0
LEASE_S = 60.0
# Two runs that take a free lease at the same moment both write it, and the later write wins:
# each reads it back after this pause, and the one that finds the other's token steps back.
# (Object stores' conditional writes would close the race; pyarrow.fs does not offer them.)
SETTLE_S = 1.0
# A worker forked while a thread renews the lease would inherit the S3 client's locks held by
# a thread that does not exist in it, and could hang on them: a fork waits for a renewal in
# flight, and no renewal starts during a fork.
_RENEWING = threading.Lock()
os.register_at_fork(
    before=_RENEWING.acquire,
    after_in_parent=_RENEWING.release,
    after_in_child=_RENEWING.release,
)


@contextmanager
def lock(folder: Location | Path) -> Iterator[None]:
    """Hold the folder's lock for this process; say who holds it when another run does."""
    folder = Location.of(folder)
    with _lease(folder) if folder.remote else _flock(folder.path):
        yield


def _holder() -> str:
    started = datetime.now().strftime("%Y-%m-%d %H:%M:%S")
    return f"pid {os.getpid()} on {socket.gethostname()} since {started}: {shlex.join(sys.argv)}"


def _in_use(folder: object, holder: str, how: str = "") -> OutputConflict:
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
            raise _in_use(folder, handle.read().strip() or "holder unknown") from None
        try:  # who holds it, for the message of a second run
            handle.seek(0)
            handle.truncate()
            handle.write(_holder() + "\n")
            handle.flush()
        except OSError as err:
            raise OutputError(
                f"{folder}: cannot write in the output folder ({err.strerror})"
            ) from None
        yield


@contextmanager
def _lease(folder: Location) -> Iterator[None]:
    where = folder / LOCK
    _refuse_if_held(folder, _read(where))
    mine = {
        "holder": _holder(),
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "token": uuid.uuid4().hex,
    }
    _renew(where, mine)
    time.sleep(SETTLE_S)
    found = _read(where)
    if found is None or found.get("token") != mine["token"]:
        raise _in_use(folder, (found or {}).get("holder", "holder unknown"))
    stop = threading.Event()
    renewer = threading.Thread(target=_keep, args=(where, mine, stop), daemon=True)
    renewer.start()
    try:
        yield
    finally:
        stop.set()
        renewer.join()
        with contextlib.suppress(InputError, OutputError):  # the run's own end comes first
            if (_read(where) or {}).get("token") == mine["token"]:
                where.delete()


def _read(where: Location) -> dict | None:
    try:
        found = json.loads(where.read_bytes())
    except FileNotFoundError:
        return None
    except ValueError:  # a lease cut short by a failed upload cannot be: someone else's file
        return {"holder": f"unreadable lock file {where}", "renewed": time.time()}
    return found if isinstance(found, dict) else None


def _refuse_if_held(folder: Location, held: dict | None) -> None:
    if held is None:
        return
    age = time.time() - float(held.get("renewed", 0))
    gone = held.get("host") == socket.gethostname() and not _alive(held.get("pid"))
    if age < LEASE_S and not gone:
        how = f", renewed {max(age, 0):.0f} s ago; a killed run's lock lapses after {LEASE_S:.0f} s"
        raise _in_use(folder, held.get("holder", "holder unknown"), how)


def _alive(pid: object) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _renew(where: Location, mine: dict) -> None:
    with _RENEWING:
        where.upload(json.dumps({**mine, "renewed": time.time()}).encode("utf-8"))


def _keep(where: Location, mine: dict, stop: threading.Event) -> None:
    """Renew the lease until the run ends; a failed renewal is tried again at the next turn
    (the lease lasts several turns)."""
    while not stop.wait(RENEW_S):
        with contextlib.suppress(InputError, OutputError):
            _renew(where, mine)
