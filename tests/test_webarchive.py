"""WARC and CommonCrawl WAT readers, checked against an independent standard-library count
(tests/wat_layout.py) on the real samples in tests/data/warc, and on damaged input."""

import gzip
import hashlib
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urljoin

import pyarrow as pa
import pytest
import wat_layout as wl
from helpers import read_tables
from hypothesis import given, settings
from hypothesis import strategies as st

from metacurate.errors import InputError
from metacurate.readers import Rejects, detect_format, warc, wat, webpage
from metacurate.readers.base import Shard
from metacurate.readers.webpage import MAX_TEXT_CHARS, Resolver, image_uuid, resolve

COLUMNS = ["url", "text", "uuid", "page_url", "source", "crawl_file"]
ROW = ["url", "text", "uuid", "page_url", "source"]
SOURCES = ("alt", "title", "data-image-title")

# tests/data/README.md: records, HTML pages, <img>, with alt, alt or title, distinct alts.
README = {
    "allenai-dolma__sample-0000.warc.gz": (48, 22, 240, 169, 172, 53),
    "iawebcommons__IAH-urls-wget.warc.gz": (36, 11, 50, 46, 46, 10),
    "jwarc__cc.warc.gz": (1, 1, 8, 6, 6, 6),
    "resiliparse__clipped.warc.gz": (1, 1, 7, 6, 7, 6),
    "resiliparse__warcfile.warc.gz": (50, 16, 153, 32, 32, 23),
    "warcio__example-bad-non-chunked.warc.gz": (6, 1, 0, 0, 0, 0),
    "warcio__example-trunc.warc": (4, 1, 0, 0, 0, 0),
    "warcio__example-wrong-chunks.warc.gz": (2, 1, 0, 0, 0, 0),
}
WITH_IMAGES = [name for name, counts in README.items() if counts[2]]


def read(path: Path, text_column: str = "text") -> tuple[pa.Table, Rejects]:
    tables, rejects = read_tables(path, text_column)
    for table in tables:
        assert table.column_names == [*COLUMNS[:1], text_column, *COLUMNS[2:]]
        assert all(t == pa.string() for t in table.schema.types)
    if not tables:
        return pa.table({name: pa.array([], pa.string()) for name in COLUMNS}), rejects
    return pa.concat_tables(tables), rejects


def rows(table: pa.Table) -> list[tuple]:
    return list(zip(*(table.column(name).to_pylist() for name in ROW), strict=True))


# --- the independent count -------------------------------------------------------------------


def expected_rows(pages: list[wl.Page]) -> list[tuple]:
    """SPEC 4 written out plainly over the standard-library parse: 2xx HTML pages, <img> in
    document order, src resolved with urljoin against the first <base href> (if it resolves to
    http(s)) or the page URL; data:/javascript:/unresolvable srcs skipped; texts from alt,
    title, data-image-title with newlines/CRs -> spaces, stripped, non-empty, at most 4096
    characters, each (uuid, text) once per page, the first source winning."""
    out = []
    for page in pages:
        if not 200 <= page.response.status < 300:
            continue
        page_url = page.target_uri.strip("<>")
        base = page_url
        if page.parsed.base:
            candidate = urljoin(page_url, page.parsed.base.strip())
            if candidate.startswith(("http://", "https://")):
                base = candidate
        seen = set()
        for image in page.parsed.images:
            src = (image.get("src") or "").strip(" \t\n\f\r")
            if not src or src.lower().startswith(("data:", "javascript:")):
                continue
            url = urljoin(base, src)
            if not url.startswith(("http://", "https://")):
                continue
            uuid = hashlib.sha224(url.encode("utf-8")).hexdigest()[:24]
            for source in SOURCES:
                text = (image.get(source) or "").replace("\n", " ").replace("\r", " ").strip()
                if text and len(text) <= 4096 and (uuid, text) not in seen:
                    seen.add((uuid, text))
                    out.append((url, text, uuid, page_url, source))
    return out


