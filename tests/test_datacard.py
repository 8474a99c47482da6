import json
import os
from pathlib import Path

import numpy as np
import pytest

from metacurate.datacard import write_datacard

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
N_ENTRIES = 20_000
T = 100


def simulate(seed: int = 0, n_rows: int = 30_000, n_entries: int = N_ENTRIES, t: float = T):
    """A small long-tailed pool balanced the MetaCLIP way: (counts_before, counts_after, stats)."""
    rng = np.random.default_rng(seed)
    matched_rows = n_rows // 2
    per_row = rng.integers(1, 6, size=matched_rows)
    # Zipf-distributed entry ids: a few very frequent entries, a long tail of rare ones.
    ids = (rng.zipf(1.3, size=int(per_row.sum())) - 1) % n_entries
    row_of = np.repeat(np.arange(matched_rows), per_row)
    # Distinct entries per row, as the matcher returns them.
    pairs = np.unique(np.stack([row_of, ids], axis=1), axis=0)
    row_of, ids = pairs[:, 0], pairs[:, 1]
    before = np.bincount(ids, minlength=n_entries).astype(np.uint64)
    p = np.where(before < t, 1.0, t / np.maximum(before, 1))
    hit = rng.random(len(ids)) < p[ids]
    keep_row = np.zeros(matched_rows, dtype=bool)
    np.logical_or.at(keep_row, row_of, hit)
    after = np.bincount(ids[keep_row[row_of]], minlength=n_entries).astype(np.uint64)
    miss = np.ones(matched_rows)
    np.multiply.at(miss, row_of, 1.0 - p[ids])
    prob = 1.0 - miss
    total = before.sum()
    stats = {
        "rows_matched": matched_rows,
        "matches_total": int(total),
        "rows_kept": int(keep_row.sum()),
        "expected": float(prob.sum()),
        "std": float(np.sqrt((prob * (1 - prob)).sum())),
        "tail_fraction": float(before[before < t].sum() / total),
        "head_entries": int((before >= t).sum()),
        "matches_kept": int(after.sum()),
        "p": p,
    }
    return before, after, stats


def make_card(before, after, stats, rows_read=30_000, t=T):
    entries = [f"word{i}" for i in range(N_ENTRIES)]
    entries[:6] = ["the", "of", "photo", "a|b", "say `hi`", "tab\there"]
    top = np.argsort(before, kind="stable")[::-1][:20]
    top = [int(i) for i in top if before[i] > 0]
    return {
        "title": "metacurate data card",
        "created_utc": "2026-11-23T18:00:00Z",
        "metacurate_version": "0.1.0",
        "command": f"metacurate curate pool.parquet --out out/ --t {t}",
        "inputs": {"files": ["pool.parquet"], "text_column": "text", "rows_read": rows_read},
        "metadata": {
            "origin": "built-in default (metacurate-default-v1)",
            "entries": N_ENTRIES,
            "sha256": "01f4e16bb1265a64facd5d001c2a28fcf1bd4d6aa4f3be9ea0d19214458a9a16",
            "sources": [
                {
                    "name": "wordnet",
                    "entries": 8_000,
                    "license": "WordNet 3.0 license (permissive, BSD-like)",
                    "description": "One name per WordNet synset.",
                },
                {
                    "name": "wordfreq",
                    "entries": 12_000,
                    "license": "CC-BY-SA-4.0 | Apache-2.0",
                    "description": "English unigrams, with Capitalised variants.",
                },
            ],
            "unmatchable_entries": 12,
            "unmatchable_examples": ["e.g", "a`b", "what?"],
        },
        "matching": {
            "rows_read": rows_read,
            "rows_matched": stats["rows_matched"],
            "rows_unmatched": rows_read - stats["rows_matched"],
            "rejected": {"invalid_utf8": 3, "malformed_json": 1},
            "matches_total": stats["matches_total"],
            "entries_matched": int((before > 0).sum()),
            "entries_unmatched": int((before == 0).sum()),
        },
        "balancing": {
            "t": t,
            "tail_fraction": stats["tail_fraction"],
            "seed": 0,
            "head_entries": stats["head_entries"],
            "rows_kept": stats["rows_kept"],
            "expected_rows_kept": stats["expected"],
            "expected_rows_kept_std": stats["std"],
            "matches_kept": stats["matches_kept"],
        },
        "top_entries": [
            {
                "id": i,
                "entry": entries[i],
                "count": int(before[i]),
                "kept": int(after[i]),
                "p": float(stats["p"][i]),
                "source": "wordnet" if i < 8_000 else "wordfreq",
            }
            for i in top
        ],
        "outputs": {"parquet": ["part-00000.parquet"], "rows": stats["rows_kept"]},
    }


@pytest.fixture(scope="module")
def realistic():
    before, after, stats = simulate()
    return before, after, stats, make_card(before, after, stats)


def assert_written(out: Path, paths: dict[str, Path]) -> None:
    assert set(paths) == {"json", "markdown", "plot"}
    assert str(paths["json"]) == str(out / "datacard.json")
    assert str(paths["markdown"]) == str(out / "datacard.md")
    assert str(paths["plot"]) == str(out / "cumulative_counts.png")
    for p in paths.values():
        assert p.is_file()
    assert sorted(os.listdir(out)) == ["cumulative_counts.png", "datacard.json", "datacard.md"]
    png = paths["plot"].read_bytes()
    assert png.startswith(PNG_SIGNATURE)
    assert len(png) > 10_000


