"""The data card of a curation run: datacard.json, datacard.md and cumulative_counts.png.

The caller builds the card (a JSON-serialisable dict, see ``write_datacard``); this module only
renders it. Every file is written whole or not at all (``writers/atomic.py``), so an interrupted
run never leaves a partial file under a final name.
"""

import json
import math
import re
import unicodedata
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from metacurate.location import Location
from metacurate.writers.atomic import atomic_file

JSON_NAME = "datacard.json"
MARKDOWN_NAME = "datacard.md"
PLOT_NAME = "cumulative_counts.png"

# Files listed in full in the Markdown before "... and N more".
_MAX_FILES_LISTED = 10
# Points per curve in the rank plot (log-spaced ranks; the curve is monotone, so this is exact
# to the eye and keeps the PNG small for 500k entries).
_MAX_RANK_POINTS = 4000


def write_datacard(
    out_dir: Location | Path,
    card: dict,
    counts_before: np.ndarray,
    counts_after: np.ndarray,
    t: float,
) -> dict[str, Location]:
    """Write datacard.json, datacard.md and cumulative_counts.png into out_dir; return their paths by kind ('json', 'markdown', 'plot').

    ``card`` is written to datacard.json unchanged. ``counts_before[e]`` is the number of pairs
    of the whole pool whose text matched entry e, ``counts_after[e]`` the same over the pairs
    kept by balancing, ``t`` the balancing threshold (used for the Markdown and the plot).
    The plot is written first and the JSON last.
    """
    out_dir = Location.of(out_dir)
    before = _as_counts(counts_before, "counts_before")
    after = _as_counts(counts_after, "counts_after")
    if before.shape != after.shape:
        raise ValueError(
            f"counts_before and counts_after differ in length: {before.shape[0]} != {after.shape[0]}"
        )
    out_dir.make()
    paths = {
        "json": out_dir / JSON_NAME,
        "markdown": out_dir / MARKDOWN_NAME,
        "plot": out_dir / PLOT_NAME,
    }
    # Render the text files first, so a card that cannot be rendered changes nothing on disk.
    json_bytes = _card_json(card)
    markdown = _render_markdown(card, before, after, t).encode("utf-8", "backslashreplace")
    _atomic_write(paths["plot"], lambda f: _save_plot(f, before, after, t))
    _atomic_write(paths["markdown"], lambda f: f.write(markdown))
    _atomic_write(paths["json"], lambda f: f.write(json_bytes))
    return paths


# --------------------------------------------------------------------------- files


def _atomic_write(where: Location, write: Callable[[Any], object]) -> None:
    """Write ``where`` through ``write(binary_file)``, whole or not at all."""
    with atomic_file(where) as f:
        write(f)


def _card_json(card: dict) -> bytes:
    text = json.dumps(card, indent=2, ensure_ascii=False) + "\n"
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        # Lone surrogates (legal in JSON, e.g. in an entry) cannot be UTF-8 encoded: fall back to
        # \uXXXX escapes, which still round-trip to the same dict.
        return (json.dumps(card, indent=2, ensure_ascii=True) + "\n").encode("ascii")


