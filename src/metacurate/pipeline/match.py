"""The ``match`` stage: read -> match -> keep matched rows -> write, then count entries.

Layout of ``out/``: ``metadata.json`` (entries used), ``matched/part-NNNNN.parquet`` (matched rows
plus ``entry_ids``) with ``part-NNNNN.json`` (the part's statistics; written last, so it marks
the part done), ``entry_counts.npy`` and ``match_summary.json``.
"""

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from metacurate import __version__
from metacurate.counting import ENTRY_IDS, count_parts
from metacurate.engine.local import run_tasks
from metacurate.match.matcher import Matcher
from metacurate.metadata import Metadata
from metacurate.pipeline import rundir
from metacurate.progress import stage_progress
from metacurate.readers import Rejects, Shard, plan_shards, read_shard
from metacurate.writers.atomic import write_json, write_npy, write_parquet

MATCHED = "matched"
SUMMARY = "match_summary.json"
COUNTS = "entry_counts.npy"
METADATA = "metadata.json"
MANIFEST = "match_run.json"
OWNED = [MATCHED, SUMMARY, COUNTS, METADATA, MANIFEST, "curated-t*-seed*"]


def _empty_texts(texts: pa.ChunkedArray) -> int:
    return texts.null_count + int(pc.sum(pc.equal(texts, "")).as_py() or 0)


@dataclass(frozen=True)
class ShardMatcher:
    """Picklable per-shard worker: match one shard and write its part and statistics."""

    matcher: Matcher
    text_column: str
    matched_dir: Path

    def warm_up(self) -> None:
        self.matcher.match_texts(["load the compiled kernel once, before workers start"])

    def __call__(self, shard: Shard) -> tuple[dict, np.ndarray]:
        """The shard's statistics and entry counts (counted here, where the ids already are)."""
        rejects = Rejects()
        kept: list[pa.Table] = []
        counts = np.zeros(self.matcher.n_entries, dtype=np.uint64)
        rows_read = rows_empty = 0
        for table in read_shard(shard, self.text_column, rejects):
            rows_read += len(table)
            texts = table[self.text_column]
            rows_empty += _empty_texts(texts)
            found = self.matcher.match_arrow(texts)
            counts += np.bincount(found.ids, minlength=len(counts)).astype(np.uint64)
            if ENTRY_IDS in table.column_names:  # re-matching our own output: replace it
                table = table.drop_columns([ENTRY_IDS])
            table = table.append_column(ENTRY_IDS, found.to_arrow())
            kept.append(table.filter(found.counts_per_text() > 0))
        part = None
        rows_matched = sum(len(t) for t in kept)
        if kept:
            part = f"{shard.name}.parquet"
            # promote: JSON Lines batches may infer different types for the same column.
            write_parquet(
                self.matched_dir / part,
                pa.concat_tables(kept, promote_options="permissive"),
                self.text_column,
            )
        stats = {
            "shard": shard.name,
            "path": shard.path,
            "row_groups": list(shard.row_groups) if shard.row_groups is not None else None,
            "rows_read": rows_read,
            "rows_matched": rows_matched,
            "rows_empty_text": rows_empty,
            "matches": int(counts.sum()),
            "rejected": dict(rejects.by_reason),
            "reject_examples": rejects.examples,
            "parquet": part,
        }
        write_json(self.matched_dir / f"{shard.name}.json", stats)
        return stats, counts


def _read_stats(matched_dir: Path, shard: Shard) -> dict:
    return json.loads((matched_dir / f"{shard.name}.json").read_text("utf-8"))


def _input_identity(path: str) -> dict:
    stat = Path(path).stat()
    return {"path": str(Path(path).resolve()), "bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def summarise(stats: list[dict], counts: np.ndarray) -> dict:
    rejected: Counter = Counter()
    examples: list[str] = []
    for s in stats:
        rejected.update(s["rejected"])
        examples.extend(s["reject_examples"])
    rows_read = sum(s["rows_read"] for s in stats)
    rows_matched = sum(s["rows_matched"] for s in stats)
    return {
        "rows_read": rows_read,
        "rows_matched": rows_matched,
        "rows_unmatched": rows_read - rows_matched,
        "rows_empty_text": sum(s["rows_empty_text"] for s in stats),
        "rejected": dict(sorted(rejected.items())),
        "reject_examples": examples[:20],
        "matches_total": int(counts.sum()),
        "entries_matched": int((counts > 0).sum()),
        "entries_unmatched": int((counts == 0).sum()),
        "parts": [s["parquet"] for s in stats if s["parquet"]],
    }


def run_match(
    inputs: list[str],
    out_dir: Path,
    metadata: Metadata,
    text_column: str = "text",
    workers: int = 1,
    overwrite: bool = False,
    shard_rows: int | None = None,
) -> dict:
    """Match ``inputs`` into ``out_dir`` (resuming completed shards); return the summary."""
    shards = plan_shards(inputs, **({"shard_rows": shard_rows} if shard_rows else {}))
    config = {
        "metacurate_version": __version__,
        "inputs": [_input_identity(p) for p in inputs],
        "text_column": text_column,
        "metadata_sha256": metadata.sha256,
        "shards": [[s.path, s.row_groups] for s in shards],
    }
    config = json.loads(json.dumps(config))  # tuples -> lists, as read back from disk
    resuming = rundir.prepare(out_dir, MANIFEST, config, OWNED, overwrite)
    if resuming and (out_dir / SUMMARY).exists():
        return json.loads((out_dir / SUMMARY).read_text("utf-8"))
    matched_dir = out_dir / MATCHED
    matched_dir.mkdir(exist_ok=True)
    if not (out_dir / METADATA).exists():
        write_json(out_dir / METADATA, metadata.to_json(), indent=None)

    done = {s.name for s in shards if (matched_dir / f"{s.name}.json").exists()}
    todo = [s for s in shards if s.name not in done]
    worker = ShardMatcher(Matcher(metadata.entries), text_column, matched_dir)
    known_rows = all(s.rows is not None for s in shards)
    total = sum(s.rows for s in shards) if known_rows else None
    # Parts done by an earlier run are counted from their files, new ones by their workers.
    resumed = [_read_stats(matched_dir, s) for s in shards if s.name in done]
    counts = count_parts(
        [matched_dir / r["parquet"] for r in resumed if r["parquet"]], len(metadata)
    )
    with stage_progress("match", total) as advance:
        if known_rows:
            advance(sum(s.rows for s in shards if s.name in done))

        def finished(shard: Shard, result: tuple[dict, np.ndarray]) -> None:
            np.add(counts, result[1], out=counts)
            advance(result[0]["rows_read"])

        run_tasks(worker, todo, workers, finished)

    stats = [_read_stats(matched_dir, s) for s in shards]
    write_npy(out_dir / COUNTS, counts)
    unmatchable = worker.matcher.unmatchable
    summary = {
        "inputs": inputs,
        "metadata": {
            "origin": metadata.origin,
            "entries": len(metadata),
            "sha256": metadata.sha256,
        },
        "unmatchable_entries": len(unmatchable),
        "unmatchable_examples": [metadata.entries[i] for i in list(unmatchable)[:10]],
        "text_column": text_column,
        "workers": workers,
        "shards": len(shards),
        "shards_resumed": len(done),
        **summarise(stats, counts),
    }
    write_json(out_dir / SUMMARY, summary)
    return summary
