"""What ``match`` and ``extract`` share: shards -> filtered parts, then cross-part de-duplication.

The stage runner (``run_stage``, in the driver) owns the plan: it skips what an earlier run
finished, maps workers over the rest on the engine, writes every marker, and adds up the
results as they arrive. Three steps, each resumable on its own:

1. stage: a ``ShardWorker`` reads a shard, keeps its matched rows (``match``) or all rows
   (``extract``), labels and filters languages, and writes ``staging/part-N.parquet`` and the
   pair ids of its rows (``.ids.npy``); its marker is ``staging/part-N.json``.
2. de-duplicate: one ``BucketReducer`` per range of pair ids finds every later occurrence of a
   pair across all shards (``pipeline/dedup.py``): the kept pair of a duplicate is always its
   first occurrence in input order, whatever the engine or the number of workers.
3. publish: a ``Publisher`` drops a shard's later occurrences, writes the final part and counts
   its entries over those distinct rows; its marker is the final ``part-N.json``.
"""

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from metacurate import __version__
from metacurate.counting import ENTRY_IDS, SparseCounts
from metacurate.engine import Engine, describe
from metacurate.filters.dedup import pair_ids
from metacurate.filters.language import LanguageFilter
from metacurate.location import Location
from metacurate.match.matcher import Matcher
from metacurate.pipeline import dedup, rundir
from metacurate.pipeline.runner import run_step
from metacurate.pipeline.stats import PartStats, Totals
from metacurate.readers import Shard, ShardPlan, read_shard
from metacurate.readers.base import WEB_ARCHIVES
from metacurate.readers.sources import input_identity, input_size
from metacurate.writers.atomic import write_json, write_npy, write_parquet


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

    def used_by(self, formats: Iterable[str]) -> "Languages":
        """Only the filters inputs of these formats need: loading fastText costs ~1 s per run."""
        formats = set(formats)
        archives = bool(formats & WEB_ARCHIVES)
        tables = bool(formats - WEB_ARCHIVES)
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
    staging_dir: Location
    languages: Languages
    matcher: Matcher | None = None  # None keeps every row (extract)
    dedup: bool = True

    def setup(self) -> None:
        """Load the compiled kernels and the language model, once in each worker process."""
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

    def __call__(self, shard: Shard) -> PartStats:
        languages = self.languages.for_shard(shard)
        steps = ("read", "empty_text", *(("matched",) if self.matcher else ()), "other_language")
        stats = PartStats(
            shard.name,
            shard.path,
            list(shard.row_groups) if shard.row_groups is not None else None,
            languages.describe() if languages else None,
        )
        stats.rows.update(dict.fromkeys(steps, 0))
        kept: list[pa.Table] = []
        for table in read_shard(shard, self.text_column, stats.rejects):
            stats.rows["read"] += len(table)
            stats.rows["empty_text"] += _empty_texts(table[self.text_column])
            if self.matcher is not None:
                table = self._match(table)
                stats.rows["matched"] += len(table)
            if languages is not None and len(table):
                before = len(table)
                table = languages.apply(table, self.text_column)
                stats.rows["other_language"] += before - len(table)
            kept.append(table)
        stats.rows["staged"] = sum(len(t) for t in kept)
        if self.matcher is not None:
            stats.matches = sum(
                int(pc.sum(pc.list_value_length(t[ENTRY_IDS])).as_py() or 0) for t in kept
            )
        stats.parquet = self._write(shard, kept)
        return stats

    def _write(self, shard: Shard, kept: list[pa.Table]) -> str | None:
        if not any(len(t) for t in kept):
            return None
        # promote: JSON Lines batches may infer different types for the same column.
        table = pa.concat_tables(kept, promote_options="permissive")
        if self.dedup:
            ids = dedup.shard_ids(pair_ids(table, self.text_column))
            write_npy(self.staging_dir / dedup.ids_name(shard.name), ids)
        part = f"{shard.name}.parquet"
        write_parquet(self.staging_dir / part, table, self.text_column)
        return part


