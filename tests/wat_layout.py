"""Standard-library-only WARC reading and CommonCrawl WAT writing, for the web-archive tests.

Nothing here uses metacurate, FastWARC or selectolax: the tests compare the readers against
this independent implementation.

- ``warc_records`` splits a (possibly gzip, possibly truncated) WARC file into records;
- ``html_pages`` gives every HTML response with its <img>, <base>, <a>, <meta> tags, parsed
  with ``html.parser.HTMLParser``;
- ``wat_members`` + ``write_members`` write a WAT file the way CommonCrawl does
  (ia-web-commons): a warcinfo record, then one ``metadata`` record per WARC record, each in its own gzip member, whose JSON payload
  is ``{"Container": ..., "Envelope": ...}``. For an HTML response the envelope carries
  ``Payload-Metadata > HTTP-Response-Metadata > HTML-Metadata`` with ``Head`` (``Title``,
  ``Base``, ``Metas``) and ``Links``: ``{"path": "IMG@/src", "url": <raw src>, "alt": ...,
  "title": ...}`` per <img> with a src (attributes present only when the tag has them), and
  ``{"path": "A@/href", "url": ..., "text": ...}`` per link. The layout follows the real
  ``ccwhirlwind__whirlwind.warc.wat.gz`` header/envelope and ia-web-commons'
  ExtractingParseObserver (ImgTagExtractor: src with alt and title). ia-web-commons does not
  copy ``data-image-title``; we do, so WARC and WAT inputs carry the same texts (SPEC 4 lists
  it as a WAT key).
"""

import base64
import codecs
import gzip
import hashlib
import json
import re
import uuid
import zlib
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

