"""CommonCrawl WAT input (.warc.wat.gz, .wat.gz, .wat): one row per (image, text) (SPEC 4).

A WAT file is a WARC file of ``metadata`` records whose payload is one JSON document per
crawled record, written by ia-web-commons. For an HTML response it holds::

    {"Container": {...}, "Envelope": {
        "WARC-Header-Metadata": {"WARC-Target-URI": ...},
        "Payload-Metadata": {"HTTP-Response-Metadata": {
            "Response-Message": {"Status": "200", ...},
            "HTML-Metadata": {
                "Head": {"Title": ..., "Base": <base href>, "Metas": [...], ...},
                "Links": [{"path": "IMG@/src", "url": <raw src>, "alt": ..., "title": ...},
                          {"path": "A@/href", "url": ..., "text": ...}, ...]}}}}}

Link URLs are the raw attribute values (entity-decoded, not resolved), so images resolve
against ``Head.Base`` or the page URL exactly as in the WARC reader.

Speed: most records (requests, fetch metadata, pages without images) never reach the JSON
parser: a payload without the bytes ``IMG@`` has no image link. The rest are scanned in batches
by compiled code (readers/watscan.py) that validates each payload as orjson would and returns
byte spans of the image links only; Python decodes just the texts and srcs that can make a row
or a reject. Payloads the scan does not fully vouch for are parsed whole by orjson (or json),
as before.
"""

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
from fastwarc.warc import WarcRecordType

from metacurate.readers import watscan
from metacurate.readers.base import Rejects, Shard, arrow_safe_text
from metacurate.readers.warc import archive_records
from metacurate.readers.webpage import Image, PageRows, Resolver, page_url_of

IMAGE_PATH = "IMG@/src"
IMAGE_MARK = b"IMG@"  # JSON may escape "/" as "\/", never these four bytes
# Payloads scanned per compiled call: enough to make the call's cost vanish, small enough to
# keep a batch's buffers to a few MB.
BATCH_BYTES = 8 << 20


def read(shard: Shard, text_column: str, rejects: Rejects) -> Iterator[pa.Table]:
    rows = PageRows(text_column, Path(shard.path).name)
    pages = _Pages(shard.path, rows, rejects)
    for record in archive_records(shard.path, rejects, False, before_check=pages.flush):
        if record.record_type != WarcRecordType.metadata:
            continue
        payload = record.reader.read()
        if IMAGE_MARK not in payload:
            continue
        pages.add(payload, record.stream_pos, record.headers.get("WARC-Target-URI"))
        if pages.size >= BATCH_BYTES:
            pages.flush()
            yield from rows.full_batches()
    pages.flush()
    yield from rows.rest()


class _Pages:
    """Payloads with image links, held back to be scanned by one compiled call per batch."""

    def __init__(self, path: str, rows: PageRows, rejects: Rejects) -> None:
        self.path = path
        self.rows = rows
        self.rejects = rejects
        self.payloads: list[bytes] = []
        self.positions: list[int] = []
        self.header_uris: list[str | None] = []
        self.size = 0

    def add(self, payload: bytes, position: int, header_uri: str | None) -> None:
        self.payloads.append(payload)
        self.positions.append(position)
        self.header_uris.append(header_uri)
        self.size += len(payload)

    def flush(self) -> None:
        if self.payloads:
            _add_pages(
                self.payloads, self.positions, self.header_uris, self.path, self.rows, self.rejects
            )
        self.payloads, self.positions, self.header_uris = [], [], []
        self.size = 0


