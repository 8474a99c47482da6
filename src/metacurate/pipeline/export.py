"""The ``export`` stage: curated pairs, or a match run's whole pool, -> files other tools read.

What is exported: a curated folder (``curated-t{T}-seed{S}/``, the balanced subset, with each
pair's ``keep_prob``) or a match run folder (the whole matched pool, for a loader that balances
online: ``metacurate.loader`` re-draws the pairs each epoch from the run's entry counts).

- ``img2dataset``: one Parquet file with one row per distinct image: ``url``, ``caption`` (its
  first text), ``uuid``, and aligned lists ``texts``, ``entry_ids`` (``keep_prob`` when
  balanced; ``page_urls``, ``sources``, ``langs`` when the parts have those columns), for the
  printed ``img2dataset`` command, which carries every list into the shards' ``.json``. An image
  is downloaded once, however many texts it has. Rows without a url cannot be downloaded and are
  skipped (counted as ``no_url``).
- ``webdataset-json``: MetaCLIP's per-image texts. MetaCLIP's loader
  (facebookresearch/MetaCLIP src/training/data_metaclip.py) reads ``<uuid>.json`` holding
  ``{"texts": [[kind, text], ...]}`` and picks ``texts[i][1]``. We write JSON Lines shards, one
  object per uuid holding all its texts, plus the lists ``entry_ids`` (and ``keep_prob`` when
  balanced) aligned with ``texts`` (kind: MetaCLIP's own for texts read from MetaCLIP shards,
  else the row's ``source``, else the text column's name). Shards are
  ``texts-NNNNN-of-NNNNN.jsonl``; ``export.json`` (the summary) is written last and marks the
  export complete.

An image's rows may lie in several parts, so both formats first spill rows to buckets by a hash
of the uuid: memory is bounded by a bucket, not by the exported set. Both read exactly the parts
the data card (or the match summary) lists, and only once that run is complete; they publish
each file under its name only once complete.
"""

import contextlib
import glob
import json
import os
import shlex
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from metacurate.counting import ENTRY_IDS
from metacurate.datacard import JSON_NAME as DATACARD
from metacurate.errors import InputError, OutputConflict, OutputError
from metacurate.hashing import string_hashes
from metacurate.location import Location
from metacurate.pipeline import rundir
from metacurate.pipeline.balance import KEEP_PROB, load_match
from metacurate.pipeline.balance import MANIFEST as BALANCE_MANIFEST
from metacurate.readers.base import image_uuid
from metacurate.writers.atomic import TMP_MARK, atomic_path, make_folder, write_json
from metacurate.writers.lock import lock

FORMATS = ("img2dataset", "webdataset-json")
CARRIED = ("page_url", "source", "lang")  # carried per text, as lists, when the parts have them
BATCH_ROWS = 65_536
# A bucket is grouped in memory as Python objects: about 1 KiB a row, so ~100 MiB a bucket.
ROWS_PER_BUCKET = 100_000
# Spill writers are all open at once: stay well under the usual limit of 1024 open files.
# Past 51M rows a bucket holds rows / 512 (and memory grows with it).
MAX_BUCKETS = 512
SHARD_GLOB = "texts-?????-of-?????.jsonl"
EXPORT_SUMMARY = "export.json"
METACLIP_KIND_PREFIX = "json:texts:"  # the WebDataset reader's source for MetaCLIP texts
LIST_IDS = pa.list_(pa.int32())


@dataclass(frozen=True)
class Pairs:
    """The pairs to export: a curated folder's parts, or a match run's whole pool."""

    folder: Location
    parts: list[Location]
    text_column: str
    columns: frozenset[str]  # in any part
    rows: int
    balanced: bool  # a curated folder: every row has its keep_prob

    @property
    def carried(self) -> list[str]:
        return [c for c in CARRIED if c in self.columns]

    @property
    def origin(self) -> str:
        """What an export's summary says it exported."""
        return "curated (balanced)" if self.balanced else "match pool (for online balancing)"


def run_export(folder: Location | Path | str, to: str, out: Path, overwrite: bool = False) -> dict:
    """Export the curated folder or match run folder ``folder`` (local, or on an object store)
    as format ``to`` to ``out``; return a summary.

    ``out`` is a local Parquet file for ``img2dataset`` and a folder for ``webdataset-json``.
    """
    if to not in FORMATS:
        raise InputError(f"unknown export format {to!r} (supported: {', '.join(FORMATS)})")
    source = open_pairs(Location.of(folder))
    _never_over_a_run(source, Path(out))
    if to == "img2dataset":
        return export_img2dataset(source, Path(out), overwrite)
    return export_webdataset_json(source, Path(out), overwrite)


