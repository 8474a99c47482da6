"""What ``match`` and ``extract`` share: shards -> filtered parts, then cross-part de-duplication.

Workers read a shard, keep its matched rows (``match``) or all rows (``extract``), label and
filter languages, and write ``staging/part-NNNNN.parquet`` with the pair ids of its rows
(``.ids.npy``) and its statistics (``.json``, written last: it marks the shard done). Then one
pass in input order drops every pair already seen in an earlier row and publishes the final
parts: the kept pair of a duplicate is always its first occurrence in input order, whatever
the number of workers. A killed run resumes: finished shards are not read again, and the
de-duplication pass (cheap: it reads only pair ids) is redone from the start.
"""

import json
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from metacurate import __version__
from metacurate.counting import ENTRY_IDS, count_ids, count_part
from metacurate.engine import LocalEngine
from metacurate.filters.dedup import SeenPairs, pair_ids
from metacurate.filters.language import LanguageFilter
from metacurate.match.matcher import Matcher
from metacurate.pipeline import rundir
from metacurate.progress import stage_progress
from metacurate.readers import Rejects, Shard, read_shard
from metacurate.readers.base import WEB_ARCHIVES
from metacurate.writers.atomic import write_json, write_npy, write_parquet

MAX_EXAMPLES = 20


def _empty_texts(texts: pa.ChunkedArray) -> int:
    return texts.null_count + int(pc.sum(pc.equal(texts, "")).as_py() or 0)


@dataclass(frozen=True)
class Languages:
    """Which language filter applies to which inputs: web archives get the paper's English
    unless told otherwise; tables are taken as they are unless ``--lang`` is given."""

    tables: LanguageFilter | None
    archives: LanguageFilter | None

    @classmethod
    def from_option(cls, option: str | None) -> "Languages":
        if option is None:
            return cls(None, LanguageFilter(frozenset({"en"})))
        chosen = LanguageFilter.parse(option)
        return cls(chosen, chosen)

    def used_by(self, shards: list[Shard]) -> "Languages":
        """Only the filters these shards need: loading fastText costs ~1 s per run."""
        archives = any(s.format in WEB_ARCHIVES for s in shards)
        tables = any(s.format not in WEB_ARCHIVES for s in shards)
        return Languages(self.tables if tables else None, self.archives if archives else None)

    def for_shard(self, shard: Shard) -> LanguageFilter | None:
        return self.archives if shard.format in WEB_ARCHIVES else self.tables

    def describe(self) -> dict:
        def name(chosen: LanguageFilter | None) -> str:
            return chosen.describe() if chosen else "not identified"

        return {"web_archives": name(self.archives), "tables": name(self.tables)}


@dataclass(frozen=True)
class ShardWorker:
    """Picklable per-shard worker: read, [match], [language], write one staging part."""

    text_column: str
    staging_dir: Path
    languages: Languages
    matcher: Matcher | None = None  # None keeps every row (extract)
    dedup: bool = True

    def setup(self) -> None:
        """Load the compiled kernels and the language model (the engine calls this once per
        process; forked workers inherit it)."""
        if self.matcher is not None:
            self.matcher.match_texts(["load the compiled kernel once, before workers start"])
        for languages in (self.languages.tables, self.languages.archives):
            if languages is not None:
                languages.warm_up()

    def _match(self, table: pa.Table) -> pa.Table:
        found = self.matcher.match_arrow(table[self.text_column])
        if ENTRY_IDS in table.column_names:  # re-matching our own output: replace it
            table = table.drop_columns([ENTRY_IDS])
        table = table.append_column(ENTRY_IDS, found.to_arrow())
        return table.filter(found.counts_per_text() > 0)

    def __call__(self, shard: Shard) -> tuple[dict, np.ndarray | None]:
        """The shard's statistics and, when matching, its entry counts."""
        rejects = Rejects()
        languages = self.languages.for_shard(shard)
        kept: list[pa.Table] = []
        rows = Counter()
        for table in read_shard(shard, self.text_column, rejects):
            rows["read"] += len(table)
            rows["empty_text"] += _empty_texts(table[self.text_column])
            if self.matcher is not None:
                table = self._match(table)
                rows["matched"] += len(table)
            if languages is not None and len(table):
                before = len(table)
                table = languages.apply(table, self.text_column)
                rows["other_language"] += before - len(table)
            kept.append(table)
        part = self._write(shard, kept)
        # Counted over the staged rows, as a resumed shard's are from its part: rows of another
        # language are not in the pool.
        counts = None
        if self.matcher is not None:
            counts = np.zeros(self.matcher.n_entries, np.uint64)
            for table in kept:
                counts += count_ids(table[ENTRY_IDS], len(counts))
        stats = {
            "shard": shard.name,
            "path": shard.path,
            "row_groups": list(shard.row_groups) if shard.row_groups is not None else None,
            **{f"rows_{k}": rows[k] for k in self._row_counts()},
            "rows_staged": sum(len(t) for t in kept),
            "languages": languages.describe() if languages else None,
            "matches": int(counts.sum()) if counts is not None else None,
            "seen": dict(rejects.seen),
            "rejected": dict(rejects.by_reason),
            "reject_examples": rejects.examples,
            "parquet": part,
        }
        write_json(self.staging_dir / f"{shard.name}.json", stats)
        return stats, counts

    def _row_counts(self) -> tuple[str, ...]:
        matched = ("matched",) if self.matcher is not None else ()
        return ("read", "empty_text", *matched, "other_language")

    def _write(self, shard: Shard, kept: list[pa.Table]) -> str | None:
        if not any(len(t) for t in kept):
            return None
        # promote: JSON Lines batches may infer different types for the same column.
        table = pa.concat_tables(kept, promote_options="permissive")
        ids = pair_ids(table, self.text_column) if self.dedup else None
        if ids is not None:
            write_npy(self.staging_dir / f"{shard.name}.ids.npy", ids)
        part = f"{shard.name}.parquet"
        write_parquet(self.staging_dir / part, table, self.text_column)
        return part


