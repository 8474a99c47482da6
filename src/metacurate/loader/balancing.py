"""Per-epoch keep decisions for an image's texts: offline balancing's draw, re-seeded each epoch.

A text of an image is kept in epoch ``e`` iff one of its matched entries' draws falls below that
entry's ``p_e = min(1, t / count_e)``; the draws and pair keys are exactly ``balance.sampling``'s
(``pair_keys`` over the url, else uuid, and the text; ``keep_decisions``), seeded with
``epoch_seed(seed, e)``. Epoch 0 uses the seed itself, so it keeps exactly the pairs that
``metacurate balance --seed S`` keeps. An image is used in an epoch when one of its texts is
kept, with one of its kept texts, picked from a hash of (epoch seed, image key).
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import islice

import numba as nb
import numpy as np
import pyarrow as pa

from metacurate.balance.sampling import entry_probabilities, keep_decisions, pair_keys
from metacurate.hashing import JIT, image_id_hashes, mix

_U64 = np.uint64
# Salts the pick of an image's text apart from its texts' keep draws (which mix the seed alone).
_PICK = _U64(0x5851F42D4C957F2D)
_SEED_LIMIT = 2**64
BATCH_IMAGES = 4096  # images per Arrow table when only probabilities are summed

Record = Mapping  # {"url": str | None, "uuid": str | None, "texts": [str], "entry_ids": [[int]]}


def epoch_seed(seed: int, epoch: int) -> int:
    """The 64-bit seed of epoch ``epoch``'s draws: ``seed`` for epoch 0 (the offline subset),
    else ``mix(mix(seed) ^ epoch)`` with ``hashing.mix`` (splitmix64's finaliser). It depends on
    (seed, epoch) alone, never on workers, ranks or order; for a given epoch it is a bijection
    of the seed, so two seeds never share an epoch's draws."""
    if not 0 <= seed < _SEED_LIMIT:
        raise ValueError(f"seed must be between 0 and 2**64 - 1, got {seed}")
    if not 0 <= epoch < _SEED_LIMIT:
        raise ValueError(f"epoch must be between 0 and 2**64 - 1, got {epoch}")
    if epoch == 0:
        return seed
    return int(mix(mix(_U64(seed)) ^ _U64(epoch)))


@dataclass(frozen=True)
class EpochDraw:
    """One epoch's decisions for a batch of images, aligned with the records given."""

    kept: list[list[int]]  # per image: the positions of its texts kept this epoch
    chosen: np.ndarray  # per image: the position of the text it is used with; -1: not used
    keep_prob: np.ndarray  # per image: P(used in an epoch) = 1 - prod over (text, entry) (1 - p_e)

    @property
    def used(self) -> np.ndarray:
        return self.chosen >= 0


class OnlineBalance:
    """Which images (and which of their texts) each epoch uses, from the matched pool's entry
    counts (``entry_counts.npy`` of the match run), the threshold ``t`` and a seed."""

    def __init__(self, counts: np.ndarray, t: float, seed: int = 0) -> None:
        epoch_seed(seed, 0)  # refuse a seed the draws cannot hash before any shard is read
        if not t > 0:
            raise ValueError(f"t must be positive, got {t}")
        self.p = entry_probabilities(np.asarray(counts), t)
        self.seed = seed

    def epoch_seed(self, epoch: int) -> int:
        return epoch_seed(self.seed, epoch)

    def draw(self, records: Sequence[Record], epoch: int) -> EpochDraw:
        """Epoch ``epoch``'s decisions for ``records``: one Arrow table of all their texts, one
        ``keep_decisions`` call, one pass to pick each used image's text."""
        images = _images_table(records)
        pairs, image_of_text = _pairs_table(records, images)
        entry_ids = self._checked_ids(pairs)
        # As uint64: numba types a Python int as int64, which a seed of 2**63 or more overflows.
        seed = _U64(self.epoch_seed(epoch))
        keep, _ = keep_decisions(pair_keys(pairs, "text"), entry_ids, self.p, seed)
        offsets = np.zeros(len(records) + 1, np.int64)
        np.cumsum(np.bincount(image_of_text, minlength=len(records)), out=offsets[1:])
        image_keys, _ = image_id_hashes(images)
        chosen = _choose(image_keys, offsets, keep, seed)
        positions = np.arange(len(keep)) - offsets[image_of_text]
        kept = [
            positions[a:b][keep[a:b]].tolist()
            for a, b in zip(offsets[:-1], offsets[1:], strict=True)
        ]
        return EpochDraw(kept, chosen, self._image_probs(entry_ids, image_of_text, len(records)))

    def keep_probabilities(self, records: Sequence[Record]) -> np.ndarray:
        """P(used in an epoch) per image; the same every epoch."""
        pairs, image_of_text = _pairs_table(records)
        return self._image_probs(self._checked_ids(pairs), image_of_text, len(records))

    def expected_size(self, records: Iterable[Record]) -> float:
        """Expected number of images an epoch uses: the sum of their keep probabilities (what a
        trainer sizes its learning-rate schedule by). Streams ``records`` in batches."""
        records = iter(records)
        total = 0.0
        while batch := list(islice(records, BATCH_IMAGES)):
            total += float(self.keep_probabilities(batch).sum())
        return total

    def expected_size_of(self, entry_ids: pa.Array | pa.ChunkedArray) -> float:
        """``expected_size`` of images given as an Arrow column of their texts' entry ids
        (``list<list<int>>``, one list per text; or ``list<int>`` for one text an image), as
        img2dataset's per-shard Parquet holds it: no Python object per image."""
        if isinstance(entry_ids, pa.ChunkedArray):
            entry_ids = entry_ids.combine_chunks()
        if not len(entry_ids):
            return 0.0
        if pa.types.is_list(entry_ids.type.value_type):  # texts per image
            per_text = entry_ids.flatten()
            lengths = entry_ids.value_lengths().fill_null(0).to_numpy(zero_copy_only=False)
            image_of_text = np.repeat(np.arange(len(entry_ids)), lengths)
        else:
            per_text, image_of_text = entry_ids, np.arange(len(entry_ids))
        per_text = self._checked_ids(pa.table({"entry_ids": per_text}))
        return float(self._image_probs(per_text, image_of_text, len(entry_ids)).sum())

    def _image_probs(
        self, entry_ids: pa.ListArray, image_of_text: np.ndarray, images: int
    ) -> np.ndarray:
        """1 - prod (1 - p_e) over each image's (text, entry) pairs, summed as logs: an image
        with many texts would otherwise lose precision in ``1 - (1 - prob)`` per text."""
        lengths = entry_ids.value_lengths().fill_null(0).to_numpy(zero_copy_only=False)
        image_of_id = np.repeat(image_of_text, lengths)
        ids = entry_ids.flatten().to_numpy(zero_copy_only=False)
        with np.errstate(divide="ignore"):  # p_e = 1: log(0) = -inf, a certain keep
            log_miss = np.log1p(-self.p[ids])
        return 0.0 - np.expm1(np.bincount(image_of_id, weights=log_miss, minlength=images))

    def _checked_ids(self, pairs: pa.Table) -> pa.ListArray:
        """The pairs' entry_ids. The draw kernel indexes p unchecked: an id from another run's
        metadata must fail here, not read past the end."""
        entry_ids = pairs["entry_ids"].combine_chunks()
        ids = entry_ids.flatten().to_numpy(zero_copy_only=False)
        if len(ids) and (ids.min() < 0 or ids.max() >= len(self.p)):
            bad = ids.max() if ids.max() >= len(self.p) else ids.min()
            raise ValueError(
                f"entry id {bad} is outside the entry counts ({len(self.p)} entries): the shards"
                " and the counts come from different match runs"
            )
        return entry_ids


def _images_table(records: Sequence[Record]) -> pa.Table:
    """url and uuid per image: its draws are keyed by the first of them it has."""
    for record in records:
        if record.get("url") is None and record.get("uuid") is None:
            raise ValueError(f"{_name(record)}: neither url nor uuid; its draws need one")
    return pa.table(
        {name: pa.array([r.get(name) for r in records], pa.string()) for name in ("url", "uuid")}
    )


def _pairs_table(
    records: Sequence[Record], images: pa.Table | None = None
) -> tuple[pa.Table, np.ndarray]:
    """One row per (image, text) holding its entry_ids (and, given the ``images`` table, its
    url, uuid and text, which the draws hash), and the image of each row."""
    texts = [record["texts"] for record in records]
    ids = [record["entry_ids"] for record in records]
    for record, its_texts, its_ids in zip(records, texts, ids, strict=True):
        if len(its_texts) != len(its_ids):
            raise ValueError(
                f"{_name(record)}: {len(its_texts)} texts but {len(its_ids)} entry lists"
            )
    image_of_text = np.repeat(np.arange(len(records)), [len(t) for t in texts])
    columns = {"entry_ids": pa.array([i for x in ids for i in x], pa.list_(pa.int32()))}
    if images is not None:
        rows = pa.array(image_of_text)
        columns |= {name: images[name].take(rows) for name in images.column_names}
        columns["text"] = pa.array([text for x in texts for text in x], pa.string())
    return pa.table(columns), image_of_text


def _name(record: Record) -> str:
    return str(record.get("url") or record.get("uuid") or "a record")


@nb.njit(**JIT)
def _choose(image_keys, offsets, keep, seed):
    """Per image, the position of the kept text it is used with (-1: none kept): the
    ``mix(key ^ mix(seed ^ salt)) mod kept``-th of its kept texts."""
    seed_mix = mix(_U64(seed) ^ _PICK)
    chosen = np.full(image_keys.shape[0], -1, np.int64)
    for i in range(image_keys.shape[0]):
        n_kept = 0
        for j in range(offsets[i], offsets[i + 1]):
            n_kept += keep[j]
        if n_kept == 0:
            continue
        k = mix(image_keys[i] ^ seed_mix) % _U64(n_kept)
        for j in range(offsets[i], offsets[i + 1]):
            if keep[j]:
                if k == 0:
                    chosen[i] = j - offsets[i]
                    break
                k -= _U64(1)
    return chosen
