"""An output folder remembers the run that made it, and only that run's files are ever removed.

A run's manifest (its configuration) is written before anything else. Running again with the
same configuration resumes. A different run is refused or, with ``--overwrite``, replaces
exactly the files the earlier manifest says that run wrote: never another file in the folder,
and never an input of the new run. A lock keeps a second run out of a folder while one writes.
The folder is a ``Location``: a local folder or an object-store prefix alike.
"""

import fnmatch
import json
import os
import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from metacurate.datacard import JSON_NAME, MARKDOWN_NAME, PLOT_NAME
from metacurate.errors import OutputConflict
from metacurate.location import Location
from metacurate.pipeline.dedup import NUMBERED_FILES as NUMBERED
from metacurate.readers.base import part_name
from metacurate.readers.sources import is_http, is_remote
from metacurate.writers.atomic import TMP_MARK, write_json
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
    return f"{os.path.splitext(part)[0]}.json"  # not pathlib, which interns every name


def part_done(present: set[str] | frozenset[str], part: str) -> bool:
    """A part is done when its marker, written after it, is there, and the part still is
    (``present``: the names of the files in its folder, listed once: one request per thousand
    files on an object store, not one per file)."""
    return part_marker(part) in present and part in present


@dataclass(frozen=True)
class Layout:
    """Which files one stage writes into its folder, as named by a run's manifest.

    A predicate, not a list: a run of a million shards may write millions of files, and the
    folder is checked, resumed and cleaned by scanning the files that are there, so no list of
    every name a run might write is ever built.
    """

    manifest: str
    # manifest -> (name relative to the folder -> whether a run of that manifest writes it)
    owner: Callable[[dict], Callable[[str], bool]]
    folders: tuple[str, ...]  # the subfolders it writes into ("": the folder itself)
    # Later stages' runs in subfolders, made from this run's outputs: replaced along with it.
    dependents: tuple[str, "Layout"] | None = None


_PART = re.compile(r"part-(\d+)(\.parquet|\.ids\.npy|\.json)")
_NUMBERED = re.compile(r"(?:block|dups)-(\d+)\..*")


def is_part(name: str) -> bool:
    """Whether ``name`` is a numbered part, ``part-00003.parquet``."""
    found = _PART.fullmatch(name)
    return bool(found and found[2] == ".parquet")


def part_number(part: str) -> int:
    """``part-00003.parquet`` -> 3."""
    return int(_PART.fullmatch(part)[1])


def _is_part(name: str, shards: int, suffixes: tuple[str, ...]) -> bool:
    """``part-00003.parquet`` and the like, numbered as a run of ``shards`` shards names them."""
    found = _PART.fullmatch(name)
    return bool(
        found
        and found[2] in suffixes
        and int(found[1]) < shards
        and found[0] == part_name(int(found[1]), shards) + found[2]
    )


def parts_present(folder: Location, shards: int, suffix: str) -> np.ndarray:
    """Which parts of a run of ``shards`` shards have their ``suffix`` file (``.json``: the
    marker) in ``folder``, by part number: the folder listed once (one request per thousand
    files on an object store, not one per file), one byte per part."""
    found = np.zeros(shards, np.bool_)
    for name in folder.files():
        if _is_part(name, shards, (suffix,)):
            found[int(_PART.fullmatch(name)[1])] = True
    return found


def _is_staged(config: dict, name: str) -> bool:
    """The workers' files in ``staging/``: parts, their ids and markers, and the shuffle's blocks
    and buckets (never more of either than shards)."""
    folder, _, base = name.rpartition("/")
    if folder != STAGING:
        return False
    shards = _shard_count(config)
    if _is_part(base, shards, (".parquet", ".ids.npy", ".json")):
        return True
    found = _NUMBERED.fullmatch(base)
    return bool(
        found and int(found[1]) < shards and any(f(int(found[1])) == base for f in NUMBERED)
    )