@dataclass(frozen=True)
class Publisher:
    """Picklable per-shard worker: the staged part less its later occurrences -> the final part,
    with the entry counts of the rows it keeps."""

    staging_dir: Location
    final_dir: Location
    text_column: str
    n_entries: int | None  # None: not matching, nothing to count
    blocks: dedup.Blocks | None  # None: no de-duplication

    def __call__(self, shard: Shard) -> tuple[PartStats, SparseCounts | None]:
        stats = PartStats.from_json(_read_json(self.staging_dir / rundir.part_marker(shard.name)))
        dups = (
            dedup.duplicate_rows(self.blocks, shard.index)
            if self.blocks and stats.parquet
            else np.empty(0, np.int64)
        )
        stats.rows["duplicate"] = len(dups)
        stats.rows["written"] = stats.rows["staged"] - len(dups)
        if stats.parquet is None:
            return stats, self._count(None)
        staged, final = self.staging_dir / stats.parquet, self.final_dir / stats.parquet
        if len(dups):
            # The staged part is kept until the stage completes: a re-run reads it again.
            table = pq.read_table(**staged.arrow())
            keep = np.ones(len(table), np.bool_)
            keep[dups] = False
            table = table.filter(pa.array(keep))
            stats.parquet = final.name if len(table) else None
            if stats.parquet:
                write_parquet(final, table, self.text_column)
            return stats, self._count(table)
        if staged.exists():  # else a killed run moved it already
            staged.move_to(final)  # nothing to drop: move, no copy
        return stats, self._count(final)

    def _count(self, rows: pa.Table | Location | None) -> SparseCounts | None:
        if self.n_entries is None:
            return None
        if rows is None:
            return SparseCounts.of(pa.array([], pa.list_(pa.int32())))
        if isinstance(rows, Location):
            return SparseCounts.of_part(rows)
        return SparseCounts.of(rows[ENTRY_IDS])


def _read_json(where: Location) -> dict:
    return json.loads(where.read_text())


def _stage(
    worker: ShardWorker, shards: ShardPlan, engine: Engine, description: str
) -> tuple[int, np.ndarray]:
    """Step 1; returns how many shards an earlier run staged, and each shard's staged rows."""
    staging = worker.staging_dir
    staging.make()
    present = rundir.parts_present(staging, len(shards), ".json")
    staged_rows = np.zeros(len(shards), np.int64)
    # Web archives and text files are one shard per file with unknown rows: show bytes.
    by_rows = shards.rows_known
    size: Callable[[Shard], float] = (
        (lambda s: s.rows) if by_rows else (lambda s: input_size(s.path) / 1e6)
    )

    def staged(shard: Shard, stats: PartStats) -> None:
        write_json(staging / rundir.part_marker(shard.name), stats.to_json())
        staged_rows[shard.index] = stats.rows["staged"]

    def staged_before(shard: Shard) -> None:
        marker = _read_json(staging / rundir.part_marker(shard.name))
        staged_rows[shard.index] = PartStats.from_json(marker).rows["staged"]

    skipped = run_step(
        engine,
        worker,
        shards,
        lambda s: present[s.index],
        staged,
        description,
        size,
        "rows" if by_rows else "MB",
        on_skip=staged_before,
    )
    return skipped, staged_rows


def _deduplicate(
    staging: Location, staged_rows: np.ndarray, engine: Engine
) -> tuple[dict, dedup.Blocks]:
    """Step 2 (``pipeline/dedup.py``); returns the de-duplication report and the blocks. A
    shard's staged rows stand for its ids (an upper bound) in planning the blocks."""
    blocks = dedup.Blocks(staging, staged_rows > 0, dedup.plan_blocks(staged_rows))
    buckets = dedup.bucket_count(int(staged_rows.sum()), len(staged_rows))
    report = {
        "pairs_distinct": 0,
        "blocks": len(blocks.starts),
        "buckets": buckets,
        "largest_id_set_bytes": 0,
    }

    def add(result: dict) -> None:
        report["pairs_distinct"] += result["distinct"]
        largest = max(report["largest_id_set_bytes"], result["id_set_bytes"])
        report["largest_id_set_bytes"] = largest

    def reduced(bucket: int, result: dedup.BucketResult) -> None:
        write_json(staging / dedup.bucket_marker(bucket), result.to_json())
        add(result.to_json())

    def written(name: Callable[[int], str]) -> Callable[[int], bool]:
        # Listed once per step, before it starts; only the shuffle's files, a few per block or
        # bucket (the folder also holds several files per shard).
        present = {n for n in staging.files() if not n.startswith("part-")}
        return lambda number: name(number) in present

    numbers = range(len(blocks.starts))
    ignore = lambda number, result: None  # noqa: E731 (the file written is the marker)
    combiner = dedup.BlockCombiner(blocks, buckets)
    run_step(
        engine, combiner, numbers, written(dedup.block_ids), ignore, "combine ids", unit="blocks"
    )
    reducer = dedup.BucketReducer(blocks, buckets)
    run_step(
        engine,
        reducer,
        range(buckets),
        written(dedup.bucket_marker),
        reduced,
        "de-duplicate",
        unit="buckets",
        on_skip=lambda bucket: add(_read_json(staging / dedup.bucket_marker(bucket))),
    )
    splitter = dedup.BlockSplitter(blocks, buckets)
    run_step(
        engine,
        splitter,
        numbers,
        written(dedup.block_dups),
        ignore,
        "split duplicates",
        unit="blocks",
    )
    return report, blocks


