"""The ``match`` stage: read -> match -> language -> de-duplicate -> write, then count entries.

Layout of ``out/``: ``metadata.json`` (entries used), ``matched/part-NNNNN.parquet`` (matched rows
plus ``entry_ids``) with ``part-NNNNN.json`` (the part's statistics), ``entry_counts.npy`` and
``match_summary.json`` (written last: the stage is complete). ``staging/`` holds the workers'
parts until then (see ``pipeline/shards.py``).
"""

import json
from os import PathLike

from metacurate.engine import Engine, LocalEngine
from metacurate.location import Location
from metacurate.match.matcher import Matcher
from metacurate.metadata import Metadata
from metacurate.pipeline import rundir
from metacurate.pipeline.rundir import COUNTS, MATCHED, METADATA, STAGING
from metacurate.pipeline.rundir import MATCH_SUMMARY as SUMMARY
from metacurate.pipeline.shards import Languages, ShardWorker, finish, run_stage, stage_config
from metacurate.readers import plan_shards
from metacurate.writers.atomic import write_json, write_npy


def run_match(
    inputs: list[str],
    out_dir: Location | PathLike | str,
    metadata: Metadata,
    text_column: str = "text",
    engine: Engine | None = None,
    overwrite: bool = False,
    shard_rows: int | None = None,
    lang: str | None = None,
    dedup: bool = True,
) -> dict:
    """Match ``inputs`` into ``out_dir`` (resuming completed shards); return the summary.
    ``engine``: where shards are matched (default: this process).

    ``lang``: None (web archives: English, tables: no language id), "all" or codes "en,de".
    """
    out_dir = Location.of(out_dir)
    shards = plan_shards(inputs, **({"shard_rows": shard_rows} if shard_rows else {}))
    languages = Languages.from_option(lang).used_by(shards.formats)
    config = stage_config(inputs, shards, text_column, languages, dedup, metadata.sha256)
    with rundir.open_run(out_dir, rundir.MATCH, config, inputs, overwrite) as resuming:
        if resuming and (out_dir / SUMMARY).exists():  # the stage is complete
            rundir.drop_staging(out_dir, config)  # if a run was killed before it could
            return json.loads((out_dir / SUMMARY).read_text())
        worker = ShardWorker(
            text_column, out_dir / STAGING, languages, Matcher(metadata.entries), dedup
        )
        return _match(worker, shards, engine or LocalEngine(), out_dir, metadata, inputs, config)


def _match(worker, shards, engine, out_dir, metadata, inputs, config) -> dict:
    """Stage and publish the parts, then write the entry counts and the summary."""
    if not (out_dir / METADATA).exists():
        write_json(out_dir / METADATA, metadata.to_json(), indent=None)
    matcher = worker.matcher
    run = run_stage(worker, shards, engine, out_dir / MATCHED, "match", inputs)
    counts = run.counts
    write_npy(out_dir / COUNTS, counts)
    unmatchable = matcher.unmatchable
    summary = {
        **run.summary,
        "metadata": {
            "origin": metadata.origin,
            "entries": len(metadata),
            "sha256": metadata.sha256,
        },
        "unmatchable_entries": len(unmatchable),
        "unmatchable_examples": [metadata.entries[i] for i in list(unmatchable)[:10]],
        "rows_unmatched": run.totals.rows["read"] - run.totals.rows["matched"],
        "matches_total": int(counts.sum()),
        "entries_matched": int((counts > 0).sum()),
        "entries_unmatched": int((counts == 0).sum()),
    }
    finish(out_dir / SUMMARY, summary, config)
    return summary