def _is_final_part(config: dict, name: str, folder: str) -> bool:
    parent, _, base = name.rpartition("/")
    return parent == folder and _is_part(base, _shard_count(config), (".parquet", ".json"))


def _shard_count(config: dict) -> int:
    """How many shards a match or extract run has: its manifest says, or (metacurate 0.3 and
    earlier, whose folders ``--overwrite`` still replaces) lists them."""
    shards = config["shards"]
    return shards if isinstance(shards, int) else len(shards)


def _balance_owner(config: dict) -> Callable[[str], bool]:
    names = {PLOT_NAME, MARKDOWN_NAME, JSON_NAME, "balance_run.json"}
    if isinstance(config["parts"], list):  # metacurate 0.3 listed them: still replaced
        names.update(name for part in config["parts"] for name in (part, part_marker(part)))
        return names.__contains__
    return lambda name: name in names or _is_part(name, config["shards"], (".parquet", ".json"))


def _match_owner(config: dict) -> Callable[[str], bool]:
    names = {COUNTS, METADATA, MATCH_SUMMARY, "match_run.json"}
    return lambda name: (
        name in names or _is_staged(config, name) or _is_final_part(config, name, MATCHED)
    )


def _extract_owner(config: dict) -> Callable[[str], bool]:
    names = {EXTRACT_SUMMARY, "extract_run.json"}
    return lambda name: (
        name in names or _is_staged(config, name) or _is_final_part(config, name, "")
    )


BALANCE = Layout("balance_run.json", _balance_owner, ("",))
MATCH = Layout(
    "match_run.json", _match_owner, ("", STAGING, MATCHED), dependents=(CURATED_GLOB, BALANCE)
)
EXTRACT = Layout("extract_run.json", _extract_owner, ("", STAGING))


def _entries(folder: Location, layout: Layout) -> Iterator[tuple[str, str]]:
    """(subfolder, file name) of every file in the layout's folders, one at a time."""
    for sub in layout.folders:
        for name in (folder / sub).files():
            yield sub, name


def _named(sub: str, name: str) -> str:
    return f"{sub}/{name}" if sub else name


def existing(folder: Location, layout: Layout, config: dict) -> Iterator[str]:
    """The files in ``folder`` that a run of ``config`` writes, relative to it, one at a time."""
    owns = layout.owner(config)
    for sub, name in _entries(folder, layout):
        if owns(_named(sub, name)):
            yield _named(sub, name)


@contextmanager
def open_run(
    folder: Location, layout: Layout, config: dict, inputs: Iterable[str], overwrite: bool
) -> Iterator[bool]:
    """Hold ``folder`` for the run described by ``config`` and make it ready; yield True when
    resuming that run. ``inputs`` are the run's input files, which are never written or removed.
    """
    folder.make()
    # A local input is known by its real path and, where it is a link, by the link's own real
    # path; a URL by itself.
    protected = set()
    for path in inputs:
        if is_remote(path):  # spelled as an output's location is (scheme in lower case, ...)
            protected.add(path if is_http(path) else Location.of(path).identity())
        else:
            protected.update((_real(path), *_real_all([Path(path)])))
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


def _read_manifest(folder: Location, layout: Layout) -> dict | None:
    path = folder / layout.manifest
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as err:
        raise OutputConflict(
            f"{path}: unreadable run record ({err}); move the folder aside or choose another --out"
        ) from None


def _outputs_among(folder: Location, layout: Layout, config: dict, paths: set[str]) -> list[str]:
    """Those of the real ``paths`` that a run of ``config`` in ``folder`` writes (however its
    subfolders are linked)."""
    owns = layout.owner(config)
    found = []
    for sub in layout.folders:
        real_sub = (folder / sub).identity()
        for path in paths:
            parent, base = os.path.split(path)
            if parent == real_sub and owns(_named(sub, base)):
                found.append(path)
    return found


