"""The ``export`` stage: a curated folder (``curated-t{T}-seed{S}/``) -> files other tools read.

- ``img2dataset``: one Parquet file with ``url``, ``caption``, ``uuid``, ``entry_ids``,
  ``keep_prob`` (and ``page_url``, ``source``, ``lang`` when the curated parts have them), for
  ``img2dataset --input_format parquet --url_col url --caption_col caption``. Rows without a url
  cannot be downloaded and are skipped (counted as ``no_url``).
- ``webdataset-json``: MetaCLIP's per-image texts. MetaCLIP's loader
  (facebookresearch/MetaCLIP src/training/metaclip_wds.py) reads ``<uuid>.json`` holding
  ``{"texts": [[kind, text], ...]}`` and picks ``texts[i][1]``. We write JSON Lines shards, one
  object per uuid holding all its kept texts, plus the lists ``keep_prob`` and ``entry_ids``
  aligned with ``texts`` (kind: MetaCLIP's own for texts read from MetaCLIP shards, else the
  row's ``source``, else the text column's name). A uuid's rows may lie in several parts, so
  rows are first spilled to buckets by a hash of the uuid (one shard per bucket): memory is
  bounded by a bucket, not by the curated set. Shards are ``texts-NNNNN-of-NNNNN.jsonl``;
  ``export.json`` (the summary) is written last and marks the export complete.

Both read exactly the parts that the folder's ``datacard.json`` lists, and only once the balance
run is complete (the card, and every listed part with its marker); they read the parts batch by
batch and publish each file under its name only once complete.
"""

import json
import os
import shlex
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack
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
from metacurate.pipeline.balance import KEEP_PROB
from metacurate.pipeline.balance import MANIFEST as BALANCE_MANIFEST
from metacurate.readers.base import image_uuid
from metacurate.writers.atomic import TMP_MARK, atomic_path, make_folder, write_json

FORMATS = ("img2dataset", "webdataset-json")
CARRIED = ("page_url", "source", "lang")  # kept in the img2dataset file when present
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
class Curated:
    """A curated folder's parts, its text column and what its parts hold."""

    folder: Location
    parts: list[Location]
    text_column: str
    columns: frozenset[str]  # in any part
    rows: int


def run_export(curated: Location | Path | str, to: str, out: Path, overwrite: bool = False) -> dict:
    """Export the curated folder ``curated`` (local, or on an object store) as format ``to`` to
    ``out``; return a summary.

    ``out`` is a local Parquet file for ``img2dataset`` and a folder for ``webdataset-json``.
    """
    if to not in FORMATS:
        raise InputError(f"unknown export format {to!r} (supported: {', '.join(FORMATS)})")
    source = open_curated(Location.of(curated))
    _never_over_a_run(source.folder, Path(out))
    if to == "img2dataset":
        return export_img2dataset(source, Path(out), overwrite)
    return export_webdataset_json(source, Path(out), overwrite)


def _never_over_a_run(curated: Location, out: Path) -> None:
    """Refuse an export that would write into the curated folder it reads, or over a file that
    the balance or match run holding it wrote or read."""
    target = os.path.realpath(out)
    if Path(target).is_relative_to(curated.identity()):
        raise OutputConflict(f"{out} is inside the curated folder it exports; choose another path")
    runs = (curated.parent, rundir.MATCH), (curated, rundir.BALANCE)
    if any(rundir.records(folder, layout, target) for folder, layout in runs):
        raise OutputConflict(
            f"{out} is an input or output of the run it exports; choose another path"
        )


# --- the curated folder ---------------------------------------------------------------------