def _never_over_a_run(source: Pairs, out: Path) -> None:
    """Refuse an export that would write into the folder it reads, or over a file that the
    balance or match run holding it wrote or read."""
    target = os.path.realpath(out)
    if Path(target).is_relative_to(source.folder.identity()):
        raise OutputConflict(f"{out} is inside the folder it exports; choose another path")
    runs = (
        ((source.folder.parent, rundir.MATCH), (source.folder, rundir.BALANCE))
        if source.balanced
        else ((source.folder, rundir.MATCH),)
    )
    if any(rundir.records(folder, layout, target) for folder, layout in runs):
        raise OutputConflict(
            f"{out} is an input or output of the run it exports; choose another path"
        )


# --- the folder to export -------------------------------------------------------------------


def open_pairs(folder: Location) -> Pairs:
    """A curated folder, or a match run folder (its matched pool)."""
    if not folder.is_dir():
        raise InputError(f"{folder}: no such folder")
    if (folder / rundir.MATCH.manifest).exists():
        return _open_pool(folder)
    return open_curated(folder)


def open_curated(folder: Location) -> Pairs:
    card = _read_json(folder / DATACARD)
    parts = [folder / name for name in _listed_parts(folder, card)]
    text_column = _json_field(card, ("inputs", "text_column"))
    if not isinstance(text_column, str):
        raise InputError(f"{folder / DATACARD}: no inputs.text_column; cannot tell the text column")
    needed = (text_column, ENTRY_IDS, KEEP_PROB)
    columns, rows = _scan_parts(parts, needed, "remove it and run the balance command again")
    return Pairs(folder, parts, text_column, columns, rows, balanced=True)


def _open_pool(folder: Location) -> Pairs:
    """A completed match run's parts (``load_match`` says what is missing, and how to redo)."""
    summary, _ = load_match(folder)
    parts = [folder / rundir.MATCHED / name for name in summary["parts"]]
    text_column = summary["text_column"]
    redo = "run the match again with --overwrite"
    columns, rows = _scan_parts(parts, (text_column, ENTRY_IDS), redo)
    return Pairs(folder, parts, text_column, columns, rows, balanced=False)


def _scan_parts(
    parts: list[Location], needed: tuple[str, ...], redo: str
) -> tuple[frozenset[str], int]:
    """The columns found in any part and the rows of all; a part that cannot be read or lacks
    a needed column is an error naming it."""
    columns: set[str] = set()
    rows = 0
    for part in parts:
        try:
            parquet = pq.ParquetFile(**part.arrow())
            names = parquet.schema_arrow.names
            rows += parquet.metadata.num_rows
        except (OSError, pa.ArrowException) as err:
            raise InputError(f"{part}: not a readable Parquet file ({err}); {redo}") from None
        for name in needed:
            if name not in names:
                raise InputError(f"{part}: no column {name!r}; columns found: {names}")
        columns.update(names)
    return frozenset(columns), rows


def _listed_parts(folder: Location, card: dict | None) -> list[str]:
    """The parts the data card lists, once the balance stage is seen to have completed.

    Balance writes each part, then its ``part-NNNNN.json`` marker, and the card last: a folder
    without the card, or missing a listed part or marker, is a killed or damaged run.
    """
    manifest = _read_json(folder / BALANCE_MANIFEST)
    if card is None and manifest is None:
        raise InputError(
            f"{folder}: not a curated folder (no {DATACARD}); run `metacurate balance` first"
        )
    present = set(folder.files())
    if card is None:  # the manifest counts the parts (metacurate 0.3 listed them)
        listed = _json_field(manifest, ("parts",)) or []
        done = sum(rundir.part_done(present, name) for name in present if rundir.is_part(name))
        total = listed if isinstance(listed, int) else len(listed)
        state = f"{done} of {total} parts, no {DATACARD}"
    else:
        names = _json_field(card, ("outputs", "parquet"))
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise InputError(f"{folder / DATACARD}: no outputs.parquet list of the curated parts")
        done = sum(rundir.part_done(present, name) for name in names)
        if done == len(names):
            return names
        state = f"{done} of {len(names)} parts"
    # The run's manifest, or the card where it was not kept, says the t and seed. Balance
    # redoes any part without its file or its marker.
    command = _balance_command(folder, manifest or _json_field(card, ("balancing",)))
    raise InputError(f"{folder}: balancing is not complete ({state}); run `{command}` to finish it")


