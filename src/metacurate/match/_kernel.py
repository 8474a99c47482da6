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

from metacurate.match.spacing import TO_SPACE, WRAPPED

_U64 = np.uint64
FNV_OFFSET = _U64(0xCBF29CE484222325)
FNV_PRIME = _U64(0x100000001B3)
RUN_SEED = _U64(0x9E3779B97F4A7C15)
MIX_1 = _U64(0xFF51AFD7ED558CCD)
MIX_2 = _U64(0xC4CEB9FE1A85EC53)
EMPTY = _U64(0)
EXTENDS = _U64(1)
ID_MASK = _U64(0xFFFFFFFE)
MAX_ENTRIES = 1 << 30  # ids + 1 must fit in the slot's 31 id bits

# Byte classes: 0 ordinary, 1 piece separator (space, tab, LF, CR), 2 wrapped punctuation.
BYTE_CLASS = np.zeros(256, dtype=np.uint8)
BYTE_CLASS[list((" " + TO_SPACE).encode())] = 1
BYTE_CLASS[list(WRAPPED.encode())] = 2

_JIT = {"nogil": True, "cache": True}


@nb.njit(inline="always", **_JIT)
def _piece_hash(data, start, end):
    h = FNV_OFFSET
    for i in range(start, end):
        h = (h ^ _U64(data[i])) * FNV_PRIME
    return h


@nb.njit(inline="always", **_JIT)
def _run_step(run, piece_hash):
    # murmur3 finaliser over (run + piece): order-sensitive and well mixed.
    x = (run ^ piece_hash) + RUN_SEED
    x ^= x >> _U64(33)
    x *= MIX_1
    x ^= x >> _U64(33)
    x *= MIX_2
    x ^= x >> _U64(33)
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


@nb.njit(inline="always", **_JIT)
def _fingerprint(run):
    f = run >> _U64(32)
    return f if f != _U64(0) else _U64(1)


@nb.njit(**_JIT)
def _prefix_slot(table, run, mask):
    """First slot on ``run``'s probe path with its fingerprint, claiming an empty one if none."""
    f = _fingerprint(run)
    slot = run & mask
    while table[slot] != EMPTY and (table[slot] >> _U64(32)) != f:
        slot = (slot + _U64(1)) & mask
    if table[slot] == EMPTY:
        table[slot] = f << _U64(32)
    return slot


@nb.njit(**_JIT)
def _entry_slot(table, run, mask):
    """First slot on ``run``'s probe path with its fingerprint and no entry yet, or an empty one."""
    f = _fingerprint(run)
    slot = run & mask
    while table[slot] != EMPTY and (
        (table[slot] >> _U64(32)) != f or (table[slot] & ID_MASK) != _U64(0)
    ):
        slot = (slot + _U64(1)) & mask
    if table[slot] == EMPTY:
        table[slot] = f << _U64(32)
    return slot


@nb.njit(**_JIT)
def build_table(e_data, e_off, matchable, capacity):
    """Hash table of entries and their proper token-prefixes, one uint64 per slot.

    A slot holds the run hash's upper 32 bits (its fingerprint; 0 = empty slot), then
    (entry id + 1) << 1 (0: prefix only) and bit 0 set if some entry extends this run. Keeping
    all of it in one word makes a probe one memory access. Slots whose fingerprints agree by
    accident only cost an extra verification or extension step, never a wrong answer: every
    entry is verified byte-for-byte, and every true prefix is flagged on its own probe path.
    """
    table = np.zeros(capacity, dtype=np.uint64)
    mask = _U64(capacity - 1)
    n_entries = e_off.shape[0] - 1
    for e in range(n_entries):
        if not matchable[e]:
            continue
        # Entries are split on spaces only: their tokens are what must equal text pieces.
        run = RUN_SEED
        cur = e_off[e]
        for i in range(e_off[e], e_off[e + 1]):
            if e_data[i] == 32:
                run = _run_step(run, _piece_hash(e_data, cur, i))
                table[_prefix_slot(table, run, mask)] |= EXTENDS
                cur = i + 1
        run = _run_step(run, _piece_hash(e_data, cur, e_off[e + 1]))
        slot = _entry_slot(table, run, mask)
        table[slot] |= _U64(e + 1) << _U64(1)
    return table


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


@nb.njit(inline="always", **_JIT)
def _insertion_sort(a, lo, hi):
    """Sort a[lo:hi] in place: a text's few ids, without np.sort's allocation."""
    for i in range(lo + 1, hi):
        x = a[i]
        j = i - 1
        while j >= lo and a[j] > x:
            a[j + 1] = a[j]
            j -= 1
        a[j + 1] = x


