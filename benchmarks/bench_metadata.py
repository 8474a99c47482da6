#!/usr/bin/env python3
"""``metacurate metadata build`` at Wikipedia scale (issue 4 "Scale"): the counting pass and the
DuckDB totals on a synthetic English-Wikipedia-like dump, with a projection to the full dump.

Input: a MediaWiki XML export (``export-0.10``, the layout of ``enwiki-*-pages-articles.xml.bz2``)
generated here, deterministic for ``--seed`` and cached under ``--cache``. ``--mb`` is the MB
(10^6 bytes, UTF-8) of *article* wikitext, the text the counting pass strips and counts; the
redirects and other-namespace pages (~40% of pages) come on top. Words come from wordfreq's
English list extended with a synthetic tail of name-like words, drawn Zipf-like so distinct
words and pairs keep growing with size as in real text; the wikitext carries the markup
``plain_text`` has to strip (infoboxes, cite templates in <ref>s, piped links, files,
categories, tables, lists, entities, comments).

The build runs in a child process (so ``getrusage`` of that process is the build's main
process and ``RUSAGE_CHILDREN`` its largest worker) through ``build_metadata`` unchanged;
phases are timed by wrapping the builder's module functions from outside. A second build on
the same work folder (``--resume-check``, on by default) shows what a resumed run costs.

    python benchmarks/bench_metadata.py --mb 200 --workers 2
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import machine_note  # noqa: E402

GENERATOR_VERSION = "enwiki-synth-v1"
MB = 1e6
MIB = 1 << 20

# Full English Wikipedia, for the projection. ASSUMPTIONS, rounded, not measured here:
# - pages-articles(.xml.bz2) of 2024-2025 dumps: ~22 GB bz2, ~95 GB XML (dumps.wikimedia.org
#   file listings; the XML size is the usual figure quoted for the decompressed file);
# - ~6.9M articles (Special:Statistics content pages), ~11M redirects in namespace 0, ~5M
#   pages of the other namespaces pages-articles holds (templates, categories, files,
#   Wikipedia:, portals, modules);
# - article wikitext ~65 GB: the 95 GB less XML per-page overhead (~650 B x 23M pages), the
#   redirects' and other pages' text (~9 GB) and XML escaping (&quot; &lt; ..., a few %):
#   a mean of ~9.4 KB per article. Derived, so the projection scales with it.
ENWIKI = {
    "bz2_gb": 22.0,
    "xml_gb": 95.0,
    "articles": 6.9e6,
    "redirects": 11.0e6,
    "other_pages": 5.0e6,
    "article_wikitext_gb": 65.0,
}

# --------------------------------------------------------------------------------------
# Vocabulary
# --------------------------------------------------------------------------------------

_TOKEN = re.compile(r"[^\W\d_]+(?:['\-][^\W\d_]+)*")
_SYLLABLES = [c + v for c in "bdfghklmnprstvzcj" for v in ("a", "e", "i", "o", "u", "ar", "en")]
# p(rank) ~ (rank + Q) ** -S over V ranks: S and the size of the synthetic tail chosen so that
# "the" is ~6% of tokens and distinct words grow like Heaps' law with beta ~0.6 (10x the text,
# ~4x the distinct words), as in real English prose.
ZIPF_S = 1.2
ZIPF_Q = 4.0
TAIL_WORDS = 1_500_000


class Vocabulary:
    """Cased word forms by frequency rank; ranks past wordfreq's list are name-like words."""

    def __init__(self, seed: int):
        import wordfreq

        rng = np.random.default_rng([seed, 1])
        # wordfreq writes digits as 0 and keeps some punctuation tokens; numbers are drawn apart.
        base = [w for w in wordfreq.iter_wordlist("en", "large") if _TOKEN.fullmatch(w)]
        tail = ["".join(p) for p in itertools.product(_SYLLABLES, repeat=3)]
        order = rng.permutation(len(tail))[:TAIL_WORDS]
        tail = [tail[i] for i in order]
        # Proper nouns: a fixed share of each rank band is always capitalised (more in the
        # tail: names, places), a few short words are acronyms.
        u = rng.random(len(base) + len(tail))
        forms = []
        for i, w in enumerate(itertools.chain(base, tail)):
            share = 0.06 if i < 2000 else (0.25 if i < len(base) else 0.7)
            if u[i] < share:
                w = w.upper() if len(w) <= 3 and u[i] < share * 0.2 else w[:1].upper() + w[1:]
            forms.append(w)
        self.words = np.array(forms, dtype=object)
        self.size = len(forms)
        a, b = ZIPF_Q ** (1 - ZIPF_S), (self.size + ZIPF_Q) ** (1 - ZIPF_S)
        self._a, self._span = a, a - b
        # Proper-noun pairs ("Given Family") drawn from their own Zipf list: collocations that
        # recur, which the PMI selection is meant to find.
        caps = np.array([i for i, w in enumerate(forms) if w[:1].isupper()], dtype=np.int64)
        firsts = rng.choice(caps[:20000], 60000)
        lasts = rng.choice(caps, 60000)
        self.names = np.array(
            [f"{forms[x]} {forms[y]}" for x, y in zip(firsts, lasts, strict=True)], dtype=object
        )
        self.capitalised = self.words[caps]

    def ranks(self, rng: np.random.Generator, n: int) -> np.ndarray:
        u = rng.random(n)
        return ((self._a - u * self._span) ** (1 / (1 - ZIPF_S)) - ZIPF_Q).astype(np.int64)

    def sample(self, rng: np.random.Generator, n: int) -> list[str]:
        return self.words[np.minimum(self.ranks(rng, n), self.size - 1)].tolist()

    def name(self, rng: np.random.Generator) -> str:
        r = int(min(self.ranks(rng, 1)[0], len(self.names) - 1))
        return self.names[r]