def _balance_command(folder: Location, settings: dict | None) -> str:
    """The command that completes this folder, with the t and seed of ``settings``."""
    if folder.name in ("", ".", ".."):  # the run folder is only known once resolved
        folder = Location(folder.identity())
    command = ["metacurate", "balance", str(folder.parent)]
    t, seed = _json_field(settings, ("t",)), _json_field(settings, ("seed",))
    if t is not None and seed is not None:
        command += ["--t", str(t), "--seed", str(seed)]
    return shlex.join(command)


def _read_json(path: Location) -> dict | None:
    try:
        value = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) else None


def _json_field(value: dict | None, keys: tuple[str, ...]):
    for key in keys:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _batches(source: Pairs, columns: list[str]) -> Iterator[pa.Table]:
    """The parts' rows, BATCH_ROWS at a time, with those of ``columns`` each part has."""
    for part in source.parts:
        parquet = pq.ParquetFile(**part.arrow())
        present = [c for c in columns if c in parquet.schema_arrow.names]
        for batch in parquet.iter_batches(batch_size=BATCH_ROWS, columns=present):
            if batch.num_rows:
                yield pa.Table.from_batches([batch])


def _strings(table: pa.Table, name: str) -> pa.Array:
    """A column as strings; all null where this part lacks it."""
    if name not in table.column_names:
        return pa.nulls(len(table), pa.string())
    return table[name].combine_chunks().cast(pa.string())


def _uuids(table: pa.Table) -> pa.Array:
    """The uuid column, filled from the url (MetaCLIP's id: sha224 of the url) where missing."""
    given = _strings(table, "uuid")
    if given.null_count == 0:
        return given
    urls = _strings(table, "url").to_pylist()
    return pa.array(
        [
            uuid if uuid is not None else (image_uuid(url) if url else None)
            for uuid, url in zip(given.to_pylist(), urls, strict=True)
        ],
        pa.string(),
    )


# --- img2dataset: one Parquet file, one row per image --------------------------------------


def export_img2dataset(source: Pairs, out: Path, overwrite: bool) -> dict:
    if "url" not in source.columns:
        raise InputError(f"{source.folder}: no url column; img2dataset downloads images by url")
    _claim_file(out, overwrite)
    schema = _img2dataset_schema(source)
    make_folder(out.parent)
    spill_prefix = f".{out.name}.spill-"  # named after the output: only its own are removed
    with _spill_folder(out.parent, f"{out}: cannot write", spill_prefix) as spill_dir:
        spills = _spill_paths(source, spill_dir)
        rows, skipped = _spill(source, spills, need_url=True)
        images = 0
        with atomic_path(out) as tmp, pq.ParquetWriter(tmp, schema, compression="zstd") as writer:
            for spill in spills:
                grouped = _group(_read_spill(spill), source)
                images += len(grouped)
                if grouped:
                    writer.write_table(_img2dataset_rows(grouped, schema))
    lists = [name for name in schema.names if name not in ("url", "caption")]
    shards = f"{out.with_suffix('')}-shards"
    return {
        "format": "img2dataset",
        "from": source.origin,
        "folder": str(source.folder),
        "text_column": source.text_column,
        "rows_in": source.rows,
        "rows": rows,
        "images": images,
        "skipped": skipped,
        "columns": schema.names,
        "files": 1,
        "paths": [str(out)],
        "next": shlex.join(
            [
                *("img2dataset", "--url_list", str(out), "--input_format", "parquet"),
                *("--url_col", "url", "--caption_col", "caption"),
                *("--save_additional_columns", json.dumps(lists, separators=(",", ":"))),
                *("--output_format", "webdataset", "--output_folder", shards),
                *("--image_size", "256", "--resize_mode", "keep_ratio"),
                *("--enable_wandb", "False"),
            ]
        ),
    }


def _img2dataset_schema(source: Pairs) -> pa.Schema:
    return pa.schema(
        [
            ("url", pa.string()),
            ("caption", pa.string()),
            ("uuid", pa.string()),
            ("texts", pa.list_(pa.string())),
            (ENTRY_IDS, pa.list_(LIST_IDS)),
            *([(KEEP_PROB, pa.list_(pa.float64()))] if source.balanced else []),
            *[(f"{c}s", pa.list_(pa.string())) for c in source.carried],
        ]
    )