@nb.njit(inline="always", **_JIT)
def _hash_and_warm(
    data, p_start, p_end, n_pieces, p_hash, p_run, table, mask, e_data, e_off, last_seen
):
    """Hash the pieces, then touch what the probing will read.

    The touches are independent loads, so their cache misses overlap instead of being paid one
    after another in the dependent probing: first every piece's own slot, then the entry bytes,
    the seen-mark and the two-piece slot those slots lead to. Returns a value to keep them alive.
    """
    touched = _U64(0)
    for p in range(n_pieces):
        p_hash[p] = _piece_hash(data, p_start[p], p_end[p])
        p_run[p] = _run_step(RUN_SEED, p_hash[p])
        touched ^= table[p_run[p] & mask]
    for p in range(n_pieces):
        run = p_run[p]
        v = table[run & mask]
        if (v >> _U64(32)) == _fingerprint(run):
            e = np.int64((v & ID_MASK) >> _U64(1)) - 1
            if e >= 0:
                touched ^= _U64(e_data[e_off[e]]) ^ _U64(last_seen[e])
            if (v & EXTENDS) != _U64(0) and p + 1 < n_pieces:
                touched ^= table[_run_step(run, p_hash[p + 1]) & mask]
    return touched


@nb.njit(inline="always", **_JIT)
def _append(out_ids, n_out, e):
    if n_out == out_ids.shape[0]:
        grown = np.empty(2 * n_out, dtype=np.int32)
        grown[:n_out] = out_ids
        out_ids = grown
    out_ids[n_out] = e
    return out_ids, n_out + 1


@nb.njit(**_JIT)
def match_batch(data, offsets, valid, table, e_data, e_off, byte_class):
    """Match every text of an Arrow-style string column.

    Returns (out_offsets, out_ids): the distinct matched entry ids of text i, ascending, are
    out_ids[out_offsets[i]:out_offsets[i + 1]]. Null texts (valid[i] False) match nothing.
    """
    n_texts = offsets.shape[0] - 1
    mask = _U64(table.shape[0] - 1)
    last_seen = np.full(e_off.shape[0] - 1, -1, dtype=np.int32)  # last text matching entry e
    max_len = 0
    for t in range(n_texts):
        max_len = max(max_len, offsets[t + 1] - offsets[t])
    # A text of L bytes has at most 2L + 1 pieces (every byte a wrapped punctuation mark).
    p_start = np.empty(2 * max_len + 2, dtype=np.int64)
    p_end = np.empty(2 * max_len + 2, dtype=np.int64)
    p_hash = np.empty(2 * max_len + 2, dtype=np.uint64)
    p_run = np.empty(2 * max_len + 2, dtype=np.uint64)  # hash of the run of piece p alone
    out_offsets = np.zeros(n_texts + 1, dtype=np.int64)
    out_ids = np.empty(max(16, 4 * n_texts), dtype=np.int32)
    sink = np.zeros(64, dtype=np.uint64)
    n_out = 0
    for t in range(n_texts):
        if valid[t]:
            n_pieces = _split_pieces(data, offsets[t], offsets[t + 1], byte_class, p_start, p_end)
            sink[t & 63] = _hash_and_warm(
                data, p_start, p_end, n_pieces, p_hash, p_run, table, mask, e_data, e_off, last_seen
            )
            for first in range(n_pieces):
                run = p_run[first]
                for last in range(first, n_pieces):
                    if last > first:
                        run = _run_step(run, p_hash[last])
                    f = _fingerprint(run)
                    slot = run & mask
                    extend = False
                    while table[slot] != EMPTY:
                        v = table[slot]
                        slot = (slot + _U64(1)) & mask
                        if (v >> _U64(32)) != f:
                            continue
                        extend |= (v & EXTENDS) != _U64(0)
                        e = np.int64((v & ID_MASK) >> _U64(1)) - 1
                        if e < 0 or last_seen[e] == t:
                            continue
                        if _verify(
                            data, p_start, p_end, first, last, e_data, e_off[e], e_off[e + 1]
                        ):
                            last_seen[e] = t
                            out_ids, n_out = _append(out_ids, n_out, e)
                    if not extend:
                        break
            _insertion_sort(out_ids, out_offsets[t], n_out)
        out_offsets[t + 1] = n_out
    return out_offsets, out_ids[:n_out].copy()
