"""An output folder remembers the run that made it, and only that run's files are ever removed.

A run's manifest (its configuration) is written before anything else. Running again with the
same configuration resumes. A different run is refused or, with ``--overwrite``, replaces
exactly the files the earlier manifest says that run wrote: never another file in the folder,
and never an input of the new run. A lock keeps a second run out of a folder while one writes.
"""

import json
import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from metacurate.datacard import JSON_NAME, MARKDOWN_NAME, PLOT_NAME
from metacurate.errors import OutputConflict
from metacurate.pipeline import dedup
from metacurate.readers.base import part_name
from metacurate.readers.sources import is_remote
from metacurate.writers.atomic import TMP_MARK, make_folder, write_json
from metacurate.writers.lock import LOCK, lock

STAGING = "staging"
MATCHED = "matched"
MATCH_SUMMARY = "match_summary.json"
COUNTS = "entry_counts.npy"
METADATA = "metadata.json"
EXTRACT_SUMMARY = "extract_summary.json"
CURATED_GLOB = "curated-t*-seed*"


def curated_name(t: int, seed: int) -> str:
    return f"curated-t{t}-seed{seed}"


def part_marker(part: str) -> str:
    """``part-00003.parquet`` -> ``part-00003.json``: the statistics that mark the part done."""
    return f"{Path(part).stem}.json"


def part_done(folder: Path, part: str) -> bool:
    """A part is done when its marker, written after it, is there, and the part still is."""
    return (folder / part_marker(part)).is_file() and (folder / part).is_file()


@dataclass(frozen=True)
class Layout:
    """The files one stage writes into its folder, as named by a run's manifest."""

    manifest: str
    files: Callable[[dict], list[str]]  # manifest -> names relative to the folder
    # Later stages' runs in subfolders, made from this run's outputs: replaced along with it.
    dependents: tuple[str, "Layout"] | None = None


def _parts(folder: str, count: int, suffixes: Iterable[str]) -> list[str]:
    prefix = f"{folder}/" if folder else ""
    return [f"{prefix}{part_name(i, count)}{suffix}" for i in range(count) for suffix in suffixes]


def _staged(config: dict) -> list[str]:
    shards = len(config["shards"])
    return [
        *_parts(STAGING, shards, (".parquet", ".ids.npy", ".json")),
        # The shuffle's blocks and buckets: never more of either than shards.
        *(f"{STAGING}/{name(n)}" for n in range(shards) for name in dedup.NUMBERED_FILES),
    ]


BALANCE = Layout(
    "balance_run.json",
    lambda c: [
        *(name for part in c["parts"] for name in (part, part_marker(part))),
        PLOT_NAME,
        MARKDOWN_NAME,
        JSON_NAME,
        "balance_run.json",
    ],
)
MATCH = Layout(
    "match_run.json",
    lambda c: [
        *_staged(c),
        *_parts(MATCHED, len(c["shards"]), (".parquet", ".json")),
        COUNTS,
        METADATA,
        MATCH_SUMMARY,
        "match_run.json",
    ],
    dependents=(CURATED_GLOB, BALANCE),
)
EXTRACT = Layout(
    "extract_run.json",
    lambda c: [
        *_staged(c),
        *_parts("", len(c["shards"]), (".parquet", ".json")),
        EXTRACT_SUMMARY,
        "extract_run.json",
    ],
)


@contextmanager
def open_run(
    folder: Path, layout: Layout, config: dict, inputs: Iterable[str], overwrite: bool
) -> Iterator[bool]:
    """Hold ``folder`` for the run described by ``config`` and make it ready; yield True when
    resuming that run. ``inputs`` are the run's input files, which are never written or removed.
    """
    make_folder(folder)
    # An input is known by its real path and, where it is a link, by the link's own real path.
    # Remote inputs (URLs) are left out: they cannot be files of a local output folder.
    local = [path for path in inputs if not is_remote(path)]
    protected = {real for path in local for real in (_real(path), *_real_all([Path(path)]))}
    with lock(folder):
        yield _prepare(folder, layout, config, protected, overwrite)


def _real(path: str | Path) -> str:
    return os.path.realpath(path)


def _real_all(paths: Iterable[Path]) -> list[str]:
    """Real paths of many files of a few folders, resolving each folder once (a run of 100,000
    parts would otherwise resolve every component of 500,000 paths). A file that is itself a
    link needs no resolving: writes and removals replace the link, never what it points to."""
    folders: dict[Path, str] = {}
    real = []
    for path in paths:
        if path.parent not in folders:
            folders[path.parent] = _real(path.parent)
        real.append(os.path.join(folders[path.parent], path.name))
    return real


