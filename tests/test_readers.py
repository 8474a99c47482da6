"""Bad input: a clear one-line error naming the file, or rows rejected by reason and location."""

import gzip
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from metacurate.errors import InputError
from metacurate.match.matcher import Matcher
from metacurate.metadata import Metadata, load_metadata
from metacurate.pipeline.match import run_match
from metacurate.readers import Rejects, plan_shards, read_shard

META = Metadata(["dog", "cat"], "test")


def _read_all(path, text_column="text"):
    rejects = Rejects()
    (shard,) = plan_shards([str(path)])
    table = pa.concat_tables(read_shard(shard, text_column, rejects))
    return table, rejects


def test_missing_file_names_it(tmp_path):
    with pytest.raises(InputError, match=r"nope\.parquet: file not found"):
        plan_shards([str(tmp_path / "nope.parquet")])


def test_unknown_format_names_it(tmp_path):
    (tmp_path / "data.xml").write_text("<x/>")
    with pytest.raises(InputError, match=r"data\.xml: unknown input format"):
        plan_shards([str(tmp_path / "data.xml")])


def test_not_parquet_names_it(tmp_path):
    (tmp_path / "fake.parquet").write_text("not parquet")
    with pytest.raises(InputError, match=r"fake\.parquet: not a readable Parquet file"):
        plan_shards([str(tmp_path / "fake.parquet")])


@pytest.mark.parametrize("suffix", ["parquet", "jsonl", "csv"])
def test_missing_text_column_lists_columns(tmp_path, suffix):
    table = pa.table({"caption": ["a dog"], "url": ["u"]})
    path = tmp_path / f"in.{suffix}"
    if suffix == "parquet":
        pq.write_table(table, path)
    elif suffix == "jsonl":
        path.write_text("\n".join(json.dumps(r) for r in table.to_pylist()) + "\n")
    else:
        pa.csv.write_csv(table, path)
    with pytest.raises(
        InputError, match=r"no text column 'text'; columns found: \['caption', 'url'\]"
    ):
        _read_all(path)


def test_jsonl_bad_lines_are_rejected_with_file_and_line(tmp_path):
    path = tmp_path / "in.jsonl"
    lines = [
        json.dumps({"text": "a dog", "url": "u1"}).encode(),
        b'{"text": "broken',
        b'{"text": "caf\xe9 bad utf8"}',
        json.dumps([1, 2]).encode(),
        json.dumps({"text": 5}).encode(),
        json.dumps({"text": None, "url": "u2"}).encode(),
        json.dumps({"url": "u3"}).encode(),
        b'{"text": "lone \\ud800 surrogate cat", "extra": {"k": 1}}',
        b"",
        json.dumps({"text": "a cat", "extra": "mixed types stay"}).encode(),
    ]
    path.write_bytes(b"\n".join(lines) + b"\n")
    table, rejects = _read_all(path)
    assert dict(rejects.by_reason) == {
        "malformed_json": 1,
        "invalid_utf8": 1,
        "not_an_object": 1,
        "text_not_a_string": 1,
    }
    assert rejects.examples[0].startswith(f"{path}:2: malformed_json")
    assert any(e.startswith(f"{path}:3: invalid_utf8") for e in rejects.examples)
    assert table["text"].to_pylist() == ["a dog", None, None, "lone \ufffd surrogate cat", "a cat"]
    assert table["url"].to_pylist() == ["u1", "u2", "u3", None, None]
    assert table["extra"].to_pylist() == [None, None, None, '{"k": 1}', "mixed types stay"]


def test_truncated_gzip_keeps_rows_before_the_cut(tmp_path):
    full = gzip.compress(
        b"".join(json.dumps({"text": f"dog {i}"}).encode() + b"\n" for i in range(5000))
    )
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(full[: len(full) // 2])
    table, rejects = _read_all(path)
    assert 0 < len(table) < 5000
    assert table["text"].to_pylist() == [f"dog {i}" for i in range(len(table))]
    assert dict(rejects.by_reason) == {"corrupt_gzip": 1}
    assert rejects.examples[0].startswith(f"{path}:{len(table) + 1}: corrupt_gzip")


def test_run_summary_counts_rejects_and_goes_on(tmp_path):
    good = tmp_path / "good.jsonl"
    good.write_text(json.dumps({"text": "a dog"}) + "\n" + json.dumps({"text": ""}) + "\n")
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b'{"text": "cat"}\n{oops\n\xff\xfe\n')
    summary = run_match([str(good), str(bad)], tmp_path / "out", META)
    assert summary["rows_read"] == 3
    assert summary["rows_matched"] == 2
    assert summary["rows_empty_text"] == 1
    assert summary["rejected"] == {"invalid_utf8": 1, "malformed_json": 1}
    assert f"{bad}:2: malformed_json" in summary["reject_examples"][0]


def test_csv_and_tsv_keep_texts_as_text(tmp_path):
    (tmp_path / "in.csv").write_text('text,n\n1,2\n"dog, with comma",3\nbad,row,extra\n')
    table, rejects = _read_all(tmp_path / "in.csv")
    assert table["text"].to_pylist() == ["1", "dog, with comma"]
    assert dict(rejects.by_reason) == {"malformed_csv_row": 1}
    (tmp_path / "in.tsv").write_text("url\ttext\nu\ta cat\n")
    table, _ = _read_all(tmp_path / "in.tsv")
    assert table["text"].to_pylist() == ["a cat"]


def test_parquet_non_string_text_column_is_an_error(tmp_path):
    pq.write_table(pa.table({"text": [1, 2]}), tmp_path / "n.parquet")
    with pytest.raises(InputError, match="has type int64, not string"):
        _read_all(tmp_path / "n.parquet")


def test_metadata_formats_and_errors(tmp_path):
    (tmp_path / "m.json").write_text(json.dumps(["a", " b", "c d"]))
    assert load_metadata(tmp_path / "m.json").entries == ["a", " b", "c d"]
    (tmp_path / "m.txt").write_text("a\r\n b \nc d\n")
    assert load_metadata(tmp_path / "m.txt").entries == ["a", " b ", "c d"]
    (tmp_path / "m.json.gz").write_bytes(gzip.compress(json.dumps(["x"]).encode()))
    assert load_metadata(tmp_path / "m.json.gz").entries == ["x"]
    with pytest.raises(InputError, match=r"missing\.json: metadata file not found"):
        load_metadata(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("[1, 2]")
    with pytest.raises(InputError, match="must be a list of strings"):
        load_metadata(tmp_path / "bad.json")
    (tmp_path / "broken.json").write_text('["a", ')
    with pytest.raises(InputError, match=r"broken\.json: not valid JSON"):
        load_metadata(tmp_path / "broken.json")


def test_default_metadata_reports_sources():
    meta = load_metadata(None)
    assert len(meta) == 500_000
    assert meta.source_of(0) == "wordnet"
    assert meta.source_of(499_999) == "wordfreq"
    assert Matcher(meta.entries).unmatchable == {}