# --------------------------------------------------------------------------------------
# Wikitext
# --------------------------------------------------------------------------------------

SECTIONS = (
    "History", "Early life", "Career", "Geography", "Demographics", "Economy", "Personal life",
    "Reception", "Legacy", "Background", "Description", "Plot", "Production", "Release",
    "Biography", "Etymology", "Culture", "Education", "Transport", "Politics", "Works",
)  # fmt: skip
INFOBOXES = ("person", "settlement", "film", "album", "company", "football biography", "book")
MONTHS = (
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
)  # fmt: skip
UNITS = ("km", "mi", "m", "ft", "kg", "ha", "km2", "sq mi")
SITES = ("BBC News", "The Guardian", "The New York Times", "Reuters", "AllMusic", "ESPN")
ENTITIES = ("&nbsp;", "&ndash;", "&mdash;", "&amp;", "&minus;", "&#91;", "&thinsp;")


class WikitextWriter:
    """One article's wikitext at a time, from a shared vocabulary and random stream."""

    def __init__(self, vocab: Vocabulary, rng: np.random.Generator):
        self.v = vocab
        self.rng = rng
        self.refs = 0

    def words(self, n: int) -> list[str]:
        return self.v.sample(self.rng, n)

    def phrase(self, lo: int, hi: int) -> str:
        return " ".join(self.words(int(self.rng.integers(lo, hi))))

    def title(self) -> str:
        r = self.rng.random()
        if r < 0.45:
            return self.v.name(self.rng)
        caps = self.v.capitalised
        n = int(self.rng.integers(1, 4))
        words = caps[np.minimum(self.v.ranks(self.rng, n), len(caps) - 1)].tolist()
        return " ".join(words) + (f" ({self.words(1)[0]})" if r > 0.9 else "")

    def number(self) -> str:
        r = self.rng.random()
        k = int(self.rng.integers(0, 1 << 30))
        if r < 0.45:
            return str(1800 + k % 225)
        if r < 0.6:
            return f"{1900 + k % 120}&ndash;{1950 + k % 74}"
        if r < 0.75:
            return f"{k % 1000:,}" if k % 3 else f"{k % 100000:,}"
        if r < 0.9:
            return f"{k % 500}.{k % 10}&nbsp;{UNITS[k % len(UNITS)]}"
        return f"{1 + k % 28} {MONTHS[k % 12]} {1900 + k % 124}"

    def date(self) -> str:
        k = int(self.rng.integers(0, 1 << 30))
        return f"{1 + k % 28} {MONTHS[k % 12]} {1990 + k % 35}"

    def cite(self) -> str:
        r = self.rng.random()
        k = int(self.rng.integers(0, 1 << 30))
        title = self.phrase(3, 9).title()
        if r < 0.55:
            site = SITES[k % len(SITES)]
            slug = "-".join(self.words(3)).lower()
            return (
                f"{{{{cite web |url=https://www.example{k % 97}.com/{slug}-{k % 99991} "
                f"|title={title} |website={site} |date={self.date()} "
                f"|access-date={self.date()}}}}}"
            )
        if r < 0.85:
            last, first = self.v.name(self.rng).split(" ", 1)[::-1]
            return (
                f"{{{{cite book |last={last} |first={first} |title={title} "
                f"|publisher={self.v.name(self.rng)} Press |year={1950 + k % 74} "
                f"|isbn=978-{k % 10}-{k % 99999:05d}-{k % 999:03d}-{k % 10} |page={k % 400}}}}}"
            )
        return (
            f"{{{{cite news |title={title} |newspaper={SITES[k % len(SITES)]} "
            f"|date={self.date()} |url=https://news.example.org/{k}}}}}"
        )

    def ref(self) -> str:
        r = self.rng.random()
        if r < 0.25 and self.refs:
            return f'<ref name="r{int(self.rng.integers(0, self.refs))}" />'
        self.refs += 1
        if r < 0.5:
            return f'<ref name="r{self.refs - 1}">{self.cite()}</ref>'
        if r < 0.93:
            return f"<ref>{self.cite()}</ref>"
        return f"<ref>{self.phrase(4, 12).capitalize()}, p. {int(self.rng.integers(1, 400))}.</ref>"

    def sentence(self, n: int) -> str:
        """A sentence of about ``n`` words with inline markup."""
        rng = self.rng
        ws = self.words(n)
        u = rng.random(8)
        # Links: ~1 per 8 words, a third piped, some over two words.
        for i in rng.choice(n, size=min(n, rng.poisson(n / 8)), replace=False).tolist():
            w = ws[i]
            if w.startswith(("[", "'")):
                continue
            k = rng.random()
            if k < 0.3:
                ws[i] = f"[[{self.title()}|{w}]]"
            elif k < 0.45 and i + 1 < n and not ws[i + 1].startswith(("[", "'")):
                ws[i] = f"[[{w} {ws[i + 1]}]]"
                ws[i + 1] = ""
            else:
                ws[i] = f"[[{w}]]"
        if u[0] < 0.45:
            ws.insert(int(rng.integers(0, n)), f"[[{self.v.name(rng)}]]" if u[1] < 0.5 else
                      self.v.name(rng))  # fmt: skip
        if u[2] < 0.35:
            ws.insert(int(rng.integers(0, n)), self.number())
        if u[3] < 0.1:
            i = int(rng.integers(0, n))
            ws[i] = f"''{ws[i]}''" if u[4] < 0.6 else f"'''{ws[i]}'''"
        for i in np.flatnonzero(rng.random(len(ws)) < 0.06).tolist():
            if ws[i]:
                ws[i] += ","
        text = " ".join(w for w in ws if w)
        if u[5] < 0.04:
            text += f" ({ENTITIES[int(rng.integers(0, len(ENTITIES)))]} {self.phrase(1, 4)})"
        text = text[:1].upper() + text[1:] + "."
        if u[6] < 0.4:
            text += self.ref()
        if u[7] < 0.01:
            text += f"<!-- {self.phrase(3, 10)} -->"
        return text

    def paragraph(self) -> str:
        lengths = np.clip(self.rng.normal(21, 8, int(self.rng.integers(2, 7))), 4, 60)
        return " ".join(self.sentence(int(n)) for n in lengths)

    def infobox(self, title: str) -> str:
        kind = INFOBOXES[int(self.rng.integers(0, len(INFOBOXES)))]
        lines = [f"{{{{Infobox {kind}", f"| name = {title}"]
        if self.rng.random() < 0.7:
            lines += [f"| image = {self.file_name()}", f"| caption = {self.phrase(3, 10)}"]
        for _ in range(int(self.rng.integers(6, 24))):
            key = "_".join(self.words(int(self.rng.integers(1, 3)))).lower()
            r = self.rng.random()
            if r < 0.3:
                value = f"[[{self.title()}]]"
            elif r < 0.45:
                value = f"{{{{birth date and age|{1900 + int(self.rng.integers(0, 110))}|5|3}}}}"
            elif r < 0.55:
                value = f"{{{{convert|{int(self.rng.integers(1, 9999))}|km2|sqmi}}}}"
            elif r < 0.7:
                value = self.number()
            else:
                value = self.phrase(1, 5)
            lines.append(f"| {key} = {value}")
        return "\n".join(lines) + "\n}}"

    def file_name(self) -> str:
        ext = ("jpg", "png", "svg", "JPG")[int(self.rng.integers(0, 4))]
        return f"{'_'.join(self.words(int(self.rng.integers(1, 4))))}.{ext}"

    def figure(self) -> str:
        opts = ("thumb", "thumb|left", "thumb|upright", "thumb|220px", "frameless|right")
        opt = opts[int(self.rng.integers(0, len(opts)))]
        return f"[[File:{self.file_name()}|{opt}|{self.sentence(int(self.rng.integers(4, 14)))}]]"

    def bullet_list(self) -> str:
        mark = "*" if self.rng.random() < 0.8 else "#"
        items = []
        for _ in range(int(self.rng.integers(3, 12))):
            if self.rng.random() < 0.5:
                items.append(f"{mark} {self.number()}: ''[[{self.title()}]]''")
            else:
                items.append(f"{mark} {self.sentence(int(self.rng.integers(3, 12)))}")
        return "\n".join(items)

    def table(self) -> str:
        cols = int(self.rng.integers(3, 6))
        head = " !! ".join(w.capitalize() for w in self.words(cols))
        rows = ['{| class="wikitable sortable"', f"|+ {self.phrase(2, 6)}", f"! {head}"]
        for _ in range(int(self.rng.integers(3, 15))):
            cells = [self.number() if self.rng.random() < 0.4 else f"[[{self.title()}]]"]
            cells += [self.phrase(1, 4) for _ in range(cols - 1)]
            rows += ["|-", "| " + " || ".join(cells)]
        return "\n".join(rows) + "\n|}"

    def article(self, title: str, target: int) -> str:
        self.refs = 0
        rng = self.rng
        out = [f"{{{{Short description|{self.phrase(2, 6)}}}}}"]
        if rng.random() < 0.3:
            out.append(f"{{{{Use dmy dates|date={MONTHS[int(rng.integers(0, 12))]} 2021}}}}")
        if rng.random() < 0.5:
            out.append(self.infobox(title))
        out.append(f"'''{title}''' {self.paragraph()}")
        size = sum(map(len, out))
        while size < target:
            r = rng.random()
            if r < 0.12:
                part = f"\n== {SECTIONS[int(rng.integers(0, len(SECTIONS)))]} ==\n"
            elif r < 0.17:
                part = f"\n=== {self.phrase(1, 4).capitalize()} ===\n"
            elif r < 0.23:
                part = self.figure()
            elif r < 0.29:
                part = self.bullet_list()
            elif r < 0.31 and target > 5000:
                part = self.table()
            else:
                part = self.paragraph()
            out.append(part)
            size += len(part) + 2
        out.append("\n== References ==\n{{Reflist}}")
        if rng.random() < 0.5:
            out.append(f"\n== External links ==\n* [https://www.example.org/{rng.integers(1e9)} "
                       f"Official website]\n{{{{Authority control}}}}")  # fmt: skip
        cats = "\n".join(
            f"[[Category:{self.phrase(1, 4).capitalize()}]]" for _ in range(rng.integers(2, 10))
        )
        out.append(f"\n{{{{DEFAULTSORT:{title}}}}}\n{cats}")
        return "\n\n".join(out)

    def redirect(self, target: str) -> str:
        kind = ("R from alternative name", "R from move", "R from misspelling", "R to section")
        return (
            f"#REDIRECT [[{target}]]\n\n{{{{Redirect category shell|\n"
            f"{{{{{kind[int(self.rng.integers(0, 4))]}}}}}\n}}}}"
        )

    def other(self, ns: int, title: str) -> str:
        if ns == 14:
            return f"{{{{Commons category|{title}}}}}\n[[Category:{self.phrase(1, 3)}]]"
        if ns == 10:
            links = " · ".join(f"[[{self.title()}]]" for _ in range(int(self.rng.integers(5, 40))))
            return (
                f"{{{{Navbox\n| name = {title}\n| title = {self.phrase(2, 5)}\n| list1 = {links}\n}}}}"
                "<noinclude>{{Documentation}}</noinclude>"
            )
        if ns == 6:
            return (
                f"== Summary ==\n{{{{Information\n|description={self.sentence(10)}\n"
                f"|date={self.date()}\n|source=Own work\n|author=[[User:{self.words(1)[0]}]]\n}}}}"
                "\n== Licensing ==\n{{PD-self}}"
            )
        if ns == 828:
            return "local p = {}\nfunction p.main(frame)\n  return frame.args[1]\nend\nreturn p\n"
        return "\n\n".join(self.paragraph() for _ in range(int(self.rng.integers(1, 6))))