def _add_pages(
    payloads: list[bytes],
    positions: list[int],
    header_uris: list[str | None],
    path: str,
    rows: PageRows,
    rejects: Rejects,
) -> None:
    """The rows of these pages, in order, exactly as ``image_links`` + ``PageRows.add_page``
    give them page by page; watscan says which images need any Python."""
    buf = b"".join(payloads)
    starts = np.zeros(len(payloads) + 1, np.int64)
    np.cumsum([len(p) for p in payloads], out=starts[1:])
    code, page_s, page_e, page_k, first, img_s, img_e, img_k, cls, keep = watscan.scan(
        np.frombuffer(buf, np.uint8), starts
    )
    # Images that need Python when the page's resolver takes the shortcuts for these classes:
    # kept texts, and srcs the shortcuts do not cover.
    maybe = (keep != 0) | (cls == watscan.OTHER)
    need_all_but_origin = np.flatnonzero(maybe)
    need_origin = np.flatnonzero(maybe | (cls == watscan.ORIGIN))
    lo1 = np.searchsorted(need_all_but_origin, first).tolist()
    lo2 = np.searchsorted(need_origin, first).tolist()
    need_all_but_origin, need_origin = need_all_but_origin.tolist(), need_origin.tolist()
    codes, first = code.tolist(), first.tolist()
    page_s, page_e, page_k = page_s.tolist(), page_e.tolist(), page_k.tolist()
    # Flat lists (index 4 * image + field): tolist of an (m, 4) array builds m small lists.
    img_s, img_e, img_k = img_s.ravel().tolist(), img_e.ravel().tolist(), img_k.ravel().tolist()
    keep = keep.tolist()
    STR, ESC = watscan.STR, watscan.ESC

    def text(s: int, e: int, k: int) -> str | None:
        if k == STR:
            return buf[s:e].decode("utf-8")
        if k == ESC:
            return orjson.loads(buf[s - 1 : e + 1])
        return None

    for p, payload in enumerate(payloads):
        where = f"{path}:{positions[p]}"
        c = codes[p]
        if c == watscan.SLOW:
            _add_page(payload, where, header_uris[p], rows, rejects)
            continue
        if c == watscan.NO_LINKS:
            continue  # "IMG@" was in some text, not in a link
        ps, pe, pk = page_s[p], page_e[p], page_k[p]
        k = pk[watscan.STATUS]
        if k in (STR, ESC, watscan.INT, watscan.BOOL):
            s, e = ps[watscan.STATUS], pe[watscan.STATUS]
            status = orjson.loads(buf[s - 1 : e + 1] if k in (STR, ESC) else buf[s:e])
            if not str(status).startswith("2"):
                rejects.add("http_not_ok", where, f"status {status}")
                continue
        a, b = first[p], first[p + 1]
        if a == b:
            continue
        header_uri = header_uris[p]
        page_url = page_url_of(
            header_uri or text(ps[watscan.URI], pe[watscan.URI], pk[watscan.URI])
        )
        if page_url is None:
            rejects.add("no_page_url", where)
            continue
        base = text(ps[watscan.BASE], pe[watscan.BASE], pk[watscan.BASE])
        resolver = Resolver(page_url, base)
        if not resolver.shortcut:
            needed = range(a, b)
        elif resolver.origin.partition("://")[2]:
            needed = need_all_but_origin[lo1[p] : lo1[p + 1]]
        else:
            needed = need_origin[lo2[p] : lo2[p + 1]]
        images = []
        for j in needed:
            bits, f = keep[j], 4 * j
            images.append(
                (
                    text(img_s[f], img_e[f], img_k[f]),
                    text(img_s[f + 1], img_e[f + 1], img_k[f + 1]) if bits & 1 else None,
                    text(img_s[f + 2], img_e[f + 2], img_k[f + 2]) if bits & 2 else None,
                    text(img_s[f + 3], img_e[f + 3], img_k[f + 3]) if bits & 4 else None,
                )
            )
        rejects.count("pages_with_images")
        rows.add_page(page_url, base, images, rejects, where, resolver)
        rejects.count("images", b - a)


