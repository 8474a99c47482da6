"""WebDataset shards: img2dataset and MetaCLIP layouts, streaming, and damaged tars."""

import io
import json
import tarfile

import pyarrow as pa
import pytest
from helpers import read_table as _read
from helpers import read_tables

from metacurate.errors import InputError
from metacurate.pipeline.match import run_match
from metacurate.readers import detect_format
from metacurate.readers import webdataset as wds
from metacurate.readers.base import image_uuid
from metacurate.readers.webdataset import split_name

IMAGE = bytes(range(256)) * 40  # stands in for a JPEG: 10 KiB the reader must never decode


def _write_tar(path, members, mode="w"):
    """members: (name, bytes) in tar order."""
    with tarfile.open(path, mode) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def _img2dataset_sample(key, caption, url):
    meta = {"url": url, "caption": caption, "key": key, "status": "success", "width": 8}
    return [
        (f"{key}.jpg", IMAGE),
        (f"{key}.txt", caption.encode()),
        (f"{key}.json", json.dumps(meta).encode()),
    ]


def test_suffixes_are_registered():
    for name in ("a.tar", "a.TAR", "a.tar.gz", "a.tgz"):
        assert detect_format(name) == "webdataset"


def test_split_name_keeps_folder_and_cuts_at_first_dot():
    assert split_name("shard/000001.jpg") == ("shard/000001", "jpg")
    assert split_name("./abc.seg.JSON") == ("abc", "seg.json")
    assert split_name("a.b/c.txt") == ("a.b/c", "txt")


def test_img2dataset_shard_one_row_per_sample(tmp_path):
    members = []
    for i in range(3):
        members += _img2dataset_sample(f"{i:09d}", f"a dog {i}", f"https://x.org/{i}.jpg")
    table, rejects = _read(_write_tar(tmp_path / "00000.tar", members))
    assert table.column_names == ["key", "url", "uuid", "text", "source"]
    assert all(table.schema.field(n).type == pa.string() for n in table.column_names)
    # The caption is in both KEY.txt and KEY.json: one row, credited to the txt member.
    assert table["text"].to_pylist() == ["a dog 0", "a dog 1", "a dog 2"]
    assert table["source"].to_pylist() == ["txt"] * 3
    assert table["key"].to_pylist() == ["000000000", "000000001", "000000002"]
    assert table["url"].to_pylist() == [f"https://x.org/{i}.jpg" for i in range(3)]
    assert table["uuid"].to_pylist() == [image_uuid(f"https://x.org/{i}.jpg") for i in range(3)]
    assert len(table["uuid"][0].as_py()) == 24
    assert rejects.total == 0
    assert rejects.seen["samples"] == 3


def test_json_caption_differing_from_txt_gives_two_rows(tmp_path):
    members = [
        ("k.jpg", IMAGE),
        ("k.json", json.dumps({"caption": "from json", "url": "u"}).encode()),
        ("k.txt", b"from txt\n"),
    ]
    table, _ = _read(_write_tar(tmp_path / "s.tar", members))
    assert table.to_pydict()["text"] == ["from txt", "from json"]
    assert table["source"].to_pylist() == ["txt", "json:caption"]


def test_metaclip_shard_texts_and_uuid_from_key(tmp_path):
    # MetaCLIP's layout (src/training/metaclip_wds.py): uuid.json {"texts": [[kind, text], ...]}
    # next to uuid.jpeg, the member name being the image uuid.
    uuid = "0123456789abcdef01234567"
    texts = {"texts": [["alt", "a cat on a mat"], ["title", "cat photo"], "bare string"]}
    members = [(f"{uuid}.json", json.dumps(texts).encode()), (f"{uuid}.jpeg", IMAGE)]
    members += [
        ("other.json", json.dumps({"texts": [["alt", "x", "en"]], "uuid": "given"}).encode())
    ]
    table, rejects = _read(_write_tar(tmp_path / "0.tar", members))
    assert table["text"].to_pylist() == ["a cat on a mat", "cat photo", "bare string", "x"]
    assert table["source"].to_pylist() == [
        "json:texts:alt",
        "json:texts:title",
        "json:texts",
        "json:texts:alt",
    ]
    assert table["uuid"].to_pylist() == [uuid] * 3 + ["given"]
    assert table["url"].to_pylist() == [None] * 4
    assert rejects.total == 0


def test_bad_members_are_counted_and_reading_goes_on(tmp_path):
    members = [
        ("a.jpg", IMAGE),  # no text at all
        ("b.json", b'{"caption": "broken'),  # malformed json: counted once, not also as no text
        ("c.txt", b"caf\xe9 dog"),  # invalid utf-8: kept with U+FFFD
        ("d.json", b"[1, 2]"),  # json but not an object
        ("e.json", json.dumps({"caption": 5, "texts": ["ok", 7]}).encode()),
        ("f.json", json.dumps({"caption": None, "url": "https://f"}).encode()),
        ("f.txt", b""),  # an empty caption is a text (the match stage counts it as empty)
    ]
    table, rejects = _read(_write_tar(tmp_path / "bad.tar", members))
    assert table["text"].to_pylist() == ["caf\ufffd dog", "ok", ""]
    assert table["key"].to_pylist() == ["c", "e", "f"]
    assert table["uuid"].to_pylist() == [None, "e", image_uuid("https://f")]
    assert dict(rejects.by_reason) == {
        "sample_without_text": 1,
        "malformed_json": 2,
        "invalid_utf8": 1,
        "text_not_a_string": 2,
    }
    path = tmp_path / "bad.tar"
    assert f"{path}:a: sample_without_text" in rejects.examples
    assert any(e.startswith(f"{path}:b.json: malformed_json") for e in rejects.examples)
    assert rejects.seen["samples"] == 6


