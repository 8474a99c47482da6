"""Building metadata from WordNet, a Wikipedia dump and pageview files (SPEC 3, issue 4)."""

import bz2
import gzip
import json
import math
from importlib.resources import files
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner
from wiki_fixtures import (
    WORDNET_FIXTURE_NAMES,
    export_xml,
    write_dump,
    write_pageviews,
    write_wordnet,
)

from metacurate.cli import app
from metacurate.errors import InputError, OutputConflict
from metacurate.metadata import load_metadata
from metacurate.metadata_builder import word_counts
from metacurate.metadata_builder.builder import BuildOptions, build_metadata
from metacurate.metadata_builder.entries import merge
from metacurate.metadata_builder.pageviews import count_pageviews, pageview_files
from metacurate.metadata_builder.totals import pmi
from metacurate.metadata_builder.wikitext import count_words, plain_text
from metacurate.metadata_builder.wordnet import (
    WORDNET_3_0_ENTRIES,
    bundled_wordnet_names,
    synset_names,
    wordnet_names,
)
from metacurate.readers.base import Rejects
from metacurate.writers.lock import lock

WORDNET_3_0 = Path("/usr/share/wordnet")

# Markup whose words must not be counted: a template, a reference, a file link's options and
# caption, a category link and a comment. Any leak changes the counts below.
ALPHA = (
    "{{Infobox thing|name=Ignored Template|size=9}}\n"
    "'''Red Fox''' lives in [[Green Valley|Green Valley]].<ref>{{cite web|title=Ignored Ref}}</ref>\n"
    "[[File:Fox.jpg|thumb|Ignored caption]]\n"
    "Red Fox eats.<!-- Ignored comment -->\n"
    "== Red Fox ==\n"
    "[[Category:Ignored Category]]\n"
)
BETA = "Green Valley has a ''Red'' [[Fox]]."
PAGES = [
    {"title": "Alpha", "text": ALPHA},
    {"title": "Red fox", "text": "#REDIRECT [[Alpha]]", "redirect": "Alpha"},
    {"title": "Talk:Alpha", "text": "Red Fox Red Fox Ignored Talk", "ns": 1},
    {"title": "Beta", "text": BETA},
]
# Counted by hand from the two articles' visible text.
UNIGRAMS = {"Red": 4, "Fox": 4, "Green": 2, "Valley": 2, "lives": 1, "in": 1, "eats": 1}
UNIGRAMS |= {"has": 1, "a": 1}
N_TOKENS = 17
BIGRAMS = {"Red Fox": 4, "Green Valley": 2, "Fox lives": 1, "lives in": 1, "in Green": 1}
BIGRAMS |= {"Fox eats": 1, "Valley has": 1, "has a": 1, "a Red": 1}


def _pageviews(folder: Path) -> Path:
    write_pageviews(
        folder,
        "pageviews-20220101-000000.gz",
        [
            "en Red_Fox 50 0",
            "en Main_Page 100 0",
            "en.m Red_Fox 999 0",
            "de Rotfuchs 80 0",
            "en File:Fox.jpg 500 0",
            "en Green_Valley 30 0",
        ],
    )
    write_pageviews(
        folder,
        "pageviews-20220101-010000.gz",
        [
            "en Red_Fox 25 0",
            "en Blue_Sky 70 0",
            "en broken_line_without_fields",
            "en Bad_Count x 0",
            "en Green_Valley 39 0",
        ],
    )
    return folder


def _options(tmp_path: Path, **kw) -> BuildOptions:
    wordnet = write_wordnet(tmp_path / "wordnet")
    dump = write_dump(tmp_path / "enwiki-pages-articles.xml.bz2", PAGES)
    defaults = dict(
        out=tmp_path / "metadata.json",
        wordnet=wordnet,
        wikipedia=[dump],
        pageviews=[_pageviews(tmp_path / "pageviews")],
        min_unigram_count=2,
        min_bigram_pmi=3.0,
        min_title_views=70,
        workers=1,
    )
    return BuildOptions(**(defaults | kw))


# --------------------------------------------------------------------------- WordNet


def test_wordnet_fixture_follows_the_naming_rule(tmp_path):
    assert wordnet_names(write_wordnet(tmp_path / "wn")) == WORDNET_FIXTURE_NAMES


def test_missing_wordnet_file_is_a_clear_error(tmp_path):
    folder = write_wordnet(tmp_path / "wn")
    (folder / "data.verb").unlink()
    with pytest.raises(InputError, match=r"missing data\.verb"):
        wordnet_names(folder)
    with pytest.raises(InputError, match="WordNet folder not found"):
        wordnet_names(tmp_path / "nowhere")


