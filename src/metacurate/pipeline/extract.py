"""The ``extract`` stage: web archives (or any input) -> language -> de-duplicate -> Parquet.

Parse only, no matching: ``out/part-NNNNN.parquet`` hold one row per distinct (image, text)
with ``url``, ``text``, ``uuid``, ``page_url``, ``source``, ``crawl_file`` and ``lang``;
``extract_summary.json`` is written last (the stage is complete).
"""

import json
from os import PathLike

from metacurate.engine import Engine, LocalEngine
from metacurate.location import Location
from metacurate.pipeline import rundir
from metacurate.pipeline.rundir import EXTRACT_SUMMARY as SUMMARY
from metacurate.pipeline.rundir import STAGING
from metacurate.pipeline.shards import Languages, ShardWorker, finish, run_stage, stage_config
from metacurate.readers import plan_shards


def run_extract(
    inputs: list[str],
    out_dir: Location | PathLike | str,
    text_column: str = "text",
    engine: Engine | None = None,
    overwrite: bool = False,
    lang: str | None = None,
    dedup: bool = True,
) -> dict:
    """Extract the pairs of ``inputs`` into ``out_dir`` (resuming); return the summary."""
    out_dir = Location.of(out_dir)
    shards = plan_shards(inputs)
    languages = Languages.from_option(lang).used_by(shards.formats)
    config = stage_config(inputs, shards, text_column, languages, dedup)
    with rundir.open_run(out_dir, rundir.EXTRACT, config, inputs, overwrite) as resuming:
        if resuming and (out_dir / SUMMARY).exists():  # the stage is complete
            rundir.drop_staging(out_dir, config)  # if a run was killed before it could
            return json.loads((out_dir / SUMMARY).read_text())
        worker = ShardWorker(text_column, out_dir / STAGING, languages, matcher=None, dedup=dedup)
        summary = {
            **run_stage(
                worker, shards, engine or LocalEngine(), out_dir, "extract", inputs
            ).summary,
            "out": str(out_dir),
        }
        finish(out_dir / SUMMARY, summary, config)
        return summary
