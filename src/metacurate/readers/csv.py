"""CSV and TSV input through Arrow's CSV reader; every column is handed on as UTF-8 text.

Every column is read as bytes and checked as UTF-8 (Arrow ``string``): the text column because
"1" or "true" must stay texts, the others because a type guessed from the first block refuses
the file, or turns values into nulls, when a later block disagrees (a number column that says
"n/a" after 100k rows). Nothing becomes null: "", "NULL" and "n/a" stay as written. A row with
invalid UTF-8 in any column, or with more or fewer fields than the header, is rejected and the
rest of the file goes on. A file without a header (empty, or blank lines only) gives no rows.

Arrow does not say where a row starts when values may hold newlines, so the lines of the first
rejected rows (those the examples show) are found once the file is read, by splitting it into
records again with Python's csv module; a line is shown only where the record found there is
the row Arrow rejected, else ``?``.
"""

import csv
import io
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.csv as pacsv

from metacurate.errors import InputError
from metacurate.readers.base import MAX_EXAMPLES, Rejects, Shard
from metacurate.readers.sources import input_size, open_input

BLOCK_BYTES = 1 << 22
# Arrow reads values of any size; Python's csv module refuses those over 128 KiB by default.
FIELD_SIZE_LIMIT = 2**31 - 1


def read(shard: Shard, text_column: str, rejects: Rejects) -> Iterator[pa.Table]:
    delimiter = "\t" if shard.format == "tsv" else ","
    names, rows_follow = _header(shard, delimiter)
    if names and text_column not in names:
        raise InputError(f"{shard.path}: no text column {text_column!r}; columns found: {names}")
    if not rows_follow:
        return
    rejected = _RejectedRows(shard.path, delimiter, names)
    with open_input(shard.path) as source:
        reader = _open(source, delimiter, rejected.malformed_row, names)
        try:
            for batch in reader:
                table = rejected.valid_utf8(batch)
                if table.num_rows:
                    yield table
        except pa.ArrowInvalid as err:
            raise InputError(f"{shard.path}: {err}") from None
    rejected.report(rejects)  # now that the whole file is read, their lines can be found


def _skip(row: pacsv.InvalidRow) -> str:
    return "skip"


def _open(source, delimiter: str, on_invalid_row=_skip, names=()) -> pacsv.CSVStreamingReader:
    """Arrow's reader of ``source``; the ``names`` columns are read as bytes and never null."""
    return pacsv.open_csv(
        source,
        read_options=pacsv.ReadOptions(block_size=BLOCK_BYTES),
        parse_options=pacsv.ParseOptions(
            delimiter=delimiter, newlines_in_values=True, invalid_row_handler=on_invalid_row
        ),
        convert_options=pacsv.ConvertOptions(
            column_types=dict.fromkeys(names, pa.binary()), strings_can_be_null=False
        ),
    )


def _header(shard: Shard, delimiter: str) -> tuple[list[str], bool]:
    """The column names ([] when the file has none), and whether rows may follow them."""
    try:
        with open_input(shard.path) as source:
            return _open(source, delimiter).schema.names, True
    except FileNotFoundError:
        raise InputError(f"{shard.path}: file not found") from None
    except UnicodeDecodeError:
        raise InputError(f"{shard.path}: the header (column names) is not UTF-8 text") from None
    except pa.ArrowInvalid as err:
        if "Empty CSV" not in str(err) or input_size(shard.path) > BLOCK_BYTES:
            raise _not_readable(shard, err) from None
    # Arrow takes a header only when a line end follows it: a file of one line without one
    # (or of blank lines only) has no rows, and its header is read again with the line end.
    with open_input(shard.path) as source:
        data = source.read()
    if not data.strip():
        return [], False
    try:
        return _open(pa.BufferReader(data + b"\n"), delimiter).schema.names, False
    except pa.ArrowInvalid as err:
        raise _not_readable(shard, err) from None


def _not_readable(shard: Shard, err: Exception) -> InputError:
    return InputError(f"{shard.path}: not readable as {shard.format.upper()} ({err})")