@pytest.mark.parametrize("name", sorted(README))
def test_stdlib_count_is_the_readme_count(warc_dir, name):
    """The test's own parser is the one the README table was made with."""
    path = warc_dir / name
    pages = wl.html_pages(path)
    images = [image for page in pages for image in page.parsed.images]
    alts = [(image.get("alt") or "").strip() for image in images]
    titles = [(image.get("title") or "").strip() for image in images]
    assert (
        len(wl.warc_records(path)),
        len(pages),
        len(images),
        sum(1 for alt in alts if alt),
        sum(1 for alt, title in zip(alts, titles, strict=True) if alt or title),
        len({alt for alt in alts if alt}),
    ) == README[name]


@pytest.mark.parametrize("name", WITH_IMAGES)
def test_warc_rows_match_the_stdlib_count(warc_dir, name):
    """Same (image, text) rows, per source, as the independent count.

    Definitions differ from the README's columns: the README counts <img> tags with a
    non-empty alt (dolma: 169); rows are distinct (image, text) pairs per page after resolving
    the src (dolma: 67 rows, the same logo with the same alt counts once per page)."""
    path = warc_dir / name
    table, rejects = read(path)
    expected = expected_rows(wl.html_pages(path))
    assert rows(table) == expected  # same rows, same order
    assert Counter(table.column("source").to_pylist()) == Counter(row[4] for row in expected)
    assert set(table.column("crawl_file").to_pylist()) == {name}
    records, html_pages, images, with_alt, *_ = README[name]
    # Every <img> of the file sits on a 2xx page here, so the reader saw them all.
    assert rejects.seen["images"] == images
    assert sum(1 for row in expected if row[4] == "alt") <= with_alt
    assert rejects.seen["records"] == records
    # The README counts HTML responses of any status; the reader parses 2xx ones only.
    statuses = [page.response.status for page in wl.html_pages(path)]
    assert rejects.seen["html_pages"] == sum(1 for s in statuses if 200 <= s < 300)
    assert rejects.by_reason["http_not_ok"] == html_pages - rejects.seen["html_pages"]


def test_damaged_samples_do_not_crash_and_say_where(warc_dir):
    clipped = warc_dir / "resiliparse__clipped.warc.gz"
    table, rejects = read(clipped)
    assert rejects.by_reason == {"corrupt_gzip": 1}
    assert rejects.examples[0].startswith(f"{clipped}:0: corrupt_gzip")
    # The page before the cut is kept: its 7 rows, as the stdlib count of the partial page.
    assert rows(table) == expected_rows(wl.html_pages(clipped))
    assert table.num_rows == 7

    trunc = warc_dir / "warcio__example-trunc.warc"
    table, rejects = read(trunc)
    assert rejects.by_reason == {"malformed_record": 1}
    assert rejects.examples[0].startswith(f"{trunc}:1197: malformed_record")
    assert rejects.seen["html_pages"] == 1  # the gzip-encoded page before the bad record

    # warcio's chunking/encoding quirks: FastWARC decodes both pages; they have no <img>.
    for name in ("warcio__example-bad-non-chunked.warc.gz", "warcio__example-wrong-chunks.warc.gz"):
        table, rejects = read(warc_dir / name)
        assert table.num_rows == 0
        assert rejects.seen["html_pages"] == 1
        assert rejects.seen["records"] == README[name][0]


def test_real_wat_sample_has_no_image_links(warc_dir):
    table, rejects = read(warc_dir / "ccwhirlwind__whirlwind.warc.wat.gz")
    assert table.num_rows == 0
    assert rejects.seen["records"] == 2
    assert rejects.total == 0


# --- WAT in CommonCrawl's layout gives what WARC gives ---------------------------------------


