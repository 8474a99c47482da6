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
import re
import tarfile
from collections import Counter
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import numpy as np

from metacurate.errors import InputError
from metacurate.location import Location
from metacurate.pipeline import rundir
from metacurate.pipeline.balance import load_match
from metacurate.pipeline.export import METACLIP_KIND_PREFIX, Pairs, open_pairs
from metacurate.progress import stage_progress
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


def run_metaclip_export(
    folder: Location | Path | str,
    shards: list[str],
    out: Path,
    t: float | None = None,
    overwrite: bool = False,
) -> dict:
    """Convert ``shards`` (img2dataset WebDataset shards of ``folder``'s export) into MetaCLIP's
    layout in ``out``; for a match run's pool, with online-curation files for threshold ``t``."""
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
    layout = _layout(len(shards))
    with rundir.open_run(where, layout, config, shards, overwrite) as resumed:
        probabilities = partial(_text_probabilities, counts, t) if t else None
        kind = source.text_column
        stats = []
        with stage_progress("metaclip", len(shards), unit="shards") as advance:
            for shard_id, shard in enumerate(shards):
                stats.append(
                    _done(where, shard_id) or _convert(shard, shard_id, where, kind, probabilities)
                )
                advance(1)
        summary = _summary(source, where, shards, t, stats)
        write_json(where / SUMMARY, summary)  # written last: the export is complete
    return summary | {"resumed": resumed}


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


def _done(where: Location, shard_id: int) -> dict | None:
    """A shard converted by an earlier run of this command: its stats, written after its
    files."""
    tar, marker, curation = _paths(where, shard_id)
    try:
        stats = json.loads(marker.read_text())
    except (FileNotFoundError, ValueError):
        return None
    online = stats.get("online")
    return stats if tar.exists() and (not online or curation.exists()) else None


def _convert(shard: str, shard_id: int, where: Location, kind: str, probabilities) -> dict:
    """Write shard ``shard_id`` (its tar, online-curation file, then its stats marker)."""
    tar_path, marker, curation = _paths(where, shard_id)
    for folder in {tar_path.parent, curation.parent} if probabilities else {tar_path.parent}:
        folder.make()
    skipped: Counter = Counter()
    images = []
    with (
        atomic_file(tar_path) as f,
        tarfile.open(fileobj=f, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for record, jpeg in _images(shard, kind, skipped):
            text_json = {
                "texts": record["texts"],
                "url": record["url"],
                "entry_ids": record["entry_ids"],
            }
            _add(tar, f"{record['uuid']}.json", json.dumps(text_json, ensure_ascii=False).encode())
            _add(tar, f"{record['uuid']}.jpeg", jpeg)
            images.append(record)
    stats = {
        "source": shard,
        "images": len(images),
        "skipped": dict(sorted(skipped.items())),
        "online": probabilities is not None,
    }
    if probabilities:
        offered = probabilities(images)
        write_json(curation, dict(offered), indent=None)
        # MetaCLIP uses an image with one of its texts picked at random, kept with its prob.
        stats["expected_samples"] = sum(
            float(np.mean([p for _, p in pairs])) for _, pairs in offered
        )
    else:
        stats["expected_samples"] = float(len(images))
    write_json(marker, stats)
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


def _text_probabilities(counts: np.ndarray, t: float, images: list[dict]) -> list:
    """(uuid, [[text, prob], ...]) per image; prob = 1 - prod(1 - p_e) over the
    text's entries, summed as logs like the loader's own."""
    from metacurate.loader.balancing import OnlineBalance

    balance = OnlineBalance(counts, t)
    texts = [
        {"uuid": r["uuid"], "texts": [text], "entry_ids": [ids]}
        for r in images
        for (_, text), ids in zip(r["texts"], r["entry_ids"], strict=True)
    ]
    probs = iter(balance.keep_probabilities(texts).tolist())
    return [(r["uuid"], [[text, next(probs)] for _, text in r["texts"]]) for r in images]


def _summary(source: Pairs, where: Location, shards: list[str], t, stats: list[dict]) -> dict:
    skipped: Counter = Counter()
    for s in stats:
        skipped.update(s["skipped"])
    n = len(shards)
    root = where.identity()  # MetaCLIP is run from its own checkout: absolute paths
    config = {
        "train_data": f"{root}/{DATA}/{{0..{n}}}.tar",
        "train_num_samples": round(sum(s["expected_samples"] for s in stats)),
    }
    if t is not None:
        config["online_curation"] = f"{root}/{CURATION}"
    return {
        "format": "metaclip",
        "from": "curated (balanced)" if source.balanced else "match pool (online curation)",
        "folder": str(source.folder),
        "t": t,
        "shards": n,
        "images": sum(s["images"] for s in stats),
        "skipped": dict(sorted(skipped.items())),
        "metaclip_config": config,
        "files": n * (2 if t is not None else 1),
        "paths": [str(where / DATA), *([str(where / CURATION)] if t is not None else [])],
    }