def _read_manifest(folder: Path, layout: Layout) -> dict | None:
    path = folder / layout.manifest
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as err:
        raise OutputConflict(
            f"{path}: unreadable run record ({err}); move the folder aside or choose another --out"
        ) from None


def _prepare(folder: Path, layout: Layout, config: dict, inputs: set[str], overwrite: bool) -> bool:
    config = json.loads(json.dumps(config))  # tuples -> lists, as read back from disk
    planned = [folder / name for name in layout.files(config)]
    for path, real in zip(planned, _real_all(planned), strict=True):
        if real in inputs:
            raise OutputConflict(
                f"{path} is an input of this run and one of its outputs; choose another --out"
            )
    old = _read_manifest(folder, layout)
    if old == config:
        remove_stale_temporaries(planned)
        return True
    if old is not None and not overwrite:
        differs = sorted(k for k in old.keys() | config.keys() if old.get(k) != config.get(k))
        raise OutputConflict(
            f"{folder} holds a different run (differs in: {', '.join(differs)});"
            " use --overwrite to replace it or choose another --out"
        )
    if old is not None:
        _replace(folder, layout, old, inputs)
    unknown = [path for path in planned if path.exists()]
    if unknown:
        raise OutputConflict(
            f"{folder} holds {unknown[0].relative_to(folder)}"
            f"{f' and {len(unknown) - 1} more files' if len(unknown) > 1 else ''} that no"
            " metacurate run recorded writing; move them or choose another --out"
        )
    write_json(folder / layout.manifest, config)
    return False


def _replace(folder: Path, layout: Layout, old: dict, inputs: set[str]) -> None:
    """Remove what the earlier run (and the runs made from it) wrote, after checking that none
    of it is an input of this run."""
    with ExitStack() as held:
        runs = [(folder, layout, old)]
        if layout.dependents:
            pattern, dependent = layout.dependents
            for sub in sorted(folder.glob(pattern)):
                manifest = _read_manifest(sub, dependent) if sub.is_dir() else None
                if manifest is not None:
                    held.enter_context(lock(sub))
                    runs.append((sub, dependent, manifest))
        try:
            doomed = [root / name for root, lay, manifest in runs for name in lay.files(manifest)]
        except (KeyError, TypeError):
            raise OutputConflict(
                f"{folder} holds a run of an older metacurate that does not list its files;"
                " remove it yourself or choose another --out"
            ) from None
        for path, real in zip(doomed, _real_all(doomed), strict=True):
            if real in inputs and path.is_file():
                raise OutputConflict(
                    f"--overwrite would delete {path}, an input of this run; move it or choose"
                    " another --out"
                )
        remove(folder, doomed)


def recorded_files(folder: Path, layout: Layout) -> set[str]:
    """The real paths of the files a run of ``layout`` in ``folder`` recorded writing or
    reading (none where no such run is there)."""
    manifest = _read_manifest(folder, layout)
    if manifest is None:
        return set()
    inputs = {entry["path"] for entry in manifest.get("inputs", [])}
    return inputs | set(_real_all(folder / name for name in layout.files(manifest)))


def staged_files(folder: Path, config: dict) -> list[Path]:
    """The workers' parts of a match or extract run, dropped once the stage completes."""
    return [folder / name for name in _staged(config)]


def remove(folder: Path, paths: list[Path]) -> None:
    """Remove these files of ``folder`` (and their temporaries), then the folders they leave
    empty."""
    remove_stale_temporaries(paths)
    for path in paths:
        path.unlink(missing_ok=True)
    _remove_empty_folders(folder, paths)


def _remove_empty_folders(folder: Path, removed: list[Path]) -> None:
    """Folders the earlier run made that hold nothing else now (deepest first); a dependent
    run's lock goes with its folder."""
    parents = {p for path in removed for p in path.parents if folder in p.parents}
    for parent in sorted(parents, key=lambda p: len(p.parts), reverse=True):
        if parent.is_dir() and {entry.name for entry in parent.iterdir()} <= {LOCK}:
            (parent / LOCK).unlink(missing_ok=True)
            parent.rmdir()


def remove_stale_temporaries(paths: Iterable[Path]) -> None:
    """Temporaries of these files left by a killed run: never complete, safe to delete."""
    by_folder: dict[Path, set[str]] = {}
    for path in paths:
        by_folder.setdefault(path.parent, set()).add(path.name)
    for parent, names in by_folder.items():
        if not parent.is_dir():
            continue
        for entry in os.scandir(parent):
            name, mark, _pid = entry.name[1:].partition(TMP_MARK)
            if entry.name.startswith(".") and mark and name in names:
                os.unlink(entry.path)