def _staged_stats(staging: Path, shard: Shard) -> dict:
    return json.loads((staging / f"{shard.name}.json").read_text("utf-8"))


def stage_shards(
    worker: ShardWorker, shards: list[Shard], workers: int, final_dir: Path, description: str
) -> tuple[np.ndarray | None, int]:
    """Run ``worker`` over the shards not yet staged. Returns the summed entry counts of all
    staged rows (before de-duplication; None when not matching) and how many were resumed."""
    staging = worker.staging_dir
    staging.mkdir(parents=True, exist_ok=True)
    done = {s.name for s in shards if (staging / f"{s.name}.json").exists()}
    todo = [s for s in shards if s.name not in done]
    counts = None
    if worker.matcher is not None:
        counts = np.zeros(worker.matcher.n_entries, dtype=np.uint64)
        for shard in shards:  # shards staged by an earlier run are counted from their files
            if shard.name in done:
                counts += _count_resumed(staging, final_dir, shard, len(counts))
    # Web archives and text files are one shard per file with unknown rows: show bytes.
    by_rows = all(s.rows is not None for s in shards)
    size: Callable[[Shard], float] = (
        (lambda s: s.rows) if by_rows else (lambda s: os.path.getsize(s.path) / 1e6)
    )
    with stage_progress(description, sum(map(size, shards)), "rows" if by_rows else "MB") as step:
        step(sum(size(s) for s in shards if s.name in done))

        def finished(shard: Shard, result: tuple[dict, np.ndarray | None]) -> None:
            if counts is not None:
                np.add(counts, result[1], out=counts)
            step(size(shard))

        LocalEngine(workers).map(worker, todo, finished)
    return counts, len(done)


def _count_resumed(staging: Path, final_dir: Path, shard: Shard, n_entries: int) -> np.ndarray:
    """A resumed shard's counts before de-duplication: its staging part while it exists,
    else the final part it was moved to unchanged."""
    part = _staged_stats(staging, shard)["parquet"]
    if part is None:
        return np.zeros(n_entries, dtype=np.uint64)
    staged = staging / part
    return count_part(staged if staged.exists() else final_dir / part, n_entries)


