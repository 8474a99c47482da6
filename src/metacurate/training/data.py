"""What the trainer reads: batches ({"image": images, "text": tokens, ...}), a fixed number per
epoch.

Two inputs plug in:

- ``Pairs(samples, epoch_size)``: ``samples(epoch)`` yields (image, text) pairs, the image a PIL
  image or an already transformed tensor. Epoch e must yield the same pairs every time it is
  asked for, which is what makes a resumed run repeat an uninterrupted one.
- ``metacurate.loader.torch.BalancedDataset`` (or a dataset with its interface): a torch
  IterableDataset of per-sample dicts (``image``, ``text``, and ``__shard__``/``__index__``
  for its progress) with ``set_epoch(e)``, ``expected_epoch_size()`` over all ranks,
  ``state_dict()``/``load_state_dict()`` that resume it mid-epoch by itself, ``rewind()`` that
  starts the epoch again from its first sample, and optionally ``tracked(batches)`` to count
  what the trainer consumed. A DataLoader runs it in workers.

An epoch is ``epoch_size // (batch_size x world_size)`` full batches (open_clip_train also fixes
the count up front, as its cosine schedule needs the total).
"""

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from itertools import islice
from typing import Any, Protocol

import torch
import torch.distributed as dist
from torch.utils.data import DataLoader

from metacurate.errors import InputError
from metacurate.training.distributed import Dist
from metacurate.training.model import Clip

Batch = dict[str, Any]


@dataclass(frozen=True)
class Pairs:
    samples: Callable[[int], Iterable[tuple[Any, str]]]
    epoch_size: int


class BatchSource(Protocol):
    steps_per_epoch: int

    def batches(self, epoch: int, skip: int) -> Iterator[Batch]:
        """Epoch ``epoch``'s batches for this rank, from batch ``skip`` on (a source that
        restored its own position may ignore ``skip``)."""

    def state_dict(self) -> dict:
        """Called on every rank at once: it may gather the ranks' states."""

    def load_state_dict(self, state: dict) -> None: ...


class Collate:
    """Samples -> one batch dict: images through the model's transform and texts through its
    tokenizer, unless the dataset did that already (tensors); other keys become lists. An
    object, not a closure, so DataLoader workers can unpickle it and do this work in parallel."""

    def __init__(self, transform: Callable, tokenizer: Callable):
        self.transform, self.tokenizer = transform, tokenizer

    def __call__(self, samples: list) -> Batch:
        samples = [s if isinstance(s, Mapping) else {"image": s[0], "text": s[1]} for s in samples]
        images = [s["image"] for s in samples]
        texts = [s["text"] for s in samples]
        batch = {key: [s[key] for s in samples] for key in samples[0]}
        batch["image"] = torch.stack(
            [img if torch.is_tensor(img) else self.transform(img) for img in images]
        )
        batch["text"] = torch.stack(texts) if torch.is_tensor(texts[0]) else self.tokenizer(texts)
        return batch


class PairBatches:
    """Batches from a ``Pairs`` factory; rank r of n takes every n-th pair."""

    def __init__(self, pairs: Pairs, collate: Collate, batch_size: int, where: Dist):
        self.pairs, self.collate, self.batch_size, self.where = pairs, collate, batch_size, where
        self.steps_per_epoch = steps_per_epoch(pairs.epoch_size, batch_size, where.world_size)

    def batches(self, epoch: int, skip: int) -> Iterator[Batch]:
        mine = islice(self.pairs.samples(epoch), self.where.rank, None, self.where.world_size)
        # Skipped chunks are never collated: resuming mid-epoch decodes no images twice.
        for chunk in islice(_full_chunks(mine, self.batch_size), skip, self.steps_per_epoch):
            yield self.collate(chunk)

    def state_dict(self) -> dict:
        return {}  # the factory is a function of the epoch alone

    def load_state_dict(self, state: dict) -> None:
        pass


class DatasetBatches:
    """Batches from an epoch-aware IterableDataset through a DataLoader; the dataset shares
    itself out between ranks and workers and resumes itself from its state."""

    def __init__(self, dataset, collate: Collate, batch_size: int, where: Dist, num_workers: int):
        self.dataset, self.collate, self.where = dataset, collate, where
        self.batch_size, self.num_workers = batch_size, num_workers
        size = int(dataset.expected_epoch_size())
        self.steps_per_epoch = steps_per_epoch(size, batch_size, where.world_size)

    def batches(self, epoch: int, skip: int) -> Iterator[Batch]:
        # A restored state of this epoch survives set_epoch; its position replaces ``skip``.
        self.dataset.set_epoch(epoch)
        batches = islice(self._passes(), self.steps_per_epoch - skip)
        tracked = getattr(self.dataset, "tracked", None)
        return tracked(batches) if tracked else batches

    def _passes(self) -> Iterator[Batch]:
        """Passes over this rank's samples until the epoch's steps are done. An epoch's draws
        give about its expected size, not exactly: a rank that runs dry goes round its samples
        again from the epoch's start (``rewind``), so the cosine schedule reaches its end and,
        with several ranks, none is left waiting in ClipLoss's all_gather for ever."""
        first = True
        while True:
            yielded = False
            for batch in DataLoader(
                self.dataset,
                batch_size=self.batch_size,
                num_workers=self.num_workers,
                collate_fn=self.collate,
                drop_last=True,
                pin_memory=torch.cuda.is_available(),
            ):
                yielded = True
                yield batch
            if not (yielded or first):
                raise InputError(f"rank {self.where.rank} got no full batch of samples")
            self.dataset.rewind()
            first = False  # a resumed first pass may start at the end of the samples

    def state_dict(self) -> dict:
        state = self.dataset.state_dict()
        if self.where.world_size == 1:
            return state
        from metacurate.loader import merge_states  # each rank's covers its own shards

        states = [None] * self.where.world_size
        dist.all_gather_object(states, state)
        return merge_states(states)

    def load_state_dict(self, state: dict) -> None:
        self.dataset.load_state_dict(state)


def batch_source(
    data,
    clip: Clip,
    batch_size: int,
    where: Dist,
    num_workers: int = 0,
) -> BatchSource:
    collate = Collate(clip.train_transform, clip.tokenizer)
    if isinstance(data, Pairs):
        return PairBatches(data, collate, batch_size, where)
    if hasattr(data, "set_epoch") and hasattr(data, "expected_epoch_size"):
        return DatasetBatches(data, collate, batch_size, where, num_workers)
    raise TypeError(
        f"cannot train on a {type(data).__name__}: pass Pairs(samples, epoch_size) or a dataset "
        "with set_epoch() and expected_epoch_size()"
    )


def steps_per_epoch(epoch_size: int, batch_size: int, world_size: int) -> int:
    global_batch = batch_size * world_size
    if epoch_size < global_batch:
        raise InputError(
            f"an epoch of {epoch_size:,} samples is less than one batch of {global_batch:,}: "
            "use a smaller batch size"
        )
    return epoch_size // global_batch


def _full_chunks(items: Iterable, size: int) -> Iterator[list]:
    """Lists of ``size`` items; a short last one is dropped, as DataLoader's drop_last does."""
    items = iter(items)
    while len(chunk := list(islice(items, size))) == size:
        yield chunk
