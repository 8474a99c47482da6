"""Parquet input: split by row groups so large files spread over workers."""

from collections.abc import Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from metacurate.errors import InputError
from metacurate.readers.base import BATCH_ROWS, Rejects, Shard


def _open(path: str) -> pq.ParquetFile:
    try:
        return pq.ParquetFile(path)
    except (OSError, pa.ArrowException) as err:
        raise InputError(f"{path}: not a readable Parquet file ({err})") from None


def plan(path: str, target_rows: int) -> list[tuple[tuple[int, ...] | None, int]]:
    """Row-group ranges of about ``target_rows`` rows each, with their row counts."""
    meta = _open(path).metadata
    groups, planned, rows = [], [], 0
    for g in range(meta.num_row_groups):
        groups.append(g)
        rows += meta.row_group(g).num_rows
        if rows >= target_rows:
            planned.append((tuple(groups), rows))
            groups, rows = [], 0
    if groups or not planned:
        planned.append((tuple(groups), rows))
    return planned


def read(shard: Shard, text_column: str, rejects: Rejects) -> Iterator[pa.Table]:
    del rejects  # Parquet rows are typed: there is nothing to reject row by row.
    pf = _open(shard.path)
    names = pf.schema_arrow.names
    if text_column not in names:
        raise InputError(f"{shard.path}: no text column {text_column!r}; columns found: {names}")
    text_type = pf.schema_arrow.field(text_column).type
    if not (pa.types.is_string(text_type) or pa.types.is_large_string(text_type)):
        raise InputError(
            f"{shard.path}: text column {text_column!r} has type {text_type}, not string"
        )
    if shard.row_groups == ():  # a file without rows
        return
    for batch in pf.iter_batches(batch_size=BATCH_ROWS, row_groups=shard.row_groups):
        yield pa.Table.from_batches([batch])
