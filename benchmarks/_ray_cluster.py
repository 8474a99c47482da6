"""Helpers of the Ray benchmarks: a private local Ray cluster, and a sampler of the memory and CPU
of a command's processes together with the cluster's.

Not part of the package; imported by ``bench_engine.py`` and ``bench_driver_memory.py``.

The cluster is started with ``ray start --head`` under a temporary ``RAY_TMPDIR`` of its own, so
``--ray-address auto`` from a process with the same ``RAY_TMPDIR`` finds this cluster and no
other (other people's Ray instances on the machine keep ``/tmp/ray``), and it is stopped by the
ids of its own processes (found by that folder in their command lines, plus their descendants)
rather than by ``ray stop``, which stops every Ray on the machine.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from _common import proc_status_kib

CLK_TCK = os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(x) for x in text.split()]


def cmdline(pid: int) -> str:
    try:
        return (
            Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        )
    except OSError:
        return ""


def cpu_ticks(pid: int) -> int | None:
    """utime + stime of a process, in clock ticks (None: it is gone)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def descendants(roots: list[int]) -> list[int]:
    seen, todo = [], list(roots)
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.append(pid)
        todo.extend(children(pid))
    return seen


def ray_role(cmd: str) -> str | None:
    """The Ray process a command line belongs to, or None for a non-Ray process."""
    if "gcs_server" in cmd:
        return "gcs_server"
    if "raylet/raylet" in cmd:
        return "raylet"
    if "DashboardAgent" in cmd:
        return "dashboard_agent"
    if "RuntimeEnvAgent" in cmd:
        return "runtime_env_agent"
    if "log_monitor.py" in cmd:
        return "log_monitor"
    if "autoscaler/_private/monitor.py" in cmd:
        return "monitor"
    if "dashboard/dashboard.py" in cmd:
        return "dashboard_head"
    if cmd.startswith("ray::") or "default_worker.py" in cmd or "setup_worker.py" in cmd:
        return "ray_worker"
    return None