def publish_parts(
    shards: list[Shard],
    staging: Path,
    final_dir: Path,
    text_column: str,
    counts: np.ndarray | None,
) -> tuple[list[dict], dict]:
    """De-duplicate staged parts in input order into ``final_dir``; subtract the dropped rows'
    matches from ``counts`` in place. Returns the final statistics and the de-dup report."""
    final_dir.mkdir(parents=True, exist_ok=True)
    seen = SeenPairs()
    stats = []
    for shard in shards:
        s = _staged_stats(staging, shard)
        final_json = final_dir / f"{shard.name}.json"
        ids_path = staging / f"{shard.name}.ids.npy"
        fresh = seen.first_seen(np.load(ids_path)) if ids_path.exists() else None
        duplicates = 0 if fresh is None else int(len(fresh) - fresh.sum())
        staged = staging / s["parquet"] if s["parquet"] else None
        published = final_json.exists()  # by an interrupted run
        table = None
        if duplicates and staged.exists() and (counts is not None or not published):
            table = pq.read_table(staged)
            if counts is not None:  # counts hold the staged rows: take the dropped ones out
                counts -= count_ids(table[ENTRY_IDS].filter(pa.array(~fresh)), len(counts))
        if published:
            stats.append(json.loads(final_json.read_text("utf-8")))
            continue
        s["parquet"] = _publish(staged, table, final_dir, text_column, fresh)
        s["rows_duplicate"] = duplicates
        s["rows_written"] = s["rows_staged"] - duplicates
        write_json(final_json, s)
        stats.append(s)
    report = {"pairs_distinct": seen.size, "id_set_bytes": seen.nbytes}
    return stats, report


def _publish(staged, table, final_dir, text_column, fresh) -> str | None:
    """Write the part's first occurrences (``table``: its staged rows, None if all are)."""
    if staged is None:
        return None
    final = final_dir / staged.name
    if table is None:
        if staged.exists():  # else an interrupted run moved it already
            os.replace(staged, final)  # nothing to drop: move, no copy
        return final.name
    table = table.filter(pa.array(fresh))
    if not len(table):
        return None
    write_parquet(final, table, text_column)
    return final.name


def stage_config(
    inputs: list[str],
    shards: list[Shard],
    text_column: str,
    languages: Languages,
    dedup: bool,
    metadata_sha256: str | None = None,
) -> dict:
    """What a match (``metadata_sha256`` given) or extract run records in its manifest: a run
    with the same record resumes. An input is recorded by its real path, size and mtime, so the
    same file is the same input however its path is spelled."""
    config = {
        "metacurate_version": __version__,
        "inputs": [_identity(path) for path in inputs],
        "text_column": text_column,
        **({"metadata_sha256": metadata_sha256} if metadata_sha256 else {}),
        "languages": languages.describe(),
        "dedup": dedup,
        "shards": [[os.path.realpath(s.path), s.row_groups] for s in shards],
    }
    return json.loads(json.dumps(config))  # tuples -> lists, as read back from disk


def _identity(path: str) -> dict:
    stat = os.stat(path)
    return {"path": os.path.realpath(path), "bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns}


@dataclass(frozen=True)
class StageResult:
    stats: list[dict]  # the final per-part statistics
    counts: np.ndarray | None  # entry counts over the distinct pairs, when matching
    summary: dict  # what match and extract both report


def run_stage(
    worker: ShardWorker,
    shards: list[Shard],
    workers: int,
    final_dir: Path,
    description: str,
    inputs: list[str],
) -> StageResult:
    """Stage every shard, then publish the de-duplicated parts into ``final_dir``."""
    counts, resumed = stage_shards(worker, shards, workers, final_dir, description)
    stats, report = publish_parts(shards, worker.staging_dir, final_dir, worker.text_column, counts)
    summary = {
        "inputs": inputs,
        "text_column": worker.text_column,
        "languages": worker.languages.describe(),
        "dedup": report if worker.dedup else None,
        "workers": workers,
        "shards": len(shards),
        "shards_resumed": resumed,
        **summarise(stats),
    }
    return StageResult(stats, counts, summary)


def finish(summary_path: Path, summary: dict, config: dict) -> None:
    """Write the summary (it marks the stage complete), then drop the staged parts."""
    write_json(summary_path, summary)
    rundir.remove(summary_path.parent, rundir.staged_files(summary_path.parent, config))


def summarise(stats: list[dict]) -> dict:
    """Run totals over the final per-part statistics."""
    rejected: Counter = Counter()
    seen: Counter = Counter()
    examples: list[str] = []
    for s in stats:
        rejected.update(s["rejected"])
        seen.update(s["seen"])
        examples.extend(s["reject_examples"])
    total = (
        {k: sum(s[k] for s in stats) for k in stats[0] if k.startswith("rows_")} if stats else {}
    )
    return {
        **total,
        "seen": dict(sorted(seen.items())),
        "rejected": dict(sorted(rejected.items())),
        "reject_examples": examples[:MAX_EXAMPLES],
        "parts": [s["parquet"] for s in stats if s["parquet"]],
    }