def test_wordnet_3_0_gives_the_papers_86654_entries():
    if not (WORDNET_3_0 / "data.noun").exists():
        pytest.skip("WordNet 3.0 not installed (apt-get install wordnet-base)")
    names = wordnet_names(WORDNET_3_0)
    assert len(names) == WORDNET_3_0_ENTRIES
    # The bundled names (the default without a WordNet install) are exactly these.
    assert names == bundled_wordnet_names()
    # the naming rule itself: 117,659 synsets, 86,555 distinct names, one of them empty
    all_names = list(synset_names(WORDNET_3_0))
    assert len(all_names) == 117_659
    assert len(set(all_names)) == 86_555
    assert "" in all_names


def test_bundled_wordnet_names_need_no_install():
    names = bundled_wordnet_names()
    assert len(names) == WORDNET_3_0_ENTRIES
    assert names[:100] == [str(i) for i in range(100)]
    assert "entity" in names and "ph" in names


# --------------------------------------------------------------------------- words


def test_markup_is_stripped_and_words_counted_by_hand():
    texts = [plain_text(ALPHA), plain_text(BETA)]
    assert not any("Ignored" in t or "thumb" in t for t in texts)
    unigrams, bigrams = count_words(texts)
    assert dict(unigrams) == UNIGRAMS
    assert dict(bigrams) == BIGRAMS
    assert unigrams.total() == N_TOKENS


def test_tokens_and_pairs_follow_the_matchers_view():
    unigrams, bigrams = count_words(
        ["The cat's hat. Rock-'n-roll COVID-19\nNew  York; naïve\tcafé"]
    )
    tokens = {"The", "cat's", "hat", "Rock", "n-roll", "COVID-19", "New", "York", "naïve", "café"}
    assert set(unigrams) == tokens
    # No pair across punctuation ("-'" ends "Rock") or a line break; spaces and tabs join.
    assert set(bigrams) == {"The cat's", "cat's hat", "n-roll COVID-19", "New York", "naïve café"}


def test_pmi_is_nltks_formula():
    # log2(n_ii * N) - log2(n_ix * n_xi), by hand: 2 * 16 / (4 * 2) = 4
    assert pmi(2, 4, 2, 16) == 2.0
    assert pmi(1, 1, 1, 2**30) == 30.0
    assert math.isclose(pmi(3, 5, 7, 1000), math.log2(3 * 1000 / 35), rel_tol=1e-12)


# --------------------------------------------------------------------------- whole build


def test_build_gives_the_expected_entries_in_order(tmp_path):
    report = build_metadata(_options(tmp_path))
    expected_pmi = {
        b: math.log2(n * N_TOKENS / (UNIGRAMS[b.split()[0]] * UNIGRAMS[b.split()[1]]))
        for b, n in BIGRAMS.items()
    }
    assert math.isclose(expected_pmi["lives in"], math.log2(17))
    assert math.isclose(expected_pmi["Green Valley"], math.log2(8.5))
    kept = [b for b, v in expected_pmi.items() if v >= 3.0 - 1e-9]
    kept.sort(key=lambda b: (-round(expected_pmi[b], 9), -BIGRAMS[b], b))
    assert kept == ["has a", "lives in", "Green Valley", "Valley has", "in Green"]
    titles = ["Main Page", "Red Fox", "Blue Sky"]  # 100, 75, 70 views; Green Valley has 69
    assert (
        report.entries == WORDNET_FIXTURE_NAMES + ["Fox", "Red", "Green", "Valley"] + kept + titles
    )
    assert [(p.name, p.stop - p.start) for p in report.parts] == [
        ("wordnet", len(WORDNET_FIXTURE_NAMES)),
        ("wikipedia-unigrams", 4),
        ("wikipedia-bigrams", 5),
        ("wikipedia-titles", 3),
    ]
    # The output is MetaCLIP's format: a JSON list of strings, and the sidecar says the sources.
    assert json.loads(report.out.read_text()) == report.entries
    sidecar = json.loads((tmp_path / "metadata.sources.json").read_text())
    wiki = sidecar["build"]["wikipedia"]
    assert (wiki["pages"], wiki["tokens"], wiki["distinct_bigrams"]) == (2, 17, len(BIGRAMS))
    assert wiki["bigrams_passing_pmi"]["3"] == 5 and wiki["bigrams_passing_pmi"]["10"] == 0
    assert sidecar["build"]["seen"]["pages_not_articles"] == 2
    # The malformed pageview lines are counted with file and line; the others were summed.
    assert sidecar["build"]["rejected"] == {"malformed_line": 2}
    assert any(
        "pageviews-20220101-010000.gz:3: malformed_line" in e
        for e in sidecar["build"]["reject_examples"]
    )
    # Loading the list picks up the sidecar, so explain and the data card can name sources.
    meta = load_metadata(report.out)
    assert meta.source_of(len(WORDNET_FIXTURE_NAMES)) == "wikipedia-unigrams"
    assert meta.source_of(len(report.entries) - 1) == "wikipedia-titles"


