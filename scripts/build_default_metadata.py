#!/usr/bin/env python3
"""Build metacurate's bundled default metadata (a MetaCLIP-format list of 500,000 strings).

Outputs (paths relative to the repository root):

* ``src/metacurate/data/default_metadata.json.gz``: gzip (mtime 0) of a compact JSON list of
  strings; entry id = list position, exactly MetaCLIP's metadata format.
* ``src/metacurate/data/default_metadata.sources.json``: which contiguous id range came from
  which source, with licences and the build parameters.

Sources, merged in this order into one de-duplicated list:

1. ``wordnet``: the strings "0".."99", then one name per WordNet 3.0 synset, in the order of
   NLTK's ``wordnet.all_synsets()`` (files adj, adv, noun, verb; adjective satellites inside
   data.adj). The name is MetaCLIP's rule applied to NLTK's synset name: first lemma of the
   synset with its adjective marker ``(a)``/``(p)``/``(ip)`` removed, lower-cased, cut at its
   first ``.``, ``_`` -> space. Empty names and single punctuation characters are dropped.
   This gives exactly 86,654 entries (the paper's Table 1 row).
2. ``wordfreq``: English unigrams from wordfreq's bundled ``large`` list, in descending
   frequency order, each followed by its Capitalised variant (first character upper-cased),
   appended until the list holds 500,000 entries. Candidates that could never match under
   MetaCLIP's sub-string semantics are dropped, see ``unigram_candidates``.

Only the standard library, wordfreq and numpy are used; nothing is downloaded. WordNet is read
from the Debian/Ubuntu package ``wordnet-base`` (``/usr/share/wordnet``). With ``--warc-dir``
pointing at WARC files (default ``tests/data/warc``, skipped when absent) the script also
measures, on the ``<img alt>`` texts found there, the share of texts matched by each casing
option; it prints the measurement and does not write it anywhere.

Usage: ``python scripts/build_default_metadata.py [--wordnet-dir DIR] [--warc-dir DIR]``
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import re
import sys
import time
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator
from html.parser import HTMLParser
from pathlib import Path

from metacurate.metadata_builder.entries import is_single_punctuation
from metacurate.metadata_builder.entries import merge as merge_sources
from metacurate.metadata_builder.wordnet import WORDNET_FILES, wordnet_names

REPO_ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = REPO_ROOT / "src" / "metacurate" / "data"
OUT_METADATA = OUT_DIR / "default_metadata.json.gz"
OUT_SOURCES = OUT_DIR / "default_metadata.sources.json"
DEFAULT_WORDNET_DIR = Path("/usr/share/wordnet")
DEFAULT_WARC_DIR = REPO_ROOT / "tests" / "data" / "warc"

METADATA_NAME = "metacurate-default-v1"
DIFFERS_FROM_PAPER = (
    "An offline stand-in for the paper's metadata, not a copy of it: the WordNet part follows the "
    "paper's rule exactly (86,654 entries), but the paper's other 413,346 entries are Wikipedia "
    "unigrams counted at least 100 times, bigrams with PMI >= 30 and page titles with >= 70 views; "
    "here they are English unigrams from wordfreq's frequency list, lower-case and Capitalised, "
    "with no bigrams and no titles."
)
BUDGET = 500_000
WORDNET_EXPECTED = 86_654
WORDFREQ_LANG = "en"
WORDFREQ_WORDLIST = "large"
# "lower": wordfreq words as they are (case-folded); "lower+capitalised": each word followed
# by its Capitalised variant. Chosen by the measurement described in docs/default-metadata.md.
CASING = "lower+capitalised"

# Characters the matcher wraps in spaces (SPEC section 2): an entry containing one of them can
# never match, except the bare character itself, which is dropped as punctuation anyway.
WRAPPED = frozenset(",.;:?!`")
# wordfreq stores every multi-digit number with its digits replaced by 0 ("2019" -> "0000",
# "90s" -> "00s"), so any candidate with two adjacent ASCII digits is a placeholder.
_SMASHED_NUMBER = re.compile(r"[0-9][0-9]")


# --------------------------------------------------------------------------- WordNet part


# --------------------------------------------------------------------------- wordfreq part


def can_never_match(entry: str) -> bool:
    """True for entries that MetaCLIP's sub-string matching can never return."""
    return any(c in WRAPPED or c.isspace() for c in entry)