@pytest.mark.parametrize("name", WITH_IMAGES)
def test_wat_and_warc_give_the_same_rows(warc_dir, tmp_path, name):
    path = warc_dir / name
    wat_path = tmp_path / name.replace(".warc.gz", ".warc.wat.gz")
    wl.write_members(wat_path, wl.wat_members(path))
    from_warc, _ = read(path)
    from_wat, wat_rejects = read(wat_path)
    assert sorted(rows(from_wat)) == sorted(rows(from_warc))
    assert rows(from_wat) == rows(from_warc)  # same order too: pages and images in file order
    assert set(from_wat.column("crawl_file").to_pylist()) == {wat_path.name}
    assert wat_rejects.seen["images"] > 0


def test_wat_layout_matches_the_real_whirlwind_envelope(warc_dir):
    """The built records use the real WAT's header and envelope keys."""
    real = gzip.decompress((warc_dir / "ccwhirlwind__whirlwind.warc.wat.gz").read_bytes())
    built = wl.wat_members(warc_dir / "jwarc__cc.warc.gz")[1]
    for key in (b"WARC-Type: metadata", b"WARC-Refers-To:", b"Content-Type: application/json"):
        assert key in real and key in built
    for key in (
        b'{"Container":{"Filename":',
        b'"Envelope":{"Payload-Metadata":{',
        b'"WARC-Header-Metadata":{',
    ):
        assert key in real and key in built
    assert b'"HTML-Metadata":{"Head":{' in built and b'{"path":"IMG@/src","url":' in built


# --- building small archives ------------------------------------------------------------------


def response(url: str, body: bytes, content_type="text/html; charset=utf-8", status=200) -> bytes:
    http = (
        f"HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    headers = [
        ("WARC-Type", "response"),
        ("WARC-Target-URI", url),
        ("WARC-Date", "2024-05-18T01:58:10Z"),
        ("WARC-Record-ID", f"<urn:uuid:{hashlib.md5(url.encode()).hexdigest()}>"),
        ("Content-Type", "application/http; msgtype=response"),
    ]
    return wl.warc_record(headers, http)


def page(*imgs: str | bytes, head: str = "") -> bytes:
    body = b"".join(img if isinstance(img, bytes) else img.encode() for img in imgs)
    return f"<html><head>{head}</head><body>".encode() + body + b"</body></html>"


def write_warc(path: Path, *records: bytes) -> list[int]:
    return wl.write_members(path, list(records))


def write_wat(path: Path, warc_path: Path) -> list[int]:
    return wl.write_members(path, wl.wat_members(warc_path))


def both(tmp_path: Path, *records: bytes) -> tuple[tuple[pa.Table, Rejects], tuple]:
    """(WARC result, WAT result) for the same records."""
    warc_path = tmp_path / "in.warc.gz"
    write_warc(warc_path, *records)
    wat_path = tmp_path / "in.warc.wat.gz"
    write_wat(wat_path, warc_path)
    return read(warc_path), read(wat_path)


# --- bad input --------------------------------------------------------------------------------


def test_truncated_gzip_keeps_rows_before_the_cut(warc_dir, tmp_path):
    source = warc_dir / "allenai-dolma__sample-0000.warc.gz"
    data = source.read_bytes()
    cut = tmp_path / "cut.warc.gz"
    cut.write_bytes(data[:100_000])  # inside the request record at 99869
    full, _ = read(source)
    table, rejects = read(cut)
    assert rejects.by_reason == {"corrupt_gzip": 1}
    assert rejects.examples == [
        f"{cut}:99869: corrupt_gzip (truncated gzip member (the file ends inside it))"
    ]
    kept = rows(table)
    assert kept == rows(full)[: len(kept)]  # a prefix of the whole file's rows
    complete = [p for p in wl.html_pages(cut) if p.record.complete]
    assert len(kept) >= len(expected_rows(complete)) > 0


def test_corrupt_gzip_in_the_middle(warc_dir, tmp_path):
    data = bytearray((warc_dir / "allenai-dolma__sample-0000.warc.gz").read_bytes())
    for i in range(60_000, 60_040):
        data[i] ^= 0x5A  # inside the member at 50525
    path = tmp_path / "bad.warc.gz"
    path.write_bytes(bytes(data))
    table, rejects = read(path)
    assert rejects.by_reason == {"corrupt_gzip": 1}
    assert rejects.examples[0].startswith(f"{path}:50525: corrupt_gzip (corrupt gzip member")
    assert table.num_rows > 0


