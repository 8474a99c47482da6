"""JSON Lines input (plain or gzip): one object per line, rejected line by line when malformed."""

import gzip
import json
import zlib
from collections.abc import Iterator

import pyarrow as pa

from metacurate.errors import InputError
from metacurate.readers.base import BATCH_ROWS, Rejects, Shard, arrow_safe_text


def _lines(path: str, rejects: Rejects) -> Iterator[tuple[int, bytes]]:
    opener = gzip.open if path.endswith(".gz") else open
    line_no = 0
    try:
        with opener(path, "rb") as f:
            for line_no, line in enumerate(f, start=1):  # noqa: B007 (used after the loop)
                yield line_no, line
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except (EOFError, gzip.BadGzipFile, zlib.error) as err:
        # Truncated or corrupt compression: keep everything read so far, say where it stopped.
        rejects.add("corrupt_gzip", f"{path}:{line_no + 1}", str(err))


def _records(shard: Shard, text_column: str, rejects: Rejects) -> Iterator[dict]:
    for line_no, raw in _lines(shard.path, rejects):
        where = f"{shard.path}:{line_no}"
        if not raw.strip():
            continue
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            rejects.add("invalid_utf8", where, f"byte {err.start}")
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            rejects.add("malformed_json", where, err.msg)
            continue
        if not isinstance(record, dict):
            rejects.add("not_an_object", where)
            continue
        text = record.get(text_column)
        if text is not None and not isinstance(text, str):
            rejects.add("text_not_a_string", where, type(text).__name__)
            continue
        if text is not None:
            record[text_column] = arrow_safe_text(text)
        yield record


def read(shard: Shard, text_column: str, rejects: Rejects) -> Iterator[pa.Table]:
    rows: list[dict] = []
    seen_text_column = False
    for record in _records(shard, text_column, rejects):
        seen_text_column = seen_text_column or text_column in record
        rows.append(record)
        if len(rows) == BATCH_ROWS:
            yield _batch(shard, rows, text_column, seen_text_column)
            rows = []
    if rows:
        yield _batch(shard, rows, text_column, seen_text_column)


def _batch(shard: Shard, rows: list[dict], text_column: str, seen_text_column: bool) -> pa.Table:
    if not seen_text_column:
        found = sorted({key for row in rows[:1000] for key in row})
        raise InputError(f"{shard.path}: no text column {text_column!r}; columns found: {found}")
    keys = list(dict.fromkeys(key for row in rows for key in row))  # every key, first-seen order
    columns = {key: _column([row.get(key) for row in rows]) for key in keys}
    columns[text_column] = pa.array([row.get(text_column) for row in rows], pa.string())
    return pa.table(columns)


def _column(values: list) -> pa.Array:
    """Arrow column of the values; a column mixing JSON types is kept as JSON text, not dropped."""
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array([None if v is None else json.dumps(v, ensure_ascii=False) for v in values])
