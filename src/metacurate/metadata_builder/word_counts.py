"""Counting Wikipedia's words on disk: chunks of articles counted in worker processes, each
written as Parquet runs, then summed by DuckDB (SPEC 3, issue 4 "Scale").

A chunk is the next run of articles holding ``CHUNK_CHARS`` characters of text, so chunk
boundaries depend only on the dump, and a chunk whose marker exists is skipped on a re-run:
killing a build loses at most the chunks in flight. Memory is bounded by the chunk size (one
Counter of a chunk's distinct words and pairs per worker), not by the dump size; DuckDB sums
the runs out of core, spilling to the work folder.
"""

import hashlib
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from metacurate.engine import LocalEngine
from metacurate.metadata_builder.wikidump import read_pages
from metacurate.metadata_builder.wikitext import count_words, plain_text
from metacurate.readers.base import Rejects
from metacurate.writers.atomic import atomic_path, write_json

CHUNK_CHARS = 16_000_000
# Part of each chunk folder's name: changing how words are found must not reuse old counts.
COUNTING_VERSION = "words-v1"
KINDS = ("unigrams", "bigrams")
# Written once all chunks of a dump file are counted: a re-run then skips reading the file.
FILE_DONE = "file-done.json"


@dataclass
class Chunk:
    prefix: Path  # <folder>/chunk-00012: .unigrams.parquet, .bigrams.parquet, .json
    markup: bool
    texts: list[str] = field(default_factory=list)
    chars: int = 0

    @property
    def marker(self) -> Path:
        return self.prefix.with_suffix(".json")

    @property
    def name(self) -> str:
        return self.prefix.name

    def run(self, kind: str) -> Path:
        return self.prefix.with_suffix(f".{kind}.parquet")


def count_chunk(chunk: Chunk) -> dict:
    """Worker: strip markup, count words and pairs, write both runs, then the marker."""
    started = time.process_time()
    texts = [plain_text(t) for t in chunk.texts] if chunk.markup else chunk.texts
    counts = dict(zip(KINDS, count_words(texts), strict=True))
    for kind, counter in counts.items():
        table = pa.table(
            {
                "key": pa.array(list(counter), pa.string()),
                "n": pa.array(list(counter.values()), pa.int64()),
            }
        )
        with atomic_path(chunk.run(kind)) as tmp:
            pq.write_table(table, tmp, compression="zstd")
    stats = {
        "pages": len(chunk.texts),
        "chars": chunk.chars,
        "tokens": counts["unigrams"].total(),
        "cpu_s": round(time.process_time() - started, 3),
    }
    write_json(chunk.marker, stats)
    return stats


def dump_folder(work_dir: Path, path: Path) -> Path:
    """Where one dump file's chunks live: a changed file (size, time) or counting rule gets a
    new folder rather than mixing with old counts."""
    st = path.stat()
    key = f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{CHUNK_CHARS}|{COUNTING_VERSION}"
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    return work_dir / "words" / f"{path.name}-{digest}"


def _chunk_prefix(folder: Path, index: int) -> Path:
    return folder / f"chunk-{index:05d}"


def _chunks(path: Path, folder: Path, rejects: Rejects, on_read) -> Iterator[Chunk]:
    """Chunks of one dump file, in order, including done ones (the caller skips those)."""
    index = 0
    chunk = Chunk(_chunk_prefix(folder, index), markup=True)
    for page in read_pages(path, rejects, on_read):
        chunk.markup = page.markup
        chunk.texts.append(page.text)
        chunk.chars += len(page.text)
        if chunk.chars >= CHUNK_CHARS:
            yield chunk
            index += 1
            chunk = Chunk(_chunk_prefix(folder, index), page.markup)
    if chunk.texts:
        yield chunk


@dataclass
class WordCounts:
    """What the counting pass produced: the runs to sum and what they hold."""

    runs: dict[str, list[Path]] = field(default_factory=lambda: {kind: [] for kind in KINDS})
    pages: int = 0
    chars: int = 0
    tokens: int = 0
    chunks_counted: int = 0
    chunks_reused: int = 0

    def add(self, stats: dict) -> None:
        self.pages += stats["pages"]
        self.chars += stats["chars"]
        self.tokens += stats["tokens"]

    def include(self, chunk: Chunk) -> bool:
        """Take the chunk's runs; True when a previous run already counted it."""
        for kind in KINDS:
            self.runs[kind].append(chunk.run(kind))
        if chunk.marker.exists():
            self.chunks_reused += 1
            self.add(json.loads(chunk.marker.read_text("utf-8")))
            return True
        self.chunks_counted += 1
        return False


def count_dumps(
    paths: list[Path],
    work_dir: Path,
    workers: int,
    rejects: Rejects,
    on_read: Callable[[int], None] = lambda n: None,
) -> WordCounts:
    """Count every article of the dump files, reusing what a previous run completed: a file
    whose every chunk is counted is not read again, only its chunk markers are."""
    result = WordCounts()
    read: dict[Path, tuple[int, Rejects]] = {}  # files read in this run: chunks, damage seen

    def pending() -> Iterator[Chunk]:
        for path in paths:
            folder = dump_folder(work_dir, path)
            record = folder / FILE_DONE
            if record.exists():
                done = json.loads(record.read_text("utf-8"))
                rejects.absorb(done)
                for index in range(done["chunks"]):
                    result.include(Chunk(_chunk_prefix(folder, index), markup=True))
                on_read(path.stat().st_size)
                continue
            folder.mkdir(parents=True, exist_ok=True)
            file_rejects = Rejects()
            chunks = 0
            for chunk in _chunks(path, folder, file_rejects, on_read):
                chunks += 1
                if not result.include(chunk):
                    yield chunk
            read[folder] = (chunks, file_rejects)

    LocalEngine(workers).map(count_chunk, pending(), lambda chunk, stats: result.add(stats))
    # Every chunk now has its marker (a failed one raises above), so each file read is done.
    for folder, (chunks, file_rejects) in read.items():
        write_json(folder / FILE_DONE, {"chunks": chunks} | file_rejects.as_stats())
        rejects.absorb(file_rejects.as_stats())
    return result
