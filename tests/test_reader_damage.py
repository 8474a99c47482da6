"""Damaged or awkward input costs only the bad rows: CSV/TSV (invalid UTF-8 in any column,
columns whose look changes after the first block, malformed rows by line, empty files), JSON
Lines (a key whose type changes across batches, a text key first seen late, a byte order
mark), Parquet (a corrupt row group, dictionary and string-view texts), WebDataset (a
malformed JSON member counted once) and a folder given as input."""

import io
import json
import tarfile

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from metacurate.errors import InputError
from metacurate.metadata import Metadata
from metacurate.pipeline.extract import run_extract
from metacurate.pipeline.match import run_match
from metacurate.readers import Rejects, plan_shards, read_shard
from metacurate.readers.base import BATCH_ROWS, MAX_EXAMPLES

META = Metadata(["dog", "cat"], "test")


def _read(path, text_column="text"):
    """The file's batches and the rejects counted while reading them."""
    rejects = Rejects()
    (shard,) = plan_shards([str(path)])
    return list(read_shard(shard, text_column, rejects)), rejects


def _read_table(path, text_column="text"):
    tables, rejects = _read(path, text_column)
    return pa.concat_tables(tables), rejects


def _parts(out):
    return pa.concat_tables(pq.read_table(p) for p in sorted(out.glob("**/part-*.parquet")))


# --- CSV / TSV -------------------------------------------------------------------------------


def test_csv_invalid_utf8_rejects_its_row_by_line_and_column(tmp_path):
    path = tmp_path / "in.csv"
    path.write_bytes(
        b"text,url\n"
        b'"a dog\nover two lines",u1\n'  # lines 2-3
        b"caf\xe9 cat,u2\n"  # line 4: bad text
        b"\n"  # line 5: blank, skipped
        b"a cat,u\xff3\n"  # line 6: bad url
        b"bad\xff,u\xfe4\n"  # line 7: both bad
        b"last dog,u5\n"
    )
    table, rejects = _read_table(path)
    assert table.to_pylist() == [
        {"text": "a dog\nover two lines", "url": "u1"},
        {"text": "last dog", "url": "u5"},
    ]
    assert table.schema == pa.schema([("text", pa.string()), ("url", pa.string())])
    assert dict(rejects.by_reason) == {"invalid_utf8": 3}
    assert rejects.examples == [
        f"{path}:4: invalid_utf8 (column 'text')",
        f"{path}:6: invalid_utf8 (column 'url')",
        f"{path}:7: invalid_utf8 (columns 'text', 'url')",
    ]


@pytest.mark.parametrize("dedup", [True, False])
def test_csv_invalid_utf8_in_a_carried_column_does_not_reach_the_output(tmp_path, dedup):
    path = tmp_path / "in.tsv"
    path.write_bytes(b"url\ttext\nu1\ta dog\nu\xff2\ta cat\nu3\ta cat\n")
    summary = run_extract([str(path)], tmp_path / "out", dedup=dedup)
    assert summary["rows_read"] == 2
    assert summary["rejected"] == {"invalid_utf8": 1}
    assert summary["reject_examples"] == [f"{path}:3: invalid_utf8 (column 'url')"]
    out = _parts(tmp_path / "out")
    assert out.schema.field("url").type == pa.string()
    assert out["url"].to_pylist() == ["u1", "u3"]


def test_csv_columns_stay_text_when_later_blocks_look_different(tmp_path):
    # Arrow reads 4 MiB blocks: the numbers fill more than the first one.
    n = 300_000
    rows = [f"a dog {i},{i},{i * 0.5}\n" for i in range(n)]
    rows += ["a cat,n/a,NULL\n", 'a cat,,""\n', "a cat,12abc,-\n", "a cat,1e3,null\n"]
    path = tmp_path / "in.csv"
    path.write_text("text,n,x\n" + "".join(rows))
    tables, rejects = _read(path)
    assert len(tables) > 1  # the later values came in later blocks
    table = pa.concat_tables(tables)
    assert rejects.total == 0
    assert len(table) == n + 4
    assert table.schema == pa.schema([(c, pa.string()) for c in ("text", "n", "x")])
    assert table["n"].null_count == 0 and table["x"].null_count == 0
    assert table["n"].to_pylist()[:2] == ["0", "1"]
    assert table["n"].to_pylist()[n:] == ["n/a", "", "12abc", "1e3"]
    assert table["x"].to_pylist()[n - 1 :] == [f"{(n - 1) * 0.5}", "NULL", "", "-", "null"]


