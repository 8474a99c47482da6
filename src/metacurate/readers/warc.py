"""WARC input (.warc, .warc.gz): one row per (image, text) of every HTML response (SPEC 4).

Records stream one by one through FastWARC (one gzip member at a time); only ``response``
records with a 2xx HTML payload are parsed, with selectolax's lexbor HTML5 parser, so ``<img>``
tags are found the way a browser finds them. Damage never raises: a corrupt or truncated gzip
member, or a record FastWARC cannot parse, ends the file with a counted reject naming the file
and byte offset, and every row read before it is kept.

``archive_records`` is shared with the WAT reader (WAT files are WARC files).
"""

import codecs
import zlib
from collections.abc import Iterator
from typing import BinaryIO

import pyarrow as pa
from fastwarc.warc import ArchiveIterator, WarcRecord, WarcRecordType
from selectolax.lexbor import LexborHTMLParser

from metacurate.errors import InputError, RemoteReadError
from metacurate.readers.base import Rejects, Shard, read_failed
from metacurate.readers.sources import file_name, open_input
from metacurate.readers.webpage import Image, PageRows, page_url_of

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
GZIP_MAGIC = b"\x1f\x8b"
READ_CHUNK = 1 << 20
INFLATE_CHUNK = 1 << 16
# HTML's prescan reads <meta charset> in the first 1024 bytes, and a parser that meets one later
# in <head> re-decodes the page ("change the encoding"); we read the whole <head>, if it ends
# within the first 64 KiB.
PRESCAN_BYTES = 1024
HEAD_BYTES = 64 << 10
BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# Browsers (WHATWG Encoding) decode these labels with a superset codec; so do we, or the extra
# characters real pages use would all become U+FFFD.
SUPERSETS = {
    "ascii": "cp1252",
    "latin_1": "cp1252",
    "iso8859-1": "cp1252",
    "iso8859-9": "cp1254",
    "tis-620": "cp874",
    "iso8859-11": "cp874",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "euc_kr": "cp949",
    "shift_jis": "cp932",
    "big5": "big5hkscs",
}


def read(shard: Shard, text_column: str, rejects: Rejects) -> Iterator[pa.Table]:
    rows = PageRows(text_column, file_name(shard.path))
    try:
        for record in archive_records(shard.path, rejects, parse_http=True):
            if record.record_type != WarcRecordType.response:
                continue
            where = f"{shard.path}:{record.stream_pos}"
            page = html_page(record, where, rejects)
            if page is None:
                continue
            rejects.count("html_pages")
            page_url, html = page
            base_href, images = page_images(html)
            if images:
                rejects.count("pages_with_images")
            rejects.count("images", rows.add_page(page_url, base_href, images, rejects, where))
            yield from rows.full_batches()
    except RemoteReadError as err:  # a remote file that stopped answering: keep the pages read
        read_failed(rejects, err)
    yield from rows.rest()


# --- records -------------------------------------------------------------------------------


def archive_records(path: str, rejects: Rejects, parse_http: bool) -> Iterator[WarcRecord]:
    """Every record of a WARC/WAT file (counted as "records"), then a check for damage.

    FastWARC stops silently at a truncated gzip member, so after the last record the members
    from its offset to the end of the file are inflated once more (normally just the last
    member) to tell a complete file from a cut one.
    """
    stream = _open(path)
    with stream:
        gzipped = stream.read(2) == GZIP_MAGIC
        stream.seek(0)
        last = 0
        failure: OSError | None = None
        # auto_decode undoes chunked transfer and gzip/brotli content encodings: a chunk-size
        # line in the middle of an <img> tag would otherwise hide it.
        records = ArchiveIterator(
            stream, parse_http=parse_http, auto_decode="all" if parse_http else "none"
        )
        try:
            for record in records:
                last = record.stream_pos
                rejects.count("records")
                yield record
        except OSError as err:  # FastWARC raises OSError for both bad gzip and bad headers
            failure = err
    _report_damage(path, gzipped, last, failure, rejects)


def _open(path: str) -> BinaryIO:
    try:
        return open_input(path)
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except OSError as err:
        raise InputError(f"{path}: cannot read ({err.strerror})") from None


def _report_damage(
    path: str, gzipped: bool, last: int, failure: OSError | None, rejects: Rejects
) -> None:
    bad = first_bad_member(path, last) if gzipped else None
    if bad is not None:
        offset, detail = bad
        rejects.add("corrupt_gzip", f"{path}:{offset}", detail)
    elif failure is not None:
        reason = "corrupt_gzip" if "zip" in str(failure) else "malformed_record"
        rejects.add(reason, f"{path}:{last}", f"after the record at this offset: {failure}")