def unigram_candidates(words: Iterable[str]) -> Iterator[str]:
    """Filter wordfreq's words (frequency order kept).

    Dropped: empty; single punctuation characters (ASCII punctuation or Unicode category P*);
    anything containing one of the 7 wrapped characters or whitespace (can never match);
    pure ASCII-digit tokens (0-9 are already entries; longer ones are wordfreq's smashed
    placeholders); any token with two adjacent ASCII digits (a smashed number such as "00s").
    """
    for w in words:
        if not w or is_single_punctuation(w) or can_never_match(w):
            continue
        if w.isascii() and w.isdigit():
            continue
        if _SMASHED_NUMBER.search(w):
            continue
        yield w


def capitalised(word: str) -> str:
    return word[:1].upper() + word[1:]


def cased_unigrams(words: Iterable[str], casing: str) -> Iterator[str]:
    """The unigram stream for a casing option, in frequency order."""
    if casing == "lower":
        yield from words
    elif casing == "lower+capitalised":
        for w in words:
            yield w
            yield capitalised(w)
    elif casing == "lower-then-capitalised":  # measured only
        words = list(words)
        yield from words
        yield from (capitalised(w) for w in words)
    else:
        raise ValueError(f"unknown casing {casing!r}")


def wordfreq_words(lang: str = WORDFREQ_LANG, wordlist: str = WORDFREQ_WORDLIST) -> list[str]:
    from wordfreq import iter_wordlist

    return list(iter_wordlist(lang, wordlist))


# --------------------------------------------------------------------------- merging


def merge(parts: list[tuple[str, Iterable[str]]], budget: int) -> tuple[list[str], list[dict]]:
    """The package's merge, with ranges as the sidecar's ``{"name", "start", "stop"}``."""
    entries, ranges = merge_sources(parts, budget)
    return entries, [{"name": r.name, "start": r.start, "stop": r.stop} for r in ranges]


# --------------------------------------------------------------------------- measurement


def _gunzip_tolerant(raw: bytes) -> bytes:
    """Decompress all gzip members, keeping what decodes before a damaged or cut member."""
    out = []
    while raw:
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            out.append(d.decompress(raw))
        except zlib.error:
            break
        if not d.eof:
            break
        raw = d.unused_data
    return b"".join(out)


def _parse_headers(block: bytes) -> dict[str, str]:
    headers = {}
    for line in block.decode("latin-1").split("\r\n")[1:]:
        k, sep, v = line.partition(":")
        if sep:
            headers[k.strip().lower()] = v.strip()
    return headers


def _dechunk(body: bytes) -> bytes:
    out, pos = [], 0
    while True:
        eol = body.find(b"\r\n", pos)
        if eol < 0:
            break
        try:
            size = int(body[pos:eol].split(b";")[0], 16)
        except ValueError:
            return body  # not really chunked
        if size == 0:
            break
        out.append(body[eol + 2 : eol + 2 + size])
        pos = eol + 2 + size + 2
    return b"".join(out)


def iter_html_pages(path: Path) -> Iterator[str]:
    """Yield decoded HTML payloads of the response records of one WARC file (best effort)."""
    raw = path.read_bytes()
    data = _gunzip_tolerant(raw) if raw[:2] == b"\x1f\x8b" else raw
    pos = 0
    while True:
        start = data.find(b"WARC/", pos)
        if start < 0:
            return
        hend = data.find(b"\r\n\r\n", start)
        if hend < 0:
            return
        warc = _parse_headers(data[start:hend])
        try:
            length = int(warc.get("content-length", "0"))
        except ValueError:
            length = 0
        block = data[hend + 4 : hend + 4 + length]
        pos = hend + 4 + max(length, 0)
        if warc.get("warc-type") != "response" or not block.startswith(b"HTTP/"):
            continue
        bend = block.find(b"\r\n\r\n")
        if bend < 0:
            continue
        http = _parse_headers(block[:bend])
        body = block[bend + 4 :]
        if "html" not in http.get("content-type", "").lower():
            continue
        if "chunked" in http.get("transfer-encoding", "").lower():
            body = _dechunk(body)
        if http.get("content-encoding", "").lower() in ("gzip", "x-gzip"):
            body = _gunzip_tolerant(body)
        m = re.search(r"charset=([\w-]+)", http.get("content-type", ""), re.I)
        charset = m.group(1) if m else "utf-8"
        try:
            yield body.decode(charset, errors="replace")
        except LookupError:
            yield body.decode("utf-8", errors="replace")


