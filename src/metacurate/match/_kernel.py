"""Numba kernels for exact token-hash sub-string matching.

The spaced text (SPEC section 2) split on single spaces gives "pieces"; an entry matches iff its
own space-separated tokens equal a run of consecutive pieces. The kernels find pieces directly in
the original UTF-8 bytes (wrapped punctuation is a one-byte piece, tab/newline/CR/space end a
piece), hash each piece once, and extend runs through an open-addressing table that holds every
entry and every proper token-prefix of an entry. Every hit is verified byte-for-byte against the
entry, so a hash collision can cost time but never change the output.
"""

import numba as nb
import numpy as np

_U64 = np.uint64
FNV_OFFSET = _U64(0xCBF29CE484222325)
FNV_PRIME = _U64(0x100000001B3)
RUN_SEED = _U64(0x9E3779B97F4A7C15)
MIX_1 = _U64(0xFF51AFD7ED558CCD)
MIX_2 = _U64(0xC4CEB9FE1A85EC53)
EMPTY_KEY = _U64(0)
NO_ENTRY = np.int32(-1)

# Byte classes: 0 ordinary, 1 piece separator (space, tab, LF, CR), 2 wrapped punctuation.
BYTE_CLASS = np.zeros(256, dtype=np.uint8)
for _b in b" \t\n\r":
    BYTE_CLASS[_b] = 1
for _b in b",.;:?!`":
    BYTE_CLASS[_b] = 2

_JIT = {"nogil": True, "cache": True}


@nb.njit(inline="always", **_JIT)
def _piece_hash(data, start, end):
    h = FNV_OFFSET
    for i in range(start, end):
        h = (h ^ _U64(data[i])) * FNV_PRIME
    return h


@nb.njit(inline="always", **_JIT)
def _run_step(run, piece_hash):
    # murmur3 finaliser over (run + piece): order-sensitive, well mixed, never returns 0 for the
    # table because EMPTY_KEY is patched below.
    x = (run ^ piece_hash) + RUN_SEED
    x ^= x >> _U64(33)
    x *= MIX_1
    x ^= x >> _U64(33)
    x *= MIX_2
    x ^= x >> _U64(33)
    if x == EMPTY_KEY:
        x = _U64(1)
    return x


@nb.njit(**_JIT)
def _split_pieces(data, start, end, byte_class, p_start, p_end):
    """Write the pieces of data[start:end] (as spaced text split on ' ') and return their count."""
    n = 0
    cur = start
    for i in range(start, end):
        c = byte_class[data[i]]
        if c == 0:
            continue
        p_start[n] = cur
        p_end[n] = i
        n += 1
        if c == 2:
            p_start[n] = i
            p_end[n] = i + 1
            n += 1
        cur = i + 1
    p_start[n] = cur
    p_end[n] = end
    return n + 1


@nb.njit(**_JIT)
def _find_or_add(keys, ids, ext, key, mask):
    """Slot holding ``key`` (first one on its probe path), adding an empty slot if absent."""
    slot = key & mask
    while True:
        k = keys[slot]
        if k == key:
            return slot
        if k == EMPTY_KEY:
            keys[slot] = key
            ids[slot] = NO_ENTRY
            return slot
        slot = (slot + _U64(1)) & mask


@nb.njit(**_JIT)
def build_table(e_data, e_off, matchable, byte_class, capacity):
    """Hash table of entries and their proper token-prefixes.

    keys: run hash (0 = empty slot); ids: entry id or -1 (prefix only); ext: True if some entry
    extends this run. Entries sharing a hash (duplicates or collisions) get one slot each, all on
    the same probe path, so lookups visit every one of them.
    """
    keys = np.zeros(capacity, dtype=np.uint64)
    ids = np.full(capacity, NO_ENTRY, dtype=np.int32)
    ext = np.zeros(capacity, dtype=np.bool_)
    mask = _U64(capacity - 1)
    n_entries = e_off.shape[0] - 1
    max_len = 0
    for e in range(n_entries):
        max_len = max(max_len, e_off[e + 1] - e_off[e])
    p_start = np.empty(max_len + 2, dtype=np.int64)
    p_end = np.empty(max_len + 2, dtype=np.int64)
    for e in range(n_entries):
        if not matchable[e]:
            continue
        # Entries are split on spaces only: their tokens are what must equal text pieces.
        n = 0
        cur = e_off[e]
        for i in range(e_off[e], e_off[e + 1]):
            if e_data[i] == 32:
                p_start[n] = cur
                p_end[n] = i
                n += 1
                cur = i + 1
        p_start[n] = cur
        p_end[n] = e_off[e + 1]
        n += 1
        run = RUN_SEED
        for j in range(n):
            run = _run_step(run, _piece_hash(e_data, p_start[j], p_end[j]))
            if j < n - 1:
                ext[_find_or_add(keys, ids, ext, run, mask)] = True
        slot = _find_or_add(keys, ids, ext, run, mask)
        while ids[slot] != NO_ENTRY:
            # Another entry already owns this slot: take the next free slot on the same path.
            slot = (slot + _U64(1)) & mask
            while keys[slot] != EMPTY_KEY and keys[slot] != run:
                slot = (slot + _U64(1)) & mask
            if keys[slot] == EMPTY_KEY:
                keys[slot] = run
        ids[slot] = e
    return keys, ids, ext