def first_bad_member(path: str, start: int) -> tuple[int, str] | None:
    """(offset, what is wrong) of the first truncated or corrupt gzip member from ``start``
    (a member start) to the end of the file, or None when they all inflate completely."""
    with open_input(path) as f:
        f.seek(start)
        if f.read(2) != GZIP_MAGIC:
            return None  # not a member start (several records in one member): nothing to check
        f.seek(start)
        member = start  # offset of the member being inflated
        inflater = zlib.decompressobj(zlib.MAX_WBITS | 16)
        fed = False  # whether the current member got any bytes yet
        pos = start  # file offset of the next chunk
        while chunk := f.read(READ_CHUNK):
            data, data_pos = chunk, pos
            pos += len(chunk)
            while data:
                if not fed and not data.strip(b"\0"):
                    return None  # zero padding after the last member, as gzip(1) allows
                fed = True
                try:
                    inflater.decompress(data, INFLATE_CHUNK)  # output is dropped: only checking
                    while inflater.unconsumed_tail:
                        inflater.decompress(inflater.unconsumed_tail, INFLATE_CHUNK)
                except zlib.error as err:
                    return member, f"corrupt gzip member: {err}"
                if not inflater.eof:
                    break  # the member goes on in the next chunk
                rest = inflater.unused_data
                data_pos += len(data) - len(rest)
                member, data = data_pos, rest
                inflater = zlib.decompressobj(zlib.MAX_WBITS | 16)
                fed = False
    if fed:
        return member, "truncated gzip member (the file ends inside it)"
    return None


# --- one HTML page --------------------------------------------------------------------------


def html_page(record: WarcRecord, where: str, rejects: Rejects) -> tuple[str, str] | None:
    """(page URL, decoded HTML) of a 2xx HTML response record, else None (counted)."""
    content_type = (record.http_content_type or "").lower() if record.is_http else ""
    if content_type not in HTML_TYPES:
        rejects.add("not_html", where, content_type or "no HTTP content type")
        return None
    status = record.http_headers.status_code
    if not 200 <= status < 300:
        rejects.add("http_not_ok", where, f"status {status}")
        return None
    page_url = page_url_of(record.headers.get("WARC-Target-URI"))
    if page_url is None:
        rejects.add("no_page_url", where)
        return None
    try:
        body = record.reader.read()
    except OSError as err:  # a content encoding that does not decode
        rejects.add("malformed_record", where, str(err))
        return None
    return page_url, decode_html(body, record.http_charset, where, rejects)


def decode_html(body: bytes, http_charset: str | None, where: str, rejects: Rejects) -> str:
    """Text of an HTML body in its declared charset (HTML's order: byte-order mark, HTTP
    header, <meta> in the first 1024 bytes, else UTF-8); undecodable bytes become U+FFFD."""
    charset = _bom_charset(body) or http_charset or _meta_charset(_head(body)) or "utf-8"
    try:
        codec = codecs.lookup(charset).name
    except LookupError:
        rejects.add("unknown_charset", where, charset[:40])
        codec = "utf-8"
    codec = SUPERSETS.get(codec, codec)
    try:
        return body.decode(codec)
    except UnicodeDecodeError as err:
        reason = "invalid_utf8" if codec.startswith("utf-8") else "invalid_charset_bytes"
        rejects.add(reason, where, f"{codec} byte {err.start}")
        return body.decode(codec, errors="replace")


def _bom_charset(body: bytes) -> str | None:
    for bom, charset in BOMS:
        if body.startswith(bom):
            return charset + "-sig" if charset == "utf-8" else charset
    return None


def _head(body: bytes) -> bytes:
    """The bytes up to ``</head>`` (or the first 1024 when it is not in the first 64 KiB)."""
    end = body[:HEAD_BYTES].lower().find(b"</head")
    return body[: end if end >= 0 else PRESCAN_BYTES]


def _meta_charset(head: bytes) -> str | None:
    """The charset a ``<meta charset>`` or ``<meta http-equiv=content-type>`` declares."""
    if b"charset" not in head.lower():
        return None
    for meta in LexborHTMLParser(head).css("meta"):
        attrs = meta.attributes
        if attrs.get("charset"):
            return attrs["charset"].strip()
        if (attrs.get("http-equiv") or "").lower() == "content-type":
            content = (attrs.get("content") or "").lower()
            _, found, value = content.partition("charset=")
            if found:
                return value.split(";")[0].strip(" \"'") or None
    return None


def page_images(html: str) -> tuple[str | None, list[Image]]:
    """(first <base href>, every <img>'s (src, alt, title, data-image-title) in document
    order) of an HTML page."""
    tree = LexborHTMLParser(html)
    base = tree.css_first("base[href]")
    images = []
    for node in tree.css("img"):
        attrs = node.attributes
        images.append(
            (attrs.get("src"), attrs.get("alt"), attrs.get("title"), attrs.get("data-image-title"))
        )
    return (base.attributes.get("href") if base is not None else None), images