# --------------------------------------------------------------------------------------
# The dump
# --------------------------------------------------------------------------------------

NAMESPACES = {0: "", 4: "Wikipedia", 6: "File", 10: "Template", 14: "Category", 100: "Portal",
              828: "Module"}  # fmt: skip
# Pages that are not articles: real pages-articles dumps have more of them (~16M of ~23M
# pages), most of them short redirects; the issue asks for ~40%.
PAGE_MIX = {"article": 0.60, "redirect": 0.30, 14: 0.035, 10: 0.025, 6: 0.015, 4: 0.015,
            100: 0.005, 828: 0.005}  # fmt: skip
# Article sizes: log-normal, median 3 KB, sigma 1.3 -> mean ~7 KB, a long tail of big pages.
SIZE_MEDIAN = 3000
SIZE_SIGMA = 1.3
SIZE_MAX = 600_000

SITEINFO = """  <siteinfo>
    <sitename>Wikipedia</sitename>
    <dbname>enwiki</dbname>
    <base>https://en.wikipedia.org/wiki/Main_Page</base>
    <generator>MediaWiki 1.43.0-wmf.5</generator>
    <case>first-letter</case>
    <namespaces>
{namespaces}
    </namespaces>
  </siteinfo>
"""


def _escape(text: str) -> str:
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    )


