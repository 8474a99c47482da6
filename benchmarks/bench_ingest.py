#!/usr/bin/env python3
"""CommonCrawl WAT -> matched Parquet: MetaCLIP's reference parsing loop versus ours, one core.

Input: a CommonCrawl-layout ``.warc.wat.gz`` (one gzip member per record, a metadata record for
every request, response and metadata record of the crawl) built by ``tests/wat_layout.py`` from
the real WARC pages in ``../shared/data/warc`` and repeated to ``--mb`` MB of uncompressed WAT,
each repetition under other page URLs and with a per-repetition query on every image URL (so
images are distinct across repetitions, as they mostly are across real pages). Both sides run in this process, alternating, ``--repeats``
times each after one warm-up; medians are reported.

- baseline: MetaCLIP's ``WATParser`` loop (gzip line by line, ``decode().strip()`` per line,
  ``json.loads`` per JSON line, the Links walk, ``urljoin``, SHA-224 uuids), then the same
  matcher as ours and one Parquet file of the matched rows;
- ours: ``run_match([wat], --lang none)``: FastWARC records, our WAT reader, the matcher,
  cross-input de-duplication, staging and the final parts, summary and counts;
- language id, shown apart: ours with ``--lang en`` (fastText on matched texts only) minus
  ours without, and the reference's cost (fastText on every text, as MetaCLIP calls it).

    python benchmarks/bench_ingest.py --mb 150 --repeats 3
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import gzip
import hashlib
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))  # the WAT writer the tests use
import wat_layout  # noqa: E402
from _common import machine_note, median, spread  # noqa: E402

from metacurate.filters.language import LanguageFilter  # noqa: E402
from metacurate.match.matcher import Matcher  # noqa: E402
from metacurate.metadata import default_metadata  # noqa: E402
from metacurate.pipeline.match import run_match  # noqa: E402

SHARED = HERE.parent.parent / "shared" / "data" / "warc"
SOURCES = (
    "resiliparse__warcfile.warc.gz",
    "allenai-dolma__sample-0000.warc.gz",
    "iawebcommons__IAH-urls-wget.warc.gz",
    "jwarc__cc.warc.gz",
)
KOI = ("alt", "title", "data-image-title")
TARGET = 4.0


# --- the input ------------------------------------------------------------------------------


def _moved(uri: str, rep: int) -> str:
    """The page under another path per repetition."""
    parts = urlsplit(uri.strip("<>"))
    return parts._replace(path=f"/r{rep}{parts.path or '/'}").geturl()


def _other_images(page, rep: int):
    """The page with every image URL made distinct for this repetition."""
    if page is None:
        return None

    def image(link: dict) -> dict:
        url = link["url"]
        return {**link, "url": f"{url}{'&' if '?' in url else '?'}r={rep}"}

    parsed = copy.copy(page.parsed)
    parsed.links = [image(k) if k["path"] == "IMG@/src" else k for k in page.parsed.links]
    return dataclasses.replace(page, parsed=parsed)


def build_wat(path: Path, megabytes: float) -> tuple[int, int]:
    """Write the WAT file; returns (records, uncompressed bytes)."""
    crawl = []
    for name in SOURCES:
        warc = SHARED / name
        pages = {p.record.offset: p for p in wat_layout.html_pages(warc)}
        for record in wat_layout.warc_records(warc):
            if record.headers.get("warc-type") in ("response", "request", "metadata"):
                crawl.append((record, pages.get(record.offset), name))
    records = size = rep = 0
    with open(path, "wb") as out:
        out.write(gzip.compress(wat_layout.warcinfo(path.name), mtime=0))
        while size < megabytes * 1e6:
            for record, page, name in crawl:
                uri = _moved(record.headers.get("warc-target-uri", ""), rep)
                moved = dataclasses.replace(
                    record, headers={**record.headers, "warc-target-uri": uri}
                )
                member = wat_layout.wat_record(moved, _other_images(page, rep), name)
                out.write(gzip.compress(member, compresslevel=6, mtime=0))
                records += 1
                size += len(member)
            rep += 1
    return records, size


# --- MetaCLIP's reference loop (its WATParser, rewritten here) -------------------------------


def _reference_images(links, target_uri: str, rows: dict) -> None:
    for link in links:
        if link is None or link.get("path") is None or not link["path"].startswith("IMG@/src"):
            continue
        if "url" not in link:
            continue
        try:
            url = urljoin(target_uri, link["url"])
        except ValueError:
            continue
        uuid = hashlib.sha224(url.replace("\t", "").replace(" ", "").encode()).hexdigest()[:24]
        for key in KOI:
            text = link.get(key)
            if text is None:
                continue
            text = text.replace("\n", " ").replace("\r", " ").strip()
            if text:
                rows["url"].append(url)
                rows["text"].append(text)
                rows["uuid"].append(uuid)
                rows["source"].append(key)
                rows["page_url"].append(target_uri)


def reference_rows(path: Path) -> dict:
    rows = {k: [] for k in ("url", "text", "uuid", "source", "page_url")}
    target_uri, looking_for_json = "", False
    with gzip.open(path) as lines:
        for line in lines:
            try:
                line = line.decode().strip()
            except UnicodeDecodeError:
                continue
            if line.startswith("WARC-Target-URI"):
                target_uri = line[len("WARC-Target-URI: ") :]
                looking_for_json = True
            if looking_for_json and line.startswith("{"):
                looking_for_json = False
                try:
                    payload = json.loads(line)["Envelope"]["Payload-Metadata"]
                except (ValueError, KeyError):
                    continue
                html = payload.get("HTTP-Response-Metadata", {}).get("HTML-Metadata", {})
                if "Links" in html:
                    _reference_images(html["Links"], target_uri, rows)
    return rows


def run_reference(path: Path, out: Path, entries: list[str]) -> int:
    table = pa.table(reference_rows(path))
    found = Matcher(entries).match_arrow(table["text"])
    matched = table.append_column("entry_ids", found.to_arrow()).filter(found.counts_per_text() > 0)
    pq.write_table(matched, out / "reference.parquet", compression="zstd")
    return len(table)


# --- timing -----------------------------------------------------------------------------------


def timed(fn) -> tuple[float, object]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mb", type=float, default=150.0, help="uncompressed WAT size in MB")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if not SHARED.is_dir():
        sys.exit(f"needs the real WARC samples in {SHARED}")
    work = Path(tempfile.mkdtemp(prefix="bench_ingest_"))
    try:
        wat = work / "CC-MAIN-bench.warc.wat.gz"
        records, raw_bytes = build_wat(wat, args.mb)
        gz_bytes = wat.stat().st_size
        metadata = default_metadata()
        print(machine_note())
        print(
            f"input: {records:,} WAT records, {raw_bytes / 1e6:,.1f} MB uncompressed, "
            f"{gz_bytes / 1e6:,.1f} MB gzip"
        )

        def ours(lang: str, k: int) -> dict:
            out = work / f"ours-{lang}-{k}"
            summary = run_match([str(wat)], out, metadata, lang=lang)
            shutil.rmtree(out)
            return summary

        def reference(k: int) -> int:
            out = work / f"ref-{k}"
            out.mkdir()
            pairs = run_reference(wat, out, metadata.entries)
            shutil.rmtree(out)
            return pairs

        ours("none", -1), reference(-1)  # warm-up: numba caches, page cache, imports
        times = {"reference": [], "ours": [], "ours_en": []}
        for k in range(args.repeats):
            t, ref_pairs = timed(lambda k=k: reference(k))
            times["reference"].append(t)
            t, summary = timed(lambda k=k: ours("none", k))
            times["ours"].append(t)
            t, summary_en = timed(lambda k=k: ours("en", k))
            times["ours_en"].append(t)

        texts = reference_rows(wat)["text"]
        sample = texts[: min(len(texts), 50_000)]
        languages = LanguageFilter.parse("all")
        languages.warm_up()
        lid_time, _ = timed(lambda: languages.detect(sample))
        lid_rate = len(sample) / lid_time

        ref, mine, mine_en = (median(times[k]) for k in ("reference", "ours", "ours_en"))
        print(
            f"pairs: reference {ref_pairs:,}; ours {summary['rows_read']:,} read, "
            f"{summary['rows_matched']:,} matched, {summary['rows_written']:,} written "
            f"({summary['rows_duplicate']:,} duplicates dropped)"
        )
        print(f"seen by our reader: {summary['seen']}; rejected: {summary['rejected']}")
        for name, t in (("reference", ref), ("ours", mine)):
            print(
                f"{name:>10}: {t:6.2f} s (spread {spread(times[name])})  "
                f"{records / t:10,.0f} records/s  {raw_bytes / 1e6 / t:7.1f} MB/s uncompressed  "
                f"{gz_bytes / 1e6 / t:6.1f} MB/s gzip"
            )
        ratio = ref / mine
        verdict = "met" if ratio >= TARGET else "NOT met"
        print(f"speedup ours vs reference: {ratio:.2f}x (target >= {TARGET:.0f}x: {verdict})")
        print(
            f"language id, ours (--lang en, matched texts only): +{mine_en - mine:.2f} s "
            f"({summary['rows_matched']:,} texts); fastText alone: {lid_rate:,.0f} texts/s, so "
            f"the reference's per-text lid on all {len(texts):,} texts would add "
            f"{len(texts) / lid_rate:.2f} s"
        )
        print(
            f"ours with --lang en end to end: {mine_en:.2f} s, {records / mine_en:,.0f} records/s"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