def _as_counts(counts: np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(counts)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    return arr.astype(np.float64, copy=False)


# --------------------------------------------------------------------------- formatting


def _num(x: Any) -> float | None:
    """x as a finite float, or None (missing, NaN, not a number)."""
    if x is None or isinstance(x, bool):
        return None
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _int(x: Any) -> str:
    v = _num(x)
    return "n/a" if v is None else f"{round(v):,}"


def _dec(x: Any, digits: int = 1) -> str:
    v = _num(x)
    return "n/a" if v is None else f"{v:,.{digits}f}"


def _t(x: Any) -> str:
    v = _num(x)
    if v is None:
        return "n/a"
    return f"{int(v):,}" if v == int(v) else f"{v:,g}"


def _frac(x: Any) -> str:
    """A fraction in [0, 1] as a percentage with one decimal."""
    v = _num(x)
    return "n/a" if v is None else f"{100.0 * v:.1f}%"


def _pct(num: Any, den: Any) -> str:
    n, d = _num(num), _num(den)
    if n is None or d is None or d == 0:
        return "n/a"
    return f"{100.0 * n / d:.1f}%"


def _ratio(num: Any, den: Any, digits: int = 2) -> str:
    n, d = _num(num), _num(den)
    if n is None or d is None or d == 0:
        return "n/a"
    return f"{n / d:,.{digits}f}"


def _prob(x: Any) -> str:
    v = _num(x)
    return "n/a" if v is None else f"{v:.4g}"


_NAMED_CONTROLS = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _visible(s: Any) -> str:
    """s with invisible or line-breaking characters made visible.

    Control, format, separator (other than the plain space) and surrogate code points become
    escape sequences, leading and trailing spaces the open-box sign; the empty string is "".
    """
    s = "" if s is None else str(s)
    if s == "":
        return '""'
    out = []
    for ch in s:
        cat = unicodedata.category(ch)
        if ch in _NAMED_CONTROLS:
            out.append(_NAMED_CONTROLS[ch])
        elif cat in ("Cc", "Cf", "Cs", "Zl", "Zp") or (cat == "Zs" and ch != " "):
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(ch)
    text = "".join(out)
    stripped = text.strip(" ")
    if stripped != text:
        lead = len(text) - len(text.lstrip(" "))
        trail = len(text) - len(text.rstrip(" "))
        text = "\u2423" * lead + stripped + "\u2423" * trail
    return text


# Characters that can change inline rendering inside a GFM table cell.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|~&])")


def _cell(s: Any) -> str:
    """s as literal text for a Markdown table cell (or running text)."""
    return _MD_SPECIAL.sub(r"\\\1", _visible(s))


def _code(s: Any) -> str:
    """s as a Markdown code span, fenced by more backticks than any run inside it."""
    text = _visible(s)
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    if text.startswith("`") or text.endswith("`"):
        text = f" {text} "
    return f"{fence}{text}{fence}"


def _code_block(s: Any) -> str:
    text = "" if s is None else str(s)
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}\n{text}\n{fence}"


def _table(header: list[str], rows: Iterable[list[str]], align: str) -> str:
    """A GFM table; align has one letter per column: l(eft) or r(ight)."""
    sep = ["---:" if a == "r" else "---" for a in align]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(sep) + " |"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _files(names: Any) -> str:
    names = list(names or [])
    if not names:
        return "none"
    shown = ", ".join(_code(n) for n in names[:_MAX_FILES_LISTED])
    if len(names) > _MAX_FILES_LISTED:
        shown += f", ... and {len(names) - _MAX_FILES_LISTED:,} more"
    return shown


# --------------------------------------------------------------------------- statistics


def _filter_rows(matching: dict, rows_read) -> list[list[str]]:
    """Matching-table rows for the language and de-duplication filters, when the run had them."""
    rows = []
    for key, label in (
        ("rows_other_language", "matched, other language (dropped)"),
        ("rows_duplicate", "matched, duplicate (image, text) pair (dropped)"),
        ("rows_written", "matched rows balanced"),
    ):
        if key in matching:
            rows.append([label, _int(matching[key]), _pct(matching[key], rows_read)])
    return rows


def _filter_notes(matching: dict) -> list[str]:
    notes = []
    langs = matching.get("languages")
    if langs and set(langs.values()) == {"not identified"}:
        notes.append("Languages were not identified (no language filter).")
    elif langs:
        notes.append(
            f"Languages kept (fastText lid.176): web archives {_code(langs['web_archives'])}, "
            f"other inputs {_code(langs['tables'])}."
        )
    if "dedup" in matching:
        dedup = matching["dedup"]
        notes.append(
            "De-duplication: off."
            if dedup is None
            else f"De-duplication: one row per distinct (image, text) pair across all inputs, "
            f"first occurrence in input order kept ({_int(dedup['pairs_distinct'])} distinct)."
        )
    seen = matching.get("seen") or {}
    if seen:
        notes.append(
            "Web archives read: "
            + ", ".join(f"{_int(n)} {_cell(k)}" for k, n in seen.items())
            + "."
        )
    return notes


def _tail_stats(before: np.ndarray, after: np.ndarray, t: float) -> dict[str, float | None]:
    """Where the ascending-sorted pool counts reach t, and the share of matches below it."""
    matched = before > 0
    n = int(matched.sum())
    total_b, total_a = float(before.sum()), float(after.sum())
    tail = matched & (before < t)
    return {
        "matched_entries": n,
        "tail_entries": int(tail.sum()),
        "x": (int(tail.sum()) / n) if n else None,
        "before": (float(before[tail].sum()) / total_b) if total_b else None,
        "after": (float(after[tail].sum()) / total_a) if total_a else None,
    }


