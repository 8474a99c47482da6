"""Stage 2: entry counts (matches per entry over the pool) and the t <-> tail-fraction link."""

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from metacurate.location import Location

ENTRY_IDS = "entry_ids"


def flat_ids(entry_ids: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """All entry ids of a list<int32> column, flattened, as int64."""
    if isinstance(entry_ids, pa.ChunkedArray):
        entry_ids = entry_ids.combine_chunks()
    return entry_ids.flatten().to_numpy(zero_copy_only=False).astype(np.int64, copy=False)


def count_ids(entry_ids: pa.Array | pa.ChunkedArray, n_entries: int) -> np.ndarray:
    return np.bincount(flat_ids(entry_ids), minlength=n_entries).astype(np.uint64)


@dataclass(frozen=True)
class SparseCounts:
    """One part's entry counts as (entry, count) pairs. A part matches a few thousand of the
    metadata's entries, and each part's counts travel from its worker to the driver: a dense
    vector would be 4 MB per part for 500,000 entries (5 TB for 1.35M parts)."""

    entries: np.ndarray  # distinct entry ids, int64
    counts: np.ndarray  # uint64

    @classmethod
    def of(cls, entry_ids: pa.Array | pa.ChunkedArray) -> "SparseCounts":
        # A dense count then its non-zero entries: a linear pass, where np.unique sorts.
        dense = np.bincount(flat_ids(entry_ids))
        entries = np.flatnonzero(dense)
        return cls(entries, dense[entries].astype(np.uint64))

    @classmethod
    def of_part(cls, part: Location) -> "SparseCounts":
        """The counts of a Parquet part holding an ``entry_ids`` column (reads only that)."""
        return cls.of(pq.read_table(**part.arrow(), columns=[ENTRY_IDS])[ENTRY_IDS])

    def add_to(self, totals: np.ndarray) -> None:
        totals[self.entries] += self.counts  # entries are distinct: no lost updates


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