def test_budget_cuts_the_list_in_source_order(tmp_path):
    budget = len(WORDNET_FIXTURE_NAMES) + 6
    report = build_metadata(_options(tmp_path, budget=budget))
    assert len(report.entries) == budget
    assert report.entries[-6:] == ["Fox", "Red", "Green", "Valley", "has a", "lives in"]
    bigram_part = report.parts[2]
    assert (bigram_part.stop - bigram_part.start, bigram_part.candidates) == (2, 5)
    assert report.parts[3].stop == report.parts[3].start  # no room left for titles


def test_merge_drops_duplicates_empty_and_single_punctuation():
    entries, parts = merge([("a", ["x", "", "-", "x", "«", "y"]), ("b", ["y", "z"])], budget=10)
    assert entries == ["x", "y", "z"]
    assert [(p.start, p.stop, p.candidates) for p in parts] == [(0, 2, 6), (2, 3, 2)]


def test_plain_text_input_counts_like_the_dump(tmp_path):
    plain = [plain_text(ALPHA), plain_text(BETA)]
    docs = tmp_path / "wiki_00"
    docs.write_text(
        "".join(
            f'<doc id="{i}" url="https://en.wikipedia.org/wiki?curid={i}" title="T{i}">\n{t}\n</doc>\n'
            for i, t in enumerate(plain)
        )
    )
    lines = tmp_path / "wiki_01"
    lines.write_text(
        "".join(
            json.dumps({"id": str(i), "title": "T", "text": t}) + "\n" for i, t in enumerate(plain)
        )
    )
    # A lone surrogate escape (legal JSON) becomes U+FFFD instead of failing the Parquet run.
    lines.write_text(lines.read_text() + json.dumps({"title": "S", "text": "x\ud800"}) + "\n")
    from_dump = build_metadata(_options(tmp_path, out=tmp_path / "a.json"))
    for extracted in (docs, lines):
        report = build_metadata(
            _options(tmp_path, out=tmp_path / f"{extracted.name}.json", wikipedia=[extracted])
        )
        assert report.entries == from_dump.entries, extracted.name


def test_multistream_dump_reads_every_stream(tmp_path):
    # pages-articles-multistream: the header, each run of pages and the footer are separate
    # bz2 streams concatenated in one file.
    xml = export_xml(PAGES)
    first_page, last_end = xml.index("  <page>"), xml.rindex("</page>") + len("</page>\n")
    pieces = [xml[:first_page], xml[first_page:last_end], xml[last_end:]]
    multi = tmp_path / "enwiki-pages-articles-multistream.xml.bz2"
    multi.write_bytes(b"".join(bz2.compress(p.encode()) for p in pieces))
    single = build_metadata(_options(tmp_path, out=tmp_path / "single.json"))
    report = build_metadata(_options(tmp_path, out=tmp_path / "multi.json", wikipedia=[multi]))
    assert report.sidecar["build"]["wikipedia"]["pages"] == 2
    assert report.entries == single.entries


def _many_pages(n: int) -> list[dict]:
    words = ["Alpha", "beta", "Gamma", "delta", "epsilon", "Zeta", "eta", "theta"]
    return [
        {
            "title": f"Page {i}",
            "text": " ".join(words[(i * 7 + k * 3) % len(words)] for k in range(40)) + ".",
        }
        for i in range(n)
    ]