CRLF = b"\r\n"
# WHATWG Encoding: browsers decode these labels with a superset; so must an independent count,
# or its texts differ from any browser-faithful reader on real Chinese and Latin-1 pages.
SUPERSET = {"gb2312": "gb18030", "gbk": "gb18030", "iso8859-1": "cp1252", "ascii": "cp1252"}
ANCHOR_TEXT = 128  # ia-web-commons clips anchor texts to 128 characters
META_CHARSET = re.compile(rb"""<meta[^>]*?charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)


# --- reading WARC with the standard library --------------------------------------------------


@dataclass
class Record:
    offset: int  # in the uncompressed stream
    headers: dict[str, str]  # lower-case names
    block: bytes
    complete: bool


def inflate(raw: bytes) -> bytes:
    """Every gzip member, keeping what a truncated last member gave (gzip.open would raise)."""
    if not raw.startswith(b"\x1f\x8b"):
        return raw
    out = []
    while raw.strip(b"\0"):
        inflater = zlib.decompressobj(zlib.MAX_WBITS | 16)
        try:
            out.append(inflater.decompress(raw))
        except zlib.error:
            break
        if not inflater.eof:
            break
        raw = inflater.unused_data
    return b"".join(out)


def warc_records(path: Path) -> list[Record]:
    data = inflate(Path(path).read_bytes())
    records, pos = [], 0
    while True:
        start = data.find(b"WARC/", pos)
        if start < 0:
            return records
        end = data.find(CRLF + CRLF, start)
        if end < 0:
            return records
        lines = data[start:end].decode("utf-8", "replace").split("\r\n")[1:]
        headers = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        block = data[end + 4 : end + 4 + length]
        records.append(Record(start, headers, block, len(block) == length))
        pos = end + 4 + length


def dechunk(body: bytes) -> bytes:
    out, pos = [], 0
    while True:
        eol = body.find(CRLF, pos)
        if eol < 0:
            return b"".join(out)
        size = int(body[pos:eol].split(b";")[0].strip() or b"0", 16)
        if size == 0:
            return b"".join(out)
        out.append(body[eol + 2 : eol + 2 + size])
        pos = eol + 2 + size + 2


@dataclass
class Response:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes
    header_bytes: bytes


def http_response(block: bytes) -> Response | None:
    head, sep, body = block.partition(CRLF + CRLF)
    if not sep or not head.startswith(b"HTTP/"):
        return None
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = dechunk(body)
    if headers.get("content-encoding", "").lower() in ("gzip", "x-gzip"):
        body = inflate(body)
    return Response(int(lines[0].split()[1]), headers, body, head + CRLF + CRLF)


def charset_of(response: Response) -> str:
    """HTTP charset, else a <meta> charset before </head>, else UTF-8 (superset applied)."""
    content_type = response.headers.get("content-type", "")
    found = re.search(r"charset\s*=\s*[\"']?([\w.:-]+)", content_type, re.I)
    if not found:
        head = response.body[:65536]
        end = head.lower().find(b"</head")
        found = META_CHARSET.search(head[: end if end >= 0 else 1024])
    label = found.group(1) if found else "utf-8"
    label = label.decode() if isinstance(label, bytes) else label
    try:
        name = codecs.lookup(label).name
    except LookupError:
        name = "utf-8"
    return SUPERSET.get(name, name)


class PageParser(HTMLParser):
    """The tags a WAT keeps, in document order; attribute values entity-decoded."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.images: list[dict[str, str | None]] = []
        self.links: list[dict[str, str]] = []  # WAT "Links" entries, images included
        self.base: str | None = None
        self.metas: list[dict[str, str]] = []
        self.title: str | None = None
        self._in_title = False
        self._anchor: dict[str, str] | None = None  # the open <a>, collecting its text

    def handle_starttag(self, tag, attrs):
        first: dict[str, str | None] = {}
        for name, value in attrs:
            first.setdefault(name, value)  # HTML keeps the first of a repeated attribute
        if tag == "img":
            self.images.append(first)
            if first.get("src") is not None:
                link = {"path": "IMG@/src", "url": first["src"]}
                for key in ("alt", "title", "data-image-title"):
                    if first.get(key) is not None:
                        link[key] = first[key]
                self.links.append(link)
        elif tag == "a" and first.get("href") is not None:
            self._anchor = {"path": "A@/href", "url": first["href"]}
            self.links.append(self._anchor)
        elif tag == "base" and self.base is None and first.get("href") is not None:
            self.base = first["href"]
        elif tag == "meta":
            self.metas.append({k: v for k, v in first.items() if v is not None})
        elif tag == "title":
            self._in_title = True

    def handle_endtag(self, tag):
        if tag == "title":
            self._in_title = False
        elif tag == "a" and self._anchor is not None:
            text = " ".join(self._anchor.pop("_text", "").split())[:ANCHOR_TEXT]
            if text:
                self._anchor["text"] = text
            self._anchor = None

    def handle_data(self, data):
        if self._in_title and self.title is None:
            self.title = data.strip()
        if self._anchor is not None:
            self._anchor["_text"] = self._anchor.get("_text", "") + data


@dataclass
class Page:
    record: Record
    response: Response
    html: str
    parsed: PageParser = field(repr=False)

    @property
    def target_uri(self) -> str:
        return self.record.headers.get("warc-target-uri", "")


def is_html(response: Response) -> bool:
    content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
    return content_type in ("text/html", "application/xhtml+xml")


def html_pages(path: Path) -> list[Page]:
    """Every response record with an HTML content type (any status), parsed."""
    pages = []
    for record in warc_records(path):
        if record.headers.get("warc-type") != "response":
            continue
        response = http_response(record.block)
        if response is None or not is_html(response):
            continue
        html = response.body.decode(charset_of(response), errors="replace")
        parser = PageParser()
        parser.feed(html)
        pages.append(Page(record, response, html, parser))
    return pages


# --- writing WAT the CommonCrawl way ---------------------------------------------------------


def _digest(data: bytes) -> str:
    return "sha1:" + base64.b32encode(hashlib.sha1(data).digest()).decode()


def warc_record(headers: list[tuple[str, str]], payload: bytes) -> bytes:
    """One uncompressed WARC/1.0 record (Content-Length and block digest added)."""
    lines = ["WARC/1.0", *(f"{k}: {v}" for k, v in headers)]
    lines += [f"Content-Length: {len(payload)}", f"WARC-Block-Digest: {_digest(payload)}"]
    return "\r\n".join(lines).encode() + CRLF + CRLF + payload + CRLF + CRLF


def _record_id() -> str:
    return f"<urn:uuid:{uuid.uuid4()}>"


def warcinfo(filename: str) -> bytes:
    fields = (
        b"Software-Info: ia-web-commons.1.1.10-SNAPSHOT-20240513074037\r\n"
        b"format: WARC File Format 1.0\r\n"
    )
    headers = [
        ("WARC-Type", "warcinfo"),
        ("WARC-Date", "2024-05-31T01:16:45Z"),
        ("WARC-Filename", filename),
        ("WARC-Record-ID", _record_id()),
        ("Content-Type", "application/warc-fields"),
    ]
    return warc_record(headers, fields)


def html_metadata(parsed: PageParser) -> dict:
    head: dict = {}
    if parsed.title is not None:
        head["Title"] = parsed.title
    if parsed.base is not None:
        head["Base"] = parsed.base
    if parsed.metas:
        head["Metas"] = parsed.metas
    return {"Head": head, "Links": parsed.links}


def envelope(record: Record, page: Page | None) -> dict:
    """ia-web-commons' envelope of one WARC record; HTML-Metadata for parsed HTML pages."""
    warc_header = {k.title(): v for k, v in record.headers.items()}
    payload: dict = {"Actual-Content-Length": str(len(record.block))}
    kind = record.headers.get("warc-type")
    if kind == "response" and (response := http_response(record.block)) is not None:
        status_line = response.header_bytes.split(CRLF, 1)[0].decode("latin-1").split(" ", 2)
        metadata: dict = {
            "Response-Message": {
                "Version": status_line[0],
                "Status": status_line[1],
                "Reason": status_line[2] if len(status_line) > 2 else "",
            },
            "Headers-Length": str(len(response.header_bytes)),
            "Headers": {k.title(): v for k, v in response.headers.items()},
            "Entity-Length": str(len(response.body)),
            "Entity-Digest": _digest(response.body),
            "Entity-Trailing-Slop-Length": "0",
        }
        if page is not None:
            metadata["HTML-Metadata"] = html_metadata(page.parsed)
        payload["Actual-Content-Type"] = "application/http; msgtype=response"
        payload["HTTP-Response-Metadata"] = metadata
    elif kind == "request":
        payload["Actual-Content-Type"] = "application/http; msgtype=request"
        payload["HTTP-Request-Metadata"] = {"Headers-Length": str(len(record.block))}
    payload["Block-Digest"] = _digest(record.block)
    payload["Trailing-Slop-Length"] = "4"
    return {
        "Payload-Metadata": payload,
        "Format": "WARC",
        "WARC-Header-Length": "0",
        "WARC-Header-Metadata": warc_header,
    }


def wat_record(record: Record, page: Page | None, source_name: str) -> bytes:
    doc = {
        "Container": {
            "Filename": source_name,
            "Compressed": True,
            "Offset": str(record.offset),
            "Gzip-Metadata": {"Deflate-Length": "0", "Header-Length": "10"},
        },
        "Envelope": envelope(record, page),
    }
    payload = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    headers = [
        ("WARC-Type", "metadata"),
        ("WARC-Target-URI", record.headers.get("warc-target-uri", "")),
        ("WARC-Date", "2024-05-31T01:17:49Z"),
        ("WARC-Record-ID", _record_id()),
        ("WARC-Refers-To", record.headers.get("warc-record-id", _record_id())),
        ("Content-Type", "application/json"),
        ("WARC-Payload-Digest", _digest(payload)),
    ]
    return warc_record(headers, payload)


def wat_members(warc_path: Path) -> list[bytes]:
    """The uncompressed WAT records (warcinfo first) for every record of a WARC file."""
    warc_path = Path(warc_path)
    by_offset = {page.record.offset: page for page in html_pages(warc_path)}
    members = [warcinfo(warc_path.name.replace(".warc", ".warc.wat"))]
    for record in warc_records(warc_path):
        if record.headers.get("warc-type") in ("response", "request", "metadata", "resource"):
            members.append(wat_record(record, by_offset.get(record.offset), warc_path.name))
    return members


def write_members(path: Path, members: list[bytes]) -> list[int]:
    """A .warc.gz / .warc.wat.gz file: one gzip member per record, as CommonCrawl writes them.
    Returns each record's byte offset in the file."""
    offsets = []
    with open(path, "wb") as f:
        for member in members:
            offsets.append(f.tell())
            f.write(gzip.compress(member, compresslevel=6, mtime=0))
    return offsets
