"""Plain functions that several test files share: `from helpers import read_table` (conftest.py
puts tests/ on sys.path). Shared fixtures are in conftest.py."""

import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from metacurate.readers import Rejects, plan_shards, read_shard


def read_tables(path: Path | str, text_column: str = "text") -> tuple[list[pa.Table], Rejects]:
    """The batches a reader gives for one input file (one shard), and the rejects it counted."""
    rejects = Rejects()
    (shard,) = plan_shards([str(path)])
    return list(read_shard(shard, text_column, rejects)), rejects


def read_table(path: Path | str, text_column: str = "text") -> tuple[pa.Table | None, Rejects]:
    """`read_tables` with the batches concatenated; None when the file gave no batch."""
    tables, rejects = read_tables(path, text_column)
    return (pa.concat_tables(tables) if tables else None), rejects


def concat_parts(folder: Path, pattern: str = "part-*.parquet") -> pa.Table:
    """The Parquet parts of an output folder, in name order, as one table."""
    return pa.concat_tables(pq.read_table(p) for p in sorted(folder.glob(pattern)))


def run_outputs(out: Path, named: str | None = None) -> dict[str, bytes]:
    """Every file a user reads, with the run's folder (as the command ``named`` it, if not
    ``out``) and the time of the card made neutral."""
    files = {}
    for path in sorted(out.rglob("*")):
        name = str(path.relative_to(out))
        if not path.is_file() or path.name.startswith(".") or name.endswith("_summary.json"):
            continue  # summaries say how many parts were resumed, and may differ in that
        data = path.read_bytes()
        if path.name.startswith("datacard."):
            data = re.sub(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", b"TIME", data)
            data = data.replace((named or str(out)).encode(), b"OUT")
        files[name] = data
    return files


def same_outputs(out: Path, clean: Path, named: str | None = None) -> None:
    got, want = run_outputs(out, named), run_outputs(clean)
    assert sorted(got) == sorted(want)
    for name in want:
        assert got[name] == want[name], name


def same_as_local(out: Path, clean: Path, named: str | None = None) -> None:
    """Every file a user reads is byte-identical to the local engine's; the data card records
    the command, which differs by its ``--engine ray``."""
    got, want = run_outputs(out, named), run_outputs(clean)
    assert sorted(got) == sorted(want)
    for name, data in got.items():
        if Path(name).name.startswith("datacard."):
            data = data.replace(b" --engine ray", b"")
        assert data == want[name], name


def alive(pid: int) -> bool:
    """Whether process ``pid`` still runs (a zombie has ended: only its exit status is left)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def session_processes(sid: int) -> dict[int, str]:
    """The live processes of session ``sid``, by pid, with their command lines (a Ray process
    renames itself: ``ray::IDLE``, ``ray::_run`` while it runs a task of ``_run``).

    A command started with ``start_new_session=True`` leads session ``sid`` (its pid), and
    whatever it starts stays in that session however deep (Ray's raylet and workers, each in a
    process group of its own, too), orphans re-parented to init included, unless one calls
    ``setsid`` itself."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:  # it ended meanwhile
            continue
        state, _ppid, _pgrp, session = stat.rsplit(")", 1)[1].split()[:4]
        if int(session) == sid and state != "Z":
            found[int(entry.name)] = cmdline.replace(b"\0", b" ").decode(errors="replace").strip()
    return found
