"""Image rows of one web page, shared by the WARC and WAT readers (SPEC section 4).

A page is its URL, an optional ``<base href>`` and its images in document order, each with the
raw ``src`` and ``alt`` / ``title`` / ``data-image-title`` attribute values. This module resolves
the URLs, normalises and de-duplicates the texts, and collects the rows column by column so a
batch costs one ``pa.table`` call, not one dict per row.
"""

from collections.abc import Iterable, Iterator
from urllib.parse import urljoin, urlsplit

import pyarrow as pa

from metacurate.readers.base import BATCH_ROWS, Rejects, image_uuid

SOURCES = ("alt", "title", "data-image-title")
# Longer "alt texts" are pasted articles or base64 blobs, not captions; they are counted, not kept.
MAX_TEXT_CHARS = 4096
HTTP_PREFIXES = ("http://", "https://")
# HTML strips ASCII whitespace around a URL attribute before parsing it.
ASCII_WHITESPACE = " \t\n\f\r"
# Image = (src, alt, title, data-image-title); any of them may be None (attribute absent).
Image = tuple[str | None, str | None, str | None, str | None]


def normalise_text(text: str) -> str:
    """SPEC 4: newlines and CRs become spaces, then surrounding whitespace goes."""
    return text.replace("\n", " ").replace("\r", " ").strip()


def page_url_of(target_uri: str | None) -> str | None:
    """The page URL of a WARC-Target-URI; WARC 1.1 drafts wrote it as ``<url>`` (dolma does)."""
    if not target_uri:
        return None
    uri = target_uri.strip()
    if uri.startswith("<") and uri.endswith(">"):
        uri = uri[1:-1].strip()
    return uri or None


# urljoin("http://a/b", "http://") is "http://a/b": a src with no host is relative after all.
EMPTY_HOST = ("", "/", "?", "#")


def _verbatim(src: str) -> bool:
    """Whether urlsplit + urlunsplit give back this (ASCII) src unchanged: not if it has tabs or
    newlines (removed), brackets (IPv6 checks), ";", "?" or "#" opening an empty part (dropped)
    or "///" (an empty host)."""
    # Spelt out rather than a loop or a regex: this runs once per image and is 5x faster so.
    return not (
        src[-1:] in "?#"  # also true for ""
        or "\t" in src
        or "\n" in src
        or "\r" in src
        or "[" in src
        or "]" in src
        or ";" in src
        or "?#" in src
        or "///" in src
    )


class Resolver:
    """Resolves the image srcs of one page against its base URL, as urllib.parse.urljoin."""

    def __init__(self, page_url: str, base_href: str | None = None) -> None:
        self.base = page_url
        if base_href:
            # HTML's frozen base URL: the <base href> when it resolves to an http(s) URL.
            url, _ = Resolver(page_url)(base_href)
            if url is not None:
                self.base = url
        try:
            parts = urlsplit(self.base)
        except ValueError:  # urljoin will raise for every src: take no shortcut
            parts = None
        self.shortcut = parts is not None and self.base.startswith(HTTP_PREFIXES)
        if parts is not None:
            self.scheme = parts.scheme
            self.origin = f"{parts.scheme}://{parts.netloc}"

    def join(self, src: str) -> str:
        """urljoin(base, src); may raise ValueError as urljoin does.

        urljoin costs ~5 us, a third of an image's time in a WAT. For the common srcs (absolute,
        "//host/...", "/path") that urlsplit round-trips verbatim, its answer is the src, the
        base's scheme + src, or the base's origin + src; those are computed directly (tests
        check the result equals urljoin's on generated URLs); anything else goes to urljoin.
        """
        if self.shortcut and src.isascii() and _verbatim(src):
            if src.startswith(HTTP_PREFIXES):
                if src[src.index("//") + 2 :][:1] not in EMPTY_HOST:
                    return src
            elif src.startswith("//"):
                if src[2:3] not in EMPTY_HOST:
                    return f"{self.scheme}:{src}"
            elif src.startswith("/") and "/." not in src:  # no dot segments to remove
                return self.origin + src
        return urljoin(self.base, src)

    def __call__(self, src: str | None) -> tuple[str | None, str]:
        """(absolute http(s) URL, "") or (None, reject reason) for an image ``src``."""
        if src is None:
            return None, "no_src"
        src = src.strip(ASCII_WHITESPACE)
        if not src:
            return None, "no_src"
        head = src[:11].lower()
        # Checked before joining: inline images can be megabytes of base64.
        if head.startswith("data:"):
            return None, "url_data"
        if head.startswith("javascript:"):
            return None, "url_javascript"
        try:
            url = self.join(src)
        except ValueError:  # e.g. a malformed IPv6 host "http://[::1"
            return None, "url_unparsable"
        if url.startswith(HTTP_PREFIXES):
            host = url.partition("://")[2]
            if host and host[0] not in "/?#":
                return url, ""
            return None, "url_unparsable"
        scheme, colon, _ = url.partition(":")
        if not colon or "/" in scheme:
            return None, "url_unparsable"  # still relative: the page URL itself was not absolute
        # URL parsers drop tabs and newlines, so "java\tscript:" is javascript: too.
        scheme = scheme.replace("\t", "").replace("\n", "").replace("\r", "").lower()
        return None, {"data": "url_data", "javascript": "url_javascript"}.get(scheme, "url_scheme")


