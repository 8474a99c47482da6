"""Stage 2: entry counts (matches per entry over the pool) and the t <-> tail-fraction link."""

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ENTRY_IDS = "entry_ids"


def flat_ids(entry_ids: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """All entry ids of a list<int32> column, flattened, as int64."""
    if isinstance(entry_ids, pa.ChunkedArray):
        entry_ids = entry_ids.combine_chunks()
    return entry_ids.flatten().to_numpy(zero_copy_only=False).astype(np.int64, copy=False)


def count_ids(entry_ids: pa.Array | pa.ChunkedArray, n_entries: int) -> np.ndarray:
    return np.bincount(flat_ids(entry_ids), minlength=n_entries).astype(np.uint64)


def count_part(path: Path, n_entries: int) -> np.ndarray:
    """Entry counts of one Parquet part holding an ``entry_ids`` column (reads only that)."""
    return count_ids(pq.read_table(path, columns=[ENTRY_IDS])[ENTRY_IDS], n_entries)


def count_parts(paths: list[Path], n_entries: int) -> np.ndarray:
    """Summed entry counts of Parquet parts, for parts whose worker did not count them (resumed
    runs, or the kept rows of a balance run)."""
    counts = np.zeros(n_entries, dtype=np.uint64)
    for path in paths:
        counts += count_part(path, n_entries)
    return counts


def tail_fraction(counts: np.ndarray, t: float) -> float:
    """Share of all matches held by entries with fewer than t matches (they keep every pair)."""
    total = counts.sum(dtype=np.float64)
    return float(counts[counts < t].sum(dtype=np.float64) / total) if total else 0.0


def t_for_tail_fraction(counts: np.ndarray, fraction: float) -> int:
    """Smallest integer t whose tail fraction is at least ``fraction``."""
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"tail fraction must be in [0, 1], got {fraction}")
    values = np.sort(counts[counts > 0]).astype(np.float64)
    total = values.sum()
    if fraction == 0.0 or total == 0.0:
        return 1
    # Entries up to and including values[k] sit below t = values[k] + 1.
    reached = np.cumsum(values) / total >= fraction - 1e-12
    return int(values[int(np.argmax(reached))]) + 1
