"""Plain functions that several test files share: `from helpers import read_table` (conftest.py
puts tests/ on sys.path). Shared fixtures are in conftest.py."""

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
