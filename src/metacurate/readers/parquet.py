"""Parquet input: split by row groups so large files spread over workers.

The text column may be a string, large string, string view or dictionary of strings column; it
is handed on as a string (or large string) column. A row group whose data cannot be read
(corrupt pages under a valid footer) is skipped: its unread rows are counted as rejected
(``corrupt_row_group``, one count per row lost, the example names the row group) and reading
goes on with the next row group.
"""

from collections.abc import Iterator
from contextlib import contextmanager

import pyarrow as pa
import pyarrow.parquet as pq

from metacurate.errors import InputError
from metacurate.readers.base import BATCH_ROWS, Rejects, Shard
from metacurate.readers.sources import open_input

CORRUPT = "corrupt_row_group"
# What corrupt pages raise; a cancel or running out of memory is not the file's fault.
CORRUPT_DATA = (OSError, pa.ArrowInvalid)


@contextmanager
def _open(path: str) -> Iterator[pq.ParquetFile]:
    """The Parquet file, read through ``open_input`` (random access: only the footer and the
    row groups asked for are fetched from a remote file); closed on leaving."""
    try:
        source = open_input(path)
    except OSError as err:
        raise _not_readable(path, err) from None
    with source:
        try:
            parquet_file = pq.ParquetFile(source)
        except (OSError, pa.ArrowException) as err:
            raise _not_readable(path, err) from None
        yield parquet_file


def _not_readable(path: str, err: Exception) -> InputError:
    return InputError(f"{path}: not a readable Parquet file ({err})")


def plan(path: str, target_rows: int) -> list[tuple[int, int, int]]:
    """Shards of consecutive row groups of about ``target_rows`` rows each: (first row group,
    row groups, rows)."""
    with _open(path) as parquet_file:
        meta = parquet_file.metadata
    planned, first, rows = [], 0, 0
    for g in range(meta.num_row_groups):
        rows += meta.row_group(g).num_rows
        if rows >= target_rows:
            planned.append((first, g + 1 - first, rows))
            first, rows = g + 1, 0
    if first < meta.num_row_groups or not planned:
        planned.append((first, meta.num_row_groups - first, rows))
    return planned


def read(shard: Shard, text_column: str, rejects: Rejects) -> Iterator[pa.Table]:
    with _open(shard.path) as pf:
        yield from _read(pf, shard, text_column, rejects)


def _read(
    pf: pq.ParquetFile, shard: Shard, text_column: str, rejects: Rejects
) -> Iterator[pa.Table]:
    names = pf.schema_arrow.names
    if text_column not in names:
        raise InputError(f"{shard.path}: no text column {text_column!r}; columns found: {names}")
    text_type = _text_type(shard.path, text_column, pf.schema_arrow.field(text_column).type)
    groups = range(pf.num_row_groups) if shard.row_groups is None else shard.row_groups
    for table in _tables(pf, shard.path, list(groups), rejects):
        if table[text_column].type != text_type:
            table = table.set_column(
                names.index(text_column), text_column, table[text_column].cast(text_type)
            )
        yield table


def _text_type(path: str, text_column: str, stored: pa.DataType) -> pa.DataType:
    """The type the text column is handed on as: string or large string."""
    if pa.types.is_dictionary(stored):
        stored = stored.value_type
    if pa.types.is_string(stored) or pa.types.is_large_string(stored):
        return stored
    if pa.types.is_string_view(stored):
        return pa.string()
    raise InputError(f"{path}: text column {text_column!r} has type {stored}, not string")


def _tables(
    pf: pq.ParquetFile, path: str, groups: list[int], rejects: Rejects
) -> Iterator[pa.Table]:
    """The row groups' rows in batches that may span groups; once a batch fails, the groups
    from where it began are read one by one, so that only a corrupt group's rows are lost."""
    rows = 0
    try:
        for batch in pf.iter_batches(batch_size=BATCH_ROWS, row_groups=groups):
            rows += batch.num_rows
            yield pa.Table.from_batches([batch])
        return
    except CORRUPT_DATA:
        pass
    for group in groups:
        group_rows = pf.metadata.row_group(group).num_rows
        if rows >= group_rows:  # given already
            rows -= group_rows
            continue
        yield from _row_group(pf, path, group, rows, rejects)
        rows = 0


def _row_group(
    pf: pq.ParquetFile, path: str, group: int, given: int, rejects: Rejects
) -> Iterator[pa.Table]:
    """The row group's rows after the first ``given``; where its data is corrupt, the rows not
    read yet are rejected."""
    rows = 0
    try:
        for batch in pf.iter_batches(batch_size=BATCH_ROWS, row_groups=[group]):
            rows += batch.num_rows
            if rows > given:
                yield pa.Table.from_batches([batch.slice(max(given - rows + batch.num_rows, 0))])
    except CORRUPT_DATA as err:
        lost = pf.metadata.row_group(group).num_rows - max(rows, given)
        # The reason counts rows, as every other reason does, so the summary says what was lost.
        rejects.add(CORRUPT, f"{path}: row group {group}", f"{lost:,} rows lost: {err}", n=lost)