def test_truncated_dump_keeps_the_pages_before_and_says_where(tmp_path, monkeypatch):
    monkeypatch.setattr(word_counts, "CHUNK_CHARS", 2_000)
    # 100 kB bz2 blocks: the blocks before the cut decode, as in a real multi-GB dump.
    raw = bz2.compress(export_xml(_many_pages(1500)).encode(), compresslevel=1)
    dump = tmp_path / "cut.xml.bz2"
    dump.write_bytes(raw[: len(raw) * 2 // 3])
    report = build_metadata(_options(tmp_path, wikipedia=[dump], pageviews=[], min_unigram_count=1))
    build = report.sidecar["build"]
    assert build["rejected"] == {"truncated_input": 1}
    assert build["reject_examples"][0].startswith(f"{dump}:")
    assert 0 < build["wikipedia"]["pages"] < 1500
    assert build["wikipedia"]["chunks_counted"] > 1
    # A re-run reuses the counts and still reports the damage.
    again = build_metadata(_options(tmp_path, wikipedia=[dump], pageviews=[], min_unigram_count=1))
    assert again.sidecar["build"]["rejected"] == build["rejected"]
    assert again.entries == report.entries


def test_killed_build_resumes_to_the_same_result(tmp_path, monkeypatch):
    monkeypatch.setattr(word_counts, "CHUNK_CHARS", 2_000)
    dump = write_dump(tmp_path / "many.xml.bz2", _many_pages(120))
    options = dict(wikipedia=[dump], min_unigram_count=1, min_bigram_pmi=0.5)
    clean = build_metadata(_options(tmp_path, out=tmp_path / "clean.json", **options))
    chunks = clean.sidecar["build"]["wikipedia"]["chunks_counted"]
    assert chunks > 3

    real = word_counts.count_chunk
    calls = []

    def dies_on_the_third_chunk(chunk):
        calls.append(chunk)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(chunk)

    monkeypatch.setattr(word_counts, "count_chunk", dies_on_the_third_chunk)
    killed = _options(tmp_path, out=tmp_path / "resumed.json", **options)
    with pytest.raises(KeyboardInterrupt):
        build_metadata(killed)
    assert not killed.out.exists()
    monkeypatch.setattr(word_counts, "count_chunk", real)
    resumed = build_metadata(killed)
    assert resumed.entries == clean.entries
    wiki = resumed.sidecar["build"]["wikipedia"]
    assert (wiki["chunks_reused"], wiki["chunks_counted"]) == (2, chunks - 2)
    assert wiki["pages"] == clean.sidecar["build"]["wikipedia"]["pages"]

    # Another threshold re-queries the kept counts: the dump is not even read again.
    def must_not_read(*args):
        raise AssertionError("a counted dump was read again")

    monkeypatch.setattr(word_counts, "read_pages", must_not_read)
    again = build_metadata(
        _options(tmp_path, out=tmp_path / "resumed.json", **options | {"min_bigram_pmi": 1.5})
    )
    wiki = again.sidecar["build"]["wikipedia"]
    assert (wiki["chunks_counted"], wiki["chunks_reused"]) == (0, chunks)
    assert wiki["pages"] == clean.sidecar["build"]["wikipedia"]["pages"]
    assert again.sidecar["build"]["seen"] == clean.sidecar["build"]["seen"]


def test_two_workers_build_the_same_list(tmp_path, monkeypatch):
    monkeypatch.setattr(word_counts, "CHUNK_CHARS", 2_000)
    dump = write_dump(tmp_path / "many.xml.bz2", _many_pages(60))
    lists = []
    for workers in (1, 2):
        options = _options(tmp_path, out=tmp_path / f"{workers}.json", workers=workers)
        options.wikipedia, options.min_unigram_count, options.min_bigram_pmi = [dump], 1, 0.5
        lists.append(build_metadata(options).entries)
    assert lists[0] == lists[1]


def test_missing_inputs_are_clear_errors(tmp_path):
    with pytest.raises(InputError, match="Wikipedia dump not found"):
        build_metadata(_options(tmp_path, wikipedia=[tmp_path / "nope.xml.bz2"]))
    with pytest.raises(InputError, match="pageview file or folder not found"):
        build_metadata(_options(tmp_path, pageviews=[tmp_path / "nope"]))


# --------------------------------------------------------------------------- command line


def test_metadata_build_and_stats_commands(tmp_path):
    runner = CliRunner()
    write_wordnet(tmp_path / "wordnet")
    write_dump(tmp_path / "dump.xml.bz2", PAGES)
    _pageviews(tmp_path / "pv")
    out = tmp_path / "metadata.json"
    args = ["metadata", "build", "--out", str(out), "--wordnet", str(tmp_path / "wordnet")]
    args += ["--wikipedia", str(tmp_path / "dump.xml.bz2"), "--pageviews", str(tmp_path / "pv")]
    args += ["--min-unigram-count", "2", "--min-bigram-pmi", "3", "--workers", "1"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "malformed_line" in result.output and "pageviews-20220101-010000.gz:3" in result.output
    assert len(json.loads(out.read_text())) == len(WORDNET_FIXTURE_NAMES) + 12
    stats = runner.invoke(app, ["metadata", "stats", str(out)])
    assert stats.exit_code == 0, stats.output
    for name in ("wordnet", "wikipedia-unigrams", "wikipedia-bigrams", "wikipedia-titles"):
        assert name in stats.output
    assert "100,646" in stats.output  # the paper's bigram row, shown beside ours
    explain = runner.invoke(app, ["explain", "a Red Fox in Green Valley", "--metadata", str(out)])
    assert explain.exit_code == 0, explain.output
    assert "wikipedia-bigrams" in explain.output and "wikipedia-titles" in explain.output
    # The data card of a run with this list says where its entries came from.
    pool = files("metacurate") / "data" / "sample_pool.parquet"
    curate = ["curate", str(pool), "--out", str(tmp_path / "run"), "--metadata", str(out)]
    result = runner.invoke(app, [*curate, "--t", "10"])
    assert result.exit_code == 0, result.output
    card = (tmp_path / "run" / "curated-t10-seed0" / "datacard.md").read_text()
    assert "| wikipedia-titles | 3 |" in card and "pageview counts (CC0)" in card
    missing = runner.invoke(app, args[:4] + ["--wordnet", str(tmp_path / "nowhere")])
    assert missing.exit_code == 2 and "WordNet folder not found" in missing.output


def test_pageview_damage_is_counted_where_it_is(tmp_path):
    folder = tmp_path / "pv"
    folder.mkdir()
    good = gzip.compress(b"en Red_Fox 5 0\nen Caf\xe9 9 0\nen Blue_Sky -3 0\nen Green 7 0\n" * 200)
    (folder / "pageviews-20220101-000000.gz").write_bytes(good)
    (folder / "pageviews-20220101-010000.gz").write_bytes(good[: len(good) // 2])
    (folder / "pageviews-20220101-010000.gz.md5").write_text("not a pageview file")
    files = pageview_files([folder], tmp_path / "work")
    assert [f.path.name for f in files] == [
        "pageviews-20220101-000000.gz",
        "pageviews-20220101-010000.gz",
    ]
    rejects = Rejects()
    assert count_pageviews(files, workers=1, rejects=rejects) == 0
    assert rejects.by_reason["invalid_utf8"] >= 200 and rejects.by_reason["malformed_line"] >= 200
    assert rejects.by_reason["truncated_input"] == 1
    assert f"{files[0].path}:2: invalid_utf8 (byte 3 of the title)" in rejects.examples
    views = {r["title"]: r["views"] for r in pq.read_table(files[0].run).to_pylist()}
    assert views == {"Red Fox": 1000, "Green": 1400}
    # The lines before the cut were summed, and a second call reuses both files.
    before_cut = {r["title"]: r["views"] for r in pq.read_table(files[1].run).to_pylist()}
    assert 0 < before_cut["Red Fox"] < 1000
    assert count_pageviews(files, workers=1, rejects=Rejects()) == 2


def test_wordnet_file_that_is_not_text_is_a_one_line_error(tmp_path):
    wordnet = write_wordnet(tmp_path / "wordnet")
    noun = wordnet / "data.noun"
    noun.write_bytes(gzip.compress(noun.read_bytes()))  # a data.noun.gz renamed, say
    out = tmp_path / "metadata.json"
    result = CliRunner().invoke(
        app, ["metadata", "build", "--out", str(out), "--wordnet", str(wordnet)]
    )
    assert result.exit_code == 2
    assert result.output == (
        f"error: {noun}:1: not a WordNet data file (byte 0x8b is not UTF-8 text)\n"
    )
    assert not out.exists()


def test_out_folder_is_refused_before_any_work(tmp_path):
    folder = tmp_path / "meta"
    folder.mkdir()
    options = _options(tmp_path, out=folder)
    with pytest.raises(InputError) as refused:
        build_metadata(options)
    assert str(refused.value) == (
        f"{folder}: is a folder; --out takes the file to write, for example {folder}/metadata.json"
    )
    assert not options.work.exists()  # no Wikipedia chunk was counted
    result = CliRunner().invoke(app, ["metadata", "build", "--out", str(folder)])
    assert result.exit_code == 2 and result.output.startswith(f"error: {folder}: is a folder")
    assert list(folder.iterdir()) == []


def test_a_build_into_a_work_folder_in_use_is_refused(tmp_path):
    options = _options(tmp_path, wikipedia=[], pageviews=[_pageviews(tmp_path / "pv")])
    options.work.mkdir(parents=True)
    with lock(options.work), pytest.raises(OutputConflict, match=r"is in use by .*\(pid \d+ on"):
        build_metadata(options)
    assert not options.out.exists()
    assert build_metadata(options).entries  # once the folder is free
