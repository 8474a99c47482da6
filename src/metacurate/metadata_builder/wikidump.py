"""Streaming the pages of a Wikipedia dump: MediaWiki XML export (``pages-articles.xml.bz2``,
plain or multistream) or WikiExtractor's plain-text output (``<doc ...>`` blocks or JSON lines).

Only articles count: namespace 0 pages that are not redirects. Damage ends the file, not the
run: pages read before a truncated or corrupt bz2 stream or malformed XML are kept, and the
damage is counted with the file and compressed byte offset where it was found.
"""

import bz2
import gzip
import html
import io
import json
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from metacurate.readers.base import Rejects, arrow_safe_text

ARTICLE_NAMESPACE = "0"


@dataclass(frozen=True)
class Page:
    title: str
    text: str
    markup: bool = True  # wikitext, to be stripped; False for WikiExtractor's plain text


class _CountingReader(io.RawIOBase):
    """A raw file that remembers how many compressed bytes have been read: the progress bar's
    position and the offset reported with damage."""

    def __init__(self, raw, on_read: Callable[[int], None]):
        self._raw = raw
        self._on_read = on_read
        self.position = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = self._raw.readinto(buffer)
        self.position += n
        self._on_read(n)
        return n

    def close(self) -> None:
        self._raw.close()
        super().close()


def _open_text_stream(raw: io.BufferedReader) -> io.BufferedIOBase:
    head = raw.peek(3)[:3]
    if head.startswith(b"BZh"):
        return bz2.BZ2File(raw)
    if head.startswith(b"\x1f\x8b"):
        return gzip.GzipFile(fileobj=raw)
    return raw


def read_pages(
    path: Path, rejects: Rejects, on_read: Callable[[int], None] = lambda n: None
) -> Iterator[Page]:
    """The article pages of one dump file, in file order."""
    counting = _CountingReader(open(path, "rb"), on_read)  # noqa: SIM115
    # Small reads on the decompressed stream: a read that spans a truncation point loses what
    # it had decoded, so large buffered reads would lose more pages than the last one.
    stream = _open_text_stream(io.BufferedReader(counting, 1 << 20))
    try:
        # A MediaWiki export starts with its root element; WikiExtractor output does not.
        head = stream.peek(4096).lstrip()
        markup = head.startswith(b"<mediawiki") or head.startswith(b"<?xml")
        yield from (_xml_pages if markup else _extractor_pages)(stream, path, rejects)
    except EOFError:
        rejects.add(
            "truncated_input", f"{path}:{counting.position}", "compressed stream ends early"
        )
    except OSError as err:  # bz2/gzip: "Invalid data stream" and the like
        rejects.add("corrupt_input", f"{path}:{counting.position}", str(err))
    except ET.ParseError as err:
        line, column = err.position
        rejects.add("malformed_xml", f"{path}:{counting.position}", f"line {line}, column {column}")
    finally:
        stream.close()


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _xml_pages(stream, path: Path, rejects: Rejects) -> Iterator[Page]:
    events = ET.iterparse(stream, events=("start", "end"))
    _, root = next(events)
    for event, element in events:
        if event != "end" or _local(element.tag) != "page":
            continue
        title = ns = text = None
        redirect = False
        for child in element:
            name = _local(child.tag)
            if name == "title":
                title = child.text or ""
            elif name == "ns":
                ns = (child.text or "").strip()
            elif name == "redirect":
                redirect = True
            elif name == "revision":
                for field in child:
                    if _local(field.tag) == "text":
                        text = field.text or ""
        # Pages are independent: dropping each one once read keeps memory flat.
        root.clear()
        rejects.count("pages")
        if ns != ARTICLE_NAMESPACE or redirect:
            rejects.count("pages_not_articles")
            continue
        if text is None:
            rejects.add("page_without_text", str(path), f"title {title!r}")
            continue
        yield Page(title or "", text)


def _extractor_pages(stream, path: Path, rejects: Rejects) -> Iterator[Page]:
    """WikiExtractor output: ``<doc id=.. url=.. title=..>`` text ``</doc>`` blocks, or one JSON
    object per line with ``title`` and ``text`` (its ``--json`` mode)."""
    lines = io.TextIOWrapper(stream, encoding="utf-8", errors="replace")
    title, body = None, []
    for number, line in enumerate(lines, 1):
        if title is None and line.startswith("{"):
            try:
                doc = json.loads(line)
                # JSON may carry lone surrogate escapes, which Parquet strings cannot hold.
                text = arrow_safe_text(str(doc["text"]))
                page = Page(str(doc.get("title", "")), text, markup=False)
            except (json.JSONDecodeError, KeyError, AttributeError):
                rejects.add("malformed_record", f"{path}:{number}", "not a JSON page with 'text'")
                continue
            rejects.count("pages")
            yield page
        elif line.startswith("<doc ") and title is None:
            title = _attribute(line, "title")
            body = []
        elif line.startswith("</doc>") and title is not None:
            rejects.count("pages")
            yield Page(title, "".join(body), markup=False)
            title = None
        elif title is not None:
            body.append(line)
        elif line.strip():
            rejects.add("malformed_record", f"{path}:{number}", "text outside a <doc> block")
    if title is not None:
        rejects.add("truncated_input", f"{path}", f"<doc> {title!r} not closed")


def _attribute(tag_line: str, name: str) -> str:
    key = f' {name}="'
    start = tag_line.find(key)
    if start < 0:
        return ""
    start += len(key)
    return html.unescape(tag_line[start : tag_line.find('"', start)])