def _sha1_base36(text: bytes) -> str:
    n = int.from_bytes(hashlib.sha1(text).digest(), "big")
    digits = []
    while n:
        n, d = divmod(n, 36)
        digits.append("0123456789abcdefghijklmnopqrstuvwxyz"[d])
    return "".join(reversed(digits)).rjust(31, "0")


def _page_xml(title: str, ns: int, page_id: int, text: str, rng, redirect: str | None) -> str:
    data = text.encode("utf-8")
    rev = page_id * 7 + 1_000_000_000
    k = int(rng.integers(0, 1 << 30))
    who = (
        f"<username>{_escape(f'Editor{k % 50000}')}</username>\n        <id>{k % 40_000_000}</id>"
        if k % 5
        else f"<ip>{k % 223 + 1}.{k % 251}.{k % 241}.{k % 239}</ip>"
    )
    red = f'\n    <redirect title="{_escape(redirect)}" />' if redirect else ""
    return (
        f"  <page>\n    <title>{_escape(title)}</title>\n    <ns>{ns}</ns>\n    <id>{page_id}</id>"
        f"{red}\n    <revision>\n      <id>{rev}</id>\n      <parentid>{rev - 1 - k % 999}</parentid>\n"
        f"      <timestamp>20{10 + k % 15}-{1 + k % 12:02d}-{1 + k % 28:02d}T{k % 24:02d}:"
        f"{k % 60:02d}:{k % 59:02d}Z</timestamp>\n      <contributor>\n        {who}\n"
        f"      </contributor>\n      <comment>{_escape(' '.join(['edit'] * (1 + k % 3)))}</comment>\n"
        f"      <model>{'Scribunto' if ns == 828 else 'wikitext'}</model>\n"
        f"      <format>{'text/plain' if ns == 828 else 'text/x-wiki'}</format>\n"
        f'      <text bytes="{len(data)}" xml:space="preserve">{_escape(text)}</text>\n'
        f"      <sha1>{_sha1_base36(data)}</sha1>\n    </revision>\n  </page>\n"
    )


