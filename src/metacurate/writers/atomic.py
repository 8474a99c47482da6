"""Write to a temporary name in the same folder, then rename: a killed run never leaves a half
file under a name that looks whole. On an object store, where an object appears only once its
upload completes, a file is uploaded whole under its final name instead (``location.py``). A
write that fails (full disk, read-only folder, denied bucket) says which file in one line."""

import contextlib
import errno
import io
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from metacurate.errors import OutputError
from metacurate.location import Location

TMP_MARK = ".tmp-"
FULL = {errno.ENOSPC, errno.EDQUOT}
# Failures of the output itself, not of an input read while writing it.
WRITE_ERRNOS = {
    errno.ENOSPC,
    errno.EDQUOT,
    errno.EROFS,
    errno.EACCES,
    errno.EPERM,
    errno.ENOTDIR,
    errno.EISDIR,
    errno.ENOENT,
    errno.EFBIG,
}


@contextmanager
def atomic_path(path: Path | str) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it to ``path`` if the block succeeds."""
    with _atomic(os.fspath(path)) as tmp:
        yield Path(tmp)


@contextmanager
def _atomic(path: str) -> Iterator[str]:
    """``atomic_path`` on strings: a run writes millions of files, and ``pathlib`` interns
    every name it parses, for good."""
    folder, name = os.path.split(path)
    tmp = os.path.join(folder, f".{name}{TMP_MARK}{os.getpid()}")
    try:
        yield tmp
        os.replace(tmp, path)
    except OSError as err:
        if err.errno not in WRITE_ERRNOS or err.filename not in (None, tmp, path):
            raise
        hint = "; free some space, then run the same command again" if err.errno in FULL else ""
        raise OutputError(f"{path}: cannot write ({os.strerror(err.errno)}){hint}") from None
    finally:
        # Best effort: the error that stopped the write is the one to report, and a resumed
        # run removes what is left.
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def make_folder(folder: Path) -> None:
    """Create ``folder`` (and its parents), or say in one line why it cannot be."""
    Location.of(folder).make()


@contextmanager
def atomic_file(where: Location | Path) -> Iterator[BinaryIO]:
    """A binary file to write ``where`` through: complete under its name only once the block
    succeeds."""
    where = Location.of(where)
    if where.remote:
        buffer = io.BytesIO()
        yield buffer
        where.upload(buffer.getbuffer())
        return
    with _atomic(where.url) as tmp, open(tmp, "wb") as f:
        yield f


def write_bytes(where: Location | Path, data: bytes | memoryview) -> None:
    with atomic_file(where) as f:
        f.write(data)


def write_json(where: Location | Path, obj, indent: int | None = 2) -> None:
    """Write JSON; pass indent=None for large documents (Python's indenting encoder is slow)."""
    text = json.dumps(obj, indent=indent, ensure_ascii=False) + "\n"
    write_bytes(where, text.encode("utf-8", "surrogatepass"))


def write_npy(where: Location | Path, array: np.ndarray) -> None:
    buffer = io.BytesIO()
    np.save(buffer, array)  # into memory: NumPy's own file writes lose the errno of a full disk
    write_bytes(where, buffer.getbuffer())


# Columns whose values are (nearly) all distinct: trying a dictionary for them costs ~20% of
# the write time and never pays off.
DISTINCT_COLUMNS = {"url", "uuid", "page_url", "entry_ids", "keep_prob"}


def write_parquet(where: Location | Path, table: pa.Table, text_column: str = "text") -> None:
    dictionary = [c for c in table.column_names if c not in DISTINCT_COLUMNS | {text_column}]
    where = Location.of(where)
    if where.remote:
        buffer = pa.BufferOutputStream()
        pq.write_table(table, buffer, compression="zstd", use_dictionary=dictionary)
        where.upload(buffer.getvalue())
        return
    with _atomic(where.url) as tmp:
        pq.write_table(table, tmp, compression="zstd", use_dictionary=dictionary)