# --------------------------------------------------------------------------- markdown


def _render_markdown(card: dict, before: np.ndarray, after: np.ndarray, t: float) -> str:
    """The text of datacard.md (see ``write_datacard``)."""
    inputs = card.get("inputs") or {}
    meta = card.get("metadata") or {}
    matching = card.get("matching") or {}
    bal = card.get("balancing") or {}
    outputs = card.get("outputs") or {}
    tail = _tail_stats(before, after, t)
    ts = _t(t)

    rows_read = matching.get("rows_read", inputs.get("rows_read"))
    rows_matched = matching.get("rows_matched")
    # Rows the balance stage drew from: matched, in the chosen languages, distinct.
    rows_written = matching.get("rows_written", rows_matched)
    n_entries = meta.get("entries")
    parts: list[str] = []

    # ---- title and what this is
    parts.append(f"# {_cell(card.get('title') or 'metacurate data card')}")
    parts.append(
        f"Created {_cell(card.get('created_utc') or 'n/a')} "
        f"with metacurate {_cell(card.get('metacurate_version') or 'n/a')}."
    )
    parts.append("## What this is")
    parts.append(
        "This dataset was curated from a pool of image-text pairs with MetaCLIP balancing "
        '(Xu et al., "Demystifying CLIP Data", ICLR 2024). Every text is matched by sub-string '
        f"against a list of {_int(n_entries)} metadata entries (visual concepts) and texts with "
        "no match are dropped. Each entry e gets a sampling probability p_e = 1 if it matched "
        f"fewer than t = {ts} texts in the pool and t / count_e otherwise; a pair is kept when at "
        "least one independent draw, one per matched entry, falls below its p_e. Rare entries "
        f"therefore keep all their pairs, while each frequent entry contributes about t = {ts} "
        f"pairs of its own. The random draws were seeded with {_cell(bal.get('seed', 'n/a'))}. "
        "The run was:"
    )
    parts.append(_code_block(card.get("command", "")))

    # ---- inputs
    in_files = inputs.get("files") or []
    parts.append("## Inputs")
    parts.append(
        "\n".join(
            [
                f"- Files ({len(in_files):,}): {_files(in_files)}",
                f"- Text column: {_code(inputs.get('text_column', 'n/a'))}",
                f"- Rows read: {_int(inputs.get('rows_read', rows_read))}",
            ]
        )
    )

    # ---- metadata
    parts.append("## Metadata")
    parts.append(
        "\n".join(
            [
                f"- Origin: {_cell(meta.get('origin', 'n/a'))}",
                f"- Entries: {_int(n_entries)}",
                f"- SHA-256: {_code(meta.get('sha256', 'n/a'))}",
            ]
        )
    )
    sources = meta.get("sources") or []
    if sources:
        parts.append(
            _table(
                ["source", "entries", "share", "licence", "description"],
                (
                    [
                        _cell(s.get("name", "")),
                        _int(s.get("entries")),
                        _pct(s.get("entries"), n_entries),
                        _cell(s.get("license") or "not stated"),
                        _cell(s.get("description", "")),
                    ]
                    for s in sources
                ),
                "lrrll",
            )
        )
    if meta.get("notes"):
        parts.append(_cell(meta["notes"]))
    unmatchable = meta.get("unmatchable_entries")
    examples = list(meta.get("unmatchable_examples") or [])
    text = (
        f"{_int(unmatchable)} entries ({_pct(unmatchable, n_entries)} of the list) can never "
        "match any text: matching puts spaces around `,` `.` `;` `:` `?` `!` and backticks and "
        "turns tabs, newlines and carriage returns into spaces, so an entry in which one of "
        "those punctuation characters touches another character (`e.g`, `U.S`), or which "
        "contains a tab, newline or carriage return, never occurs in a prepared text."
    )
    if examples:
        text += " Examples: " + ", ".join(_code(e) for e in examples) + "."
    parts.append(text)

    # ---- matching
    matches_total = matching.get("matches_total")
    rows_unmatched = matching.get("rows_unmatched")
    entries_matched = matching.get("entries_matched")
    entries_unmatched = matching.get("entries_unmatched")
    parts.append("## Matching")
    parts.append(
        _table(
            ["rows", "count", "share of rows read"],
            [
                ["read", _int(rows_read), _pct(rows_read, rows_read)],
                ["matched (at least one entry)", _int(rows_matched), _pct(rows_matched, rows_read)],
                ["unmatched (dropped)", _int(rows_unmatched), _pct(rows_unmatched, rows_read)],
                *_filter_rows(matching, rows_read),
            ],
            "lrr",
        )
    )
    parts.extend(_filter_notes(matching))
    rejected = matching.get("rejected") or {}
    if rejected:
        parts.append("Rows rejected by reason:")
        parts.append(
            _table(
                ["reason", "rows", "share of rows read"],
                ([_cell(r), _int(n), _pct(n, rows_read)] for r, n in rejected.items()),
                "lrr",
            )
        )
    else:
        parts.append("No rows were rejected.")
    parts.append(
        "\n".join(
            [
                f"- Matches (pair, entry) in total: {_int(matches_total)}; "
                f"{_ratio(matches_total, rows_matched)} per matched row on average",
                f"- Entries matched at least once: {_int(entries_matched)} "
                f"({_pct(entries_matched, n_entries)} of the list)",
                f"- Entries never matched: {_int(entries_unmatched)} "
                f"({_pct(entries_unmatched, n_entries)} of the list)",
            ]
        )
    )

    # ---- balancing
    rows_kept = bal.get("rows_kept")
    expected = bal.get("expected_rows_kept")
    std = bal.get("expected_rows_kept_std")
    deviation = ""
    kept_v, exp_v, std_v = _num(rows_kept), _num(expected), _num(std)
    if kept_v is not None and exp_v is not None and std_v:
        deviation = f", {(kept_v - exp_v) / std_v:+.2f} standard deviations from expected"
    parts.append("## Balancing")
    parts.append(
        "\n".join(
            [
                f"- Threshold t = {ts}; seed {_cell(bal.get('seed', 'n/a'))}.",
                f"- Tail: entries with fewer than t = {ts} matches hold "
                f"{_frac(bal.get('tail_fraction'))} of all matches; they keep every pair "
                f"(p_e = 1). {tail['tail_entries']:,} entries are in the tail.",
                f"- Head: {_int(bal.get('head_entries'))} entries with at least t = {ts} matches "
                f"are sampled with p_e = t / count, so each keeps only about t = {ts} pairs "
                "through its own draws. Their kept counts in the table below can be higher: a "
                "pair is kept when the draw of any one of its matched entries succeeds.",
                f"- Rows kept: {_int(rows_kept)}; expected {_dec(expected)} ± {_dec(std)}"
                f"{deviation}.",
                f"- Share of matched rows kept: {_pct(rows_kept, rows_written)} "
                f"({_pct(rows_kept, rows_read)} of rows read).",
                f"- Matches kept: {_int(bal.get('matches_kept'))} of {_int(matches_total)} "
                f"({_pct(bal.get('matches_kept'), matches_total)}).",
            ]
        )
    )

    # ---- top entries
    top = card.get("top_entries") or []
    parts.append("## Top entries")
    if top:
        parts.append(
            f"The {len(top):,} entries with the most matches in the pool. p_e is the entry's "
            "sampling probability; kept is the number of kept pairs whose text matches it."
        )
        parts.append(
            _table(
                ["#", "entry", "id", "source", "count", "p_e", "kept"],
                (
                    [
                        str(i),
                        _cell(e.get("entry", "")),
                        _int(e.get("id")),
                        _cell(e.get("source", "")),
                        _int(e.get("count")),
                        _prob(e.get("p")),
                        _int(e.get("kept")),
                    ]
                    for i, e in enumerate(top, 1)
                ),
                "rlrlrrr",
            )
        )
        shown = [str(e.get("entry", "")) for e in top]
        if any(_visible(s) != s for s in shown):
            parts.append(
                "Entries are shown verbatim, except that control characters appear as escape "
                "sequences (such as \\\\n) and leading or trailing spaces as \u2423."
            )
    else:
        parts.append("No entry matched any text.")

    # ---- distribution
    parts.append("## Distribution")
    parts.append(f"![cumulative counts]({PLOT_NAME})")
    if tail["matched_entries"]:
        tail_words = (
            f"; the dots mark where pool counts reach t = {ts}: the entries below it hold "
            f"{_frac(tail['before'])} of matches before balancing and {_frac(tail['after'])} after"
        )
    else:
        tail_words = " (no entry matched, so both panels are empty)"
    parts.append(
        "*Left: matches per entry by rank (log-log) in the pool and after balancing, with the "
        f"threshold t = {ts} dashed. Right: cumulative share of all matches held by the matched "
        f"entries ranked from rarest to most frequent in the pool{tail_words}.*"
    )

    # ---- outputs
    out_files = outputs.get("parquet") or []
    out_rows = outputs.get("rows")
    lines = [
        f"- Rows written: {_int(out_rows)}",
        f"- Parquet files ({len(out_files):,}): {_files(out_files)}",
        f"- This card: {_code(JSON_NAME)} (machine-readable), {_code(MARKDOWN_NAME)}, "
        f"{_code(PLOT_NAME)}",
    ]
    if _num(out_rows) is not None and _num(rows_kept) is not None and out_rows != rows_kept:
        lines.append(
            f"- Note: rows written differ from rows kept by balancing ({_int(rows_kept)})."
        )
    parts.append("## Outputs")
    parts.append("\n".join(lines))

    return "\n\n".join(parts) + "\n"