class _AltCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.alts: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            alt = dict(attrs).get("alt")
            if alt and alt.strip():
                self.alts.append(alt)


def real_alt_texts(warc_dir: Path) -> list[str]:
    """Non-empty ``alt`` attributes of ``<img>`` tags in all WARC files of a folder."""
    alts = []
    for path in sorted(warc_dir.iterdir()):
        if ".warc" not in path.name:
            continue
        for page in iter_html_pages(path):
            p = _AltCollector()
            try:
                p.feed(page)
                p.close()
            except Exception:  # a broken page still yields the alts seen before the break
                pass
            alts.extend(p.alts)
    return alts


_PREPARE = str.maketrans({c: f" {c} " for c in WRAPPED} | {"\t": " ", "\n": " ", "\r": " "})


def matched_entries(text: str, entry_set: set[str], max_pieces: int) -> set[str]:
    """Entries e with " e " a substring of the prepared text (token view, SPEC section 2)."""
    pieces = (" " + text.translate(_PREPARE) + " ").split(" ")
    found = set()
    for i in range(len(pieces)):
        for n in range(1, min(max_pieces, len(pieces) - i) + 1):
            s = " ".join(pieces[i : i + n])
            if s in entry_set:
                found.add(s)
    return found


def measure(entries: list[str], first_unigram: int, texts: list[str]) -> dict:
    entry_set = set(entries)
    unigram_set = set(entries[first_unigram:])
    max_pieces = max(e.count(" ") + 1 for e in entries)
    n_any = n_uni = n_total = 0
    counts: Counter[str] = Counter()
    for t in texts:
        m = matched_entries(t, entry_set, max_pieces)
        n_any += bool(m)
        n_uni += bool(m & unigram_set)
        n_total += len(m)
        counts.update(m)
    n = len(texts)
    return {
        "entries": len(entries),
        "texts": n,
        "matched": n_any / n,
        "matched_by_unigram_part": n_uni / n,
        "mean_matches": n_total / n,
        "top": counts.most_common(12),
    }


# --------------------------------------------------------------------------- main