def test_malformed_wat_json_among_good_records(tmp_path):
    warc_path = tmp_path / "in.warc.gz"
    write_warc(
        warc_path,
        response("http://a.example/1", page('<img src="x.png" alt="first">')),
        response("http://a.example/2", page('<img src="y.png" alt="second">')),
        response("http://a.example/3", page('<img src="z.png" alt="third">')),
    )
    members = wl.wat_members(warc_path)
    # The second page's JSON loses its closing braces (its IMG@ link is still there).
    header, _, payload = members[2].partition(b"\r\n\r\n")
    broken = payload.rstrip()[:-5]
    members[2] = wl.warc_record(
        [("WARC-Type", "metadata"), ("WARC-Target-URI", "http://a.example/2")], broken
    )
    wat_path = tmp_path / "in.warc.wat.gz"
    offsets = wl.write_members(wat_path, members)
    table, rejects = read(wat_path)
    assert table.column("text").to_pylist() == ["first", "third"]
    assert rejects.by_reason == {"malformed_json": 1}
    assert rejects.examples[0].startswith(f"{wat_path}:{offsets[2]}: malformed_json")


def test_non_html_and_non_2xx_responses_are_counted_not_parsed(tmp_path):
    records = [
        response("http://a.example/p.jpg", b"\xff\xd8<img src=a alt=no>", "image/jpeg"),
        response("http://a.example/t.txt", b'<img src="t.png" alt="text file">', "text/plain"),
        response("http://a.example/404", page('<img src="e.png" alt="error page">'), status=404),
        response("http://a.example/ok", page('<img src="ok.png" alt="kept">')),
    ]
    path = tmp_path / "in.warc.gz"
    offsets = write_warc(path, *records)
    table, rejects = read(path)
    assert table.column("text").to_pylist() == ["kept"]
    assert rejects.by_reason == {"not_html": 2, "http_not_ok": 1}
    assert rejects.examples == [
        f"{path}:{offsets[0]}: not_html (image/jpeg)",
        f"{path}:{offsets[1]}: not_html (text/plain)",
        f"{path}:{offsets[2]}: http_not_ok (status 404)",
    ]
    assert rejects.seen == {"records": 4, "html_pages": 1, "pages_with_images": 1, "images": 1}


def test_page_with_10000_images(tmp_path, monkeypatch):
    monkeypatch.setattr(webpage, "BATCH_ROWS", 4096)
    imgs = [f'<img src="/i/{n}.jpg" alt="picture {n}">' for n in range(10_000)]
    record = response("http://big.example/", page(*imgs))
    for path in (tmp_path / "big.warc.gz",):
        write_warc(path, record)
        started = time.perf_counter()
        tables, rejects = read_tables(path)
        elapsed = time.perf_counter() - started
        assert [t.num_rows for t in tables] == [4096, 4096, 1808]
        table = pa.concat_tables(tables)
        assert table.column("url")[9999].as_py() == "http://big.example/i/9999.jpg"
        assert rejects.seen["images"] == 10_000
        assert elapsed < 5
    wat_path = tmp_path / "big.warc.wat.gz"
    write_wat(wat_path, tmp_path / "big.warc.gz")
    wat_table, _ = read(wat_path)
    assert rows(wat_table) == rows(table)


def test_100kb_attribute_is_rejected_other_texts_kept(tmp_path):
    huge = "word " * 20_000
    records = [response("http://a.example/", page(f'<img src="a.png" alt="{huge}" title="short">'))]
    (warc_table, warc_rejects), (wat_table, wat_rejects) = both(tmp_path, *records)
    for table, rejects in ((warc_table, warc_rejects), (wat_table, wat_rejects)):
        assert rows(table) == [
            ("http://a.example/a.png", "short", image_uuid("http://a.example/a.png"),
             "http://a.example/", "title")
        ]  # fmt: skip
        assert rejects.by_reason == {"text_too_long": 1}
        assert "alt, 99999 characters" in rejects.examples[0]
        assert rejects.examples[0].startswith(str(tmp_path))