# --------------------------------------------------------------------------- plot

_BEFORE_COLOR = "#1f77b4"
_AFTER_COLOR = "#d62728"
_T_COLOR = "#555555"


def _rank_points(counts_desc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Log-spaced ranks (1-based) and their counts, at most _MAX_RANK_POINTS of them."""
    n = len(counts_desc)
    if n <= _MAX_RANK_POINTS:
        idx = np.arange(n)
    else:
        idx = np.unique(np.geomspace(1, n, _MAX_RANK_POINTS).astype(np.int64) - 1)
    return idx + 1, counts_desc[idx]


def _thin(n: int, start: int, keep: int | None) -> np.ndarray:
    """Indices into a curve of n + 1 points, from start on, at most ~_MAX_RANK_POINTS of them."""
    idx = np.arange(start, n + 1)
    if len(idx) > _MAX_RANK_POINTS:
        idx = np.unique(np.linspace(start, n, _MAX_RANK_POINTS).astype(np.int64))
    if keep is not None and start <= keep <= n:
        idx = np.union1d(idx, [keep])
    return idx


def _draw_cumulative(ax: Any, before: np.ndarray, after: np.ndarray, t: float) -> None:
    """Right panel: cumulative share of matches, entries ordered by pool count ascending."""
    from matplotlib.ticker import MaxNLocator, PercentFormatter

    ts = _t(t)
    matched = before > 0
    n = int(matched.sum())
    order = np.argsort(before[matched], kind="stable")
    x = np.arange(n + 1) / n
    curves = [("before balancing", _BEFORE_COLOR, before)]
    if after.sum() > 0:
        curves.append(("after balancing", _AFTER_COLOR, after))
    ys = [
        (label, color, np.concatenate(([0.0], np.cumsum(c[matched][order] / c.sum()))))
        for label, color, c in curves
    ]
    tail = _tail_stats(before, after, t)
    k = tail["tail_entries"] if tail["x"] is not None else None

    def draw(target: Any, start: int, lw: float, legend: bool) -> None:
        idx = _thin(n, start, k)
        for label, color, y in ys:
            target.plot(x[idx], y[idx], color=color, lw=lw, label=label if legend else None)
        if k is not None:
            target.axvline(x[k], color=_T_COLOR, ls=":", lw=1.0)
            for _, color, y in ys:
                target.plot([x[k]], [y[k]], "o", color=color, ms=5, zorder=3)

    draw(ax, 0, 1.8, True)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.xaxis.set_major_formatter(PercentFormatter(1.0))
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.grid(True, alpha=0.3)

    # The head is usually a few percent of the matched entries, squeezed against the right edge:
    # zoom on it in an inset.
    zoom = k is not None and k < n and (n - k) / n < 0.1 and n >= 50
    if zoom:
        start = max(0, k - 4 * (n - k))
        inset = ax.inset_axes([0.43, 0.27, 0.5, 0.45])
        draw(inset, start, 1.5, False)
        inset.set_xlim(x[start], 1)
        inset.set_ylim(0, 1.02)
        locator = MaxNLocator(4, steps=[1, 2, 5, 10])
        ticks = locator.tick_values(x[start], 1.0)
        step = 100.0 * float(ticks[1] - ticks[0]) if len(ticks) > 1 else 1.0
        decimals = max(0, -math.floor(math.log10(step) + 1e-9))
        inset.xaxis.set_major_locator(locator)
        inset.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=decimals))
        inset.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        inset.tick_params(labelsize=7)
        inset.grid(True, alpha=0.3)
        inset.set_title(f"zoom: the most frequent {_frac(1 - x[start])} of entries", fontsize=8)
        ax.indicate_inset_zoom(inset, edgecolor="#999999", alpha=0.6)

    if k is not None:
        note = (
            f"Dots: pool count reaches t = {ts}. Entries below t (the\n"
            f"tail, {_frac(x[k])} of matched entries) hold {_frac(tail['before'])}\n"
            "of matches before balancing"
        )
        if tail["after"] is not None:
            note += f", {_frac(tail['after'])} after"
        ax.text(
            0.03,
            0.97,
            note,
            transform=ax.transAxes,
            ha="left",
            va="top",
            fontsize=8.5,
            bbox={"boxstyle": "round,pad=0.4", "fc": "white", "ec": "#bbbbbb", "alpha": 0.95},
        )
    ax.legend(loc="upper left", bbox_to_anchor=(0.01, 0.8), fontsize=8.5, framealpha=0.9)


def _save_plot(f: Any, before: np.ndarray, after: np.ndarray, t: float) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 4.5), dpi=120)
    FigureCanvasAgg(fig)
    ax_rank, ax_cum = fig.subplots(1, 2)
    ts = _t(t)
    matched = before > 0
    n_matched = int(matched.sum())
    total_b, total_a = float(before.sum()), float(after.sum())

    ax_rank.set_title("Matches per entry, by rank")
    ax_rank.set_xlabel("entry rank (most matched first)")
    ax_rank.set_ylabel("matches (pairs)")
    ax_cum.set_title("Cumulative share of matches, rarest entries first")
    ax_cum.set_xlabel("matched entries, ranked rarest \u2192 most frequent in the pool")
    ax_cum.set_ylabel("cumulative share of all matches")

    if n_matched == 0:
        for ax in (ax_rank, ax_cum):
            ax.set_xticks([])
            ax.set_yticks([])
            ax.text(
                0.5,
                0.5,
                "no entry matched any text:\nnothing to plot",
                ha="center",
                va="center",
                transform=ax.transAxes,
                color=_T_COLOR,
            )
        fig.tight_layout()
        fig.savefig(f, format="png")
        return

    # ---- left: counts by rank, log-log
    desc_b = np.sort(before[matched])[::-1]
    x, y = _rank_points(desc_b)
    ax_rank.plot(
        x,
        y,
        color=_BEFORE_COLOR,
        lw=1.8,
        label=f"before balancing ({n_matched:,} entries, {_int(total_b)} matches)",
    )
    kept = after[after > 0]
    if len(kept):
        x, y = _rank_points(np.sort(kept)[::-1])
        ax_rank.plot(
            x,
            y,
            color=_AFTER_COLOR,
            lw=1.8,
            label=f"after balancing ({len(kept):,} entries, {_int(total_a)} matches)",
        )
    ax_rank.set_xscale("log")
    ax_rank.set_yscale("log")
    if _num(t) is not None and t > 0:
        ax_rank.axhline(t, color=_T_COLOR, ls="--", lw=1.2, label=f"t = {ts}")
        lo, hi = ax_rank.get_ylim()
        ax_rank.set_ylim(min(lo, t / 2), max(hi, t * 2))
    ax_rank.grid(True, which="major", alpha=0.3)
    ax_rank.legend(loc="best", fontsize=8.5, framealpha=0.9)

    _draw_cumulative(ax_cum, before, after, t)

    fig.tight_layout()
    fig.savefig(f, format="png")