def resolve(base: str, src: str | None) -> tuple[str | None, str]:
    """(absolute URL, "") or (None, reject reason) for one ``src`` on a page at ``base``."""
    return Resolver(base)(src)


class PageRows:
    """Rows of many pages, column by column, handed out as Arrow tables of at most BATCH_ROWS."""

    def __init__(self, text_column: str, crawl_file: str) -> None:
        self.text_column = text_column
        self.crawl_file = crawl_file
        self.urls: list[str] = []
        self.texts: list[str] = []
        self.uuids: list[str] = []
        self.page_urls: list[str] = []
        self.sources: list[str] = []

    def __len__(self) -> int:
        return len(self.urls)

    def add_page(
        self,
        page_url: str,
        base_href: str | None,
        images: Iterable[Image],
        rejects: Rejects,
        where: str,
    ) -> int:
        """Add the rows of one page; returns the number of images seen (with or without src)."""
        resolver = Resolver(page_url, base_href)
        # src -> (url, uuid), or (None, reject reason): pages repeat spacers and icons.
        resolved: dict[str | None, tuple[str | None, str]] = {}
        seen: set[tuple[str, str]] = set()  # (uuid, text): texts are de-duplicated per image
        urls, texts, uuids, sources = self.urls, self.texts, self.uuids, self.sources
        start = len(urls)
        n_images = 0
        for image in images:
            n_images += 1
            src = image[0]
            hit = resolved.get(src)
            if hit is None:
                url, reason = resolver(src)
                hit = resolved[src] = (url, image_uuid(url)) if url is not None else (None, reason)
            url, uuid = hit
            if url is None:
                rejects.add(hit[1], where, (src or "")[:80])  # the reject reason
                continue
            for i in (1, 2, 3):  # alt, title, data-image-title: the first source of a text wins
                raw = image[i]
                if not raw:
                    continue
                text = raw.replace("\n", " ").replace("\r", " ").strip()  # normalise_text
                if not text:
                    continue
                if len(text) > MAX_TEXT_CHARS:
                    rejects.add("text_too_long", where, f"{SOURCES[i - 1]}, {len(text)} characters")
                    continue
                key = (uuid, text)
                if key in seen:
                    continue
                seen.add(key)
                urls.append(url)
                texts.append(text)
                uuids.append(uuid)
                sources.append(SOURCES[i - 1])
        self.page_urls.extend([page_url] * (len(urls) - start))
        return n_images

    def full_batches(self) -> Iterator[pa.Table]:
        """Tables of exactly BATCH_ROWS rows while that many are waiting."""
        while len(self) >= BATCH_ROWS:
            yield self._take(BATCH_ROWS)

    def rest(self) -> Iterator[pa.Table]:
        """Everything still waiting, in batches of at most BATCH_ROWS rows."""
        yield from self.full_batches()
        if len(self):
            yield self._take(len(self))

    def _take(self, n: int) -> pa.Table:
        columns = (self.urls, self.texts, self.uuids, self.page_urls, self.sources)
        head = [column[:n] for column in columns]
        rest = [column[n:] for column in columns]
        self.urls, self.texts, self.uuids, self.page_urls, self.sources = rest
        names = ["url", self.text_column, "uuid", "page_url", "source", "crawl_file"]
        arrays = [pa.array(column, pa.string()) for column in head]
        arrays.append(pa.array([self.crawl_file] * n, pa.string()))
        return pa.table(arrays, names=names)