def open_curated(folder: Location) -> Curated:
    if not folder.is_dir():
        raise InputError(f"{folder}: no such folder")
    card = _read_json(folder / DATACARD)
    parts = [folder / name for name in _listed_parts(folder, card)]
    text_column = _json_field(card, ("inputs", "text_column"))
    if not isinstance(text_column, str):
        raise InputError(f"{folder / DATACARD}: no inputs.text_column; cannot tell the text column")
    columns: set[str] = set()
    rows = 0
    for part in parts:
        try:
            parquet = pq.ParquetFile(**part.arrow())
            names = parquet.schema_arrow.names
            rows += parquet.metadata.num_rows
        except (OSError, pa.ArrowException) as err:
            raise InputError(
                f"{part}: not a readable Parquet file ({err}); remove it and run the balance"
                " command again to redo it"
            ) from None
        for needed in (text_column, ENTRY_IDS, KEEP_PROB):
            if needed not in names:
                raise InputError(f"{part}: no column {needed!r}; columns found: {names}")
        columns.update(names)
    return Curated(folder, parts, text_column, frozenset(columns), rows)


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


def _batches(source: Curated, columns: list[str]) -> Iterator[pa.Table]:
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


# --- img2dataset: one Parquet file ----------------------------------------------------------


def export_img2dataset(source: Curated, out: Path, overwrite: bool) -> dict:
    if "url" not in source.columns:
        raise InputError(f"{source.folder}: no url column; img2dataset downloads images by url")
    _claim_file(out, overwrite)
    carried = [c for c in CARRIED if c in source.columns]
    schema = pa.schema(
        [
            ("url", pa.string()),
            ("caption", pa.string()),
            ("uuid", pa.string()),
            (ENTRY_IDS, LIST_IDS),
            (KEEP_PROB, pa.float64()),
            *[(c, pa.string()) for c in carried],
        ]
    )
    wanted = ["url", source.text_column, "uuid", ENTRY_IDS, KEEP_PROB, *carried]
    rows = no_url = 0
    make_folder(out.parent)
    with atomic_path(out) as tmp, pq.ParquetWriter(tmp, schema, compression="zstd") as writer:
        for table in _batches(source, wanted):
            urls = _strings(table, "url")
            downloadable = pc.fill_null(pc.not_equal(urls, ""), False)
            kept = table.filter(downloadable)
            no_url += len(table) - len(kept)
            if len(kept):
                writer.write_table(_img2dataset_rows(kept, source.text_column, schema))
                rows += len(kept)
    return {
        "format": "img2dataset",
        "curated": str(source.folder),
        "text_column": source.text_column,
        "rows_in": source.rows,
        "rows": rows,
        "skipped": {"no_url": no_url} if no_url else {},
        "columns": schema.names,
        "files": 1,
        "paths": [str(out)],
        "next": shlex.join(
            [
                *("img2dataset", "--url_list", str(out), "--input_format", "parquet"),
                *("--url_col", "url", "--caption_col", "caption"),
                *("--save_additional_columns", '["uuid","keep_prob"]'),
            ]
        ),
    }


def _img2dataset_rows(table: pa.Table, text_column: str, schema: pa.Schema) -> pa.Table:
    columns = {
        "url": _strings(table, "url"),
        "caption": _strings(table, text_column),
        "uuid": _uuids(table),
        ENTRY_IDS: table[ENTRY_IDS].combine_chunks().cast(LIST_IDS),
        KEEP_PROB: table[KEEP_PROB].combine_chunks().cast(pa.float64()),
    }
    for name in schema.names[len(columns) :]:
        columns[name] = _strings(table, name)
    return pa.table(columns, schema=schema)


def _claim_file(out: Path, overwrite: bool) -> None:
    if out.is_dir():
        raise OutputConflict(f"{out} is a folder; give the path of the Parquet file to write")
    if out.exists() and not overwrite:
        raise OutputConflict(f"{out} already exists; use --overwrite to replace it")


# --- webdataset-json: MetaCLIP texts per uuid -----------------------------------------------

SPILL_SCHEMA = pa.schema(
    [
        ("uuid", pa.string()),
        ("url", pa.string()),
        ("kind", pa.string()),
        ("text", pa.string()),
        (KEEP_PROB, pa.float64()),
        (ENTRY_IDS, LIST_IDS),
    ]
)