def test_realistic_card(tmp_path, realistic):
    before, after, stats, card = realistic
    # The simulated pool behaves like MetaCLIP: head entries exist and are cut down towards t.
    assert stats["head_entries"] > 5
    assert after.max() < before.max()
    paths = write_datacard(tmp_path, card, before, after, T)
    assert_written(tmp_path, paths)

    raw = paths["json"].read_text(encoding="utf-8")
    assert json.loads(raw) == card
    assert raw == json.dumps(card, indent=2, ensure_ascii=False) + "\n"

    md = paths["markdown"].read_text(encoding="utf-8")
    assert md.startswith("# metacurate data card\n")
    for section in [
        "## What this is",
        "## Inputs",
        "## Metadata",
        "## Matching",
        "## Balancing",
        "## Top entries",
        "## Distribution",
        "## Outputs",
    ]:
        assert section in md
    assert "Rows read: 30,000" in md
    assert "t = 100" in md
    assert "metacurate curate pool.parquet --out out/ --t 100" in md
    tail_pct = f"{100 * stats['tail_fraction']:.1f}%"
    assert f"entries with fewer than t = 100 matches hold {tail_pct} of all matches" in md
    assert "| invalid\\_utf8 | 3 |" in md
    assert "| malformed\\_json | 1 |" in md
    assert f"| matched (at least one entry) | {stats['rows_matched']:,} | 50.0% |" in md
    assert f"Rows kept: {stats['rows_kept']:,}; expected {stats['expected']:,.1f} ± " in md
    assert f"{stats['matches_total']:,}" in md
    assert "![cumulative counts](cumulative_counts.png)" in md
    # Entries with Markdown table syntax are escaped; the licence with a pipe too.
    assert "| a\\|b |" in md
    assert "| say \\`hi\\` |" in md
    assert "| tab\\\\there |" in md
    assert "CC-BY-SA-4.0 \\| Apache-2.0" in md
    assert "``a`b``" in md
    # Every table row has the right number of unescaped cell separators.
    for line in md.splitlines():
        if line.startswith("| #") or line.startswith("| ") and " | wordnet | " in line:
            assert len(line.replace("\\|", "").split("|")) == 9


def test_overwrites_and_leaves_no_temp_files(tmp_path, realistic):
    before, after, _, card = realistic
    out = tmp_path / "new" / "out"
    write_datacard(out, card, before, after, T)
    card2 = {**card, "command": "second run"}
    paths = write_datacard(out, card2, before, after, T)
    assert_written(out, paths)
    assert json.loads(paths["json"].read_text(encoding="utf-8")) == card2


def test_unserialisable_card_writes_nothing(tmp_path, realistic):
    before, after, _, card = realistic
    bad = {**card, "not_json": object()}
    with pytest.raises(TypeError):
        write_datacard(tmp_path, bad, before, after, T)
    assert os.listdir(tmp_path) == []


def test_empty_pool(tmp_path):
    zeros = np.zeros(N_ENTRIES, dtype=np.uint64)
    stats = {
        "rows_matched": 0,
        "matches_total": 0,
        "rows_kept": 0,
        "expected": 0.0,
        "std": 0.0,
        "tail_fraction": 0.0,
        "head_entries": 0,
        "matches_kept": 0,
        "p": np.ones(N_ENTRIES),
    }
    card = make_card(zeros, zeros, stats, rows_read=0)
    card["matching"]["rejected"] = {}
    assert card["top_entries"] == []
    paths = write_datacard(tmp_path, card, zeros, zeros, T)
    assert_written(tmp_path, paths)
    assert json.loads(paths["json"].read_text(encoding="utf-8")) == card
    md = paths["markdown"].read_text(encoding="utf-8")
    assert "Rows read: 0" in md
    assert "| read | 0 | n/a |" in md
    assert "n/a per matched row" in md
    assert "No rows were rejected." in md
    assert "No entry matched any text." in md


def test_no_entries_at_all(tmp_path, realistic):
    _, _, _, card = realistic
    empty = np.zeros(0, dtype=np.uint64)
    paths = write_datacard(tmp_path, card, empty, empty, T)
    assert paths["plot"].read_bytes().startswith(PNG_SIGNATURE)


def test_unusual_strings(tmp_path, realistic):
    before, after, _, card = realistic
    card = json.loads(json.dumps(card))
    card["top_entries"][0]["entry"] = "lone \ud800 | line\nbreak "
    card["inputs"]["files"] = [f"shard-{i:05d}.parquet" for i in range(25)]
    paths = write_datacard(tmp_path, card, before, after, 100.0)
    assert json.loads(paths["json"].read_text(encoding="utf-8")) == card
    md = paths["markdown"].read_text(encoding="utf-8")
    assert "| lone \\\\ud800 \\| line\\\\nbreak\u2423 |" in md
    assert "... and 15 more" in md
    assert "t = 100 " in md


def test_rejects_mismatched_counts(tmp_path, realistic):
    _, _, _, card = realistic
    with pytest.raises(ValueError):
        write_datacard(tmp_path, card, np.zeros(3, np.uint64), np.zeros(4, np.uint64), T)


def test_interrupted_write_leaves_previous_files_whole(tmp_path, realistic, monkeypatch):
    before, after, _, card = realistic
    write_datacard(tmp_path, card, before, after, T)
    old = {p: p.read_bytes() for p in tmp_path.iterdir()}

    def killed(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        write_datacard(tmp_path, {**card, "command": "second run"}, before, after, T)
    assert {p: p.read_bytes() for p in tmp_path.iterdir()} == old
