"""A lock for a folder on an object store, which has no locks: a lease object.

The run that holds a prefix writes ``.metacurate.lock`` (who it is and a random token), renews
it every ``RENEW_S`` seconds and deletes it when it ends. Another run refuses the prefix while
the lease is younger than ``LEASE_S`` by the store's clock (the object's modification time),
unless its holder is visibly gone: a process of this same machine and pid namespace that no
longer runs, which is how a killed run's own command resumes at once. A holder that finds its
lease taken over, or cannot renew it for longer than the lease lasts, stops with one line
(``LeaseLost``, at the stage runner's next task) rather than write beside another run.

Two runs that take a free lease at the same moment both write it, and the later write wins:
each reads it back after ``SETTLE_S`` and the one that finds the other's token steps back.
(Object stores' conditional writes would close that race; pyarrow.fs does not offer them.)
"""

import contextlib
import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from metacurate.errors import InputError, LeaseLost, OutputError
from metacurate.location import Location
from metacurate.writers.lock import in_use

RENEW_S = 10.0
LEASE_S = 60.0
SETTLE_S = 1.0
# A worker forked while a thread renews the lease would inherit the S3 client's locks held by
# a thread that does not exist in it, and could hang on them: a fork waits for a renewal in
# flight, and no renewal starts during a fork.
_RENEWING = threading.Lock()
_LOST: dict[str, str] = {}  # why a lease this process holds was lost, by its token
os.register_at_fork(
    before=_RENEWING.acquire,
    after_in_parent=_RENEWING.release,
    after_in_child=_RENEWING.release,
)


@contextmanager
def lease(folder: Location, where: Location, holder: str) -> Iterator[None]:
    """Hold ``folder`` through the lease object ``where`` while the block runs."""
    _refuse_if_held(folder, *_look(where))
    mine = {"holder": holder, **_process(), "token": uuid.uuid4().hex}
    try:
        _write(where, mine)
        time.sleep(SETTLE_S)
        found, _ = _look(where)
        if found is None or found.get("token") != mine["token"]:
            raise in_use(folder, (found or {}).get("holder", "holder unknown"))
        with _renewed(folder, where, mine):
            yield
    finally:
        _LOST.pop(mine["token"], None)
        with contextlib.suppress(InputError, OutputError):  # the run's own end comes first
            if (_look(where)[0] or {}).get("token") == mine["token"]:
                where.delete()


def _look(where: Location) -> tuple[dict | None, float]:
    """The lease there (None: there is none) and its age in seconds by the store's clock."""
    try:
        raw = where.read_bytes()
        age = time.time() - where.modified()
    except FileNotFoundError:
        return None, 0.0
    try:
        found = json.loads(raw)
    except ValueError:
        found = None
    if not isinstance(found, dict):  # a local run's lock file copied up with its folder
        found = {"holder": f"{where} is not a metacurate lease; remove it if no run uses it"}
    return found, age


def _refuse_if_held(folder: Location, held: dict | None, age: float) -> None:
    if held is not None and age < LEASE_S and not _gone(held):
        how = (
            f", renewed {max(age, 0):.0f} s ago; a killed run's lease lapses after {LEASE_S:.0f} s"
        )
        raise in_use(folder, held.get("holder", "holder unknown"), how)


# --- who holds it ----------------------------------------------------------------------------


def _process() -> dict:
    """What tells this process apart from any other, on any machine, now or later: a pid alone
    is not enough (another pid namespace, a container with the same host name, a reused pid)."""
    return {
        "host": socket.gethostname(),
        "boot": _read_proc("/proc/sys/kernel/random/boot_id"),
        "pid_namespace": _pid_namespace(),
        "pid": os.getpid(),
        "started": _started(os.getpid()),
    }


def _gone(held: dict) -> bool:
    """Whether the holder was a process of this machine and pid namespace that has ended."""
    me = _process()
    same_place = all(
        me[key] is not None and held.get(key) == me[key]
        for key in ("host", "boot", "pid_namespace")
    )
    pid = held.get("pid")
    if not same_place or not isinstance(pid, int) or pid <= 0:
        return False
    started = _started(pid)
    return started is None or started != held.get("started")


def _read_proc(path: str) -> str | None:
    try:
        with open(path, encoding="ascii") as f:
            return f.read().strip()
    except OSError:
        return None


def _pid_namespace() -> int | None:
    try:
        return os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return None


def _started(pid: int) -> str | None:
    """When process ``pid`` started (clock ticks since boot), or None if it is not running."""
    stat = _read_proc(f"/proc/{pid}/stat")
    return stat.rsplit(")", 1)[1].split()[19] if stat else None


# --- keeping it --------------------------------------------------------------------------------


def _write(where: Location, mine: dict) -> None:
    with _RENEWING:
        where.upload(json.dumps(mine).encode("utf-8"))


@contextmanager
def _renewed(folder: Location, where: Location, mine: dict) -> Iterator[None]:
    """Renew the lease in a thread while the block runs."""
    done = threading.Event()
    renewer = threading.Thread(target=_keep, args=(folder, where, mine, done), daemon=True)
    renewer.start()
    try:
        yield
    finally:
        done.set()
        renewer.join()


def check_held() -> None:
    """Raise ``LeaseLost`` if a lease this process holds was taken over or has lapsed. The stage
    runner asks before each marker it writes: a run that lost its folder writes no more marks
    there, and stops between two tasks, where stopping is clean (a signal could land inside a
    compiled kernel)."""
    if _LOST:
        raise LeaseLost(next(iter(_LOST.values())))


def _keep(folder: Location, where: Location, mine: dict, done: threading.Event) -> None:
    """Renew the lease every ``RENEW_S`` until ``done``; a failed renewal is tried again at the
    next turn, and the run is stopped once the lease is another run's or has lapsed."""
    renewed = time.monotonic()
    while not done.wait(RENEW_S):
        try:
            held, _ = _look(where)
            if (held or {}).get("token") != mine["token"]:
                taker = (held or {}).get("holder", "the lease was removed")
                _LOST[mine["token"]] = (
                    f"{folder}: another run took this folder over ({taker}); stopped"
                )
                return
            _write(where, mine)
            renewed = time.monotonic()
        except (InputError, OutputError) as err:
            if time.monotonic() - renewed > LEASE_S - RENEW_S:
                _LOST[mine["token"]] = (
                    f"{folder}: the lease could not be renewed for {LEASE_S - RENEW_S:.0f} s"
                    f" ({err}); stopped so that no other run writes beside this one"
                )
                return