@nb.njit(inline="always", **_JIT)
def _verify(data, p_start, p_end, first, last, e_data, e_lo, e_hi):
    """True iff pieces first..last joined by single spaces equal e_data[e_lo:e_hi]."""
    pos = e_lo
    for p in range(first, last + 1):
        if p > first:
            if pos >= e_hi or e_data[pos] != 32:
                return False
            pos += 1
        length = p_end[p] - p_start[p]
        if pos + length > e_hi:
            return False
        s = p_start[p]
        for k in range(length):
            if data[s + k] != e_data[pos + k]:
                return False
        pos += length
    return pos == e_hi


@nb.njit(**_JIT)
def match_batch(data, offsets, valid, keys, ids, ext, e_data, e_off, byte_class):
    """Match every text of an Arrow-style string column.

    Returns (out_offsets, out_ids): the distinct matched entry ids of text i, ascending, are
    out_ids[out_offsets[i]:out_offsets[i + 1]]. Null texts (valid[i] False) match nothing.
    """
    n_texts = offsets.shape[0] - 1
    mask = _U64(keys.shape[0] - 1)
    n_entries = e_off.shape[0] - 1
    last_seen = np.full(n_entries, -1, dtype=np.int64)
    max_len = 0
    for t in range(n_texts):
        max_len = max(max_len, offsets[t + 1] - offsets[t])
    # A text of L bytes has at most 2L + 1 pieces (every byte a wrapped punctuation mark).
    p_start = np.empty(2 * max_len + 2, dtype=np.int64)
    p_end = np.empty(2 * max_len + 2, dtype=np.int64)
    p_hash = np.empty(2 * max_len + 2, dtype=np.uint64)
    out_offsets = np.zeros(n_texts + 1, dtype=np.int64)
    out_ids = np.empty(max(16, 4 * n_texts), dtype=np.int32)
    n_out = 0
    for t in range(n_texts):
        if valid[t]:
            n_pieces = _split_pieces(data, offsets[t], offsets[t + 1], byte_class, p_start, p_end)
            for p in range(n_pieces):
                p_hash[p] = _piece_hash(data, p_start[p], p_end[p])
            for first in range(n_pieces):
                run = RUN_SEED
                for last in range(first, n_pieces):
                    run = _run_step(run, p_hash[last])
                    slot = run & mask
                    extend = False
                    while True:
                        k = keys[slot]
                        if k == EMPTY_KEY:
                            break
                        if k == run:
                            extend |= ext[slot]
                            e = ids[slot]
                            if (
                                e != NO_ENTRY
                                and last_seen[e] != t
                                and _verify(
                                    data,
                                    p_start,
                                    p_end,
                                    first,
                                    last,
                                    e_data,
                                    e_off[e],
                                    e_off[e + 1],
                                )
                            ):
                                last_seen[e] = t
                                if n_out == out_ids.shape[0]:
                                    grown = np.empty(2 * n_out, dtype=np.int32)
                                    grown[:n_out] = out_ids
                                    out_ids = grown
                                out_ids[n_out] = e
                                n_out += 1
                        slot = (slot + _U64(1)) & mask
                    if not extend:
                        break
            start = out_offsets[t]
            if n_out - start > 1:
                out_ids[start:n_out] = np.sort(out_ids[start:n_out])
        out_offsets[t + 1] = n_out
    return out_offsets, out_ids[:n_out].copy()
