"""The fast matcher must equal the plain reference (tests/reference.py) bit for bit."""

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reference import reference_match, reference_spacing

from metacurate.match.matcher import Matcher
from metacurate.match.spacing import spaced, unmatchable_reason

# One row per bullet of SPEC section 2 and the extra cases: (text, entry, matches?).
EDGE_CASES = [
    ("hello!", "hello", True),
    ("e.g.", "e . g", True),
    ("e.g.", "e.g", False),
    ("12:30", "12", True),
    ("12:30", "30", True),
    ("a  b", "a b", False),
    ("a  b", "a  b", True),
    ("x\u00a0y", "x", False),
    ("x\u00a0y", "y", False),
    ("x\u00a0y", "x\u00a0y", True),
    ("a\r\nb", "a  b", True),
    ("a\r\nb", "a b", False),
    ("a\tb", "a b", True),
    ("new york city", "new york", True),
    ("new york city", "york", True),
    ("new york city", "new york city", True),
    ("New York", "new york", False),
    ("caf\u00e9", "cafe\u0301", False),
    ("cafe\u0301", "cafe\u0301", True),
    ("caf\u00e9", "caf\u00e9", True),
    ("\ud800 lone \udfff", "lone", True),
    ("\ud800 lone \udfff", "\ud800", True),
    ("", "", True),
    ("", "a", False),
    ("!!!...", "!", True),
    ("!!!...", ". .", False),
    ("!!!...", ".  .", True),
    ("?!", "? !", False),
    ("?!", "?  !", True),
    ("a.b", ".", True),
    ("a`b", "`", True),
    ("don't", "don't", True),
    ("don't", "don", False),
    ("end.", "end", True),
    (" lead", " lead", True),
    ("lead", " lead", False),
    ("trail ", "trail ", True),
    ("one", "one two", False),
    ("one two", "two", True),
    ("xone", "one", False),
    ("\u3000wide\u3000", "wide", False),
]


@pytest.mark.parametrize(("text", "entry", "expected"), EDGE_CASES)
def test_edge_cases_agree_with_reference(text, entry, expected):
    assert (reference_match(text, [entry]) == [0]) is expected  # the table itself is right
    assert Matcher([entry]).match_texts([text]).of(0) == ([0] if expected else [])


def test_spacing_equals_reference():
    for text, _, _ in EDGE_CASES:
        assert spaced(text) == reference_spacing(text)


def test_all_edge_cases_in_one_batch():
    entries = sorted({entry for _, entry, _ in EDGE_CASES})
    texts = [text for text, _, _ in EDGE_CASES]
    got = Matcher(entries).match_texts(texts).to_lists()
    assert got == [reference_match(t, entries) for t in texts]


def test_one_megabyte_text():
    chunk = "the quick brown fox, jumps over: the lazy dog! "
    text = chunk * (1_000_000 // len(chunk)) + "needle in haystack"
    entries = ["fox", "lazy dog", "needle in haystack", "haystack", "absent", "dog !"]
    assert Matcher(entries).match_texts([text]).of(0) == reference_match(text, entries)


def test_only_punctuation_and_empty_and_null():
    entries = [".", ",", ". .", "a", ""]
    texts = ["...,,,", "", None, "   "]
    got = Matcher(entries).match_texts(texts).to_lists()
    assert got == [reference_match(t, entries) for t in texts]
    assert got[2] == []


def test_duplicate_entries_both_reported():
    assert Matcher(["dog", "cat", "dog"]).match_texts(["a dog"]).of(0) == [0, 2]


def test_arrow_input_equals_python_input_with_nulls_and_slices():
    entries = ["red", "red car", "car", "blue"]
    texts = ["a red car", None, "blue car.", "", "nothing"]
    matcher = Matcher(entries)
    expected = [reference_match(t, entries) for t in texts]
    for array in (
        pa.array(texts),
        pa.array(texts, pa.large_string()),
        pa.array(texts).cast(pa.binary()),
    ):
        assert matcher.match_arrow(array).to_lists() == expected
    sliced = pa.array(["zzz", *texts])[1:]
    assert matcher.match_arrow(sliced).to_lists() == expected
    chunked = pa.chunked_array([texts[:2], texts[2:]])
    assert matcher.match_arrow(chunked).to_lists() == expected


def test_to_arrow_roundtrip():
    matches = Matcher(["a", "b"]).match_texts(["a b", "c", "b"])
    assert matches.to_arrow().to_pylist() == [[0, 1], [], [1]]


@pytest.mark.parametrize(
    ("entry", "matchable"),
    [
        ("e.g", False),
        ("e . g", True),
        (".", True),
        ("a\tb", False),
        ("hello !", True),
        ("a,b c", False),
    ],
)
def test_unmatchable_entries_are_reported(entry, matchable):
    assert (unmatchable_reason(entry) is None) is matchable
    # Reported unmatchable entries really never match: spot-check against the reference.
    if not matchable:
        assert reference_match(entry, [entry]) == []
    assert (0 in Matcher([entry]).unmatchable) is not matchable


# Adversarial alphabet: every character class the spec treats specially, near-miss spaces,
# combining marks, non-BMP and lone surrogates.
ALPHABET = [" ", " ", " ", "a", "b", "A", ",", ".", ";", ":", "?", "!", "`", "\t", "\n", "\r"]
ALPHABET += [
    "\u00a0",
    "\u3000",
    "\u00e9",
    "e",
    "\u0301",
    "1",
    "2",
    "-",
    "'",
    "\U0001f600",
    "\ud800",
]
texts_st = st.text(alphabet=st.sampled_from(ALPHABET), max_size=40)
short_st = st.text(alphabet=st.sampled_from(ALPHABET), min_size=0, max_size=6)


@st.composite
def entries_and_texts(draw):
    texts = draw(st.lists(texts_st, min_size=1, max_size=12))
    entries = draw(st.lists(short_st, max_size=25))
    # Pieces cut out of the texts make hits likely, including runs crossing punctuation.
    for text in texts:
        if text:
            i = draw(st.integers(0, len(text) - 1))
            j = draw(st.integers(i, len(text)))
            entries.append(text[i:j])
            entries.append(reference_spacing(text)[i : j + 2].strip(" "))
    return entries, texts


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(entries_and_texts())
def test_random_texts_equal_reference(case):
    entries, texts = case
    got = Matcher(entries).match_texts(texts).to_lists()
    assert got == [reference_match(t, entries) for t in texts]


@settings(max_examples=100, deadline=None)
@given(entries_and_texts())
def test_random_texts_arrow_path_equals_reference(case):
    entries, texts = case
    texts = [t.replace("\ud800", "?") for t in texts]  # Arrow strings are valid UTF-8 only
    got = Matcher(entries).match_arrow(pa.array(texts)).to_lists()
    assert got == [reference_match(t, entries) for t in texts]