def _publish(
    publisher: Publisher, shards: ShardPlan, engine: Engine, totals: Totals
) -> np.ndarray | None:
    """Step 3; adds each part's statistics to ``totals``, returns the summed entry counts."""
    final_dir = publisher.final_dir
    final_dir.make()
    present = rundir.parts_present(final_dir, len(shards), ".json")
    counts = None if publisher.n_entries is None else np.zeros(publisher.n_entries, np.uint64)

    def published(shard: Shard, result: tuple[PartStats, SparseCounts | None]) -> None:
        stats, part_counts = result
        write_json(final_dir / rundir.part_marker(shard.name), stats.to_json())
        totals.add(shard.index, stats)
        if counts is not None:
            part_counts.add_to(counts)

    def published_before(shard: Shard) -> None:
        stats = PartStats.from_json(_read_json(final_dir / rundir.part_marker(shard.name)))
        totals.add(shard.index, stats)
        if counts is not None and stats.parquet:
            SparseCounts.of_part(final_dir / stats.parquet).add_to(counts)

    done = lambda s: present[s.index]  # noqa: E731
    run_step(engine, publisher, shards, done, published, "publish", on_skip=published_before)
    return counts


def stage_config(
    inputs: list[str],
    shards: ShardPlan,
    text_column: str,
    languages: Languages,
    dedup: bool,
    metadata_sha256: str | None = None,
) -> dict:
    """What a match (``metadata_sha256`` given) or extract run records in its manifest: a run
    with the same record resumes. An input is recorded by its real path, size and mtime, so the
    same file is the same input however its path is spelled; the shards by their number and the
    digest of their plan (a list of them would grow the record, and the driver that reads it
    back, by a few hundred bytes a shard)."""
    config = {
        "metacurate_version": __version__,
        "inputs": [input_identity(path) for path in inputs],
        "text_column": text_column,
        **({"metadata_sha256": metadata_sha256} if metadata_sha256 else {}),
        "languages": languages.describe(),
        "dedup": dedup,
        "shards": len(shards),
        "plan_sha256": shards.sha256(),
    }
    return config


@dataclass(frozen=True)
class StageResult:
    totals: Totals  # the sum of the final parts' statistics
    counts: np.ndarray | None  # entry counts over the distinct pairs, when matching
    summary: dict  # what match and extract both report


def run_stage(
    worker: ShardWorker,
    shards: ShardPlan,
    engine: Engine,
    final_dir: Location,
    description: str,
    inputs: list[str],
) -> StageResult:
    """Stage every shard, find the later occurrences of pairs, publish the parts into
    ``final_dir``."""
    staging = worker.staging_dir
    resumed, staged_rows = _stage(worker, shards, engine, description)
    report, blocks = _deduplicate(staging, staged_rows, engine) if worker.dedup else (None, None)
    n_entries = worker.matcher.n_entries if worker.matcher is not None else None
    publisher = Publisher(staging, final_dir, worker.text_column, n_entries, blocks)
    totals = Totals(len(shards))
    counts = _publish(publisher, shards, engine, totals)
    summary = {
        "inputs": inputs,
        "text_column": worker.text_column,
        "languages": worker.languages.describe(),
        "dedup": report,
        "engine": describe(engine),
        "shards": len(shards),
        "shards_resumed": resumed,
        **totals.to_json(),
    }
    return StageResult(totals, counts, summary)


def finish(summary_path: Location, summary: dict, config: dict) -> None:
    """Write the summary (it marks the stage complete), then drop the staged parts."""
    write_json(summary_path, summary)
    rundir.drop_staging(summary_path.parent, config)