def _many_samples(n):
    members = []
    for i in range(n):
        members += [(f"{i:06d}.jpg", IMAGE), (f"{i:06d}.txt", f"dog number {i}".encode())]
    return members


@pytest.mark.parametrize("suffix,mode", [("tar", "w"), ("tar.gz", "w:gz")])
def test_truncated_tar_keeps_complete_samples(tmp_path, suffix, mode):
    full = _write_tar(tmp_path / f"full.{suffix}", _many_samples(200), mode).read_bytes()
    cut = tmp_path / f"cut.{suffix}"
    cut.write_bytes(full[: len(full) // 2])
    table, rejects = _read(cut)
    assert 0 < len(table) < 200
    assert table["text"].to_pylist() == [f"dog number {i}" for i in range(len(table))]
    assert dict(rejects.by_reason) == {"truncated_tar": 1}
    assert rejects.examples[0].startswith(f"{cut}:")


def test_any_cut_before_the_end_marker_is_a_truncation(tmp_path):
    """Wherever the bytes stop (in a header, in skipped image data, on a member boundary), the
    complete samples before the cut are kept and the shard is reported truncated."""
    full = _write_tar(tmp_path / "full.tar", _many_samples(3)).read_bytes()
    end_marker = 3 * (2 * 512 + len(IMAGE) + 512 - len(IMAGE) % 512)  # headers + padded data
    assert full[end_marker : end_marker + 1024] == bytes(1024)
    for cut in range(0, end_marker, 256):
        path = tmp_path / "cut.tar"
        path.write_bytes(full[:cut])
        table, rejects = _read(path)
        texts = table["text"].to_pylist() if table else []
        assert texts == [f"dog number {i}" for i in range(len(texts))], cut
        assert len(texts) < 3, cut  # the last sample is never complete before the marker
        assert rejects.total == 1, cut
        reason = next(iter(rejects.by_reason))
        assert reason == ("corrupt_tar" if cut == 0 else "truncated_tar"), cut


def test_gzipped_shard_reads_like_plain(tmp_path):
    plain, _ = _read(_write_tar(tmp_path / "a.tar", _many_samples(50)))
    gzipped, _ = _read(_write_tar(tmp_path / "a.tar.gz", _many_samples(50), "w:gz"))
    assert plain.equals(gzipped)


def test_not_a_tar_is_counted_not_raised(tmp_path):
    path = tmp_path / "junk.tar"
    path.write_bytes(b"this is not a tar archive " * 40)
    table, rejects = _read(path)
    assert table is None
    assert dict(rejects.by_reason) == {"corrupt_tar": 1}


def test_batches_are_bounded(tmp_path, monkeypatch):
    monkeypatch.setattr(wds, "BATCH_ROWS", 7)
    tables, _ = read_tables(_write_tar(tmp_path / "a.tar", _many_samples(20)))
    sizes = [len(t) for t in tables]
    assert sizes == [7, 7, 6]


def test_image_data_is_never_read(tmp_path, monkeypatch):
    """Only text members are extracted; the images' data is skipped by the stream."""
    extracted = []
    original = tarfile.TarFile.extractfile

    def spy(self, member):
        extracted.append(member.name if isinstance(member, tarfile.TarInfo) else member)
        return original(self, member)

    monkeypatch.setattr(tarfile.TarFile, "extractfile", spy)
    members = _img2dataset_sample("k", "a dog", "https://u")
    _read(_write_tar(tmp_path / "a.tar", members))
    assert extracted == ["k.txt", "k.json"]


def test_oversized_text_member_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(wds, "MAX_TEXT_MEMBER", 100)
    members = [("a.txt", b"dog " * 100), ("b.txt", b"a cat")]
    table, rejects = _read(_write_tar(tmp_path / "a.tar", members))
    assert table["text"].to_pylist() == ["a cat"]
    assert dict(rejects.by_reason) == {"oversized_member": 1}


def test_text_column_may_not_clash(tmp_path):
    path = _write_tar(tmp_path / "a.tar", _many_samples(1))
    with pytest.raises(InputError, match="clashes with a WebDataset column"):
        _read(path, text_column="url")


def test_match_stage_reads_webdataset_shards(tmp_path, dog_cat_metadata):
    members = []
    for i, caption in enumerate(["a dog", "a cat", "nothing here"]):
        members += _img2dataset_sample(f"{i:03d}", caption, f"https://x/{i}")
    path = _write_tar(tmp_path / "00000.tar", members, "w:gz").rename(tmp_path / "00000.tgz")
    summary = run_match([str(path)], tmp_path / "out", dog_cat_metadata)
    assert summary["rows_read"] == 3
    assert summary["rows_matched"] == 2