def _add_page(
    payload: bytes, where: str, header_uri: str | None, rows: PageRows, rejects: Rejects
) -> None:
    """One page parsed by orjson (or json) as a whole: what the scan leaves to us."""
    page = image_links(payload, where, rejects)
    if page is None:
        return
    base_href, images, envelope_uri = page
    page_url = page_url_of(header_uri or envelope_uri)
    if page_url is None:
        rejects.add("no_page_url", where)
        return
    rejects.count("pages_with_images")
    rejects.count("images", rows.add_page(page_url, base_href, images, rejects, where))


def image_links(
    payload: bytes, where: str, rejects: Rejects
) -> tuple[str | None, list[Image], str | None] | None:
    """(Head.Base, image links, Envelope's WARC-Target-URI) of a WAT JSON payload; None when
    it has no image link or is not usable (counted)."""
    parsed = _parse(payload, where, rejects)
    if parsed is None:
        return None
    doc, strict = parsed
    envelope = _get(doc, "Envelope")
    response = _get(_get(envelope, "Payload-Metadata"), "HTTP-Response-Metadata")
    html = _get(response, "HTML-Metadata")
    links = _get(html, "Links")
    if not isinstance(links, list):
        return None  # "IMG@" was in some text, not in a link
    status = _get(_get(response, "Response-Message"), "Status")
    if isinstance(status, str | int) and not str(status).startswith("2"):
        rejects.add("http_not_ok", where, f"status {status}")
        return None
    images = _images(links, strict)
    if not images:
        return None
    base = _string(_get(_get(html, "Head"), "Base"), strict)
    uri = _string(_get(_get(envelope, "WARC-Header-Metadata"), "WARC-Target-URI"), strict)
    return base, images, uri


def _parse(payload: bytes, where: str, rejects: Rejects) -> tuple[Any, bool] | None:
    """(JSON document, whether its strings are known valid UTF-8), or None (counted).

    orjson takes well-formed UTF-8 only; the rare payload it refuses is retried with bad bytes
    replaced (counted as invalid_utf8) and with the standard parser, which accepts the lone
    surrogate escapes some pages' texts carry.
    """
    try:
        return orjson.loads(payload), True
    except orjson.JSONDecodeError:
        pass
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as err:
        rejects.add("invalid_utf8", where, f"byte {err.start}")
        text = payload.decode("utf-8", errors="replace")
    try:
        return json.loads(text), False
    except json.JSONDecodeError as err:
        rejects.add("malformed_json", where, err.msg)
        return None
    except RecursionError:
        rejects.add("malformed_json", where, "nested too deeply")
        return None


def _get(value: Any, key: str) -> Any:
    return value.get(key) if isinstance(value, dict) else None


def _string(value: Any, strict: bool) -> str | None:
    """A JSON string fit for Arrow: lone surrogates (only possible when not strict) -> U+FFFD."""
    if not isinstance(value, str):
        return None
    return value if strict else arrow_safe_text(value)


def _images(links: list, strict: bool) -> list[Image]:
    try:
        # The common case, at C speed: every link an object with a string path (ia-web-commons
        # always writes "path" first). Anything else takes the checked loop below.
        found = [link for link in links if link["path"].startswith(IMAGE_PATH)]
    except (TypeError, KeyError, AttributeError):
        found = [
            link
            for link in links
            if isinstance(link, dict)
            and isinstance(link.get("path"), str)
            and link["path"].startswith(IMAGE_PATH)
        ]
    if strict:  # orjson strings are valid UTF-8: only the type needs checking
        return [
            (
                url if type(url := link.get("url")) is str else None,
                alt if type(alt := link.get("alt")) is str else None,
                title if type(title := link.get("title")) is str else None,
                dit if type(dit := link.get("data-image-title")) is str else None,
            )
            for link in found
        ]
    return [
        (
            _string(link.get("url"), strict),
            _string(link.get("alt"), strict),
            _string(link.get("title"), strict),
            _string(link.get("data-image-title"), strict),
        )
        for link in found
    ]
