"""Shared helpers of the benchmarks: synthetic alt texts, medians, memory readings.

Not part of the package; imported by the ``bench_*.py`` scripts next to it.
"""

from __future__ import annotations

import os
import platform
import re
import statistics
import subprocess
import time
from datetime import UTC, datetime

import numpy as np

# --------------------------------------------------------------------------------------
# Synthetic alt texts
# --------------------------------------------------------------------------------------

_WORD = re.compile(r"^[a-z][a-z'-]*[a-z]$|^[a-z]$")
_PHRASE = re.compile(r"^[a-z]+( [a-z]+){1,2}$")
_FOREIGN = (
    "café crème brûlée à Paris",
    "Straße in München bei Nacht",
    "señora con niño en la playa",
    "Ölgemälde eines Hafens",
    "façade de l'hôtel de ville",
    "北京 故宫 照片",
    "東京タワー の 夜景",
    "Москва зимой фото",
    "Αθήνα Ακρόπολη",
    "São Paulo à noite",
    "smörgåsbord på julafton",
    "città di Firenze dall'alto",
)
_BRANDS = ("Nike", "Adidas", "IKEA", "Samsung", "Canon", "Lego", "Zara", "Bosch", "Sony", "Apple")
_SITES = ("Reuters", "AP Photo", "Getty Images", "Shutterstock", "iStock", "Flickr", "Alamy")
_MONTHS = ("January", "March", "May", "June", "July", "August", "October", "December")


def _vocabulary(entries: list[str], sources) -> tuple[list[str], np.ndarray, list[str]]:
    """Lower-case single words in frequency order (wordfreq block) and multi-word phrases."""
    start = 0
    for source in sources:
        if source.name == "wordfreq":
            start = source.start
    words = [e for e in entries[start:] if _WORD.match(e)][:60_000]
    ranks = np.arange(len(words), dtype=np.float64)
    weights = 1.0 / (ranks + 8.0) ** 1.05  # Zipf-like; the 8 damps the/of/and a little
    phrases = [e for e in entries[: start or len(entries)] if _PHRASE.match(e)]
    return words, weights / weights.sum(), phrases


