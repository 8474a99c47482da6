"""De-duplication of (image, text) pairs across every input of a run.

A pair is identified by a 64-bit hash of its image id (url, else uuid) and a 64-bit hash of its
text; the set keeps 127 of those 128 bits (the lowest bit marks occupied slots), so two distinct
pairs are taken for one with probability about n^2 / 2^128. Seen pairs live in an open-addressing hash set of two uint64 arrays kept at
most half full, so memory is 32-64 bytes per distinct pair (about 3-6 GB for 100M pairs) and
does not depend on text or URL lengths.
"""

import numba as nb
import numpy as np
import pyarrow as pa

from metacurate.hashing import JIT, image_id_hashes, string_hashes

_EMPTY = np.uint64(0)
_MIN_SLOTS = 1 << 16


def pair_ids(table: pa.Table, text_column: str) -> np.ndarray | None:
    """(n, 2) uint64 ids of the table's pairs, or None when it has no image id column. Rows
    without an image id get the id (0, 0): never a duplicate, since their image is unknown."""
    image = image_id_hashes(table)
    if image is None:
        return None
    hashes, has_id = image
    ids = np.stack([hashes, string_hashes(table[text_column])], axis=1)
    ids[~has_id] = 0
    return ids


@nb.njit(**JIT)
def _insert(table, ids, fresh):
    """Insert each id; fresh[i] is True for its first occurrence. Returns how many were new."""
    mask = np.uint64(table.shape[0] - 1)
    added = 0
    for i in range(ids.shape[0]):
        hi = ids[i, 0]
        if hi == _EMPTY and ids[i, 1] == _EMPTY:  # no image id: kept, not remembered
            fresh[i] = True
            continue
        lo = ids[i, 1] | np.uint64(1)  # a stored lo is never 0, so 0 marks an empty slot
        slot = (hi ^ (lo >> np.uint64(7))) & mask
        while True:
            if table[slot, 1] == _EMPTY:
                table[slot, 0] = hi
                table[slot, 1] = lo
                fresh[i] = True
                added += 1
                break
            if table[slot, 0] == hi and table[slot, 1] == lo:
                fresh[i] = False
                break
            slot = (slot + np.uint64(1)) & mask
    return added


class SeenPairs:
    """The set of pair ids seen so far in a run, in insertion order of the parts."""

    def __init__(self) -> None:
        self._table = np.zeros((_MIN_SLOTS, 2), dtype=np.uint64)
        self.size = 0

    @property
    def nbytes(self) -> int:
        return self._table.nbytes

    def _reserve(self, extra: int) -> None:
        slots = self._table.shape[0]
        while 2 * (self.size + extra) > slots:
            slots *= 2
        if slots != self._table.shape[0]:
            old = self._table[self._table[:, 1] != _EMPTY]
            self._table = np.zeros((slots, 2), dtype=np.uint64)
            _insert(self._table, old, np.empty(len(old), dtype=np.bool_))

    def first_seen(self, ids: np.ndarray) -> np.ndarray:
        """Add ``ids``; a boolean mask of those not seen before (within ``ids`` too)."""
        self._reserve(len(ids))
        fresh = np.empty(len(ids), dtype=np.bool_)
        self.size += _insert(self._table, np.ascontiguousarray(ids, dtype=np.uint64), fresh)
        return fresh