def _img2dataset_rows(images: list[dict], schema: pa.Schema) -> pa.Table:
    columns = {
        "url": [image["url"] for image in images],
        "caption": [image["texts"][0][1] for image in images],
        "uuid": [image["uuid"] for image in images],
        "texts": [[text for _, text in image["texts"]] for image in images],
    }
    for name in schema.names[len(columns) :]:
        columns[name] = [image[name] for image in images]
    return pa.table(columns, schema=schema)


def _claim_file(out: Path, overwrite: bool) -> None:
    if out.is_dir():
        raise OutputConflict(f"{out} is a folder; give the path of the Parquet file to write")
    if out.exists() and not overwrite:
        raise OutputConflict(f"{out} already exists; use --overwrite to replace it")


# --- webdataset-json: MetaCLIP texts per uuid -----------------------------------------------


def export_webdataset_json(source: Pairs, out: Path, overwrite: bool) -> dict:
    if not {"url", "uuid"} & source.columns:
        raise InputError(f"{source.folder}: neither a url nor a uuid column to group texts by")
    _claim_folder(out, overwrite)
    with _spill_folder(out, f"{out}: cannot write in the output folder") as spill_dir:
        spills = _spill_paths(source, spill_dir)
        rows, skipped = _spill(source, spills, need_url=False)
        buckets = len(spills)
        shards = [out / f"texts-{b:05d}-of-{buckets:05d}.jsonl" for b in range(buckets)]
        uuids = sum(
            _write_shard(_group(_read_spill(spill), source), shard)
            for spill, shard in zip(spills, shards, strict=True)
        )
    summary = {
        "format": "webdataset-json",
        "from": source.origin,
        "folder": str(source.folder),
        "text_column": source.text_column,
        "rows_in": source.rows,
        "rows": rows,
        "skipped": skipped,
        "uuids": uuids,
        "shape": '{"uuid", "url", "texts": [[kind, text], ...], "entry_ids": [[...], ...]'
        + (', "keep_prob": [...]' if source.balanced else "")
        + "".join(f', "{c}s": [...]' for c in source.carried)
        + "} per line",
        "files": len(shards),
        "paths": [str(p) for p in shards],
    }
    write_json(out / EXPORT_SUMMARY, summary)  # written last: the export is complete
    return summary


def _claim_folder(out: Path, overwrite: bool) -> None:
    """Make ``out`` ready; only files an export writes there are ever removed."""
    if out.exists() and not out.is_dir():
        raise OutputConflict(f"{out} is a file; give a folder for the JSON Lines shards")
    make_folder(out)
    if (out / EXPORT_SUMMARY).exists() and not overwrite:
        raise OutputConflict(
            f"{out} already holds an export ({EXPORT_SUMMARY}); use --overwrite to replace it"
            " or choose another --out"
        )
    # Without export.json the shards are a killed export's: incomplete, safe to replace. Only
    # this folder's own names: another stage may be writing temporaries in a subfolder.
    owned = [
        SHARD_GLOB,
        EXPORT_SUMMARY,
        f".texts-*{TMP_MARK}*",
        f".{EXPORT_SUMMARY}{TMP_MARK}*",
    ]
    for path in [p for pattern in owned for p in out.glob(pattern)]:
        shutil.rmtree(path) if path.is_dir() else path.unlink()


# --- grouping rows by image: spill to buckets by uuid, then group a bucket at a time ---------


@contextmanager
def _spill_folder(where: Path, cannot: str, prefix: str = ".spill-") -> Iterator[Path]:
    """A temporary folder in ``where`` for the spill files, locked while in use; a folder of
    the same prefix that no running export holds is a killed export's, and is removed first.
    Making it is the export's first write, so one that cannot be made is its one-line error
    (``cannot``: what it says)."""
    for old in where.glob(f"{glob.escape(prefix)}*"):
        if old.is_dir():
            with contextlib.suppress(OutputConflict), lock(old):  # held: a running export's
                shutil.rmtree(old)
    try:
        spill = tempfile.TemporaryDirectory(dir=where, prefix=prefix)
    except OSError as err:
        raise OutputError(f"{cannot} ({err.strerror})") from None
    with spill as folder, lock(Path(folder)):
        yield Path(folder)


def _spill_schema(source: Pairs) -> pa.Schema:
    return pa.schema(
        [
            ("uuid", pa.string()),
            ("url", pa.string()),
            ("kind", pa.string()),
            ("text", pa.string()),
            (ENTRY_IDS, LIST_IDS),
            *([(KEEP_PROB, pa.float64())] if source.balanced else []),
            *[(c, pa.string()) for c in source.carried],
        ]
    )