@dataclass
class _RejectedRows:
    """A file's rejected rows: the first ones are kept, in file order, until their lines are
    known; the others are only counted (the examples never show them)."""

    path: str
    delimiter: str
    names: list[str]
    # Rows with another number of fields than the header: (their number of fields, text).
    malformed: list[tuple[int, str]] = field(default_factory=list)
    # Rows with invalid UTF-8: (index among the other rows, values, columns at fault).
    invalid: list[tuple[int, list[bytes], str]] = field(default_factory=list)
    not_kept: Counter = field(default_factory=Counter)
    rows: int = 0  # rows with the header's number of fields so far, rejected or not

    def malformed_row(self, row: pacsv.InvalidRow) -> str:
        if len(self.malformed) < MAX_EXAMPLES:
            self.malformed.append((row.actual_columns, row.text[:80]))
        else:
            self.not_kept["malformed_csv_row"] += 1
        return "skip"

    def valid_utf8(self, batch: pa.RecordBatch) -> pa.Table:
        """The batch's rows that are valid UTF-8 in every column, as text columns."""
        first, self.rows = self.rows, self.rows + batch.num_rows
        text = pa.schema([(name, pa.string()) for name in batch.schema.names])
        table = pa.Table.from_batches([batch])
        try:
            return table.cast(text)
        except pa.ArrowInvalid:  # some value is not UTF-8: find its rows
            pass
        bad = _invalid_utf8(batch)
        for row, columns in bad.items():
            self._invalid_row(
                first + row, [column[row].as_py() for column in batch.columns], columns
            )
        keep = pa.array([row not in bad for row in range(batch.num_rows)])
        return table.filter(keep).cast(text)

    def _invalid_row(self, row: int, values: list[bytes], columns: list[str]) -> None:
        if len(self.invalid) < MAX_EXAMPLES:
            detail = f"column{'s' if len(columns) > 1 else ''} {', '.join(map(repr, columns))}"
            self.invalid.append((row, values, detail))
        else:
            self.not_kept["invalid_utf8"] += 1

    def report(self, rejects: Rejects) -> None:
        """Count the rejected rows in ``rejects``, the first ones by line."""
        malformed_lines, invalid_lines = self._lines()
        found = [
            (line, "malformed_csv_row", text)
            for line, (_, text) in zip(malformed_lines, self.malformed, strict=True)
        ]
        found += [
            (line, "invalid_utf8", detail)
            for line, (_, _, detail) in zip(invalid_lines, self.invalid, strict=True)
        ]
        for line, reason, detail in sorted(found, key=lambda f: (f[0] is None, f[0] or 0)):
            rejects.add(reason, f"{self.path}:{'?' if line is None else line}", detail)
        for reason, n in self.not_kept.items():
            for _ in range(n):
                rejects.add(reason, self.path)

    def _lines(self) -> tuple[list[int | None], list[int | None]]:
        """The lines of the kept malformed and invalid rows (None: not found there)."""
        if not self.malformed and not self.invalid:
            return [], []
        fields = [n for n, _ in self.malformed]
        wanted = {row for row, _, _ in self.invalid}
        malformed, rows = _find(self.path, self.delimiter, len(self.names), fields, wanted)
        return malformed, [_line_if_same(rows.get(row), values) for row, values, _ in self.invalid]


def _find(
    path: str, delimiter: str, n_columns: int, malformed: list[int], rows: set[int]
) -> tuple[list[int | None], dict[int, tuple[int, list[str]]]]:
    """Where Python's csv module finds the first malformed rows (records with other than
    ``n_columns`` fields; ``malformed`` holds Arrow's count of their fields): their lines, None
    where the counts differ; and the ``rows`` (by index among the other records): their lines
    and fields."""
    lines: list[int | None] = []
    found: dict[int, tuple[int, list[str]]] = {}
    index = 0
    limit = csv.field_size_limit(FIELD_SIZE_LIMIT)
    try:
        for line, fields in _records(path, delimiter):
            if len(lines) == len(malformed) and len(found) == len(rows):
                break
            if len(fields) != n_columns:
                if len(lines) < len(malformed):
                    lines.append(line if len(fields) == malformed[len(lines)] else None)
                continue
            if index in rows:
                found[index] = (line, fields)
            index += 1
    except csv.Error:
        pass  # Python's csv module stops where Arrow went on: the lines after stay unknown
    finally:
        csv.field_size_limit(limit)
    return lines + [None] * (len(malformed) - len(lines)), found


def _invalid_utf8(batch: pa.RecordBatch) -> dict[int, list[str]]:
    """Rows of the batch with a value that is not UTF-8, and the columns holding one."""
    bad: dict[int, list[str]] = {}
    for name, column in zip(batch.schema.names, batch.columns, strict=True):
        try:
            column.cast(pa.string())
            continue
        except pa.ArrowInvalid:
            pass
        for row, value in enumerate(column.to_pylist()):
            try:
                value.decode("utf-8")
            except UnicodeDecodeError:
                bad.setdefault(row, []).append(name)
    return dict(sorted(bad.items()))


def _line_if_same(found: tuple[int, list[str]] | None, values: list[bytes]) -> int | None:
    if found is None:
        return None
    line, fields = found
    return line if [f.encode("utf-8", "surrogateescape") for f in fields] == values else None


def _records(path: str, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """(first line, fields) of each record after the header, blank lines left out, as
    Python's csv module splits the file."""
    with io.TextIOWrapper(
        open_input(path), encoding="utf-8", errors="surrogateescape", newline=""
    ) as f:
        reader = csv.reader(f, delimiter=delimiter)
        first_line, header_seen = 1, False
        for fields in reader:
            if fields:
                if header_seen:
                    yield first_line, fields
                header_seen = True
            first_line = reader.line_num + 1