def export_webdataset_json(source: Curated, out: Path, overwrite: bool) -> dict:
    if not {"url", "uuid"} & source.columns:
        raise InputError(f"{source.folder}: neither a url nor a uuid column to group texts by")
    _claim_folder(out, overwrite)
    buckets = min(MAX_BUCKETS, max(1, -(-source.rows // ROWS_PER_BUCKET)))
    try:  # the first write into the folder: one that cannot be written says so here
        spill_folder = tempfile.TemporaryDirectory(dir=out, prefix=".spill-")
    except OSError as err:
        raise OutputError(f"{out}: cannot write in the output folder ({err.strerror})") from None
    with spill_folder as spill_dir:
        spills = [Path(spill_dir) / f"{b}.arrow" for b in range(buckets)]
        rows, no_id = _spill(source, spills)
        shards = [out / f"texts-{b:05d}-of-{buckets:05d}.jsonl" for b in range(buckets)]
        uuids = sum(_write_shard(spill, shard) for spill, shard in zip(spills, shards, strict=True))
    summary = {
        "format": "webdataset-json",
        "curated": str(source.folder),
        "text_column": source.text_column,
        "rows_in": source.rows,
        "rows": rows,
        "skipped": {"no_url_or_uuid": no_id} if no_id else {},
        "uuids": uuids,
        "shape": '{"uuid", "url", "texts": [[kind, text], ...], "keep_prob": [...],'
        ' "entry_ids": [[...], ...]} per line',
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
        ".spill-*",
        f".texts-*{TMP_MARK}*",
        f".{EXPORT_SUMMARY}{TMP_MARK}*",
    ]
    for path in [p for pattern in owned for p in out.glob(pattern)]:
        shutil.rmtree(path) if path.is_dir() else path.unlink()


def _spill(source: Curated, spills: list[Path]) -> tuple[int, int]:
    """Append every row to the spill file of its uuid's bucket; (rows spilled, rows skipped)."""
    rows = no_id = 0
    wanted = ["uuid", "url", source.text_column, "source", KEEP_PROB, ENTRY_IDS]
    with ExitStack() as stack:
        writers = [stack.enter_context(pa.ipc.new_file(path, SPILL_SCHEMA)) for path in spills]
        for table in _batches(source, wanted):
            spill = _spill_rows(table, source.text_column)
            identified = spill.filter(pc.is_valid(spill["uuid"]))
            no_id += len(spill) - len(identified)
            rows += len(identified)
            _scatter(identified, writers)
    return rows, no_id


def _spill_rows(table: pa.Table, text_column: str) -> pa.Table:
    return pa.table(
        {
            "uuid": _uuids(table),
            "url": _strings(table, "url"),
            "kind": _kinds(table, text_column),
            "text": _strings(table, text_column),
            KEEP_PROB: table[KEEP_PROB].combine_chunks().cast(pa.float64()),
            ENTRY_IDS: table[ENTRY_IDS].combine_chunks().cast(LIST_IDS),
        },
        schema=SPILL_SCHEMA,
    )


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


def _write_shard(spill: Path, shard: Path) -> int:
    """Group one bucket's rows by uuid (first-seen order) into JSON Lines; the number of uuids."""
    with pa.memory_map(str(spill)) as source:
        table = pa.ipc.open_file(source).read_all()
    images = _group(table)
    with atomic_path(shard) as tmp, open(tmp, "w", encoding="utf-8") as f:
        for image in images:
            f.write(json.dumps(image, ensure_ascii=False) + "\n")
    return len(images)


def _group(table: pa.Table) -> list[dict]:
    images: dict[str, dict] = {}
    columns = [table[name].to_pylist() for name in SPILL_SCHEMA.names]
    for uuid, url, kind, text, prob, ids in zip(*columns, strict=True):
        image = images.get(uuid)
        if image is None:
            image = images[uuid] = {
                "uuid": uuid,
                "url": url,
                "texts": [],
                KEEP_PROB: [],
                ENTRY_IDS: [],
            }
        image["texts"].append([kind, text])
        image[KEEP_PROB].append(prob)
        image[ENTRY_IDS].append(ids)
    return list(images.values())
