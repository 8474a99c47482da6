"""The ``metaclip`` export: img2dataset shards of an exported pool -> the layout MetaCLIP's own
trainer reads (facebookresearch/MetaCLIP, ``src/training/data_metaclip.py``).

MetaCLIP's loader takes ``train_data="OUT/data/{0..N}.tar"`` (N shards, ids 0 to N - 1) and
reads ``OUT/data/{id % 100}/{id}.tar``, each holding ``<uuid>.json`` (``{"texts": [[kind, text],
...]}``, of which it uses ``texts[i][1]``) followed by ``<uuid>.jpeg``. With ``online_curation=
"OUT/online_curation"`` it reads ``OUT/online_curation/{id % 100}/{id}.json``, ``{uuid: [[text,
prob], ...]}``, and each time it meets an image uses one of its texts picked at random, kept with
that text's ``prob``; an image not listed is never used.

So a text's ``prob`` is MetaCLIP's (``curate.py``): ``1 - prod(1 - min(1, t / count_e))`` over
the entries it matched, from the match run's entry counts. A curated (offline-balanced) folder
has its subset in the shards already: no online-curation files are written for it.

Shard ``id`` is the position of a downloaded shard in the list ``--shards`` names. Each output
shard is written whole, then its ``{id}.stats.json`` marks it done: a re-run of the same command
converts only the shards not done, and ``export.json``, written last, sums them up.
"""

import hashlib
import io
import json
import math
import re
import tarfile
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from metacurate.loader.balancing import OnlineBalance

from metacurate.engine import Engine, LocalEngine
from metacurate.errors import InputError
from metacurate.location import Location
from metacurate.pipeline import rundir
from metacurate.pipeline.balance import load_match
from metacurate.pipeline.export import METACLIP_KIND_PREFIX, Pairs, open_pairs
from metacurate.pipeline.runner import run_step
from metacurate.pipeline.stats import ExactSum
from metacurate.writers.atomic import atomic_file, write_json

METACLIP = "metaclip"
DATA = "data"
CURATION = "online_curation"
MANIFEST = "metaclip_export.json"
SUMMARY = "export.json"
GROUPS = 100  # MetaCLIP's shard_id % 100 subfolders
IMAGE_EXTENSIONS = ("jpg", "jpeg")  # MetaCLIP's loader reads only <uuid>.jpeg members
OTHER_IMAGES = ("png", "webp", "tif", "tiff", "bmp")  # img2dataset's other --encode_format
_OWNED = re.compile(rf"({DATA}|{CURATION})/(\d+)/(\d+)(\.tar|\.stats\.json|\.json)")


@dataclass(frozen=True)
class ShardTask:
    """Downloaded shard ``path``, converted as MetaCLIP's shard ``id``."""

    id: int
    path: str

    @property
    def name(self) -> str:
        return self.path


class _Shards(Sequence):
    """The conversion's tasks, each made when it is handed out."""

    def __init__(self, paths: list[str]) -> None:
        self.paths = paths

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> ShardTask:
        return ShardTask(index, self.paths[index])


def run_metaclip_export(
    folder: Location | Path | str,
    shards: list[str],
    out: Path,
    t: float | None = None,
    overwrite: bool = False,
    engine: Engine | None = None,
) -> dict:
    """Convert ``shards`` (img2dataset WebDataset shards of ``folder``'s export) into MetaCLIP's
    layout in ``out``; for a match run's pool, with online-curation files for threshold ``t``.
    Shards are converted by ``engine``'s workers (default: in this process)."""
    source = open_pairs(Location.of(folder))
    counts = _counts(source, t)
    if not shards:
        raise InputError("no shards to convert; give --shards with img2dataset's .tar files")
    config = {
        "format": "metaclip",
        "from": source.folder.identity(),
        "shards": len(shards),
        "shards_sha256": hashlib.sha256("\n".join(shards).encode()).hexdigest(),
        "t": t,
        "counts_sha256": hashlib.sha256(counts.tobytes()).hexdigest() if t else None,
    }
    where = Location.of(out)
    with rundir.open_run(where, _layout(len(shards)), config, shards, overwrite) as resumed:
        # metacurate.loader imports webdataset (and torch): only here, not as the CLI starts.
        from metacurate.loader.balancing import OnlineBalance

        balance = OnlineBalance(counts, t) if t else None
        converter = ShardConverter(where, source.text_column, balance)
        totals = _Totals()

        def converted(task: ShardTask, stats: dict) -> None:
            write_json(_paths(where, task.id)[1], stats)  # the marker: written last
            totals.add(stats)

        def converted_before(task: ShardTask) -> None:
            totals.add(json.loads(_paths(where, task.id)[1].read_text()))

        done = partial(_done, where, t is not None)
        run_step(
            engine or LocalEngine(),
            converter,
            _Shards(shards),
            done,
            converted,
            "metaclip",
            unit="shards",
            on_skip=converted_before,
        )
        summary = _summary(source, where, len(shards), t, totals)
        write_json(where / SUMMARY, summary)  # written last: the export is complete
    return summary | {"resumed": resumed}