def compressor() -> list[str]:
    """A bzip2 writer command: the dumps are single-stream bzip2 (-9); lbzip2/pbzip2 write the
    same format on all cores if installed."""
    for cmd in (["lbzip2", "-9", "-c"], ["pbzip2", "-9", "-c"], ["bzip2", "-9", "-c"]):
        if shutil.which(cmd[0]):
            return cmd
    raise SystemExit("needs bzip2 (or lbzip2/pbzip2) on PATH")


def generate_dump(path: Path, mb: float, seed: int) -> dict:
    """Write the dump and return what it holds; reuses a cached one made with the same
    arguments and generator version."""
    info_path = path.with_suffix(".json")
    if path.exists() and info_path.exists():
        info = json.loads(info_path.read_text())
        info["cached"] = True
        return info
    started = time.perf_counter()
    vocab = Vocabulary(seed)
    vocab_s = time.perf_counter() - started
    rng = np.random.default_rng([seed, 2])
    writer = WikitextWriter(vocab, rng)
    cmd = compressor()
    tmp = path.with_suffix(".tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    kinds = list(PAGE_MIX)
    probs = np.array(list(PAGE_MIX.values()))
    ns_list = "\n".join(
        f'      <namespace key="{k}" case="first-letter">{v}</namespace>'
        if v
        else '      <namespace key="0" case="first-letter" />'
        for k, v in NAMESPACES.items()
    )
    head = (
        '<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.10/" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        'xsi:schemaLocation="http://www.mediawiki.org/xml/export-0.10/ '
        'http://www.mediawiki.org/xml/export-0.10.xsd" version="0.10" xml:lang="en">\n'
        + SITEINFO.format(namespaces=ns_list)
    )
    target = mb * MB
    stats = {"pages": 0, "articles": 0, "redirects": 0, "other_pages": 0}
    article_bytes = all_text_bytes = xml_bytes = 0
    titles: list[str] = []
    page_id = 10
    with open(tmp, "wb") as out:
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=out)
        buffer: list[str] = [head]
        buffered = 0
        while article_bytes < target:
            kind = kinds[int(rng.choice(len(kinds), p=probs))]
            page_id += 1 + int(rng.integers(0, 40))
            redirect = None
            if kind == "article":
                title = writer.title()
                size = min(SIZE_MAX, max(200, rng.lognormal(np.log(SIZE_MEDIAN), SIZE_SIGMA)))
                text = writer.article(title, int(size))
                ns = 0
                article_bytes += len(text.encode("utf-8"))
                stats["articles"] += 1
                titles.append(title)
                if len(titles) > 5000:
                    titles = titles[-2500:]
            elif kind == "redirect":
                redirect = titles[int(rng.integers(0, len(titles)))] if titles else "Main Page"
                title, ns, text = writer.title(), 0, writer.redirect(redirect)
                stats["redirects"] += 1
            else:
                ns = int(kind)
                title = f"{NAMESPACES[ns]}:{writer.title()}"
                text = writer.other(ns, title)
                stats["other_pages"] += 1
            stats["pages"] += 1
            all_text_bytes += len(text.encode("utf-8"))
            page = _page_xml(title, ns, page_id, text, rng, redirect)
            buffer.append(page)
            buffered += len(page)
            if buffered > 4 * MIB:
                data = "".join(buffer).encode("utf-8")
                xml_bytes += len(data)
                proc.stdin.write(data)
                buffer, buffered = [], 0
        buffer.append("</mediawiki>\n")
        data = "".join(buffer).encode("utf-8")
        xml_bytes += len(data)
        proc.stdin.write(data)
        proc.stdin.close()
        if proc.wait() != 0:
            raise SystemExit(f"{cmd[0]} failed")
    tmp.replace(path)
    info = stats | {
        "article_wikitext_bytes": article_bytes,
        "all_wikitext_bytes": all_text_bytes,
        "xml_bytes": xml_bytes,
        "bz2_bytes": path.stat().st_size,
        "compressor": " ".join(cmd),
        "generate_s": round(time.perf_counter() - started, 1),
        "vocabulary_s": round(vocab_s, 1),
        "vocabulary_size": vocab.size,
        "version": GENERATOR_VERSION,
        "seed": seed,
        "mb": mb,
    }
    info_path.write_text(json.dumps(info, indent=1))
    info["cached"] = False
    return info


# --------------------------------------------------------------------------------------
# The build, in a child process
# --------------------------------------------------------------------------------------


