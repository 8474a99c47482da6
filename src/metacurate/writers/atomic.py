"""Write to a temporary name in the same folder, then rename: a killed run never leaves a half
file under a name that looks whole. A write that fails (full disk, read-only folder) says which
file in one line."""

import contextlib
import errno
import io
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from metacurate.errors import OutputError

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
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it to ``path`` if the block succeeds."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}{TMP_MARK}{os.getpid()}")
    try:
        yield tmp
        os.replace(tmp, path)
    except OSError as err:
        if err.errno not in WRITE_ERRNOS or err.filename not in (None, str(tmp), str(path)):
            raise
        hint = "; free some space, then run the same command again" if err.errno in FULL else ""
        raise OutputError(f"{path}: cannot write ({os.strerror(err.errno)}){hint}") from None
    finally:
        # Best effort: the error that stopped the write is the one to report, and a resumed
        # run removes what is left.
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)


def make_folder(folder: Path) -> None:
    """Create ``folder`` (and its parents), or say in one line why it cannot be."""
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise OutputError(f"{folder}: a file is in the way of the output folder") from None
    except OSError as err:
        raise OutputError(f"{folder}: cannot create the output folder ({err.strerror})") from None


def write_json(path: Path, obj, indent: int | None = 2) -> None:
    """Write JSON; pass indent=None for large documents (Python's indenting encoder is slow)."""
    with atomic_path(path) as tmp:
        text = json.dumps(obj, indent=indent, ensure_ascii=False)
        tmp.write_text(text + "\n", encoding="utf-8", errors="surrogatepass")


def write_npy(path: Path, array: np.ndarray) -> None:
    buffer = io.BytesIO()
    np.save(buffer, array)  # into memory: NumPy's own file writes lose the errno of a full disk
    with atomic_path(path) as tmp:
        tmp.write_bytes(buffer.getbuffer())


# Columns whose values are (nearly) all distinct: trying a dictionary for them costs ~20% of
# the write time and never pays off.
DISTINCT_COLUMNS = {"url", "uuid", "page_url", "entry_ids", "keep_prob"}


def write_parquet(path: Path, table: pa.Table, text_column: str = "text") -> None:
    dictionary = [c for c in table.column_names if c not in DISTINCT_COLUMNS | {text_column}]
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd", use_dictionary=dictionary)
