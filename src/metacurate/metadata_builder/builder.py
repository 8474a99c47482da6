"""``metacurate metadata build``: the sources of SPEC 3 counted, selected, merged in the
paper's order (WordNet, unigrams, bigrams, titles) and written as MetaCLIP's JSON list plus a
sidecar saying which id range came from which source and how it was built.

Everything costly lands in a work folder (``<out>.work`` by default) as it is done: a killed
build resumes from its finished chunks and files, and a re-run with other thresholds reuses
all the counts.
"""

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from metacurate.errors import InputError, OutputConflict
from metacurate.metadata import entries_sha256, sidecar_path
from metacurate.metadata_builder.entries import Part, merge
from metacurate.metadata_builder.pageviews import count_pageviews, pageview_files
from metacurate.metadata_builder.totals import BigramSelection, Totals
from metacurate.metadata_builder.word_counts import KINDS, WordCounts, count_dumps
from metacurate.metadata_builder.wordnet import bundled_wordnet_names, data_files, wordnet_names
from metacurate.progress import stage_progress
from metacurate.readers.base import Rejects
from metacurate.writers.atomic import make_folder, write_json
from metacurate.writers.lock import lock

DEFAULT_BUDGET = 500_000
LICENSES = {
    "wordnet": "WordNet 3.0 license (Princeton University; permissive, BSD-like)",
    "wikipedia-unigrams": "derived from Wikipedia text (CC BY-SA 4.0, GFDL)",
    "wikipedia-bigrams": "derived from Wikipedia text (CC BY-SA 4.0, GFDL)",
    "wikipedia-titles": "Wikipedia titles (CC BY-SA 4.0); pageview counts (CC0)",
}


@dataclass
class BuildOptions:
    out: Path
    wordnet: Path | None = None  # None: the bundled WordNet 3.0 names
    wikipedia: list[Path] = field(default_factory=list)
    pageviews: list[Path] = field(default_factory=list)
    min_unigram_count: int = 100
    min_bigram_pmi: float = 30.0
    min_bigram_count: int = 1
    min_title_views: int = 70
    budget: int = DEFAULT_BUDGET
    workers: int = os.cpu_count() or 1
    work_dir: Path | None = None
    memory_limit: str = "4GB"  # DuckDB's; it spills to the work folder beyond it
    overwrite: bool = False  # replace an --out this command did not write

    @property
    def work(self) -> Path:
        return self.work_dir or self.out.with_name(self.out.name + ".work")


@dataclass
class BuildReport:
    entries: list[str]
    parts: list[Part]
    sidecar: dict
    out: Path
    sidecar_out: Path
    seconds: float


def build_metadata(options: BuildOptions) -> BuildReport:
    started = time.perf_counter()
    _check_outputs(options)  # first: the list is written only after hours of counting
    make_folder(options.out.parent)
    if not (options.wikipedia or options.pageviews):
        return _build(options, started)
    make_folder(options.work)
    with lock(options.work):  # two builds counting into one work folder would mix their runs
        return _build(options, started)


def _check_outputs(options: BuildOptions) -> None:
    """--out is a file to write, none of the build's inputs, and replaces only a list this
    command wrote (anything, with --overwrite)."""
    out, sidecar = options.out, sidecar_path(options.out)
    if out.is_dir():
        raise InputError(
            f"{out}: is a folder; --out takes the file to write, for example {out / 'metadata.json'}"
        )
    inputs = [
        *options.wikipedia,
        *(f.path for f in pageview_files(options.pageviews, options.work)),
    ]
    if options.wordnet:
        inputs += data_files(options.wordnet)
    real_inputs = {os.path.realpath(p) for p in inputs}
    for path in (out, sidecar):
        if os.path.realpath(path) in real_inputs:
            raise InputError(f"{path} is an input of this build; choose another --out")
    existing = [path for path in (out, sidecar) if path.exists()]
    if existing and not options.overwrite and not _built_by_us(out, sidecar):
        raise OutputConflict(
            f"{existing[0]} exists and was not written by `metacurate metadata build`; use"
            " --overwrite to replace it or choose another --out"
        )


def _built_by_us(out: Path, sidecar: Path) -> bool:
    """Whether ``out`` is a list this command wrote: its sidecar records its digest."""
    try:
        recorded = json.loads(sidecar.read_text("utf-8"))["build"]["entries_sha256"]
        return recorded == entries_sha256(json.loads(out.read_text("utf-8")))
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _build(options: BuildOptions, started: float) -> BuildReport:
    rejects = Rejects()
    wordnet = wordnet_names(options.wordnet) if options.wordnet else bundled_wordnet_names()
    sources: list[tuple[str, list[str]]] = [("wordnet", wordnet)]
    described = {"wordnet": _wordnet_description(options.wordnet)}
    build: dict = {"budget": options.budget}

    words = _count_words(options, rejects) if options.wikipedia else None
    pageviews = pageview_files(options.pageviews, options.work) if options.pageviews else []
    if pageviews:
        with stage_progress("summing pageviews", len(pageviews), unit="files") as advance:
            reused = count_pageviews(pageviews, options.workers, rejects, lambda f: advance(1))
        build["pageviews"] = {"files": len(pageviews), "files_reused": reused}

    if words is not None or pageviews:
        totals = Totals(options.work, options.workers, options.memory_limit)
        try:
            sources += _select(totals, words, pageviews, options, described, build)
        finally:
            totals.close()

    entries, parts = merge(sources, options.budget)
    sidecar = {
        "name": options.out.name,
        "notes": "Built with `metacurate metadata build` (SPEC 3); each source's rule is in its description.",
        "sources": [
            {"name": p.name, "start": p.start, "stop": p.stop, "candidates": p.candidates}
            | {"license": LICENSES[p.name], "description": described[p.name]}
            for p in parts
        ],
        "build": build
        | {
            "entries": len(entries),
            "entries_sha256": entries_sha256(entries),
            "rejected": dict(rejects.by_reason),
            "reject_examples": rejects.examples,
            "seen": dict(rejects.seen),
            "seconds": round(time.perf_counter() - started, 1),
        },
    }
    write_json(options.out, entries, indent=None)
    sidecar_out = sidecar_path(options.out)
    write_json(sidecar_out, sidecar)
    return BuildReport(
        entries, parts, sidecar, options.out, sidecar_out, time.perf_counter() - started
    )


