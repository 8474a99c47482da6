"""The exact, batched metadata sub-string matcher (stage 1 of SPEC section 1)."""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from metacurate.columns import string_buffers
from metacurate.match import _kernel
from metacurate.match.spacing import unmatchable_reason


@dataclass(frozen=True)
class Matches:
    """Matched entry ids per text in CSR form: text i matched ids[offsets[i]:offsets[i + 1]]."""

    offsets: np.ndarray  # int64, len n_texts + 1
    ids: np.ndarray  # int32, ascending within each text

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def counts_per_text(self) -> np.ndarray:
        return np.diff(self.offsets)

    def of(self, i: int) -> list[int]:
        return self.ids[self.offsets[i] : self.offsets[i + 1]].tolist()

    def to_lists(self) -> list[list[int]]:
        return [self.of(i) for i in range(len(self))]

    def to_arrow(self) -> pa.ListArray:
        return pa.ListArray.from_arrays(
            pa.array(self.offsets.astype(np.int32)), pa.array(self.ids, type=pa.int32())
        )


def _utf8(text: str) -> bytes:
    # surrogatepass keeps lone surrogates (legal in JSON) matchable exactly: their 3-byte
    # encodings contain no ASCII byte, and every needle is delimited by ASCII spaces.
    return text.encode("utf-8", "surrogatepass")


def _utf8_column(texts: Sequence[str | None]) -> pa.Array:
    """Arrow's encoder for valid strings; the per-string fallback keeps lone surrogates."""
    try:
        return pa.array(texts, pa.large_string())
    except (pa.ArrowInvalid, UnicodeEncodeError):
        return pa.array([None if t is None else _utf8(t) for t in texts], pa.large_binary())


def _per_entry_sum(flags: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Number of flagged bytes in each entry's byte range."""
    running = np.concatenate(([0], np.cumsum(flags, dtype=np.int64)))
    return running[offsets[1:]] - running[offsets[:-1]]


class Matcher:
    """Matches texts against a metadata list with MetaCLIP's exact semantics.

    Build once (under a second for 500k entries), then call ``match_arrow`` on Arrow string
    columns (zero-copy) or ``match_texts`` on Python strings.
    """

    def __init__(self, entries: Sequence[str]):
        if len(entries) >= _kernel.MAX_ENTRIES:
            raise ValueError(f"at most {_kernel.MAX_ENTRIES - 1:,} entries, got {len(entries):,}")
        self.n_entries = len(entries)
        self._e_data, self._e_off, _ = string_buffers(_utf8_column(entries))
        # Only entries holding a special byte can be unmatchable: check those one by one.
        is_space = self._e_data == 32
        special = _per_entry_sum((_kernel.BYTE_CLASS[self._e_data] != 0) & ~is_space, self._e_off)
        spaces = _per_entry_sum(is_space, self._e_off)
        candidates = np.flatnonzero(special)
        reasons = ((int(i), unmatchable_reason(entries[i])) for i in candidates)
        self.unmatchable = {i: r for i, r in reasons if r is not None}
        matchable = np.ones(self.n_entries, dtype=np.bool_)
        matchable[list(self.unmatchable)] = False
        # One key per entry token at most (its prefixes and itself), at load factor <= 2/3.
        n_keys = int((spaces + 1)[matchable].sum())
        capacity = 1 << max(4, int(1.5 * max(n_keys, 1) - 1).bit_length())
        self._table = _kernel.build_table(self._e_data, self._e_off, matchable, capacity)

    @property
    def table_bytes(self) -> int:
        return self._table.nbytes

    def match_arrow(self, array: pa.Array | pa.ChunkedArray) -> Matches:
        """Match an Arrow string/binary column; nulls match nothing."""
        data, offsets, valid = string_buffers(array)
        out_offsets, out_ids = _kernel.match_batch(
            data, offsets, valid, self._table, self._e_data, self._e_off, _kernel.BYTE_CLASS
        )
        return Matches(out_offsets, out_ids)

    def match_texts(self, texts: Sequence[str | None]) -> Matches:
        """Match Python strings (lone surrogates allowed); None matches nothing."""
        return self.match_arrow(_utf8_column(texts))
