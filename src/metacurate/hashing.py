"""64-bit string hashes shared by balancing (the draws) and de-duplication (the pair ids)."""

import numba as nb
import numpy as np
import pyarrow as pa

from metacurate.columns import string_buffers

# A row's image is identified by the first of these that is non-null for it (MetaCLIP's
# WebDataset shards carry uuids but no urls); the text is always hashed too.
IMAGE_ID_COLUMNS = ("url", "uuid")
_U64 = np.uint64
JIT = {"nogil": True, "cache": True}


@nb.njit(inline="always", **JIT)
def mix(x):
    """splitmix64 finaliser (uint64 arithmetic wraps as intended)."""
    x = x ^ (x >> _U64(30))
    x = x * _U64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> _U64(27))
    x = x * _U64(0x94D049BB133111EB)
    return x ^ (x >> _U64(31))


@nb.njit(**JIT)
def _hash_strings(data, offsets, valid):
    out = np.empty(offsets.shape[0] - 1, dtype=np.uint64)
    for i in range(out.shape[0]):
        h = _U64(0xCBF29CE484222325)
        if valid[i]:
            for j in range(offsets[i], offsets[i + 1]):
                h = (h ^ _U64(data[j])) * _U64(0x100000001B3)
        else:
            h = _U64(0x5BD1E9955BD1E995)  # nulls hash apart from every string, empty included
        out[i] = mix(h)
    return out


def string_hashes(column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """One 64-bit hash per value; non-string columns are hashed as their text form."""
    if not pa.types.is_string(column.type) and not pa.types.is_large_string(column.type):
        column = column.cast(pa.string())
    return _hash_strings(*string_buffers(column))


def image_id_hashes(table: pa.Table) -> tuple[np.ndarray, np.ndarray] | None:
    """(hash, has_id) per row from its url, else its uuid; None if the table has neither."""
    hashes = has_id = None
    for name in (c for c in IMAGE_ID_COLUMNS if c in table.column_names):
        column = table[name]
        valid = column.is_valid().to_numpy(zero_copy_only=False)
        if hashes is None:
            hashes, has_id = string_hashes(column), valid.copy()
        else:
            fill = ~has_id & valid
            hashes[fill] = string_hashes(column)[fill]
            has_id |= valid
    return None if hashes is None else (hashes, has_id)
