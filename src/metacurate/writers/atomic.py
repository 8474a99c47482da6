"""Write to a temporary name in the same folder, then rename: a killed run never leaves a half
file under a name that looks whole."""

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

TMP_MARK = ".tmp-"


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it to ``path`` if the block succeeds."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}{TMP_MARK}{os.getpid()}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_json(path: Path, obj, indent: int | None = 2) -> None:
    """Write JSON; pass indent=None for large documents (Python's indenting encoder is slow)."""
    with atomic_path(path) as tmp:
        text = json.dumps(obj, indent=indent, ensure_ascii=False)
        tmp.write_text(text + "\n", encoding="utf-8", errors="surrogatepass")


def write_npy(path: Path, array: np.ndarray) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.save(f, array)


# Columns whose values are (nearly) all distinct: trying a dictionary for them costs ~20% of
# the write time and never pays off.
DISTINCT_COLUMNS = {"url", "uuid", "page_url", "entry_ids", "keep_prob"}


def write_parquet(path: Path, table: pa.Table, text_column: str = "text") -> None:
    dictionary = [c for c in table.column_names if c not in DISTINCT_COLUMNS | {text_column}]
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd", use_dictionary=dictionary)


def remove_stale_temporaries(folder: Path) -> None:
    """Temporaries left by a killed run: never complete, safe to delete before resuming."""
    for tmp in Path(folder).rglob(f".*{TMP_MARK}*"):
        tmp.unlink(missing_ok=True)
