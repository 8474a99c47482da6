"""The bundled default metadata (src/metacurate/data/default_metadata.*)."""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import json
import string
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
SCRIPT = REPO_ROOT / "scripts" / "build_default_metadata.py"
WORDNET_LEN = 86_654
BUDGET = 500_000
WRAPPED = set(",.;:?!`")


def _data_dir():
    try:
        from importlib.resources import files

        return files("metacurate") / "data"
    except ImportError:  # package not importable yet: read the source tree
        return REPO_ROOT / "src" / "metacurate" / "data"


@pytest.fixture(scope="module")
def entries() -> list[str]:
    raw = (_data_dir() / "default_metadata.json.gz").read_bytes()
    return json.loads(gzip.decompress(raw).decode("utf-8"))


@pytest.fixture(scope="module")
def sources() -> dict:
    return json.loads((_data_dir() / "default_metadata.sources.json").read_text("utf-8"))


@pytest.fixture(scope="module")
def builder():
    spec = importlib.util.spec_from_file_location("build_default_metadata", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _source(sources: dict, name: str) -> dict:
    (src,) = [s for s in sources["sources"] if s["name"] == name]
    return src


def test_format_and_size(entries):
    assert isinstance(entries, list)
    assert len(entries) == BUDGET
    assert all(isinstance(e, str) for e in entries)
    assert all(entries), "empty entry"
    assert len(set(entries)) == len(entries), "duplicate entries"


def test_gzip_is_reproducible():
    raw = (_data_dir() / "default_metadata.json.gz").read_bytes()
    assert raw[4:8] == b"\0\0\0\0", "gzip mtime must be 0"


def test_sources_cover_all_entries_contiguously(entries, sources):
    assert sources["name"] == "metacurate-default-v1"
    ranges = sources["sources"]
    assert ranges[0]["start"] == 0
    for prev, cur in zip(ranges, ranges[1:], strict=False):
        assert cur["start"] == prev["stop"]
    assert ranges[-1]["stop"] == len(entries)
    for src in ranges:
        assert src["start"] < src["stop"]
        for key in ("description", "license", "url"):
            assert src[key]
    assert sources["build"]["script"] == "scripts/build_default_metadata.py"


def test_sha256_recorded(entries, sources):
    payload = json.dumps(entries, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    assert hashlib.sha256(payload).hexdigest() == sources["build"]["entries_sha256"]


def test_wordnet_range(entries, sources):
    wn = _source(sources, "wordnet")
    assert (wn["start"], wn["stop"]) == (0, WORDNET_LEN)
    assert entries[:100] == [str(i) for i in range(100)]


def test_no_punctuation_or_never_matchable_entries(entries):
    assert not [e for e in entries if len(e) == 1 and e in string.punctuation]
    never = [e for e in entries if any(c in WRAPPED or c in "\t\n\r" for c in e)]
    assert never == []


def test_spot_checks(entries):
    wn_part = set(entries[:WORDNET_LEN])
    # first-dot rule: "Ph.D." -> "ph", "St._Andrew's_cross" -> "st"; "_" -> " "
    for name in ("ph", "st", "lake st", "dog", "entity", "new york", "ice cream", "able"):
        assert name in wn_part, name
    # names NLTK's rule never produces: markers stripped, no dots, no underscores, lower case
    assert not [e for e in wn_part if "_" in e or "(a)" in e or "(p)" in e or "(ip)" in e]
    assert not [e for e in wn_part if e != e.lower()]
    assert "ph.d" not in wn_part and "ph d" not in wn_part
    # the unigram part carries frequent words in both casings (alt texts are often Capitalised)
    rest = set(entries[WORDNET_LEN:])
    for word in ("the", "The", "Image", "Black", "photo", "I"):
        assert word in rest, word
