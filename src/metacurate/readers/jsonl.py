"""JSON Lines input (plain or gzip): one object per line, rejected line by line when malformed.

The text column is a string column; a row without it has a null text (the pipeline counts it as
empty), and a file where no row has it is refused once read. Every other key is carried as
text, so that its column has one type for the whole file whatever its values and however the
file is cut into batches: strings as they are, null as null, numbers, booleans, objects and
arrays as their JSON text (``json.dumps``: 640 -> "640", true -> "true", {"k": 1} ->
'{"k": 1}'). A UTF-8 byte order mark before the first line is ignored.
"""

import codecs
import gzip
import json
import zlib
from collections.abc import Iterator
from contextlib import nullcontext

import pyarrow as pa
import pyarrow.compute as pc

from metacurate.errors import InputError, RemoteReadError
from metacurate.readers.base import BATCH_ROWS, Rejects, Shard, arrow_safe_text, read_failed
from metacurate.readers.sources import file_name, open_input


def _lines(path: str, rejects: Rejects) -> Iterator[tuple[int, bytes]]:
    gzipped = file_name(path).endswith(".gz")
    line_no = 0
    try:
        with (
            open_input(path) as raw,
            gzip.GzipFile(fileobj=raw, mode="rb") if gzipped else nullcontext(raw) as f,
        ):
            for line_no, line in enumerate(f, start=1):  # noqa: B007 (used after the loop)
                yield line_no, line
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except (EOFError, gzip.BadGzipFile, zlib.error) as err:
        # Truncated or corrupt compression: keep everything read so far, say where it stopped.
        rejects.add("corrupt_gzip", f"{path}:{line_no + 1}", str(err))
    except RemoteReadError as err:  # the same for a remote file that stopped answering
        read_failed(rejects, err)


def _records(shard: Shard, text_column: str, rejects: Rejects) -> Iterator[dict]:
    for line_no, raw in _lines(shard.path, rejects):
        where = f"{shard.path}:{line_no}"
        if line_no == 1:
            raw = raw.removeprefix(codecs.BOM_UTF8)
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


def _batches(records: Iterator[dict]) -> Iterator[list[dict]]:
    rows: list[dict] = []
    for record in records:
        rows.append(record)
        if len(rows) == BATCH_ROWS:
            yield rows
            rows = []
    if rows:
        yield rows


def read(shard: Shard, text_column: str, rejects: Rejects) -> Iterator[pa.Table]:
    first_keys: list[str] | None = None  # what the error names when no row has a text
    has_text = False
    for rows in _batches(_records(shard, text_column, rejects)):
        keys = list(dict.fromkeys(key for row in rows for key in row))  # first-seen order
        first_keys = keys if first_keys is None else first_keys
        has_text = has_text or text_column in keys
        yield _table(rows, keys, text_column)
    if first_keys is not None and not has_text:
        raise InputError(
            f"{shard.path}: no text column {text_column!r}; columns found: {sorted(first_keys)}"
        )


def _table(rows: list[dict], keys: list[str], text_column: str) -> pa.Table:
    texts = pa.array([row.get(text_column) for row in rows], pa.string())
    columns = {
        key: texts if key == text_column else _texts([row.get(key) for row in rows]) for key in keys
    }
    columns.setdefault(text_column, texts)
    return pa.table(columns)


def _texts(values: list) -> pa.Array:
    """The values as a string column: strings as they are, other values as their JSON text."""
    try:
        return pa.array(values, pa.string())
    except (pa.ArrowInvalid, pa.ArrowTypeError, UnicodeEncodeError):
        pass
    typed = _typed(values)
    kind = pa.null() if typed is None else typed.type
    # Arrow writes integers and booleans as json.dumps does, and fast; floats it writes its own
    # way (100.0 as "100"), so finite ones take Python's repr, which is what json.dumps writes.
    if pa.types.is_integer(kind) or pa.types.is_boolean(kind):
        return typed.cast(pa.string())
    if pa.types.is_floating(kind) and pc.all(pc.is_finite(typed)).as_py():
        return pa.array([None if v is None else repr(v) for v in values], pa.string())
    return pa.array([_json_text(v) for v in values], pa.string())


def _typed(values: list) -> pa.Array | None:
    """The values as an Arrow array of one type; None for a mix of kinds."""
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, UnicodeEncodeError):
        return None


def _json_text(value) -> str | None:
    if value is None:
        return None
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return arrow_safe_text(text)