def _spill_paths(source: Pairs, folder: Path) -> list[Path]:
    buckets = min(MAX_BUCKETS, max(1, -(-source.rows // ROWS_PER_BUCKET)))
    return [folder / f"{b}.arrow" for b in range(buckets)]


def _spill(source: Pairs, spills: list[Path], need_url: bool) -> tuple[int, dict]:
    """Append every row to the spill file of its uuid's bucket; (rows spilled, rows skipped by
    reason): rows with no url (``need_url``: nothing to download) or no url and no uuid."""
    rows, skipped = 0, {}
    schema = _spill_schema(source)
    wanted = ["uuid", "url", source.text_column, "source", ENTRY_IDS, KEEP_PROB, *CARRIED]
    reason = "no_url" if need_url else "no_url_or_uuid"
    with ExitStack() as stack:
        writers = [stack.enter_context(pa.ipc.new_file(path, schema)) for path in spills]
        for table in _batches(source, wanted):
            spill = _spill_rows(table, source.text_column, schema)
            if need_url:
                usable = pc.fill_null(pc.not_equal(spill["url"], ""), False)
            else:
                usable = pc.is_valid(spill["uuid"])
            kept = spill.filter(usable)
            if len(kept) < len(spill):
                skipped[reason] = skipped.get(reason, 0) + len(spill) - len(kept)
            rows += len(kept)
            _scatter(kept, writers)
    return rows, skipped


def _spill_rows(table: pa.Table, text_column: str, schema: pa.Schema) -> pa.Table:
    columns = {
        "uuid": _uuids(table),
        "url": _strings(table, "url"),
        "kind": _kinds(table, text_column),
        "text": _strings(table, text_column),
        ENTRY_IDS: table[ENTRY_IDS].combine_chunks().cast(LIST_IDS),
    }
    if KEEP_PROB in schema.names:
        columns[KEEP_PROB] = table[KEEP_PROB].combine_chunks().cast(pa.float64())
    for name in schema.names[len(columns) :]:
        columns[name] = _strings(table, name)
    return pa.table(columns, schema=schema)


def _kinds(table: pa.Table, text_column: str) -> pa.Array:
    """MetaCLIP's text kind ("alt", ...): the reader's ``json:texts:<kind>`` gives it back; any
    other source is named as is, and rows without one by the text column."""
    sources = _strings(table, "source")
    kinds = pc.if_else(
        pc.fill_null(pc.starts_with(sources, METACLIP_KIND_PREFIX), False),
        pc.utf8_slice_codeunits(sources, len(METACLIP_KIND_PREFIX)),
        sources,
    )
    return pc.fill_null(kinds, text_column)


def _scatter(table: pa.Table, writers: list) -> None:
    """Write each row to its bucket's writer (rows of a bucket keep their order)."""
    if not len(table):
        return
    bucket = string_hashes(table["uuid"]) % np.uint64(len(writers))
    order = np.argsort(bucket, kind="stable")
    ordered = table.take(order)
    bounds = np.searchsorted(bucket[order], np.arange(len(writers) + 1))
    for b, writer in enumerate(writers):
        if bounds[b + 1] > bounds[b]:
            writer.write_table(ordered.slice(bounds[b], bounds[b + 1] - bounds[b]))


def _read_spill(spill: Path) -> pa.Table:
    with pa.memory_map(str(spill)) as source:
        return pa.ipc.open_file(source).read_all()


def _group(table: pa.Table, source: Pairs) -> list[dict]:
    """One bucket's rows as one object per uuid (in first-seen order), its texts as
    ``[kind, text]`` and the other per-row values as lists aligned with them."""
    lists = [ENTRY_IDS, *([KEEP_PROB] if source.balanced else []), *source.carried]
    named = {name: f"{name}s" if name in CARRIED else name for name in lists}
    images: dict[str, dict] = {}
    columns = [table[name].to_pylist() for name in ("uuid", "url", "kind", "text", *lists)]
    for uuid, url, kind, text, *values in zip(*columns, strict=True):
        image = images.get(uuid)
        if image is None:
            image = images[uuid] = {"uuid": uuid, "url": url, "texts": []}
            image.update((named[name], []) for name in lists)
        image["texts"].append([kind, text])
        for name, value in zip(lists, values, strict=True):
            image[named[name]].append(value)
    return list(images.values())


def _write_shard(images: list[dict], shard: Path) -> int:
    """One bucket's images as JSON Lines; the number of uuids."""
    with atomic_path(shard) as tmp, open(tmp, "w", encoding="utf-8") as f:
        for image in images:
            f.write(json.dumps(image, ensure_ascii=False) + "\n")
    return len(images)