def test_text_of_exactly_the_limit_is_kept(tmp_path):
    text = "x" * MAX_TEXT_CHARS
    (table, rejects), _ = both(
        tmp_path, response("http://a.example/", page(f'<img src=a alt="{text}">'))
    )
    assert table.column("text").to_pylist() == [text]
    assert rejects.total == 0


def test_invalid_utf8_in_html_is_replaced_and_counted(tmp_path):
    body = b'<html><body><img src="a.png" alt="caf\xe9 ok"></body></html>'
    path = tmp_path / "in.warc.gz"
    offsets = write_warc(path, response("http://a.example/", body))
    table, rejects = read(path)
    assert table.column("text").to_pylist() == ["caf\ufffd ok"]
    assert rejects.by_reason == {"invalid_utf8": 1}
    assert rejects.examples[0].startswith(f"{path}:{offsets[0]}: invalid_utf8")


def test_declared_charsets_are_honoured(tmp_path):
    cyrillic = '<img src="a.png" alt="Привет">'.encode("cp1251")
    records = [
        response("http://a.example/http", page(cyrillic), "text/html; charset=windows-1251"),
        response(
            "http://a.example/meta",
            page(cyrillic, head='<meta http-equiv="Content-Type" content="text/html; charset=windows-1251">'),
            "text/html",
        ),
        response("http://a.example/latin", page('<img src=b alt="Übersicht">'.encode("cp1252"), head='<meta charset="iso-8859-1">'), "text/html"),
    ]  # fmt: skip
    path = tmp_path / "in.warc.gz"
    write_warc(path, *records)
    table, rejects = read(path)
    assert table.column("text").to_pylist() == ["Привет", "Привет", "Übersicht"]
    assert rejects.total == 0


def test_invalid_utf8_and_lone_surrogates_in_wat_json(tmp_path):
    members = [
        wl.warc_record(
            [("WARC-Type", "metadata"), ("WARC-Target-URI", "http://a.example/")],
            b'{"Envelope":{"Payload-Metadata":{"HTTP-Response-Metadata":{"HTML-Metadata":'
            b'{"Links":[{"path":"IMG@/src","url":"a.png","alt":"caf\xe9"}]}}}}}',
        ),
        wl.warc_record(
            [("WARC-Type", "metadata"), ("WARC-Target-URI", "http://b.example/")],
            b'{"Envelope":{"Payload-Metadata":{"HTTP-Response-Metadata":{"HTML-Metadata":'
            b'{"Links":[{"path":"IMG@/src","url":"b.png","alt":"x\\ud800y"}]}}}}}',
        ),
    ]
    path = tmp_path / "in.wat.gz"
    offsets = wl.write_members(path, members)
    table, rejects = read(path)
    assert table.column("text").to_pylist() == ["caf\ufffd", "x\ufffdy"]
    assert table.column("url").to_pylist() == ["http://a.example/a.png", "http://b.example/b.png"]
    assert rejects.by_reason == {"invalid_utf8": 1}
    assert rejects.examples[0].startswith(f"{path}:{offsets[0]}: invalid_utf8")