class _Totals:
    """The shards' statistics summed, the same in any order they finish."""

    def __init__(self) -> None:
        self.images = 0
        self.expected = ExactSum()
        self.skipped: Counter = Counter()

    def add(self, stats: dict) -> None:
        self.images += stats["images"]
        self.expected.add(stats["expected_samples"])
        self.skipped.update(stats["skipped"])


def _counts(source: Pairs, t: float | None) -> np.ndarray:
    """The pool's entry counts (online curation needs ``t``); none for a curated folder."""
    if source.balanced:
        if t is not None:
            raise InputError(
                f"{source.folder} is balanced already; --t sets online curation of a match run's"
                " pool (export that folder instead, or leave out --t)"
            )
        return np.zeros(0, np.uint64)
    if t is None or not t > 0:
        raise InputError(
            "--t (a positive threshold) is needed to write MetaCLIP's online-curation"
            " probabilities for a match run's pool"
        )
    _, counts = load_match(source.folder)
    return np.load(io.BytesIO(counts))


def _layout(shards: int) -> rundir.Layout:
    """The files a conversion of ``shards`` shards writes: only these are ever replaced."""
    groups = [str(g) for g in range(min(shards, GROUPS))]
    folders = tuple(f"{top}/{g}" for top in (DATA, CURATION) for g in groups)
    return rundir.Layout(MANIFEST, _owner, ("", *folders, DATA, CURATION))


def _owner(config: dict):
    def owns(name: str) -> bool:
        if name == SUMMARY:
            return True
        found = _OWNED.fullmatch(name)
        if not found:
            return False
        top, group, shard, suffix = found[1], int(found[2]), int(found[3]), found[4]
        if shard >= config["shards"] or shard % GROUPS != group:
            return False
        if top == CURATION:
            return suffix == ".json" and config["t"] is not None
        return suffix in (".tar", ".stats.json")

    return owns


def _paths(where: Location, shard_id: int) -> tuple[Location, Location, Location]:
    """(tar, stats marker, online-curation file) of shard ``shard_id``."""
    group = str(shard_id % GROUPS)
    data = where / DATA / group
    return (
        data / f"{shard_id}.tar",
        data / f"{shard_id}.stats.json",
        where / CURATION / group / f"{shard_id}.json",
    )


def _done(where: Location, online: bool, task: ShardTask) -> bool:
    """Whether an earlier run of this command converted the shard: its marker, written after
    its files, is there, and so are they."""
    tar, marker, curation = _paths(where, task.id)
    return marker.exists() and tar.exists() and (not online or curation.exists())