def build(wordnet_dir: Path, casing: str = CASING, budget: int = BUDGET):
    wn = wordnet_names(wordnet_dir)
    if len(wn) != WORDNET_EXPECTED:
        raise SystemExit(f"WordNet part has {len(wn)} entries, expected {WORDNET_EXPECTED}")
    words = list(unigram_candidates(wordfreq_words()))
    entries, ranges = merge(
        [("wordnet", wn), ("wordfreq", cased_unigrams(words, casing))], budget=budget
    )
    return entries, ranges, wn, words


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--wordnet-dir", type=Path, default=DEFAULT_WORDNET_DIR)
    ap.add_argument("--warc-dir", type=Path, default=DEFAULT_WARC_DIR)
    ap.add_argument("--no-measure", action="store_true", help="skip the casing measurement")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()

    import wordfreq

    wf_version = getattr(wordfreq, "__version__", None)
    if wf_version is None:
        from importlib.metadata import version

        wf_version = version("wordfreq")

    entries, ranges, wn, words = build(args.wordnet_dir)
    if len(entries) != BUDGET:
        raise SystemExit(f"only {len(entries)} entries, budget {BUDGET} not reached")
    assert len(set(entries)) == len(entries) and all(entries)
    word_set = set(words)
    wordfreq_used = sum(1 for e in entries[len(wn) :] if e in word_set)

    payload = json.dumps(entries, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    OUT_METADATA.write_bytes(gzip.compress(payload, compresslevel=9, mtime=0))

    described = {
        "wordnet": {
            "description": (
                'The strings "0".."99", then one name per WordNet 3.0 synset in NLTK '
                "wn.all_synsets() order (adj incl. satellites, adv, noun, verb): first lemma, "
                "adjective marker removed, lower-cased, cut at its first '.', '_' -> ' '; "
                "de-duplicated; empty names and single punctuation characters dropped."
            ),
            "license": "WordNet 3.0 license (Princeton University; permissive, BSD-like)",
            "url": "https://wordnet.princeton.edu/license-and-commercial-use",
        },
        "wordfreq": {
            "description": (
                f"English unigrams of wordfreq {wf_version} ('{WORDFREQ_WORDLIST}' list: "
                "Wikipedia, subtitles, news, books, web, Twitter, Reddit) in descending "
                "frequency order, each followed by its Capitalised variant; never-matchable "
                "tokens, single punctuation and smashed-number placeholders dropped; "
                "de-duplicated against earlier entries; cut at the budget."
            ),
            "license": "CC-BY-SA-4.0 (wordfreq data; wordfreq code is Apache-2.0)",
            "url": "https://github.com/rspeer/wordfreq",
        },
    }
    sources = {
        "name": METADATA_NAME,
        "notes": DIFFERS_FROM_PAPER,
        "sources": [{**r, **described[r["name"]]} for r in ranges],
        "build": {
            "script": "scripts/build_default_metadata.py",
            "budget": BUDGET,
            "entries": len(entries),
            "entries_sha256": hashlib.sha256(payload).hexdigest(),
            "wordnet_version": "3.0",
            "wordnet_files_order": list(WORDNET_FILES),
            "wordnet_prefix": "0..99",
            "wordfreq_version": wf_version,
            "wordfreq_lang": WORDFREQ_LANG,
            "wordfreq_wordlist": WORDFREQ_WORDLIST,
            "casing": CASING,
        },
    }
    OUT_SOURCES.write_text(json.dumps(sources, indent=2, ensure_ascii=False) + "\n", "utf-8")

    print(
        f"wordnet:  {ranges[0]['stop'] - ranges[0]['start']:>7,} entries [0, {ranges[0]['stop']})"
    )
    r = ranges[1]
    print(
        f"wordfreq: {r['stop'] - r['start']:>7,} entries [{r['start']}, {r['stop']}) "
        f"({wordfreq_used:,} as listed, {r['stop'] - r['start'] - wordfreq_used:,} "
        f"Capitalised; {len(words):,} filtered candidates)"
    )
    print(f"total:    {len(entries):>7,} entries, sha256 {sources['build']['entries_sha256']}")
    for p in (OUT_METADATA, OUT_SOURCES):
        print(f"wrote {p.relative_to(REPO_ROOT)} ({p.stat().st_size:,} bytes)")

    if not args.no_measure:
        if args.warc_dir.is_dir():
            run_measurement(args.warc_dir, wn, words)
        else:
            print(f"(no WARC folder at {args.warc_dir}: measurement skipped)")
    print(f"done in {time.perf_counter() - t0:.1f} s")
    return 0


def run_measurement(warc_dir: Path, wn: list[str], words: list[str]) -> None:
    alts = real_alt_texts(warc_dir)
    distinct = sorted(set(alts))
    print(f"\nmeasurement on {len(alts)} <img alt> texts ({len(distinct)} distinct) in {warc_dir}")
    options = {"wordnet only": wn}
    lower, _ = merge([("wordnet", wn), ("u", cased_unigrams(words, "lower"))], BUDGET)
    options["(a) lower"] = lower
    for casing, label in (
        ("lower+capitalised", "(b) lower+Capitalised interleaved"),
        ("lower-then-capitalised", "(c) lower, then Capitalised"),
    ):
        full, _ = merge([("wordnet", wn), ("u", cased_unigrams(words, casing))], BUDGET)
        options[label] = full
        if casing == "lower+capitalised":
            options[f"(b) truncated to {len(lower):,}"] = full[: len(lower)]
    for label, entries in options.items():
        for name, texts in (("all", alts), ("distinct", distinct)):
            m = measure(entries, len(wn), texts)
            print(
                f"  {label:<40} {m['entries']:>7,} entries  {name:<8} "
                f"matched {m['matched']:6.1%}  by unigram part {m['matched_by_unigram_part']:6.1%}"
                f"  mean matches {m['mean_matches']:.2f}"
            )
    top = measure(options["(b) lower+Capitalised interleaved"], len(wn), alts)["top"]
    print("  most matched entries, (b), all texts:", ", ".join(f"{e!r}:{c}" for e, c in top))
    lower_set = set(lower)
    max_pieces = max(e.count(" ") + 1 for e in lower)
    unmatched = [t for t in distinct if not matched_entries(t, lower_set, max_pieces)]
    print(f"  distinct texts unmatched by (a): {len(unmatched)}: {unmatched[:20]}")


if __name__ == "__main__":
    sys.exit(main())