def _child(spec: dict) -> None:
    """Run ``build_metadata`` once, with its phases timed from outside, and write the figures
    as JSON. Runs as its own process so its rusage is the build's alone."""
    import resource

    from metacurate.metadata_builder import builder
    from metacurate.metadata_builder.totals import Totals

    phases: dict[str, float] = {}
    cpu: dict[str, float] = {}

    def self_cpu() -> float:
        ru = resource.getrusage(resource.RUSAGE_SELF)
        return ru.ru_utime + ru.ru_stime

    def children_cpu() -> float:
        ru = resource.getrusage(resource.RUSAGE_CHILDREN)
        return ru.ru_utime + ru.ru_stime

    def timed(name, fn):
        def wrapper(*args, **kwargs):
            t0, c0 = time.perf_counter(), self_cpu()
            try:
                return fn(*args, **kwargs)
            finally:
                phases[name] = phases.get(name, 0.0) + time.perf_counter() - t0
                cpu[name] = cpu.get(name, 0.0) + self_cpu() - c0

        return wrapper

    builder._count_words = timed("count", builder._count_words)
    builder._select_words = timed("select", builder._select_words)
    for method in ("summed", "at_least", "bigrams", "distinct"):
        setattr(Totals, method, timed(f"totals.{method}", getattr(Totals, method)))

    options = builder.BuildOptions(
        out=Path(spec["out"]),
        wikipedia=[Path(spec["dump"])],
        workers=spec["workers"],
        work_dir=Path(spec["work"]),
    )
    t0 = time.perf_counter()
    report = builder.build_metadata(options)
    wall = time.perf_counter() - t0
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    markers = sorted(Path(spec["work"]).glob("words/*/chunk-*.json"))
    result = {
        "wall_s": wall,
        "phases": phases,
        "main_cpu_by_phase": cpu,
        "main_cpu_s": me.ru_utime + me.ru_stime,
        "children_cpu_s": children_cpu(),
        "main_maxrss_kib": me.ru_maxrss,
        "children_maxrss_kib": kids.ru_maxrss,
        "wikipedia": report.sidecar["build"]["wikipedia"],
        "seen": report.sidecar["build"]["seen"],
        "rejected": report.sidecar["build"]["rejected"],
        "entries": len(report.entries),
        "parts": {p.name: p.stop - p.start for p in report.parts},
        "chunk_cpu_s": sum(json.loads(m.read_text())["cpu_s"] for m in markers),
    }
    Path(spec["result"]).write_text(json.dumps(result, indent=1))


def run_build(dump: Path, work: Path, out: Path, workers: int) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        result_path = Path(f.name)
    spec = {"dump": str(dump), "work": str(work), "out": str(out), "workers": workers,
            "result": str(result_path)}  # fmt: skip
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    subprocess.run([sys.executable, __file__, "--child", json.dumps(spec)], check=True)
    elapsed = time.perf_counter() - t0
    result = json.loads(result_path.read_text())
    result_path.unlink()
    result["process_s"] = elapsed  # with interpreter start and imports
    result["load_before"] = load_before
    result["load_after"] = os.getloadavg()
    return result