def _prepare(
    folder: Location, layout: Layout, config: dict, inputs: set[str], overwrite: bool
) -> bool:
    config = json.loads(json.dumps(config))  # tuples -> lists, as read back from disk
    clash = _outputs_among(folder, layout, config, inputs)
    if clash:
        raise OutputConflict(
            f"{clash[0]} is an input of this run and one of its outputs; choose another --out"
        )
    old = _read_manifest(folder, layout)
    if old == config:
        remove_stale_temporaries(folder, layout, config)
        return True
    if old is not None and not overwrite:
        differs = sorted(k for k in old.keys() | config.keys() if old.get(k) != config.get(k))
        raise OutputConflict(
            f"{folder} holds a different run (differs in: {', '.join(differs)});"
            " use --overwrite to replace it or choose another --out"
        )
    if old is not None:
        _replace(folder, layout, old, inputs)
    unknown = existing(folder, layout, config)
    first = next(unknown, None)
    if first is not None:
        more = sum(1 for _ in unknown)
        raise OutputConflict(
            f"{folder} holds {first}{f' and {more} more files' if more else ''} that no"
            " metacurate run recorded writing; move them or choose another --out"
        )
    write_json(folder / layout.manifest, config)
    return False


def _replace(folder: Location, layout: Layout, old: dict, inputs: set[str]) -> None:
    """Remove what the earlier run (and the runs made from it) wrote, after checking that none
    of it is an input of this run."""
    with ExitStack() as held:
        runs = [(folder, layout, old)]
        if layout.dependents:
            pattern, dependent = layout.dependents
            for name in sorted(fnmatch.filter(folder.folders(), pattern)):
                sub = folder / name
                manifest = _read_manifest(sub, dependent)
                if manifest is not None:
                    held.enter_context(lock(sub))
                    runs.append((sub, dependent, manifest))
        try:
            for root, lay, manifest in runs:
                clash = _outputs_among(root, lay, manifest, inputs)
                if clash:
                    raise OutputConflict(
                        f"--overwrite would delete {clash[0]}, an input of this run; move it or"
                        " choose another --out"
                    )
            for root, lay, manifest in runs:
                remove(root, lay, manifest)
                if root != folder:  # a dependent run's folder goes with its files
                    root.remove_if_empty(frozenset({LOCK}))
        except (KeyError, TypeError):
            raise OutputConflict(
                f"{folder} holds a run of an older metacurate that does not list its files;"
                " remove it yourself or choose another --out"
            ) from None


def records(folder: Location, layout: Layout, path: str) -> bool:
    """Whether the run of ``layout`` in ``folder`` (if any) read or wrote the file at the real
    ``path``."""
    manifest = _read_manifest(folder, layout)
    if manifest is None:
        return False
    inputs = {entry["path"] for entry in manifest.get("inputs", [])}
    return path in inputs or bool(_outputs_among(folder, layout, manifest, {path}))


def remove(folder: Location, layout: Layout, config: dict) -> None:
    """Remove the files a run of ``config`` wrote in ``folder`` (and their temporaries), one at
    a time as they are found, then the subfolders they leave empty."""
    remove_stale_temporaries(folder, layout, config)
    for name in existing(folder, layout, config):
        (folder / name).delete()
    for sub in layout.folders:
        if sub:
            (folder / sub).remove_if_empty(frozenset({LOCK}))


def drop_staging(folder: Location, config: dict) -> None:
    """Remove the workers' files of a completed match or extract run (``staging/``)."""
    only_staging = Layout("", lambda c: lambda name: _is_staged(c, name), (STAGING,))
    remove(folder, only_staging, config)


def remove_stale_temporaries(folder: Location, layout: Layout, config: dict) -> None:
    """Temporaries of the run's files left by a killed run: never complete, safe to delete.
    (An object store has none: a killed upload leaves no object.)"""
    if folder.remote:
        return
    owns = layout.owner(config)
    for sub, entry in _entries(folder, layout):
        name, mark, _pid = entry[1:].partition(TMP_MARK)
        if entry.startswith(".") and mark and owns(_named(sub, name)):
            (folder / _named(sub, entry)).delete()
