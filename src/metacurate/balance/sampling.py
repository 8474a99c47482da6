"""Balancing draws that depend only on (seed, pair content, entry id).

Each (pair, matched entry) gets one uniform draw from a hash, so the curated subset is the same
for a seed whatever the number of workers, the input order or how the inputs are split.
"""

import numba as nb
import numpy as np
import pyarrow as pa

from metacurate.columns import string_buffers
from metacurate.counting import flat_ids

KEY_COLUMNS = ("url", "uuid")  # the first present identifies the image; the text is always used
_U64 = np.uint64
_GOLDEN = _U64(0x9E3779B97F4A7C15)


def entry_probabilities(counts: np.ndarray, t: float) -> np.ndarray:
    """p_e = min(1, t / count_e); entries that never matched get 1 (they are never drawn)."""
    counts = counts.astype(np.float64)
    with np.errstate(divide="ignore"):
        return np.minimum(1.0, t / counts)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser, vectorised (uint64 arithmetic wraps as intended)."""
    x = x ^ (x >> _U64(30))
    x = x * _U64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> _U64(27))
    x = x * _U64(0x94D049BB133111EB)
    return x ^ (x >> _U64(31))


@nb.njit(nogil=True, cache=True)
def _hash_strings(data, offsets, valid):
    out = np.empty(offsets.shape[0] - 1, dtype=np.uint64)
    for i in range(out.shape[0]):
        h = _U64(0xCBF29CE484222325)
        if valid[i]:
            for j in range(offsets[i], offsets[i + 1]):
                h = (h ^ _U64(data[j])) * _U64(0x100000001B3)
        else:
            h = _U64(0x5BD1E9955BD1E995)  # nulls hash apart from every string, empty included
        out[i] = h
    return out


def string_hashes(column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return _mix(_hash_strings(*string_buffers(column)))


def pair_keys(table: pa.Table, text_column: str) -> np.ndarray:
    """64-bit key per row from its url (or uuid) and text."""
    key = string_hashes(table[text_column])
    for name in KEY_COLUMNS:
        if name in table.column_names:
            other = table[name]
            if not pa.types.is_string(other.type) and not pa.types.is_large_string(other.type):
                other = other.cast(pa.string())
            key = _mix(key ^ (string_hashes(other) * _GOLDEN))
            break
    return key


def uniform_draws(keys: np.ndarray, ids: np.ndarray, seed: int) -> np.ndarray:
    """One uniform in [0, 1) per (pair key, entry id)."""
    seeded = _mix(np.asarray(keys, dtype=np.uint64) ^ _mix(np.full(1, seed, dtype=np.uint64)))
    x = _mix(seeded ^ (ids.astype(np.uint64) * _GOLDEN + _U64(1)))
    return (x >> _U64(11)).astype(np.float64) * (1.0 / (1 << 53))


def keep_decisions(
    keys: np.ndarray, entry_ids: pa.Array | pa.ChunkedArray, p: np.ndarray, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """(keep, keep_prob) per row: kept iff some matched entry's draw falls below its p_e."""
    if isinstance(entry_ids, pa.ChunkedArray):
        entry_ids = entry_ids.combine_chunks()
    n = len(entry_ids)
    lengths = entry_ids.value_lengths().to_numpy(zero_copy_only=False)
    lengths = np.nan_to_num(lengths, nan=0).astype(np.int64)  # null lists hold no entries
    rows = np.repeat(np.arange(n), lengths)
    ids = flat_ids(entry_ids)
    p_ids = p[ids]
    hits = uniform_draws(keys[rows], ids, seed) < p_ids
    keep = np.bincount(rows, weights=hits, minlength=n) > 0
    with np.errstate(divide="ignore"):
        log_miss = np.bincount(rows, weights=np.log1p(-p_ids), minlength=n)
    return keep, -np.expm1(log_miss)