def distinct_growth(work: Path) -> dict[str, list[tuple[int, int, int]]]:
    """(chunks k, characters in them, distinct keys) over the first k chunk runs, for a few k:
    how fast the totals grow with the text."""
    import duckdb

    from metacurate.metadata_builder.word_counts import KINDS

    growth: dict[str, list[tuple[int, int, int]]] = {}
    markers = sorted(work.glob("words/*/chunk-*.json"))
    chars = np.cumsum([json.loads(m.read_text())["chars"] for m in markers]).tolist()
    con = duckdb.connect(config={"threads": 2, "memory_limit": "4GB"})
    for kind in KINDS:
        runs = sorted(work.glob(f"words/*/chunk-*.{kind}.parquet"))
        points = sorted({max(1, len(runs) // 4), max(1, len(runs) // 2), len(runs)})
        growth[kind] = []
        for k in points:
            files = "[" + ", ".join(f"'{r}'" for r in runs[:k]) + "]"
            (n,) = con.execute(f"SELECT COUNT(DISTINCT key) FROM read_parquet({files})").fetchone()
            growth[kind].append((k, chars[k - 1], int(n)))
    con.close()
    return growth


def _heaps(points: list[tuple[int, int, int]], chars: float) -> tuple[float, float]:
    """(exponent, distinct keys at ``chars``) from the last two points, D ~ chars ** beta."""
    import math

    (_, c1, d1), (_, c2, d2) = points[-2], points[-1]
    beta = math.log(d2 / d1) / math.log(c2 / c1) if c2 > c1 else 1.0
    return beta, d2 * (chars / c2) ** beta


def disk_usage(folder: Path) -> dict[str, int]:
    """Bytes on disk per top-level entry of the work folder."""
    sizes: dict[str, int] = {}
    for root, _, files in os.walk(folder):
        top = Path(root).relative_to(folder).parts[:1]
        key = top[0] if top else "."
        for name in files:
            st = os.lstat(os.path.join(root, name))
            sizes[key] = sizes.get(key, 0) + st.st_blocks * 512
    return sizes


# --------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------


def _load(values) -> str:
    return " / ".join(f"{x:.2f}" for x in values)


def _t(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 120:
        return f"{seconds / 60:.1f} min"
    return f"{seconds:.1f} s"


def report(
    args, info: dict, first: dict, disk: dict, growth: dict, resumed: dict | None, command: str
) -> None:
    from metacurate.metadata_builder.word_counts import CHUNK_CHARS

    w = first["wikipedia"]
    seen = first["seen"]
    count_s = first["phases"]["count"]
    select_s = first["phases"]["select"]
    summed_s = first["phases"].get("totals.summed", 0.0)
    bigrams_s = first["phases"].get("totals.bigrams", 0.0)
    article_mb = info["article_wikitext_bytes"] / MB
    xml_mb = info["xml_bytes"] / MB
    all_pages = seen.get("pages", info["pages"])
    chunks = w["chunks_counted"] + w["chunks_reused"]
    runs_bytes = disk.get("words", 0)
    totals_bytes = disk.get("totals", 0)
    work_bytes = sum(disk.values())
    rows = [
        ("dump", f"{article_mb:,.1f} MB article wikitext, {info['all_wikitext_bytes'] / MB:,.1f} "
                 f"MB all pages; {xml_mb:,.1f} MB XML, {info['bz2_bytes'] / MB:,.1f} MB bz2"),
        ("pages", f"{all_pages:,} ({w['pages']:,} articles, {info['redirects']:,} redirects, "
                  f"{info['other_pages']:,} other namespaces)"),
        (f"build wall time (workers={args.workers})", _t(first["wall_s"])),
        ("counting pass (read, strip, count, Parquet runs)",
         f"{_t(count_s)} ({100 * count_s / first['wall_s']:.0f}%)"),
        ("DuckDB totals + selection", f"{_t(select_s)} (sums {_t(summed_s)}, "
                                      f"bigram PMI {_t(bigrams_s)})"),
        ("rest (WordNet, merge, JSON)", _t(first["wall_s"] - count_s - select_s)),
        ("articles/s (whole build)", f"{w['pages'] / first['wall_s']:,.0f}"),
        ("pages/s, all pages (whole build)", f"{all_pages / first['wall_s']:,.0f}"),
        ("article wikitext MB/s (whole build / counting pass)",
         f"{article_mb / first['wall_s']:.2f} / {article_mb / count_s:.2f}"),
        ("XML MB/s (counting pass)", f"{xml_mb / count_s:.2f}"),
        ("CPU: main process / workers (sum of chunk cpu_s)",
         f"{_t(first['main_cpu_s'])} / {_t(first['children_cpu_s'])} "
         f"({_t(first['chunk_cpu_s'])})"),
        ("peak RSS main process (ru_maxrss)", f"{first['main_maxrss_kib'] / 1024:,.0f} MiB"),
        ("peak RSS largest worker (RUSAGE_CHILDREN ru_maxrss)",
         f"{first['children_maxrss_kib'] / 1024:,.0f} MiB"),
        ("chunks", f"{chunks} of {CHUNK_CHARS / 1e6:g}M characters"),
        ("work folder on disk", f"{work_bytes / MIB:,.1f} MiB (chunk runs "
                                f"{runs_bytes / MIB:,.1f}, totals {totals_bytes / MIB:,.1f})"),
        ("tokens", f"{w['tokens']:,}"),
        ("distinct unigrams / bigrams", f"{w['distinct_unigrams']:,} / {w['distinct_bigrams']:,}"),
        ("unigrams >= 100 / bigrams PMI >= 30",
         f"{w['unigrams_passing']:,} / {w['bigrams_passing_pmi'].get('30', 0):,}"),
        ("load average before / after (1, 5, 15 min)",
         f"{_load(first['load_before'])} -> {_load(first['load_after'])}"),
    ]  # fmt: skip
    if resumed is not None:
        rw = resumed["wikipedia"]
        rows += [
            ("re-run on the same work folder",
             f"{_t(resumed['wall_s'])} = {100 * resumed['wall_s'] / first['wall_s']:.0f}% of "
             f"{_t(first['wall_s'])}; chunks reused {rw['chunks_reused']}/{chunks}, counted "
             f"{rw['chunks_counted']}; reading the dump {_t(resumed['phases']['count'])}, "
             f"selection {_t(resumed['phases']['select'])}"),
            ("re-run load average before / after",
             f"{_load(resumed['load_before'])} -> {_load(resumed['load_after'])}"),
        ]  # fmt: skip
    print()
    print(f"```\n{command}\n```\n")
    print(f"Dump: {info['compressor']} via a pipe; generated in {info['generate_s']} s "
          f"(cached: {info['cached']}); seed {info['seed']}; {GENERATOR_VERSION}.\n")  # fmt: skip
    print("| figure | value |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")

    # Projection: two models, both for the same 2-core machine class and the same mix of
    # markup per article byte as the synthetic dump.
    full_article_mb = ENWIKI["article_wikitext_gb"] * 1000
    full_xml_mb = ENWIKI["xml_gb"] * 1000
    scale = full_article_mb / article_mb
    linear_count = count_s * scale
    # (b) The main process reads bz2 + XML serially, the workers strip and count: on C cores
    # the pass takes at least the reader's CPU time, and at least all CPU / C.
    reader_s_per_xml_mb = first["main_cpu_by_phase"]["count"] / xml_mb
    worker_s_per_article_mb = first["chunk_cpu_s"] / article_mb
    reader_full = reader_s_per_xml_mb * full_xml_mb
    worker_full = worker_s_per_article_mb * full_article_mb
    cores = min(args.workers, os.cpu_count() or 1)
    model_count = max(reader_full, (reader_full + worker_full) / cores, worker_full / args.workers)
    full_chunks = full_article_mb * MB / CHUNK_CHARS
    select_full = select_s * full_chunks / max(chunks, 1)
    runs_full = runs_bytes / max(chunks, 1) * full_chunks
    print("\n### Projection to full English Wikipedia (2 cores)\n")
    print("Assumptions (not measured; rounded public figures, see ENWIKI in the script): "
          f"pages-articles ~{ENWIKI['bz2_gb']:.0f} GB bz2 / ~{ENWIKI['xml_gb']:.0f} GB XML, "
          f"{ENWIKI['articles'] / 1e6:.1f}M articles, {ENWIKI['redirects'] / 1e6:.0f}M redirects, "
          f"{ENWIKI['other_pages'] / 1e6:.0f}M other pages, ~{ENWIKI['article_wikitext_gb']:.0f} "
          "GB article wikitext; markup and word mix per byte as in this synthetic dump.\n")  # fmt: skip
    proj = [
        (f"counting pass, linear in article wikitext (x{scale:.0f})", _t(linear_count)),
        ("counting pass, reader/worker CPU model", f"{_t(model_count)} (reader "
         f"{reader_s_per_xml_mb:.3f} s/XML MB -> {_t(reader_full)} serial; workers "
         f"{worker_s_per_article_mb:.2f} CPU s/article MB -> {_t(worker_full)} CPU)"),
        (f"DuckDB totals + selection, linear in chunks ({full_chunks:.0f} chunks)",
         f"{_t(select_full)} (a floor: see the distinct keys below)"),
        ("whole build (the slower counting figure + selection)",
         f"{_t(max(linear_count, model_count) + select_full)}"),
        ("work folder: chunk runs, linear in chunks", f"{runs_full / 1e9:,.1f} GB"),
    ]  # fmt: skip
    keys_here = w["distinct_unigrams"] + w["distinct_bigrams"]
    keys_full = 0.0
    for kind in ("unigrams", "bigrams"):
        beta, full = _heaps(growth[kind], full_article_mb * MB)
        if kind == "unigrams":
            full = min(full, info["vocabulary_size"])
        keys_full += full
        seen_at = ", ".join(f"{c / MB:,.0f} MB: {d:,}" for _, c, d in growth[kind])
        proj.append((
            f"distinct {kind}, D ~ text^{beta:.2f} from the last two of ({seen_at})",
            f"{full / 1e6:,.0f}M" + (" (capped: the generator's vocabulary has "
                                     f"{info['vocabulary_size'] / 1e6:.1f}M words; real text has no cap)"
                                     if kind == "unigrams" else ""),
        ))  # fmt: skip
    proj.append((
        "work folder: totals, at the bytes per distinct key measured here",
        f"{totals_bytes / keys_here * keys_full / 1e9:,.1f} GB (+ DuckDB spill while summing)",
    ))  # fmt: skip
    if resumed is not None:
        # A finished dump file is not read again: a re-run reads chunk markers and re-queries.
        rerun_s = resumed["phases"]["count"] + resumed["phases"]["select"]
        proj.append((
            "re-run with every chunk done (markers + re-query, linear in chunks)",
            _t(rerun_s * full_chunks / max(chunks, 1)),
        ))  # fmt: skip
    print("| projection | value |\n|---|---|")
    for name, value in proj:
        print(f"| {name} | {value} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=float, default=200, help="MB of article wikitext")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/metacurate-bench"))
    parser.add_argument("--no-resume-check", dest="resume_check", action="store_false",
                        help="skip the second build on the same work folder")  # fmt: skip
    parser.add_argument("--keep-work", action="store_true", help="keep the work folder")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(json.loads(args.child))
        return
    command = "python benchmarks/bench_metadata.py " + " ".join(sys.argv[1:])
    print(machine_note())
    dump = args.cache / f"{GENERATOR_VERSION}-seed{args.seed}-{args.mb:g}mb.xml.bz2"
    info = generate_dump(dump, args.mb, args.seed)
    print(f"dump {dump}: {json.dumps({k: v for k, v in info.items() if k != 'version'})}")
    work_root = Path(tempfile.mkdtemp(prefix="bench-metadata-", dir=args.cache))
    try:
        work, out = work_root / "work", work_root / "metadata.json"
        first = run_build(dump, work, out, args.workers)
        disk = disk_usage(work)
        growth = distinct_growth(work)
        resumed = None
        if args.resume_check:
            resumed = run_build(dump, work, work_root / "metadata-rerun.json", args.workers)
            same = out.read_bytes() == (work_root / "metadata-rerun.json").read_bytes()
            print(f"re-run wrote the same metadata: {same}")
        report(args, info, first, disk, growth, resumed, command)
        print(
            f"\nraw: {json.dumps({'first': first, 'rerun': resumed, 'disk': disk, 'growth': growth})}"
        )
    finally:
        if args.keep_work:
            print(f"work folder kept: {work_root}")
        else:
            shutil.rmtree(work_root, ignore_errors=True)


if __name__ == "__main__":
    main()
