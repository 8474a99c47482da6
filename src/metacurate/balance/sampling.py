"""Balancing draws that depend only on (seed, pair content, entry id).

Each (pair, matched entry) gets one uniform draw from a hash, so the curated subset is the same
for a seed whatever the number of workers, the input order or how the inputs are split.
"""

import numba as nb
import numpy as np
import pyarrow as pa

from metacurate.hashing import JIT as _JIT
from metacurate.hashing import image_id_hashes, string_hashes
from metacurate.hashing import mix as _mix

_U64 = np.uint64
_GOLDEN = _U64(0x9E3779B97F4A7C15)


def entry_probabilities(counts: np.ndarray, t: float) -> np.ndarray:
    """p_e = min(1, t / count_e); entries that never matched get 1 (they are never drawn)."""
    counts = counts.astype(np.float64)
    with np.errstate(divide="ignore"):
        return np.minimum(1.0, t / counts)


@nb.njit(inline="always", **_JIT)
def _uniform(seeded_key, entry_id):
    """The draw of one (pair, entry): 53 random bits as a float in [0, 1)."""
    x = _mix(seeded_key ^ (_U64(entry_id) * _GOLDEN + _U64(1)))
    return np.float64(x >> _U64(11)) * (1.0 / 9007199254740992.0)


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


def pair_keys(table: pa.Table, text_column: str) -> np.ndarray:
    """64-bit key per row from its url (or uuid) and text."""
    key = string_hashes(table[text_column])
    image = image_id_hashes(table)
    if image is None:
        return key
    hashes, has_id = image
    return np.where(has_id, _combine(key, hashes), key)


def uniform_draws(keys: np.ndarray, ids: np.ndarray, seed: int) -> np.ndarray:
    """One uniform in [0, 1) per (pair key, entry id): the draws ``keep_decisions`` makes."""
    keys, ids = np.asarray(keys, dtype=np.uint64), np.asarray(ids, dtype=np.int64)
    return _draws(keys, ids, _U64(seed))


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
    # As uint64: numba types a Python int as int64, which a seed of 2**63 or more overflows.
    return _keep(np.asarray(keys, dtype=np.uint64), offsets, ids, valid, p, _U64(seed))