def generate_texts(n: int, seed: int = 0) -> list[str]:
    """``n`` alt-text-like strings (mean about 50 characters) built from the default metadata.

    A mix of product titles (Title Case, sizes, brands, ``|`` and ``-``), captions (sentences
    with commas and full stops), news credits and dates (``12:30``), short labels, file-name
    junk (``IMG_2019.jpg``), texts in other languages and raw-attribute noise (double spaces,
    tabs, newlines, no-break spaces). Deterministic for a seed.
    """
    from metacurate.metadata import default_metadata

    meta = default_metadata()
    words, probs, phrases = _vocabulary(meta.entries, meta.sources)
    rng = np.random.default_rng(seed)
    pool = rng.choice(len(words), size=n * 12 + 1000, p=probs)
    wi = 0

    def take(k: int) -> list[str]:
        nonlocal wi
        if wi + k > len(pool):
            wi = 0
        out = [words[j] for j in pool[wi : wi + k]]
        wi += k
        return out

    kinds = rng.choice(7, size=n, p=[0.30, 0.32, 0.09, 0.10, 0.08, 0.05, 0.06])
    lens = rng.integers(0, 1 << 30, size=n)
    u = rng.random((n, 4))
    texts: list[str] = []
    for i in range(n):
        kind, r, (a, b, c, d) = kinds[i], int(lens[i]), u[i]
        if kind == 0:  # product title
            toks = [w.capitalize() if c < 0.8 else w for w in take(4 + r % 6)]
            if a < 0.35:
                toks.insert(r % len(toks), phrases[r % len(phrases)].title())
            text = " ".join(toks)
            if b < 0.3:
                text = f"{_BRANDS[r % len(_BRANDS)]} {text}"
            if d < 0.25:
                text += f" - Size {36 + r % 12}"
            elif d < 0.4:
                text += f" ({1 + r % 6} Pack)"
            elif d < 0.5:
                text += f" | {_BRANDS[(r >> 4) % len(_BRANDS)]}"
        elif kind == 1:  # caption sentence
            toks = take(5 + r % 7)
            if a < 0.4:
                toks.insert(r % len(toks), phrases[(r >> 3) % len(phrases)])
            if b < 0.35:
                toks[(r >> 5) % len(toks)] += ","
            text = " ".join(toks)
            text = text[0].upper() + text[1:]
            if c < 0.5:
                text += "."
            elif c < 0.6:
                text += "!"
        elif kind == 2:  # news credit / date
            head = " ".join(take(3 + r % 4)).capitalize()
            if a < 0.5:
                text = f"{head}. Photo: {_SITES[r % len(_SITES)]}"
            else:
                text = (
                    f"{head} on {_MONTHS[r % len(_MONTHS)]} {1 + r % 28}, "
                    f"{1990 + r % 35} at {1 + r % 12}:{r % 60:02d}"
                )
        elif kind == 3:  # short label
            text = " ".join(take(1 + r % 3))
            text = text.title() if a < 0.5 else text
        elif kind == 4:  # file-name junk
            stem = ("IMG_", "DSC", "photo-", "banner_", "thumb-")[r % 5]
            ext = ("jpg", "png", "webp", "JPG")[(r >> 3) % 4]
            text = f"{stem}{r % 100000:05d}.{ext}" if a < 0.6 else f"{'-'.join(take(3))}-{r % 999}"
        elif kind == 5:  # other languages
            text = _FOREIGN[r % len(_FOREIGN)]
            if a < 0.5:
                text = f"{text} {1990 + r % 35}"
        else:  # longer description
            text = " ".join(take(9 + r % 8)).capitalize() + ". " + " ".join(take(3)).capitalize()
        if d > 0.985:  # raw-attribute noise
            text = text.replace(" ", ("  ", "\n", " \t", "\u00a0", " \r\n")[r % 5], 1)
        texts.append(text)
    return texts


# --------------------------------------------------------------------------------------
# Statistics and machine notes
# --------------------------------------------------------------------------------------


def median(values: list[float]) -> float:
    return statistics.median(values)


def spread(values: list[float]) -> str:
    """``median (min-max, n=k)`` of a list of timings or rates."""
    return (
        f"{median(values):,.3g} (min {min(values):,.3g}, max {max(values):,.3g}, n={len(values)})"
    )


def timed(fn, *args, **kwargs):
    t0 = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - t0, result


def machine_note() -> str:
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    nproc = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"{datetime.now(UTC):%Y-%m-%d %H:%M UTC}; nproc={nproc}; CPU: {model}; "
        f"Python {platform.python_version()}; loadavg {load}; code: {code_version()}"
    )


def code_version() -> str:
    """Commit of the checkout and whether src/ differs from it (the code being measured)."""
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

    def git(*args: str) -> str:
        try:
            return subprocess.run(
                ["git", "-C", repo, *args], capture_output=True, text=True, timeout=10
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    head = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--", "src")
    return f"{head}{' + uncommitted src changes' if dirty else ''}"


# --------------------------------------------------------------------------------------
# Memory
# --------------------------------------------------------------------------------------


def proc_status_kib(
    pid: int | str = "self", fields: tuple[str, ...] = ("VmRSS:", "VmHWM:")
) -> dict[str, int]:
    """These fields (KiB) of a process's /proc status, VmRSS and VmHWM by default; empty if it
    is gone."""
    out: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/status", encoding="utf-8") as f:
            for line in f:
                if line.startswith(fields):
                    key, value = line.split(":", 1)
                    out[key] = int(value.split()[0])
    except OSError:
        pass
    return out


def mib(kib: float) -> str:
    return f"{kib / 1024:,.0f} MiB"
