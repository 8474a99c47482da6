"""Balancing draws that depend only on (seed, pair content, entry id).

Each (pair, matched entry) gets one uniform draw from a hash, so the curated subset is the same
for a seed whatever the number of workers, the input order or how the inputs are split.
"""

import numba as nb
import numpy as np
import pyarrow as pa

from metacurate.columns import string_buffers

KEY_COLUMNS = ("url", "uuid")  # the first present identifies the image; the text is always used
_U64 = np.uint64
_GOLDEN = _U64(0x9E3779B97F4A7C15)


def entry_probabilities(counts: np.ndarray, t: float) -> np.ndarray:
    """p_e = min(1, t / count_e); entries that never matched get 1 (they are never drawn)."""
    counts = counts.astype(np.float64)
    with np.errstate(divide="ignore"):
        return np.minimum(1.0, t / counts)


_JIT = {"nogil": True, "cache": True}


@nb.njit(inline="always", **_JIT)
def _mix(x):
    """splitmix64 finaliser (uint64 arithmetic wraps as intended)."""
    x = x ^ (x >> _U64(30))
    x = x * _U64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> _U64(27))
    x = x * _U64(0x94D049BB133111EB)
    return x ^ (x >> _U64(31))


@nb.njit(inline="always", **_JIT)
def _uniform(seeded_key, entry_id):
    """The draw of one (pair, entry): 53 random bits as a float in [0, 1)."""
    x = _mix(seeded_key ^ (_U64(entry_id) * _GOLDEN + _U64(1)))
    return np.float64(x >> _U64(11)) * (1.0 / 9007199254740992.0)


@nb.njit(**_JIT)
def _hash_strings(data, offsets, valid):
    out = np.empty(offsets.shape[0] - 1, dtype=np.uint64)
    for i in range(out.shape[0]):
        h = _U64(0xCBF29CE484222325)
        if valid[i]:
            for j in range(offsets[i], offsets[i + 1]):
                h = (h ^ _U64(data[j])) * _U64(0x100000001B3)
        else:
            h = _U64(0x5BD1E9955BD1E995)  # nulls hash apart from every string, empty included
        out[i] = _mix(h)
    return out


@nb.njit(**_JIT)
def _combine(text_hashes, key_hashes):
    out = np.empty_like(text_hashes)
    for i in range(out.shape[0]):
        out[i] = _mix(text_hashes[i] ^ (key_hashes[i] * _GOLDEN))
    return out


@nb.njit(**_JIT)
def _seeded(keys, seed):
    seed_mix = _mix(_U64(seed))
    out = np.empty_like(keys)
    for i in range(keys.shape[0]):
        out[i] = _mix(keys[i] ^ seed_mix)
    return out


@nb.njit(**_JIT)
def _draws(keys, ids, seed):
    seeded = _seeded(keys, seed)
    out = np.empty(ids.shape[0], dtype=np.float64)
    for i in range(ids.shape[0]):
        out[i] = _uniform(seeded[i], ids[i])
    return out


@nb.njit(**_JIT)
def _keep(keys, offsets, ids, valid, p, seed):
    seeded = _seeded(keys, seed)
    keep = np.zeros(keys.shape[0], dtype=np.bool_)
    keep_prob = np.zeros(keys.shape[0], dtype=np.float64)
    for r in range(keys.shape[0]):
        if not valid[r]:
            continue
        hit = False
        miss = 1.0
        for j in range(offsets[r], offsets[r + 1]):
            p_e = p[ids[j]]
            hit |= _uniform(seeded[r], ids[j]) < p_e
            miss *= 1.0 - p_e
        keep[r] = hit
        keep_prob[r] = 1.0 - miss
    return keep, keep_prob


def string_hashes(column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return _hash_strings(*string_buffers(column))


def pair_keys(table: pa.Table, text_column: str) -> np.ndarray:
    """64-bit key per row from its url (or uuid) and text."""
    key = string_hashes(table[text_column])
    for name in KEY_COLUMNS:
        if name in table.column_names:
            other = table[name]
            if not pa.types.is_string(other.type) and not pa.types.is_large_string(other.type):
                other = other.cast(pa.string())
            return _combine(key, string_hashes(other))
    return key


def uniform_draws(keys: np.ndarray, ids: np.ndarray, seed: int) -> np.ndarray:
    """One uniform in [0, 1) per (pair key, entry id): the draws ``keep_decisions`` makes."""
    return _draws(np.asarray(keys, dtype=np.uint64), np.asarray(ids, dtype=np.int64), seed)


def keep_decisions(
    keys: np.ndarray, entry_ids: pa.Array | pa.ChunkedArray, p: np.ndarray, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """(keep, keep_prob) per row: kept iff some matched entry's draw falls below its p_e;
    keep_prob = 1 - prod(1 - p_e). Null lists hold no entries."""
    if isinstance(entry_ids, pa.ChunkedArray):
        entry_ids = entry_ids.combine_chunks()
    offsets = entry_ids.offsets.to_numpy(zero_copy_only=False)
    ids = entry_ids.values.to_numpy(zero_copy_only=False)
    valid = entry_ids.is_valid().to_numpy(zero_copy_only=False)
    return _keep(np.asarray(keys, dtype=np.uint64), offsets, ids, valid, p, seed)