def _select(
    totals: Totals,
    words: WordCounts | None,
    pageviews: list,
    options: BuildOptions,
    described: dict[str, str],
    build: dict,
) -> list[tuple[str, list[str]]]:
    """The Wikipedia sources' entries, in the paper's order; descriptions and figures are
    added to ``described`` and ``build``."""
    sources: list[tuple[str, list[str]]] = []
    if words is not None:
        unigrams, bigrams, info = _select_words(totals, words, options)
        sources += [("wikipedia-unigrams", unigrams), ("wikipedia-bigrams", bigrams)]
        described |= _word_descriptions(options, words)
        build["wikipedia"] = info
    if pageviews:
        runs = [f.run for f in pageviews]
        titles_table = totals.summed("titles", runs, "title", "views")
        titles = totals.at_least(titles_table, "title", "views", options.min_title_views)
        sources.append(("wikipedia-titles", [t for t, _ in titles]))
        described["wikipedia-titles"] = (
            f"English Wikipedia titles ('en' project) with at least {options.min_title_views:,} "
            f"views summed over {len(pageviews):,} pageview files, '_' -> ' ', titles "
            "containing ':' skipped; most viewed first."
        )
        build["pageviews"] |= {
            "distinct_titles": totals.distinct(titles_table),
            "titles_passing": len(titles),
            "min_title_views": options.min_title_views,
        }
    return sources


def _count_words(options: BuildOptions, rejects: Rejects) -> WordCounts:
    for path in options.wikipedia:
        if not path.is_file():
            raise InputError(f"{path}: Wikipedia dump not found")
    megabytes = sum(p.stat().st_size for p in options.wikipedia) / 1e6
    with stage_progress("counting Wikipedia words", megabytes, unit="MB") as advance:
        return count_dumps(
            options.wikipedia, options.work, options.workers, rejects, lambda n: advance(n / 1e6)
        )


def _select_words(
    totals: Totals, words: WordCounts, options: BuildOptions
) -> tuple[list[str], list[str], dict]:
    tables = {kind: totals.summed(kind, words.runs[kind], "key", "n") for kind in KINDS}
    unigrams = totals.at_least(tables["unigrams"], "key", "n", options.min_unigram_count)
    selection: BigramSelection = totals.bigrams(
        tables["unigrams"], tables["bigrams"], options.min_bigram_pmi, options.min_bigram_count
    )
    info = {
        "pages": words.pages,
        "chars": words.chars,
        "tokens": selection.tokens,
        "chunks_counted": words.chunks_counted,
        "chunks_reused": words.chunks_reused,
        "distinct_unigrams": totals.distinct(tables["unigrams"]),
        "distinct_bigrams": totals.distinct(tables["bigrams"]),
        "unigrams_passing": len(unigrams),
        "min_unigram_count": options.min_unigram_count,
        "min_bigram_pmi": options.min_bigram_pmi,
        "min_bigram_count": options.min_bigram_count,
        "bigrams_passing_pmi": {f"{t:g}": n for t, n in selection.passing.items()},
    }
    return [u for u, _ in unigrams], [b for b, _, _ in selection.kept], info


def _wordnet_description(folder: Path | None) -> str:
    origin = f"the WordNet data files in {folder}" if folder else "bundled WordNet 3.0 names"
    return (
        'The strings "0".."99", then one name per synset in NLTK wn.all_synsets() order: first '
        "lemma, adjective marker removed, lower-cased, cut at its first '.', '_' -> ' '; from "
        f"{origin}."
    )


def _word_descriptions(options: BuildOptions, words: WordCounts) -> dict[str, str]:
    pages = f"{words.pages:,} Wikipedia articles"
    return {
        "wikipedia-unigrams": (
            f"Tokens of {pages} (markup stripped with mwparserfromhell; cased) counted at "
            f"least {options.min_unigram_count:,} times; most frequent first."
        ),
        "wikipedia-bigrams": (
            f"Adjacent token pairs of {pages} with pointwise mutual information >= "
            f"{options.min_bigram_pmi:g} (log2, as NLTK's BigramAssocMeasures.pmi) and count >= "
            f"{options.min_bigram_count:,}; highest PMI first."
        ),
    }