class LocalCluster:
    """``ray start --head --num-cpus N`` under a private RAY_TMPDIR; ``stop()`` ends only it."""

    def __init__(self, cpus: int = 2, port: int | None = None):
        self.cpus, self.port = cpus, port or _free_port()
        self.tmp = tempfile.mkdtemp(prefix="rb", dir="/tmp")  # short: Unix socket paths
        self.env = {**os.environ, "RAY_TMPDIR": self.tmp, "NUMBA_NUM_THREADS": "1"}
        self.started = False

    def start(self) -> float:
        """Start the head node; returns the seconds ``ray start`` took (it returns once the
        node is up and its address is written)."""
        command = [
            "ray", "start", "--head", "--num-cpus", str(self.cpus),
            "--include-dashboard=false", "--port", str(self.port),
        ]  # fmt: skip
        t0 = time.perf_counter()
        proc = subprocess.run(command, env=self.env, capture_output=True, text=True)
        seconds = time.perf_counter() - t0
        self.started = True  # even on failure: whatever it left must be stopped
        if proc.returncode != 0:
            raise RuntimeError(f"ray start failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
        return seconds

    def first_task_seconds(self) -> float:
        """A fresh driver joining with address='auto' and running one task: join latency."""
        code = (
            "import time; t=time.perf_counter(); import ray; ray.init(address='auto',"
            " log_to_driver=False); ray.get(ray.remote(lambda: 1).remote());"
            " print(time.perf_counter()-t)"
        )
        out = subprocess.run(
            ["python", "-c", code], env=self.env, capture_output=True, text=True, check=True
        )
        return float(out.stdout.strip().splitlines()[-1])

    def root_pids(self) -> list[int]:
        """The cluster's daemons: processes with this cluster's folder in their command line,
        or with our ``RAY_TMPDIR`` in their environment (Ray's agents and workers rename their
        command line; once their raylet is gone they are children of init)."""
        mine, marker = [], f"RAY_TMPDIR={self.tmp}".encode()
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            pid = int(entry)
            if self.tmp in cmdline(pid) or marker in _environ(pid):
                mine.append(pid)
        return mine

    def pids(self) -> list[int]:
        return descendants(self.root_pids())

    def stop(self, grace: float = 15.0) -> list[int]:
        """SIGTERM every process of this cluster, SIGKILL what is left after ``grace`` seconds;
        returns the pids that needed SIGKILL. Removes the cluster's folder."""
        if not self.started:
            return []
        pids = self.pids()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.time() + grace
        alive = pids
        while alive and time.time() < deadline:
            time.sleep(0.2)
            alive = [p for p in alive if _alive(p)]
        for pid in alive:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.started = False
        shutil.rmtree(self.tmp, ignore_errors=True)
        return alive

    def __enter__(self) -> LocalCluster:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def _rss_split(pid: int) -> dict[str, int]:
    return proc_status_kib(pid, ("RssAnon:", "RssShmem:"))


def _environ(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return b""


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


class Sampler(threading.Thread):
    """Every ``interval`` s: VmHWM and CPU ticks of the process ``root`` and its descendants, and
    of ``extra()``'s processes (a running cluster's). Roles: ``driver`` (the root), ``worker``
    (local engine: same command line as the driver), Ray roles by name (``ray_role``)."""

    def __init__(self, root: int, extra=None, interval: float = 0.05):
        super().__init__(daemon=True)
        self.root, self.extra, self.interval = root, extra, interval
        # Processes that ran before the command (a running cluster's): their CPU is counted from
        # the first sample; the command's own processes from their start.
        self.preexisting = set(descendants(extra())) if extra else set()
        self.peak: dict[int, int] = {}
        # RssAnon: private memory; RssShmem: shared memory mapped (Ray's object store) - both
        # are in VmHWM, so Ray processes that read or write objects look larger than they are.
        self.anon: dict[int, int] = {}
        self.shmem: dict[int, int] = {}
        self.role: dict[int, str] = {}
        self.cpu_first: dict[int, int] = {}
        self.cpu_last: dict[int, int] = {}
        self._root_cmd = cmdline(root)
        self._stop_event = threading.Event()

    def _classify(self, pid: int) -> str:
        if pid == self.root:
            return "driver"
        cmd = cmdline(pid)
        role = ray_role(cmd)
        if role:
            return role
        if cmd == self._root_cmd or "spawn_main" in cmd or "forkserver" in cmd:
            return "worker"
        if "resource_tracker" in cmd:
            return "resource_tracker"
        return "other"

    def sample(self) -> None:
        roots = [self.root, *(self.extra() if self.extra else [])]
        for pid in descendants(roots):
            status = proc_status_kib(pid)
            ticks = cpu_ticks(pid)
            if not status or ticks is None:
                continue
            private = _rss_split(pid)
            self.anon[pid] = max(self.anon.get(pid, 0), private.get("RssAnon", 0))
            self.shmem[pid] = max(self.shmem.get(pid, 0), private.get("RssShmem", 0))
            role = self._classify(pid)
            if role != "other" or pid not in self.role:  # names change: setup_worker -> ray::
                self.role[pid] = role
            self.peak[pid] = max(self.peak.get(pid, 0), status["VmHWM"])
            self.cpu_first.setdefault(pid, ticks)
            self.cpu_last[pid] = ticks

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.sample()
            time.sleep(self.interval)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()

    def by_role(self) -> dict[str, dict]:
        """role -> {processes, peak_kib (largest VmHWM), cpu_s (sum over its processes)}."""
        out: dict[str, dict] = {}
        for pid, role in self.role.items():
            entry = out.setdefault(
                role, {"processes": 0, "peak_kib": 0, "anon_kib": 0, "shmem_kib": 0, "cpu_s": 0.0}
            )
            entry["processes"] += 1
            entry["peak_kib"] = max(entry["peak_kib"], self.peak[pid])
            entry["anon_kib"] = max(entry["anon_kib"], self.anon.get(pid, 0))
            entry["shmem_kib"] = max(entry["shmem_kib"], self.shmem.get(pid, 0))
            ticks = self.cpu_last[pid] - (self.cpu_first[pid] if pid in self.preexisting else 0)
            entry["cpu_s"] += ticks / CLK_TCK
        return out
