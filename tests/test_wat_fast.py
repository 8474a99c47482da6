"""The WAT reader's compiled scan (readers/watscan.py) against parsing each page with orjson.

Every payload goes through both paths: ``wat._add_pages`` (scan, then Python for what the scan
leaves) and ``wat._add_page`` (orjson or json on the whole payload, the reader's behaviour
before the scan); the rows, reject counts, examples and counters must be identical."""

import json

import numpy as np
import orjson
import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from metacurate.readers import wat, watscan
from metacurate.readers.base import Rejects
from metacurate.readers.webpage import PageRows

PATH = "x.warc.wat.gz"


def both(payloads: list[bytes], header_uris: list[str | None] | None = None):
    header_uris = header_uris or [None] * len(payloads)
    results = []
    for fast in (True, False):
        rows, rejects = PageRows("text", PATH), Rejects()
        if fast:
            positions = list(range(len(payloads)))
            wat._add_pages(payloads, positions, header_uris, PATH, rows, rejects)
        else:
            for i, (payload, uri) in enumerate(zip(payloads, header_uris, strict=True)):
                wat._add_page(payload, f"{PATH}:{i}", uri, rows, rejects)
        table = pa.concat_tables(rows.rest()) if len(rows) else None
        results.append(
            (
                table.to_pydict() if table is not None else None,
                dict(rejects.by_reason),
                rejects.examples,
                dict(rejects.seen),
            )
        )
    assert results[0] == results[1]
    return results[0]


def envelope(links, status="200", base=None, uri="http://example.com/a/b.html", head=True):
    html = {"Links": links}
    if head:
        html = {"Head": {"Title": "t", **({"Base": base} if base is not None else {})}, **html}
    return {
        "Container": {"Filename": "x"},
        "Envelope": {
            "Format": "WARC",
            "WARC-Header-Metadata": {"WARC-Type": "response", "WARC-Target-URI": uri},
            "Payload-Metadata": {
                "HTTP-Response-Metadata": {
                    "Response-Message": {"Status": status},
                    "HTML-Metadata": html,
                }
            },
        },
    }


def test_common_page_takes_the_fast_path_with_the_same_rows():
    links = [
        {"path": "A@/href", "url": "/x", "text": "a link"},
        {"path": "IMG@/src", "url": "http://cdn.example.com/i.png", "alt": " a cat "},
        {"path": "IMG@/src", "url": "http://cdn.example.com/i.png", "alt": "a cat"},
        {"path": "IMG@/src", "url": "/i.png", "alt": "a cat", "title": "a dog"},
        {"path": "IMG@/src", "url": "i.png", "alt": "", "title": "  "},
        {"path": "IMG@/src", "url": "//cdn.example.com/j.png"},
        {"path": "IMG@/src", "url": "data:image/png;base64,AAAA", "alt": "inline"},
        {"path": "IMG@/src", "alt": "no src"},
        {"path": "IMG@/src", "url": "http://cdn.example.com/k.png", "alt": "x" * 5000},
        {"path": "IMG@/src", "url": "http://cdn.example.com/k.png", "alt": "x" * 5000},
    ]
    payload = orjson.dumps(envelope(links))
    code = watscan.scan(np.frombuffer(payload, np.uint8), np.array([0, len(payload)]))[0]
    assert code.tolist() == [watscan.LINKS]
    table, reasons, _, seen = both([payload])
    assert table["text"] == ["a cat", "a cat", "a dog"]
    assert reasons == {"url_data": 1, "no_src": 1, "text_too_long": 2}
    assert seen == {"pages_with_images": 1, "images": 9}


def test_pages_the_scan_leaves_to_orjson_or_json():
    good = envelope([{"path": "IMG@/src", "url": "/a.png", "alt": "ok"}])
    text = json.dumps(good)
    payloads = [
        text.replace('"ok"', '"\\ud800 lone"').encode(),  # json's fallback, U+FFFD stored
        text.replace('"ok"', '"bad \xff"').encode("latin-1"),  # invalid UTF-8
        text[:-3].encode(),  # truncated
        text.replace('"alt": "ok"', '"alt": "ok", "alt": "second"').encode(),  # last key wins
        text.replace('"path": "IMG@/src"', '"path": "IMG@\\/src"').encode(),
        text.replace('"Status": "200"', '"Status": 404').encode(),
        text.replace('"Status": "200"', '"Status": true').encode(),
        text.replace('"Status": "200"', '"Status": 2.5').encode(),
        text.replace('"Links": [', '"Links": {"a": [').replace("]", "]}").encode(),
        b"[]",
        b"",
        text.replace('"ok"', '"\\u00e9t\\u00e9 \\ud83d\\ude00 \\n x"').encode(),
        text.replace('"ok"', '"tab\tinside"').encode(),
        text.replace('"Status": "200"', '"Status": 123456789012345678901234567890').encode(),
        text.encode() + b" x",
    ]
    both(payloads, [None, "http://h.example/", None, None, None] + [None] * 10)