def test_csv_malformed_rows_are_reported_by_line(tmp_path):
    path = tmp_path / "in.csv"
    path.write_text(
        'text,url\r\n"a dog\r\nand\r\na cat",u1\r\n\r\none,two,three\r\na cat,u2\r\nalone\r\n'
    )
    table, rejects = _read_table(path)
    assert table["text"].to_pylist() == ["a dog\r\nand\r\na cat", "a cat"]
    assert dict(rejects.by_reason) == {"malformed_csv_row": 2}
    assert rejects.examples == [
        f"{path}:6: malformed_csv_row (one,two,three)",
        f"{path}:8: malformed_csv_row (alone)",
    ]


def test_csv_rejects_past_the_examples_are_counted_and_examples_come_in_file_order(tmp_path):
    lines = ["text,url"]
    for i in range(2, 40):  # file line i
        lines.append(f"bad,{i},row" if i % 3 == 0 else f"a dog {i},u{i}")
    path = tmp_path / "in.csv"
    path.write_bytes("\n".join(lines).encode() + b"\nbad utf8 \xff,u\n" + b"x,y,z\n" * 3)
    table, rejects = _read_table(path)
    malformed = [i for i in range(2, 40) if i % 3 == 0] + [41, 42, 43]
    assert table["url"].to_pylist() == [f"u{i}" for i in range(2, 40) if i % 3]
    assert dict(rejects.by_reason) == {"malformed_csv_row": len(malformed), "invalid_utf8": 1}
    assert rejects.examples == [
        f"{path}:{i}: malformed_csv_row (bad,{i},row)" for i in malformed[:MAX_EXAMPLES]
    ]


def test_csv_rejected_rows_late_in_a_large_file_get_their_lines(tmp_path):
    n = 250_000  # a few Arrow blocks
    body = "".join(f'"a dog\n{i}",u{i}\n' for i in range(n))  # two lines per row
    path = tmp_path / "in.csv"
    path.write_bytes(b"text,url\n" + body.encode() + b"x,y,z\ncaf\xe9,u\n")
    table, rejects = _read_table(path)
    assert len(table) == n
    assert rejects.examples == [
        f"{path}:{2 * n + 2}: malformed_csv_row (x,y,z)",
        f"{path}:{2 * n + 3}: invalid_utf8 (column 'text')",
    ]


@pytest.mark.parametrize("data", [b"", b"\n\n", b"text\n", b"url,text", b"text,url\r\n"])
def test_empty_csv_gives_no_rows(tmp_path, data):
    path = tmp_path / "empty.csv"
    path.write_bytes(data)
    assert _read(path) == ([], Rejects())


@pytest.mark.parametrize("data", [b"url,caption\n", b"url,caption"])
def test_header_only_csv_without_the_text_column_is_an_error(tmp_path, data):
    path = tmp_path / "in.csv"
    path.write_bytes(data)
    with pytest.raises(
        InputError, match=r"in\.csv: no text column 'text'; columns found: \['url', 'caption'\]$"
    ):
        _read(path)


def test_csv_header_that_is_not_utf8_is_an_error(tmp_path):
    path = tmp_path / "in.csv"
    path.write_bytes(b"u\xffrl,text\nu,a dog\n")
    with pytest.raises(
        InputError, match=r"in\.csv: the header \(column names\) is not UTF-8 text$"
    ):
        _read(path)


def test_empty_csv_does_not_stop_the_run(tmp_path):
    (tmp_path / "empty.csv").write_bytes(b"")
    (tmp_path / "header.csv").write_bytes(b"text,url")
    (tmp_path / "rows.jsonl").write_text(json.dumps({"text": "a dog"}) + "\n")
    inputs = [str(tmp_path / n) for n in ("empty.csv", "header.csv", "rows.jsonl")]
    summary = run_match(inputs, tmp_path / "out", META)
    assert (summary["rows_read"], summary["rows_matched"], summary["rejected"]) == (1, 1, {})


