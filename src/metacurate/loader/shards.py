"""img2dataset WebDataset shards: which of them a (rank, worker) reads in an epoch, their samples
in file order, and the record of texts and entry ids each sample's ``.json`` holds.

Shards are read with webdataset (``tarfile_samples``: local paths, URLs and ``pipe:`` commands
alike, members grouped into samples by key). A shard's file order is fixed for a given file;
img2dataset writes samples as their downloads complete, so keys are not sorted, and a sample's
position in the file (``__index__``) is what resuming counts.
"""

import json
import os
import warnings
from collections.abc import Iterator, Mapping, Sequence
from itertools import islice

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from webdataset.tariterators import tarfile_samples

from metacurate.balance.sampling import uniform_draws
from metacurate.loader.balancing import OnlineBalance, epoch_seed
from metacurate.readers.expand import expand_inputs
from metacurate.readers.sources import is_remote


def expand_shards(shards: str | Sequence[str]) -> list[str]:
    """The shard files ``shards`` names, in order: brace ranges (``shards/{00000..00099}.tar``),
    local glob patterns and ``.paths`` listings, as the other commands' inputs are named."""
    return expand_inputs([shards] if isinstance(shards, str) else list(shards))


def epoch_order(shards: Sequence[str], seed: int, epoch: int) -> list[str]:
    """The shards in epoch ``epoch``'s order: their positions in ``shards`` sorted by one draw
    each, ``uniform_draws(position, entry 0, epoch_seed(seed, epoch))``. A hash, so the order is
    the same on every rank, worker, machine and numpy version (a Generator's permutation is not
    promised to stay the same across numpy versions)."""
    positions = np.arange(len(shards), dtype=np.uint64)
    seed_e = np.uint64(epoch_seed(seed, epoch))
    draws = uniform_draws(positions, np.zeros(len(shards), np.int64), seed_e)
    return [shards[i] for i in np.argsort(draws, kind="stable")]


def slot_shards(
    shards: Sequence[str], seed: int, epoch: int, rank: int, world: int, worker: int, workers: int
) -> list[str]:
    """The shards worker ``worker`` of rank ``rank`` reads in ``epoch``: position i of the
    epoch's order when ``i % (world * workers) == rank * workers + worker``, so each shard is read
    by exactly one (rank, worker) slot."""
    check_split(len(shards), rank, world, worker, workers)
    return epoch_order(shards, seed, epoch)[rank * workers + worker :: world * workers]


def check_split(shards: int, rank: int, world: int, worker: int, workers: int) -> None:
    """Refuse a split that leaves a rank without shards (its training step would wait on the
    others forever); warn when some DataLoader workers get none (they sit idle)."""
    if not (0 <= rank < world and 0 <= worker < workers):
        raise ValueError(f"rank {rank} of {world}, worker {worker} of {workers}: out of range")
    if shards < world:
        raise ValueError(
            f"{shards} shards for {world} ranks: a rank would read nothing; write at least one"
            " shard per rank (better, several per DataLoader worker)"
        )
    if shards < world * workers:
        warnings.warn(
            f"{shards} shards for {world} ranks x {workers} DataLoader workers: "
            f"{world * workers - shards} workers read nothing; use at most {shards // world}"
            " workers per rank or write more shards",
            stacklevel=2,
        )


def shard_samples(shard: str, start: int = 0) -> Iterator[tuple[int, dict]]:
    """(position, sample) for a shard's samples in file order, from position ``start`` on. A
    sample is webdataset's: the raw bytes of each member by extension, ``__key__``, ``__url__``."""
    return islice(enumerate(tarfile_samples([{"url": shard}])), start, None)


def shard_records(shard: str) -> Iterator[dict]:
    """The record of each sample of a shard, in file order, reading only the ``.json`` members
    (the images are skipped, not decoded)."""
    for sample in tarfile_samples([{"url": shard}], select_files=_is_json):
        yield image_record(sample)


def shard_expected_size(balance: OnlineBalance, shard: str) -> float:
    """Expected number of a shard's images an epoch uses. Read from the Parquet file
    img2dataset writes beside each tar (``00000.parquet``: every row it was given, with its
    ``status``; those with ``success`` are the tar's samples), in a few milliseconds; from the
    tar's ``.json`` members, streaming past its images, when there is none."""
    table = _img2dataset_table(shard)
    if table is None:
        return balance.expected_size(shard_records(shard))
    return balance.expected_size_of(table["entry_ids"])


def _img2dataset_table(shard: str) -> pa.Table | None:
    """The downloaded rows of img2dataset's Parquet file beside a local ``.tar`` shard, when
    there is one with their entry ids."""
    if is_remote(shard) or shard.startswith("pipe:") or not shard.endswith(".tar"):
        return None
    path = shard[: -len(".tar")] + ".parquet"
    if not os.path.isfile(path):
        return None
    try:
        names = pq.read_schema(path).names
    except (OSError, pa.ArrowException):
        return None
    if "status" not in names or "entry_ids" not in names:
        return None
    table = pq.read_table(path, columns=["entry_ids", "status"])
    return table.filter(pc.equal(table["status"], "success"))


def _is_json(name: str) -> bool:
    return name.lower().endswith(".json")


def image_record(sample: Mapping) -> dict:
    """``url``, ``uuid``, ``texts`` and the ``entry_ids`` aligned with them, from a sample's
    ``.json`` (raw bytes, or as a webdataset ``.decode()`` left it), as the export writes them.
    A json with one ``caption`` and a flat ``entry_ids`` list (an img2dataset download of one
    row per pair) is an image with that one text."""
    where = f"{sample.get('__url__')}: sample {sample.get('__key__')}"
    meta = sample.get("json")
    if meta is None:
        raise ValueError(f"{where}: no .json member; the loader needs its texts and entry_ids")
    if isinstance(meta, bytes | str):
        meta = json.loads(meta)
    try:
        if "texts" in meta:
            texts, entry_ids = meta["texts"], meta["entry_ids"]
        else:
            texts, entry_ids = [meta["caption"]], [meta["entry_ids"]]
    except KeyError as missing:
        raise ValueError(
            f"{where}: its .json has no {missing} (export the matched pool with texts and"
            " entry_ids)"
        ) from None
    return {
        "url": meta.get("url"),
        "uuid": meta.get("uuid"),
        "texts": texts,
        "entry_ids": entry_ids,
    }
