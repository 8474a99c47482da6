"""CSV and TSV input through Arrow's CSV reader; malformed rows are counted with their line."""

from collections.abc import Iterator

import pyarrow as pa
import pyarrow.csv as pacsv

from metacurate.errors import InputError
from metacurate.readers.base import Rejects, Shard


def read(shard: Shard, text_column: str, rejects: Rejects) -> Iterator[pa.Table]:
    def invalid_row(row: pacsv.InvalidRow) -> str:
        line = row.number if row.number is not None else "?"
        rejects.add("malformed_csv_row", f"{shard.path}:{line}", row.text[:80])
        return "skip"

    delimiter = "\t" if shard.format == "tsv" else ","
    try:
        reader = pacsv.open_csv(
            shard.path,
            read_options=pacsv.ReadOptions(block_size=1 << 22),
            parse_options=pacsv.ParseOptions(
                delimiter=delimiter, newlines_in_values=True, invalid_row_handler=invalid_row
            ),
            # Texts stay texts: "1" or "true" must not become numbers or booleans.
            convert_options=pacsv.ConvertOptions(column_types={text_column: pa.string()}),
        )
    except FileNotFoundError:
        raise InputError(f"{shard.path}: file not found") from None
    except pa.ArrowInvalid as err:
        raise InputError(f"{shard.path}: not readable as {shard.format.upper()} ({err})") from None
    names = reader.schema.names
    if text_column not in names:
        raise InputError(f"{shard.path}: no text column {text_column!r}; columns found: {names}")
    try:
        for batch in reader:
            if batch.num_rows:
                yield pa.Table.from_batches([batch]).combine_chunks()
    except pa.ArrowInvalid as err:
        raise InputError(f"{shard.path}: {err}") from None