# --- JSON Lines ------------------------------------------------------------------------------


def test_jsonl_key_changing_type_across_batches_is_one_text_column(tmp_path):
    path = tmp_path / "in.jsonl"
    n = BATCH_ROWS + 5000
    with open(path, "w") as f:
        for i in range(n):
            f.write(json.dumps({"text": f"a dog {i}", "extra": i, "flag": True}) + "\n")
        for value in ("x", None, 2.5, {"k": [1, "a"]}, False):
            f.write(json.dumps({"text": "a cat", "extra": value, "flag": value}) + "\n")
    tables, rejects = _read(path)
    assert len(tables) == 2 and rejects.total == 0
    for table in tables:
        assert table.schema == pa.schema(
            [("text", pa.string()), ("extra", pa.string()), ("flag", pa.string())]
        )
    table = pa.concat_tables(tables)
    assert table["extra"].to_pylist()[n - 2 :] == [
        str(n - 2),
        str(n - 1),
        "x",
        None,
        "2.5",
        '{"k": [1, "a"]}',
        "false",
    ]
    assert table["flag"].to_pylist()[:1] == ["true"]
    summary = run_extract([str(path)], tmp_path / "out")
    assert summary["rows_read"] == n + 5
    assert _parts(tmp_path / "out")["extra"].to_pylist()[-3:] == ["2.5", '{"k": [1, "a"]}', "false"]


def test_jsonl_other_values_are_carried_as_their_json_text(tmp_path):
    path = tmp_path / "in.jsonl"
    records = [
        {"text": "a", "v": 640, "f": 100.0, "o": {"k": "é"}, "nan": 1.5},
        {"text": "b", "v": 2**70, "f": 1e-05, "o": ["x", None], "nan": float("nan")},
        {"text": "c", "v": None, "f": 3, "o": "lone \ud800", "nan": None},
    ]
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    table, rejects = _read_table(path)
    assert rejects.total == 0
    assert table["v"].to_pylist() == ["640", str(2**70), None]
    assert table["f"].to_pylist() == ["100.0", "1e-05", "3"]
    assert table["o"].to_pylist() == ['{"k": "é"}', '["x", null]', "lone \ufffd"]
    assert table["nan"].to_pylist() == ["1.5", "NaN", None]


def test_jsonl_text_key_first_seen_after_the_first_batch(tmp_path):
    path = tmp_path / "in.jsonl"
    with open(path, "w") as f:
        for i in range(BATCH_ROWS + 10):
            f.write(json.dumps({"url": f"u{i}"}) + "\n")
        f.write(json.dumps({"url": "last", "text": "a dog", "late": 1}) + "\n")
    tables, rejects = _read(path)
    table = pa.concat_tables(tables, promote_options="permissive")  # as the pipeline does
    assert rejects.total == 0
    assert len(table) == BATCH_ROWS + 11
    assert table["late"].to_pylist()[-2:] == [None, "1"]
    assert table["text"].null_count == BATCH_ROWS + 10
    assert table["text"].to_pylist()[-1] == "a dog"
    summary = run_match([str(path)], tmp_path / "out", META)
    assert (summary["rows_read"], summary["rows_empty_text"], summary["rows_matched"]) == (
        BATCH_ROWS + 11,
        BATCH_ROWS + 10,
        1,
    )
    assert _parts(tmp_path / "out").select(["url", "late"]).to_pylist() == [
        {"url": "last", "late": "1"}
    ]


