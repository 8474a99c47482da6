"""Faults through the command line, as a user meets them: a worker killed (as the out-of-memory
killer does), Ctrl-C to the process group, SIGTERM, a killed driver, two runs into one folder.

Each must end the run within seconds with one line and no traceback, leave no process behind,
and the same command must then finish with outputs byte-identical to an undisturbed run. The
tests drive ``python -m metacurate`` in its own session and know nothing of how the engine runs
its workers beyond "child processes of the driver", so they hold for any engine.
"""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers import alive, same_outputs
from wiki_fixtures import write_pageviews

ENDS_WITHIN = 15.0  # seconds from the fault to the driver's exit, on a loaded 2-core machine
WORDS = [
    "a",
    "photo",
    "of",
    "the",
    "dog",
    "cat",
    "red",
    "new",
    "york",
    "black",
    "white",
    "house",
    "car",
    "tree",
    "sky",
    "blue",
    "green",
    "man",
    "woman",
    "on",
    "in",
    "with",
    "at",
    "by",
    "beach",
    "city",
    "night",
    "old",
    "young",
    "small",
    "big",
]
CURATE = ["curate", "--lang", "en", "--t", "1000", "--workers", "2"]


def _write_pool(folder: Path) -> list[str]:
    """12 files of English-like texts: enough work (~4 s on 2 workers) to be interrupted."""
    rng = np.random.default_rng(0)
    folder.mkdir()
    words = np.array(WORDS)
    paths = []
    for f in range(12):
        texts = [" ".join(row) for row in words[rng.integers(0, len(words), (20_000, 30))]]
        urls = [f"https://example.com/{f}/{i}.jpg" for i in range(len(texts))]
        paths.append(str(folder / f"pool-{f:02d}.parquet"))
        pq.write_table(pa.table({"url": urls, "text": texts}), paths[-1])
    return paths


@pytest.fixture(scope="module")
def pool(tmp_path_factory) -> list[str]:
    return _write_pool(tmp_path_factory.mktemp("faults") / "pool")


@pytest.fixture(scope="module")
def clean(pool, tmp_path_factory) -> Path:
    """The outputs of an undisturbed run."""
    out = tmp_path_factory.mktemp("clean") / "out"
    _run([*CURATE, *pool, "--out", str(out)])
    return out


