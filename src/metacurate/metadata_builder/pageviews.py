"""Wikipedia titles by pageviews: the ``en`` lines of hourly pageview files summed per title
(SPEC 3).

A line is ``<project> <Title_With_Underscores> <views> <bytes>``. Each file is read in a worker
and written as one Parquet run of (title, views) with a marker holding what was seen and
rejected, so a re-run skips finished files; DuckDB sums the runs. Lines of other projects are
skipped without being parsed (they are most of each file).
"""

import bz2
import gzip
import hashlib
import json
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from metacurate.engine import LocalEngine
from metacurate.errors import InputError
from metacurate.readers.base import Rejects
from metacurate.writers.atomic import atomic_path, write_json

PROJECT = b"en "
# Wikimedia's hourly dump names; a folder may hold other files (checksums, our own work files).
FILE_NAME = re.compile(r"pageviews-\d{8}-\d{6}(\.gz|\.bz2)?")
PARSING_VERSION = "pageviews-v1"


@dataclass(frozen=True)
class PageviewFile:
    path: Path
    run: Path  # <work>/pageviews/<name>-<digest>.parquet, with a .json marker beside it

    @property
    def marker(self) -> Path:
        return self.run.with_suffix(".json")

    @property
    def name(self) -> str:
        return self.path.name


def pageview_files(inputs: list[Path], work_dir: Path) -> list[PageviewFile]:
    """The files of the given paths (folders are searched for ``pageviews-*`` files)."""
    files = []
    for path in inputs:
        if path.is_dir():
            found = sorted(p for p in path.rglob("pageviews-*") if FILE_NAME.fullmatch(p.name))
            if not found:
                raise InputError(f"{path}: no pageviews-* files in this folder")
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise InputError(f"{path}: pageview file or folder not found")
    return [PageviewFile(p, _run_path(work_dir, p)) for p in files]


def _run_path(work_dir: Path, path: Path) -> Path:
    st = path.stat()
    key = f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{PARSING_VERSION}"
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    return work_dir / "pageviews" / f"{path.name}-{digest}.parquet"


def _open(path: Path):
    with open(path, "rb") as f:
        magic = f.read(3)
    if magic.startswith(b"\x1f\x8b"):
        return gzip.open(path, "rb")
    if magic.startswith(b"BZh"):
        return bz2.open(path, "rb")
    return open(path, "rb")  # noqa: SIM115


def count_file(file: PageviewFile) -> dict:
    """Worker: sum one file's ``en`` views per title (``_`` -> space, titles with ``:``
    skipped), write the run, then the marker."""
    rejects = Rejects()
    views: Counter = Counter()
    line_number = 0
    try:
        with _open(file.path) as lines:
            for line_number, line in enumerate(lines, 1):  # noqa: B007 - read after the loop
                if not line.startswith(PROJECT):
                    rejects.count("lines_other_projects")
                    continue
                _add_line(line, f"{file.path}:{line_number}", views, rejects)
    except (EOFError, OSError) as err:
        detail = "compressed stream ends early" if isinstance(err, EOFError) else str(err)
        rejects.add("truncated_input", f"{file.path}:{line_number + 1}", detail)
    table = pa.table(
        {
            "title": pa.array(list(views), pa.string()),
            "views": pa.array(list(views.values()), pa.int64()),
        }
    )
    file.run.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(file.run) as tmp:
        pq.write_table(table, tmp, compression="zstd")
    stats = {"lines": line_number} | rejects.as_stats()
    write_json(file.marker, stats)
    return stats


def _add_line(line: bytes, where: str, views: Counter, rejects: Rejects) -> None:
    fields = line.rstrip(b"\r\n").split(b" ")
    if len(fields) != 4 or not fields[1]:
        rejects.add("malformed_line", where, "expected 'project title views bytes'")
        return
    if not fields[2].isdigit():
        rejects.add("malformed_line", where, f"views {fields[2][:20]!r} is not a number")
        return
    count = int(fields[2])
    try:
        title = fields[1].decode("utf-8")
    except UnicodeDecodeError as err:
        rejects.add("invalid_utf8", where, f"byte {err.start} of the title")
        return
    rejects.count("lines_en")
    if ":" in title:
        rejects.count("titles_with_colon")
        return
    views[title.replace("_", " ")] += count


def count_pageviews(files: list[PageviewFile], workers: int, rejects: Rejects, on_file=None) -> int:
    """Count every file not counted before; merge all files' statistics into ``rejects``.
    Returns how many files were reused from a previous run."""
    todo = [f for f in files if not f.marker.exists()]
    LocalEngine(workers).map(count_file, todo, lambda f, stats: on_file and on_file(f))
    for file in files:
        stats = json.loads(file.marker.read_text("utf-8"))
        rejects.absorb(stats)
        rejects.seen["pageview_lines"] += stats["lines"]
    return len(files) - len(todo)
