"""The faults of tests/test_faults.py through the command line with ``--engine ray --workers 2``
(a local Ray that the command starts and stops): a Ray worker killed mid-task, Ctrl-C, SIGTERM,
a killed driver, two runs into one folder.

Ray's processes are not all children of the driver (the raylet starts the workers, each in a
process group of its own), but all stay in the command's session: the tests list the session's
processes through /proc. Outputs are compared with an undisturbed run of the same command on the
local engine: both engines must write the same bytes.
"""

import contextlib
import os
import signal
import time
from pathlib import Path

import pytest
from helpers import alive, same_as_local, session_processes
from test_faults import CURATE, Run, _run, _write_pool

pytest.importorskip("ray")

RAY = ["--engine", "ray"]
TASK = "ray::_run"  # what a Ray worker process is called while it runs a task of ours
# A Ray worker process is called so while it starts, then ray::IDLE between tasks.
WORKER_NAMES = {"default_worker.py", "setup_worker.py", "ray::IDLE", TASK}
GONE_WITHIN = 5.0  # seconds from the driver's exit until no process of the run is left
# Measured with Ray 2.60: a driver killed with SIGKILL takes gcs_server, raylet and the monitors
# with it at once (PR_SET_PDEATHSIG), and the workers running tasks end within a second or two
# of their raylet. Not so two kinds of process, which hold no file of the run but outlive it:
# - the raylet's two agents see its end at once (their stdin pipe closes), but first try to
#   report it to the GCS, which is gone, and give up only after the fixed 60 s timeout of
#   ray._private.utils.publish_error_to_driver;
# - a worker process still starting (not yet connected) tries the GCS 20 times a second apart
#   (ray._private.node: NUM_REDIS_GET_RETRIES) and exits about 25 s later.
LINGER_60_S = {"ray::DashboardAgent", "ray::RuntimeEnvAgent"}


@pytest.fixture(scope="module")
def pool(tmp_path_factory) -> list[str]:
    """Half of test_faults' pool: a Ray run still lasts seconds after its first task starts."""
    return _write_pool(tmp_path_factory.mktemp("ray-faults") / "pool")[:6]


@pytest.fixture(scope="module")
def clean(pool, tmp_path_factory) -> Path:
    """The outputs of an undisturbed run of the same command on the local engine."""
    out = tmp_path_factory.mktemp("clean") / "out"
    _run([*CURATE, *pool, "--out", str(out)])
    return out


def _short(cmdline: str) -> str:
    """A process's name as the tests speak of it: ``ray::_run``, ``raylet``, ``monitor.py``."""
    words = cmdline.split() or ["?"]
    if words[0].startswith("ray::"):
        return words[0]
    if not Path(words[0]).name.startswith("python"):
        return Path(words[0]).name
    if "-m" in words[1:-1]:
        return words[words.index("-m") + 1]
    scripts = [w for w in words[1:] if w.endswith(".py")]
    return Path(scripts[0]).name if scripts else words[0]


class RayRun(Run):
    """A command with ``--engine ray`` in its own session; ``named`` keeps every process of the
    session it saw, with its last name."""

    def __init__(self, args: list[str], log: Path):
        super().__init__(args, log)
        self.named: dict[int, str] = {}

    def processes(self) -> dict[int, str]:
        found = {pid: _short(cmdline) for pid, cmdline in session_processes(self.sid).items()}
        self.named.update(found)
        return found

    @property
    def sid(self) -> int:
        return self.process.pid

    def wait_for_a_task(self, every_worker: bool = False, timeout: float = 120.0) -> list[int]:
        """The Ray worker processes running a task of ours, once there is one (``every_worker``:
        once every worker process runs one, and none is starting)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            workers = {pid: n for pid, n in self.processes().items() if n in WORKER_NAMES}
            running = [pid for pid, name in workers.items() if name == TASK]
            if running and (not every_worker or len(running) == len(workers)):
                return running
            assert self.process.poll() is None, f"ended before a task started: {self.stderr}"
            time.sleep(0.01)
        raise AssertionError(f"no {TASK} process within {timeout} s: {self.named}")

    def left_after_exit(self, expected: set[str] = frozenset()) -> dict[int, str]:
        """The processes of the run still alive GONE_WITHIN seconds after the driver ended, or
        as soon as only ``expected`` ones are."""
        assert self.process.poll() is not None
        deadline = time.monotonic() + GONE_WITHIN
        left = self.processes()
        while not set(left.values()) <= expected and time.monotonic() < deadline:
            time.sleep(0.05)
            left = self.processes()
        return left

    def no_process_left(self) -> None:
        left = self.left_after_exit()
        assert not left, f"processes left behind {GONE_WITHIN} s after the exit: {left}"


def _kill_a_task(run: RayRun) -> int:
    """SIGKILL a Ray worker process in the middle of a task: stopped first, and killed only if
    it was still running the task once stopped. Returns its pid."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        for pid in run.wait_for_a_task():
            try:
                os.kill(pid, signal.SIGSTOP)
            except ProcessLookupError:
                continue
            if _short(session_processes(run.sid).get(pid, "")) == TASK:
                os.kill(pid, signal.SIGKILL)
                return pid
            os.kill(pid, signal.SIGCONT)  # its task ended meanwhile
    raise AssertionError("no task of ours could be caught running")