def _run(args: list[str]) -> subprocess.CompletedProcess:
    done = subprocess.run(_command(args), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done


def _command(args: list[str]) -> list[str]:
    return [sys.executable, "-m", "metacurate", *args]


class Run:
    """A metacurate command in its own session (so a signal can go to its process group)."""

    def __init__(self, args: list[str], log: Path):
        self.log = log
        with open(log, "w") as stderr:
            self.process = subprocess.Popen(
                _command(args),
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                start_new_session=True,
                # As in a terminal, whatever this test runner inherited (a background job
                # starts with Ctrl-C ignored).
                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
            )
        self.seen: set[int] = set()

    def children(self) -> set[int]:
        pid = self.process.pid
        try:
            found = {
                int(child)
                for task in Path(f"/proc/{pid}/task").iterdir()
                for child in (task / "children").read_text().split()
            }
        except FileNotFoundError:  # the driver has exited
            found = set()
        self.seen |= found
        return found

    def wait_for_workers(self, count: int = 2, timeout: float = 120.0) -> list[int]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.children()
            if len(found) >= count:
                return sorted(found)
            assert self.process.poll() is None, f"ended before its workers started: {self.stderr}"
            time.sleep(0.005)
        raise AssertionError(f"no {count} workers within {timeout} s")

    def ends(self) -> int:
        """The exit status, asserting the driver exits within ENDS_WITHIN seconds."""
        started = time.monotonic()
        code = self.process.wait(timeout=60)
        assert time.monotonic() - started < ENDS_WITHIN, self.stderr
        return code

    @property
    def stderr(self) -> str:
        return self.log.read_text()

    def error_line(self) -> str:
        """The run's last line, asserting it is its only message (no traceback)."""
        assert "Traceback" not in self.stderr, self.stderr
        return self.stderr.strip().splitlines()[-1]

    def no_process_left(self) -> None:
        deadline = time.monotonic() + 5
        running = self.seen
        while running and time.monotonic() < deadline:
            running = {pid for pid in running if alive(pid)}
            time.sleep(0.05)
        assert not running, f"processes left behind: {running}"


def _kill_a_worker(run: Run) -> None:
    """SIGKILL one worker while the driver is stopped, so the run has tasks left, whatever
    the machine's speed."""
    workers = run.wait_for_workers()
    os.kill(run.process.pid, signal.SIGSTOP)
    os.kill(workers[0], signal.SIGKILL)
    os.kill(run.process.pid, signal.SIGCONT)


def test_a_killed_worker_ends_the_run_and_the_same_command_resumes(pool, clean, tmp_path):
    args = [*CURATE, *pool, "--out", str(tmp_path / "out")]
    run = Run(args, tmp_path / "log")
    _kill_a_worker(run)
    assert run.ends() == 2
    assert run.error_line().startswith("error: a worker process was killed by SIGKILL")
    assert "run the same command again to resume" in run.error_line()
    run.no_process_left()
    _run(args)
    same_outputs(tmp_path / "out", clean)


def test_a_killed_worker_ends_balance_too(clean, tmp_path):
    for name in ("out", "undisturbed"):
        shutil.copytree(clean, tmp_path / name, ignore=shutil.ignore_patterns("curated-*"))
    args = ["balance", "--t", "1000", "--workers", "2"]
    run = Run([*args, str(tmp_path / "out")], tmp_path / "log")
    _kill_a_worker(run)
    assert run.ends() == 2
    assert "killed by SIGKILL" in run.error_line()
    run.no_process_left()
    _run([*args, str(tmp_path / "out")])
    _run([*args, str(tmp_path / "undisturbed")])
    same_outputs(tmp_path / "out", tmp_path / "undisturbed")


def test_a_killed_worker_ends_a_metadata_build(tmp_path):
    views = tmp_path / "views"
    for hour in range(16):
        lines = [f"en Title_{hour}_{i} {100 + i} 0" for i in range(2000)]
        write_pageviews(views, f"pageviews-20220101-{hour:02d}0000.gz", lines)
    args = ["metadata", "build", "--pageviews", str(views), "--workers", "2"]
    run = Run([*args, "--out", str(tmp_path / "m.json")], tmp_path / "log")
    _kill_a_worker(run)
    assert run.ends() == 2
    assert "killed by SIGKILL" in run.error_line()
    assert "unfinished: pageviews-20220101-" in run.error_line()  # named by file, not repr
    run.no_process_left()
    _run([*args, "--out", str(tmp_path / "m.json")])
    _run([*args, "--out", str(tmp_path / "undisturbed.json")])
    assert (tmp_path / "m.json").read_bytes() == (tmp_path / "undisturbed.json").read_bytes()


@pytest.mark.parametrize(
    "how, line",
    [
        ("ctrl-c", "error: interrupted (Ctrl-C)"),
        ("sigterm", "error: interrupted by SIGTERM"),
    ],
)
def test_one_interruption_stops_everything_in_seconds(pool, clean, tmp_path, how, line):
    args = [*CURATE, *pool, "--out", str(tmp_path / "out")]
    run = Run(args, tmp_path / "log")
    run.wait_for_workers()
    if how == "ctrl-c":  # the terminal sends it to the whole foreground process group
        os.killpg(run.process.pid, signal.SIGINT)
    else:  # a scheduler or `kill` stops the driver alone
        run.process.terminate()
    assert run.ends() == 130
    assert run.error_line().startswith(line)
    run.no_process_left()
    _run(args)
    same_outputs(tmp_path / "out", clean)


@pytest.mark.parametrize("after", [0.5, 0.8])
def test_ctrl_c_while_the_command_starts_is_one_line_too(pool, tmp_path, after):
    """Still importing (numba, pyarrow: about a second): no traceback either."""
    run = Run(["match", pool[0], "--out", str(tmp_path / "out")], tmp_path / "log")
    time.sleep(after)
    os.killpg(run.process.pid, signal.SIGINT)
    assert run.ends() == 130, run.stderr
    assert run.error_line().startswith("error: interrupted (Ctrl-C)")


# A library whose optional import catches everything (a bare ``except:``), as some do: Ctrl-C
# lands during the start-up imports and its KeyboardInterrupt is swallowed there.
_SWALLOWING_IMPORT = """
import builtins, os, signal, sys
real_import = builtins.__import__
def importing(name, *args, **kwargs):
    if name == "metacurate.cli" and not getattr(importing, "done", False):
        importing.done = True
        try:
            os.kill(os.getpid(), signal.SIGINT)
            real_import("json")  # the interruption is raised at the next bytecode
        except:  # noqa: E722
            pass
    return real_import(name, *args, **kwargs)
builtins.__import__ = importing
sys.argv = ["metacurate", *sys.argv[1:]]
from metacurate.__main__ import main
main()
"""


@pytest.mark.parametrize("error", [None, "RuntimeError"])
def test_a_ctrl_c_a_library_swallows_or_wraps_while_starting_still_stops(pool, tmp_path, error):
    """The interruption is remembered, not only raised: the command stops with the one line
    instead of running on (swallowed) or ending in a traceback (wrapped in another error)."""
    script = _SWALLOWING_IMPORT
    if error:  # the library turns it into an error of its own
        script = script.replace("pass\n", f"raise {error}('optional import failed')\n", 1)
    result = subprocess.run(
        [sys.executable, "-c", script, "match", pool[0], "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 130, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: interrupted (Ctrl-C)")
    assert not (tmp_path / "out" / "match_summary.json").exists()


def test_a_killed_driver_leaves_no_worker_behind(pool, clean, tmp_path):
    args = [*CURATE, *pool, "--out", str(tmp_path / "out")]
    run = Run(args, tmp_path / "log")
    run.wait_for_workers()
    run.process.kill()
    run.process.wait()
    run.no_process_left()
    _run(args)
    same_outputs(tmp_path / "out", clean)


def test_a_second_run_into_the_same_folder_is_refused_while_the_first_goes_on(
    pool, clean, tmp_path
):
    args = [*CURATE, *pool, "--out", str(tmp_path / "out")]
    first = Run(args, tmp_path / "first.log")
    first.wait_for_workers()
    second = subprocess.run(_command(args), capture_output=True, text=True, timeout=60)
    assert second.returncode == 2
    assert "Traceback" not in second.stderr
    assert f"is in use by another metacurate run (pid {first.process.pid} on" in second.stderr
    assert first.process.wait(timeout=120) == 0, first.stderr
    same_outputs(tmp_path / "out", clean)