KEYS = ["path", "url", "alt", "title", "data-image-title", "text", "rel"]
COMMON = st.sampled_from(list("ab /.?#;:[]\n\r\t\\\"'é€😀\u00a0\u3000\x00\x1f") + ["IMG@"])
# Lone surrogates (and pairs of them, which JSON readers join into one character).
RARE = st.sampled_from(["\ud800", "\udc00", "\ud83d\ude00", "\U0001f600"])
TEXT = st.lists(st.integers(0, 19).flatmap(lambda i: COMMON if i else RARE), max_size=12).map(
    "".join
)
SRC = st.one_of(
    TEXT,
    st.sampled_from(
        [
            "http://h.example/i.png",
            "https://h.example/a/../i.png",
            "//cdn.example/x.gif",
            "///x",
            "/i.png",
            "/./i.png",
            " /i.png ",
            "i.png",
            "../i.png",
            "HTTP://H.example/i.png",
            "http://",
            "http:///x",
            "javascript:void(0)",
            "data:x",
            "http://h.example/i.png?",
            "http://[::1",
            "/a;b.png",
        ]
    ),
)
VALUE = st.one_of(TEXT, SRC, st.none(), st.integers(-3, 300), st.booleans(), st.just([1, {"a": 2}]))
CAPTIONS = st.sampled_from(["a cat", " a cat", "a dog ", ...])
PATHS = [st.just("IMG@/src")] * 6 + [st.sampled_from(["IMG@/srcset", "A@/href"]), VALUE]
IMAGE = st.builds(
    lambda path, url, alt, title, dit, order: {
        k: v
        for k, v in sorted(
            {"path": path, "url": url, "alt": alt, "title": title, "data-image-title": dit}.items(),
            key=lambda kv: order.index(kv[0]),
        )
        if v is not ...
    },
    st.integers(0, 7).flatmap(lambda i: PATHS[i]),
    st.integers(0, 5).flatmap(lambda i: SRC if i < 4 else VALUE if i == 4 else st.just(...)),
    st.integers(0, 5).flatmap(lambda i: TEXT if i < 2 else CAPTIONS if i < 4 else VALUE),
    TEXT | st.just(...),
    TEXT | st.just(...),
    st.permutations(KEYS[:5]),
)
# Mostly image links, from few srcs and texts so that pages repeat them.
OTHER_LINK = st.one_of(VALUE, st.dictionaries(st.sampled_from(KEYS), VALUE, max_size=3))
LINK = st.integers(0, 3).flatmap(lambda i: IMAGE if i else OTHER_LINK)
PAGE = st.builds(
    envelope,
    st.lists(LINK, max_size=12),
    st.sampled_from(["200", "404", 200, 301, "2xx", "", None, True]),
    st.one_of(st.none(), SRC),
    st.sampled_from(
        [
            "http://example.com/a/b.html",
            "<http://example.com/>",
            "https://example.com",
            "ftp://example.com/x",
            "relative/page",
            "",
            "http://[::1/x",
        ]
    ),
    st.booleans(),
)


def dumps(doc, style: int) -> bytes:
    """The same document written as orjson, as json with \\u escapes, or with escaped slashes."""
    if style == 0:
        try:
            return orjson.dumps(doc)
        except TypeError:  # lone surrogates: only json writes them
            return json.dumps(doc).encode()
    if style == 1:
        return json.dumps(doc).encode()
    text = json.dumps(doc, ensure_ascii=False, indent=1)
    if style == 3:
        text = text.replace("/", "\\/")
    return text.encode("utf-8", "surrogatepass")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(PAGE, st.integers(0, 3)), min_size=1, max_size=4), st.data())
def test_scan_equals_parsing_each_page(pages, data):
    payloads = [dumps(doc, style) for doc, style in pages]
    repeated = payloads + payloads[:1]  # pages repeat images: the per-page de-dup must reset
    both(repeated)
    # One byte changed: the scan must refuse whatever orjson refuses.
    payload = payloads[0]
    where = data.draw(st.integers(0, len(payload) - 1))
    byte = data.draw(st.sampled_from(b'{}[]",:\\ 0a\x00\x80\xc3\xff'))
    both([payload[:where] + bytes([byte]) + payload[where + 1 :]])
