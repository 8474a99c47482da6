"""The samples an epoch uses: read shard by shard with their positions, or filtered inside a
user's own webdataset pipeline.

Samples are drawn in batches (one Arrow table and one kernel call per ``BATCH_SAMPLES``), and
only the used ones go on to image decoding.
"""

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import NamedTuple

from metacurate.loader.balancing import OnlineBalance
from metacurate.loader.shards import image_record, shard_samples
from metacurate.readers.base import image_uuid

BATCH_SAMPLES = 256


class Used(NamedTuple):
    """A sample an epoch uses, its record and the texts the epoch keeps of it."""

    sample: dict
    record: dict
    text: str  # the one text it is used with
    kept_texts: list[str]  # every text the epoch keeps (what offline balancing would keep)
    keep_prob: float


def used_samples(balance: OnlineBalance, samples: Iterable[dict], epoch: int) -> Iterator[Used]:
    """The samples of ``samples`` that ``epoch`` uses, in order."""
    samples = iter(samples)
    while batch := list(islice(samples, BATCH_SAMPLES)):
        records = [image_record(sample) for sample in batch]
        draw = balance.draw(records, epoch)
        for i in draw.used.nonzero()[0]:
            texts = records[i]["texts"]
            kept = [texts[k] for k in draw.kept[i]]
            yield Used(batch[i], records[i], texts[draw.chosen[i]], kept, float(draw.keep_prob[i]))


def balanced_samples(
    balance: OnlineBalance,
    shards: Sequence[str],
    epoch: int,
    done: Mapping[str, int] | None = None,
) -> Iterator[dict]:
    """The samples of ``shards`` (read in this order) that ``epoch`` uses, each shard from
    position ``done[shard]`` on. A sample is webdataset's (raw member bytes by extension,
    ``__key__``) with ``json`` parsed into its record, plus ``__shard__``, ``__index__`` (its
    position in the shard's file order), ``text``, ``kept_texts``, ``keep_prob`` and ``uuid``
    (the record's, else MetaCLIP's uuid of its url)."""
    done = done or {}
    for shard in shards:
        positioned = (
            sample | {"__shard__": shard, "__index__": index}
            for index, sample in shard_samples(shard, done.get(shard, 0))
        )
        for used in used_samples(balance, positioned, epoch):
            record = used.record
            yield used.sample | {
                "json": record,
                "text": used.text,
                "kept_texts": used.kept_texts,
                "keep_prob": used.keep_prob,
                "uuid": record["uuid"] if record["uuid"] is not None else image_uuid(record["url"]),
            }


@dataclass(frozen=True)
class BalanceStage:
    """A webdataset pipeline stage for users with their own pipelines: after
    ``tarfile_to_samples()`` (and before or after ``.decode()``), it drops the samples the epoch
    does not use and sets each used sample's ``txt`` to its chosen text (as bytes while the
    sample's ``json`` is still bytes, so a later ``.decode()`` reads it as usual). Use it as
    ``wds.DataPipeline(..., BalanceStage(balance, epoch), ...)`` or
    ``WebDataset(...).compose(BalanceStage(balance, epoch))``.

    ``epoch``: a number, or a function giving it as each pass starts (open_clip's
    ``SharedEpoch().get_value``), so one pipeline serves every epoch. Picklable, for DataLoader
    workers started by spawn.
    """

    balance: OnlineBalance
    epoch: int | Callable[[], int]

    def __call__(self, samples: Iterable[dict]) -> Iterator[dict]:
        epoch = self.epoch() if callable(self.epoch) else self.epoch
        for used in used_samples(self.balance, samples, epoch):
            sample = used.sample
            raw = isinstance(sample["json"], bytes)
            sample["txt"] = used.text.encode() if raw else used.text
            yield sample