@pytest.mark.parametrize("name", ["empty.warc.gz", "empty.warc.wat.gz", "empty.warc", "empty.wat"])
@pytest.mark.parametrize("content", [b"", gzip.compress(b"")], ids=["0 bytes", "empty gzip"])
def test_empty_files_yield_nothing(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    table, rejects = read(path)
    assert table.num_rows == 0
    assert rejects.total == 0


def test_missing_file_is_an_input_error(tmp_path):
    for module, fmt in ((warc, "warc"), (wat, "wat")):
        with pytest.raises(InputError, match="gone.warc.gz: file not found"):
            list(module.read(Shard(0, str(tmp_path / "gone.warc.gz"), fmt), "text", Rejects()))


def test_suffixes_pick_the_reader():
    assert detect_format("a/CC-MAIN-1.warc.wat.gz") == "wat"
    assert detect_format("x.wat.gz") == "wat"
    assert detect_format("x.wat") == "wat"
    assert detect_format("x.warc.gz") == "warc"
    assert detect_format("X.WARC") == "warc"


# --- unit edge cases --------------------------------------------------------------------------


def test_resolution_relative_protocol_relative_and_base_href(tmp_path):
    imgs = [
        '<img src="rel/a.png" alt="relative">',
        '<img src="/root.png" alt="root">',
        '<img src="//cdn.example/p.png" alt="protocol">',
        '<img src="http://other.example/x.png" alt="absolute">',
        '<img src="  ../up.png  " alt="dots">',
    ]
    records = [
        response("https://a.example/dir/page.html", page(*imgs)),
        response(
            "https://b.example/d/p", page(*imgs, head='<base href="https://static.example/s/">')
        ),
    ]
    (warc_table, _), (wat_table, _) = both(tmp_path, *records)
    assert warc_table.column("url").to_pylist() == [
        "https://a.example/dir/rel/a.png",
        "https://a.example/root.png",
        "https://cdn.example/p.png",
        "http://other.example/x.png",
        "https://a.example/up.png",
        "https://static.example/s/rel/a.png",
        "https://static.example/root.png",
        "https://cdn.example/p.png",
        "http://other.example/x.png",
        "https://static.example/up.png",
    ]
    assert rows(wat_table) == rows(warc_table)


def test_dolma_bracketed_target_uri(tmp_path):
    (table, _), (wat_table, _) = both(
        tmp_path, response("<https://a.example/p/>", page('<img src="i.png" alt="x">'))
    )
    assert table.column("page_url").to_pylist() == ["https://a.example/p/"]
    assert table.column("url").to_pylist() == ["https://a.example/p/i.png"]
    assert rows(wat_table) == rows(table)


def test_data_javascript_and_missing_src_are_skipped_and_counted(tmp_path):
    imgs = [
        '<img src="data:image/gif;base64,R0lGOD" alt="a">',
        '<img src=" DATA:image/png,xx" alt="b">',
        '<img src="javascript:void(0)" alt="c">',
        '<img src="JavaScript:x()" alt="d">',
        '<img src="java&#9;script:x()" alt="e">',
        '<img alt="f">',
        '<img src="" alt="g">',
        '<img src="http://[::1/x.png" alt="h">',
        '<img src="mailto:x@example.org" alt="i">',
        '<img src="ok.png" alt="kept">',
    ]
    path = tmp_path / "in.warc.gz"
    offsets = write_warc(path, response("http://a.example/", page(*imgs)))
    table, rejects = read(path)
    assert table.column("text").to_pylist() == ["kept"]
    assert rejects.by_reason == {
        "url_data": 2,
        "url_javascript": 3,
        "no_src": 2,
        "url_unparsable": 1,
        "url_scheme": 1,
    }
    assert all(e.startswith(f"{path}:{offsets[0]}: ") for e in rejects.examples)
    assert rejects.seen["images"] == 10


def test_texts_are_normalised_and_deduplicated_per_image(tmp_path):
    imgs = [
        # HTML turns CR LF into LF before parsing, so "\r\n" is left out here: a browser-faithful
        # parser (lexbor) gives one space for it, a WAT from a non-normalising one two.
        '<img src="a.png" alt="  line one\nline two\rend  " title="line one line two end">',
        '<img src="a.png" alt="again" title="again">',  # same image: alt wins over title
        '<img src="./a.png" alt="again">',  # same resolved URL, same text: once
        '<img src="b.png" alt="again" data-image-title="own">',  # another image: kept
        '<img src="c.png" alt="   " title="&#10;">',  # nothing left after normalising
    ]
    (table, _), (wat_table, _) = both(tmp_path, response("http://a.example/", page(*imgs)))
    a, b = "http://a.example/a.png", "http://a.example/b.png"
    columns = (table.column(name).to_pylist() for name in ("url", "text", "source"))
    assert list(zip(*columns, strict=True)) == [
        (a, "line one line two end", "alt"),
        (a, "again", "alt"),
        (b, "again", "alt"),
        (b, "own", "data-image-title"),
    ]
    assert rows(wat_table) == rows(table)


def test_uuid_is_sha224_of_the_resolved_url(tmp_path):
    (table, _), _ = both(
        tmp_path, response("http://a.example/x/", page('<img src="é.png" alt="t">'))
    )
    url = table.column("url")[0].as_py()
    assert url == "http://a.example/x/é.png"
    assert table.column("uuid")[0].as_py() == hashlib.sha224(url.encode()).hexdigest()[:24]
    assert image_uuid(url) == hashlib.sha224(url.encode()).hexdigest()[:24]


def test_other_text_column_name(tmp_path):
    path = tmp_path / "in.warc.gz"
    write_warc(path, response("http://a.example/", page('<img src="a.png" alt="t">')))
    table, _ = read(path, text_column="caption")
    assert table.column("caption").to_pylist() == ["t"]


def test_resolve_reasons():
    assert resolve("http://a.example/", None) == (None, "no_src")
    assert resolve("http://a.example/", " \n") == (None, "no_src")
    assert resolve("not a url", "x.png") == (None, "url_unparsable")
    assert resolve("http://a.example/", "http://[::1/x") == (None, "url_unparsable")
    assert resolve("http://a.example/", "http:///x") == ("http://a.example/x", "")  # as urljoin
    assert resolve("http://a.example/", "ftp://h/x.png") == (None, "url_scheme")
    assert resolve("http://a.example/d/", "x.png") == ("http://a.example/d/x.png", "")


URL_PARTS = st.sampled_from(
    ["http://", "https://", "//", "/", "", "a", "B", "é", ".", "..", "/", "?", "#", ";", "[",
     "]", ":", "@", "%20", " ", "\t", "\n", "=", "&", "x.png", "///", "HTTP:", "data:"]
)  # fmt: skip
BASES = st.sampled_from(
    ["http://a.example/d/p.html", "https://a.example/", "https://u@h.example:8/x/y?q#f",
     "http://[::1]/z", "http://a.example", "ftp://f.example/", "https://a.example/d/;p?q"]
)  # fmt: skip


TRICKY = ["http://a/b?", "http://a/b#", "http://a/b;p", "http://a/b?#f", "http://", "//", "/",
          "//a/b", "/a/./b", "/a/../b", "http:////b", "https://h", "//h?x", "/p?q#f", "HTTP://h/x",
          "http://h/\tx", "http://[::1]/x", "http://[x", "http://é.example/", "?q", "#f", ""]  # fmt: skip


@pytest.mark.parametrize("src", TRICKY)
@pytest.mark.parametrize("base", ["http://a.example/d/p.html", "https://u@h.example:8/x/y?q#f"])
def test_resolver_shortcuts_equal_urljoin_on_tricky_urls(base, src):
    test_resolver_shortcuts_equal_urljoin.hypothesis.inner_test(base, src)


def test_normalise_text_turns_each_newline_and_cr_into_a_space():
    assert webpage.normalise_text(" a\r\nb\nc\rd \t") == "a  b c d"


@settings(max_examples=3000, deadline=None)
@given(BASES, st.lists(URL_PARTS, min_size=1, max_size=8).map("".join))
def test_resolver_shortcuts_equal_urljoin(base, src):
    try:
        expected = urljoin(base, src)
    except ValueError:
        expected = ValueError
    try:
        got = Resolver(base).join(src)
    except ValueError:
        got = ValueError
    assert got == expected