def test_a_killed_ray_worker_is_retried_and_the_run_completes(pool, clean, tmp_path):
    """Unlike the local engine, Ray runs a task whose worker died again (``max_retries``)."""
    out = tmp_path / "out"
    run = RayRun([*CURATE, *RAY, *pool, "--out", str(out)], tmp_path / "log")
    killed = _kill_a_task(run)
    assert run.process.wait(timeout=180) == 0, run.stderr
    assert not alive(killed)
    assert "Traceback" not in run.stderr, run.stderr
    run.no_process_left()
    same_as_local(out, clean)


def _interrupt(run: RayRun, how: str) -> None:
    """Ctrl-C or SIGTERM once a task of ours runs: the driver stops Ray and every worker."""
    run.wait_for_a_task()
    started = set(run.named.values())
    assert {"metacurate", "gcs_server", "raylet", TASK} <= started, started
    if how == "ctrl-c":  # the terminal sends it to the whole foreground process group
        os.killpg(run.process.pid, signal.SIGINT)
    else:  # a scheduler or `kill` stops the driver alone
        run.process.terminate()
    assert run.ends() == 130, how
    line = "error: interrupted (Ctrl-C)" if how == "ctrl-c" else "error: interrupted by SIGTERM"
    assert run.error_line().startswith(line)
    assert "SIGTERM received" not in run.stderr  # Ray's own handler had replaced ours
    run.no_process_left()


def _kill_the_driver(run: RayRun) -> None:
    """SIGKILL the driver once every worker runs a task of ours (a worker process still starting
    would linger ~25 s: see LINGER_60_S); Ray's processes end with it, but for its agents."""
    run.wait_for_a_task(every_worker=True)
    run.process.kill()
    run.process.wait()
    left = run.left_after_exit(LINGER_60_S)
    try:
        assert set(left.values()) <= LINGER_60_S, f"processes left behind: {left}"
    finally:
        for pid in left:  # not to leave them for 60 s to the tests that follow
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def test_a_killed_driver_ctrl_c_and_sigterm_stop_ray_and_the_command_resumes(pool, clean, tmp_path):
    """Each fault stops a run of the same command, which resumes what the one before left;
    then it runs to the end. (One test, not three: Ray's start and stop are most of a run.)
    The driver is killed first, while there are still shards for both workers."""
    args = [*CURATE, *RAY, *pool, "--out", str(tmp_path / "out")]
    _kill_the_driver(RayRun(args, tmp_path / "sigkill.log"))
    _interrupt(RayRun(args, tmp_path / "ctrl-c.log"), "ctrl-c")
    _interrupt(RayRun(args, tmp_path / "sigterm.log"), "sigterm")
    _run(args)
    same_as_local(tmp_path / "out", clean)


def test_a_ray_run_into_a_folder_in_use_is_refused(pool, tmp_path):
    """The first run is a local one, which starts in a second; that it then finishes to the
    same bytes is test_faults' concern."""
    args = [*pool, "--out", str(tmp_path / "out")]
    first = Run([*CURATE, *args], tmp_path / "first.log")
    first.wait_for_workers()
    second = RayRun([*CURATE, *RAY, *args], tmp_path / "second.log")
    assert second.process.wait(timeout=60) == 2
    assert "Traceback" not in second.stderr
    assert f"is in use by another metacurate run (pid {first.process.pid} on" in second.stderr
    second.no_process_left()  # it refused before starting any Ray
    assert first.process.poll() is None  # the refusal did not stop the first run
    os.killpg(first.process.pid, signal.SIGINT)
    assert first.ends() == 130