def test_jsonl_without_a_text_key_in_any_batch_is_an_error(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text((json.dumps({"url": "u", "caption": "a dog"}) + "\n") * (BATCH_ROWS + 1))
    with pytest.raises(
        InputError, match=r"in\.jsonl: no text column 'text'; columns found: \['caption', 'url'\]$"
    ):
        _read(path)


def test_jsonl_byte_order_mark_is_not_a_reject(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + b'{"text": "a dog"}\n{"text": "a cat"}\n')
    table, rejects = _read_table(path)
    assert rejects.total == 0
    assert table["text"].to_pylist() == ["a dog", "a cat"]


# --- Parquet ---------------------------------------------------------------------------------


def _corrupt_row_group(path, group, column):
    """Overwrite the middle of a column chunk's page data; the footer stays valid."""
    chunk = pq.ParquetFile(path).metadata.row_group(group).column(column)
    data = bytearray(path.read_bytes())
    middle = chunk.data_page_offset + chunk.total_compressed_size // 2
    data[middle : middle + 64] = b"\xff" * 64
    path.write_bytes(bytes(data))


# Small groups: the first batch fails. Large ones: a first batch (group 0 and part of group 1)
# is read before the batch reaching the corrupt group fails.
@pytest.mark.parametrize(("group_rows", "groups", "bad"), [(1000, 3, 1), (40_000, 3, 2)])
def test_parquet_corrupt_row_group_is_skipped_and_its_rows_counted(
    tmp_path, group_rows, groups, bad
):
    path = tmp_path / "in.parquet"
    n = group_rows * groups
    texts = [f"a dog number {i} " * 3 for i in range(n)]
    pq.write_table(
        pa.table({"url": [f"u{i}" for i in range(n)], "text": texts}),
        path,
        row_group_size=group_rows,
        compression="snappy",
        use_dictionary=False,
    )
    _corrupt_row_group(path, group=bad, column=1)
    table, rejects = _read_table(path)
    assert table["text"].to_pylist() == texts[: bad * group_rows] + texts[(bad + 1) * group_rows :]
    assert dict(rejects.by_reason) == {"corrupt_row_group": group_rows}
    (example,) = rejects.examples
    assert example.startswith(
        f"{path}: row group {bad}: corrupt_row_group ({group_rows:,} rows lost: "
    )
    summary = run_match([str(path)], tmp_path / "out", META)
    assert summary["rows_read"] == n - group_rows
    assert summary["rejected"] == {"corrupt_row_group": group_rows}


@pytest.mark.parametrize(
    ("stored", "handed_on"),
    [
        (pa.dictionary(pa.int32(), pa.string()), pa.string()),
        (pa.string_view(), pa.string()),
        (pa.large_string(), pa.large_string()),
    ],
)
def test_parquet_text_column_of_any_string_kind(tmp_path, stored, handed_on):
    path = tmp_path / "in.parquet"
    texts = ["a dog", "a cat", "a dog", None]
    pq.write_table(pa.table({"text": pa.array(texts).cast(stored), "n": [1, 2, 3, 4]}), path)
    assert pq.ParquetFile(path).schema_arrow.field("text").type == stored
    table, rejects = _read_table(path)
    assert table.schema == pa.schema([("text", handed_on), ("n", pa.int64())])
    assert table["text"].to_pylist() == texts
    summary = run_match([str(path)], tmp_path / "out", META)
    assert summary["rows_matched"] == 3


# --- WebDataset and folders ------------------------------------------------------------------


def test_webdataset_malformed_json_member_is_counted_once(tmp_path):
    path = tmp_path / "in.tar"
    with tarfile.open(path, "w") as tar:
        data = b'{"caption": "a dog'
        info = tarfile.TarInfo("k.json")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    tables, rejects = _read(path)
    assert tables == []
    assert dict(rejects.by_reason) == {"malformed_json": 1}
    assert rejects.examples[0].startswith(f"{path}:k.json: malformed_json (")
    assert rejects.seen["samples"] == 1


def test_folder_given_as_input_says_so(tmp_path):
    with pytest.raises(InputError) as raised:
        plan_shards([str(tmp_path)])
    assert str(raised.value) == (
        f"{tmp_path}: is a folder, not a file; give its files (for example {tmp_path}/*.parquet)"
    )
    (tmp_path / "notes.txt").write_text("")
    (tmp_path / "a.jsonl.gz").write_bytes(b"")
    with pytest.raises(InputError, match=rf"for example {tmp_path}/\*\.jsonl\.gz\)$"):
        plan_shards([str(tmp_path)])