class ShardConverter:
    """The worker: writes one shard's tar and online-curation file, and returns its statistics
    (the driver writes them as the shard's marker). ``balance``: the pool's entry counts and
    threshold, None for a curated folder."""

    def __init__(self, where: Location, kind: str, balance: "OnlineBalance | None"):
        self.where, self.kind, self.balance = where, kind, balance

    def __call__(self, task: ShardTask) -> dict:
        tar_path, _, curation = _paths(self.where, task.id)
        online = self.balance is not None
        for folder in {tar_path.parent, curation.parent} if online else {tar_path.parent}:
            folder.make()
        skipped: Counter = Counter()
        images = []
        with (
            atomic_file(tar_path) as f,
            tarfile.open(fileobj=f, mode="w", format=tarfile.PAX_FORMAT) as tar,
        ):
            for record, jpeg in _images(task.path, self.kind, skipped):
                text_json = {
                    "texts": record["texts"],
                    "url": record["url"],
                    "entry_ids": record["entry_ids"],
                }
                _add(
                    tar,
                    f"{record['uuid']}.json",
                    json.dumps(text_json, ensure_ascii=False).encode(),
                )
                _add(tar, f"{record['uuid']}.jpeg", jpeg)
                images.append(record)
        stats = {
            "source": task.path,
            "images": len(images),
            "skipped": dict(sorted(skipped.items())),
            "expected_samples": float(len(images)),
        }
        if online:
            offered = _text_probabilities(self.balance, images)
            write_json(curation, dict(offered), indent=None)
            # MetaCLIP uses an image with one of its texts picked at random, kept with its prob.
            stats["expected_samples"] = math.fsum(
                float(np.mean([p for _, p in pairs])) for _, pairs in offered
            )
        return stats


def _images(shard: str, kind: str, skipped: Counter) -> Iterator[tuple[dict, bytes]]:
    """(record, JPEG bytes) per sample of a downloaded shard, in file order; samples without a
    JPEG are counted in ``skipped`` by reason. A shard that cannot be read is a one-line error
    naming it."""
    from metacurate.loader.shards import image_record, shard_samples  # webdataset

    try:
        for _, sample in shard_samples(shard):
            jpeg = next((sample[e] for e in IMAGE_EXTENSIONS if e in sample), None)
            if jpeg is None:
                other = any(e in sample for e in OTHER_IMAGES)
                skipped["not_jpeg" if other else "no_image"] += 1
                continue
            meta = json.loads(sample["json"]) if "json" in sample else None
            record = image_record({**sample, "json": meta})
            record["uuid"] = record["uuid"] or sample["__key__"]
            record["texts"] = [
                [k, text]
                for k, text in zip(
                    _kinds(meta, kind, len(record["texts"])), record["texts"], strict=True
                )
            ]
            yield record, jpeg
    except (OSError, tarfile.TarError, ValueError) as err:
        reason = err.args[0] if isinstance(err, tarfile.TarError) and err.args else err
        raise InputError(
            f"{shard}: cannot be converted ({reason}); download it again, then run the same command"
        ) from None


def _kinds(meta: dict, kind: str, n: int) -> list[str]:
    """MetaCLIP's text kind of each text: the export's ``sources`` (a MetaCLIP shard's own kind
    given back), else the text column's name."""
    sources = meta.get("sources")
    if not isinstance(sources, list) or len(sources) != n:
        return [kind] * n
    return [s.removeprefix(METACLIP_KIND_PREFIX) if isinstance(s, str) else kind for s in sources]


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    """A member with fixed owner, mode and time, so the same shard converts to the same bytes."""
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o644, 0
    tar.addfile(info, io.BytesIO(data))


def _text_probabilities(balance: "OnlineBalance", images: list[dict]) -> list:
    """(uuid, [[text, prob], ...]) per image; prob = 1 - prod(1 - p_e) over the
    text's entries, summed as logs like the loader's own."""
    texts = [
        {"uuid": r["uuid"], "texts": [text], "entry_ids": [ids]}
        for r in images
        for (_, text), ids in zip(r["texts"], r["entry_ids"], strict=True)
    ]
    probs = iter(balance.keep_probabilities(texts).tolist())
    return [(r["uuid"], [[text, next(probs)] for _, text in r["texts"]]) for r in images]


def _summary(source: Pairs, where: Location, shards: int, t, totals: _Totals) -> dict:
    root = where.identity()  # MetaCLIP is run from its own checkout: absolute paths
    config = {
        "train_data": f"{root}/{DATA}/{{0..{shards}}}.tar",
        "train_num_samples": round(totals.expected.value),
    }
    if t is not None:
        config["online_curation"] = f"{root}/{CURATION}"
    return {
        "format": "metaclip",
        "from": source.origin,
        "folder": str(source.folder),
        "t": t,
        "shards": shards,
        "images": totals.images,
        "skipped": dict(sorted(totals.skipped.items())),
        "metaclip_config": config,
        "files": shards * (2 if t is not None else 1),
        "paths": [str(where / DATA), *([str(where / CURATION)] if t is not None else [])],
    }
