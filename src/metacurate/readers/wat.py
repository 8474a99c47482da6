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
parser: a payload without the bytes ``IMG@`` has no image link. orjson parses the rest.
"""

import json
from collections.abc import Iterator
from typing import Any

import orjson
import pyarrow as pa
from fastwarc.warc import WarcRecordType

from metacurate.errors import RemoteReadError
from metacurate.readers.base import Rejects, Shard, arrow_safe_text, read_failed
from metacurate.readers.sources import file_name
from metacurate.readers.warc import archive_records
from metacurate.readers.webpage import Image, PageRows, page_url_of

IMAGE_PATH = "IMG@/src"
IMAGE_MARK = b"IMG@"  # JSON may escape "/" as "\/", never these four bytes


def read(shard: Shard, text_column: str, rejects: Rejects) -> Iterator[pa.Table]:
    rows = PageRows(text_column, file_name(shard.path))
    try:
        for record in archive_records(shard.path, rejects, parse_http=False):
            if record.record_type != WarcRecordType.metadata:
                continue
            payload = record.reader.read()
            if IMAGE_MARK not in payload:
                continue
            where = f"{shard.path}:{record.stream_pos}"
            page = image_links(payload, where, rejects)
            if page is None:
                continue
            base_href, images, envelope_uri = page
            page_url = page_url_of(record.headers.get("WARC-Target-URI") or envelope_uri)
            if page_url is None:
                rejects.add("no_page_url", where)
                continue
            rejects.count("pages_with_images")
            rejects.count("images", rows.add_page(page_url, base_href, images, rejects, where))
            yield from rows.full_batches()
    except RemoteReadError as err:  # a remote file that stopped answering: keep the pages read
        read_failed(rejects, err)
    yield from rows.rest()


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
