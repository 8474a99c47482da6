#!/usr/bin/env python3
"""The paper's effect in miniature: a tiny CLIP trained on a long-tailed pool, on the raw
matched pool vs its balanced subset (offline) vs balancing re-drawn each epoch (online), for the
same number of seen pairs, scored zero-shot over all concepts, head and tail apart.

1. A pool of ``--pool`` generated images of ``--concepts`` concepts with Zipf(``--zipf``)
   frequencies (``_miniature.py``: each concept its own noun and its own colour / pattern /
   shape signature), one or two alt-text-like captions each: most name the concept, ``--noise``
   name another one, ``--unmatched`` name nothing.
2. Curated with metacurate for real: the (url, text) rows go to Parquet, ``run_match`` with the
   concept names as metadata, then ``run_balance(t, seed)`` per seed (offline) and
   ``OnlineBalance(entry_counts, t, seed).draw(records, epoch)`` over the matched pool grouped by
   image (online; its epoch 0 is the offline subset, later epochs re-draw the head). ``--t``
   defaults to the count of the concept at rank ``concepts // 3``: the head third is capped, the
   rest is kept whole.
3. For each budget in ``--steps``, seed in ``--seeds`` and condition, ``metacurate.training.train``
   runs exactly that many steps of ``--batch`` pairs (one trainer epoch holding as many passes
   over the condition's data as the budget needs, so the cosine schedule spans the budget), and
   ``zeroshot.evaluate`` scores it on fresh renders, ``--eval-images`` per concept, with the
   template "a photo of a {c}.". Head: the top third of concepts by match count; tail: the
   bottom third.

The seed sets the model's initialisation, the data order and the balancing draws; the pool and
the held-out images are the same for every run. Printed: the pool and curation statistics,
medians over seeds with min-max, paired per-seed differences between conditions, seconds per
training step, and markdown tables for benchmarks/RESULTS.md.

The defaults (100 concepts, Zipf 1.2, 50,000 images) are chosen so that raw training is far from
its ceiling at 300 steps of 64 (40% top-1; 40 concepts at Zipf 1.1 reach 84-90% by then, leaving
longer budgets nothing to show). A full run (3 budgets x 3 seeds x 3 conditions, 15,750
steps) takes about 25-30 minutes on one core (benchmarks/RESULTS.md has its table):

    python benchmarks/bench_miniature.py --steps 250,500,1000 --seeds 0,1,2 --jobs 1 --threads 1

A first reading at a small setting (about 5 minutes):

    python benchmarks/bench_miniature.py --steps 300 --eval-images 10
"""

from __future__ import annotations

import os

os.environ.setdefault("NUMBA_NUM_THREADS", "1")  # before numba is imported anywhere

import argparse
import json
import multiprocessing
import shlex
import shutil
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _miniature as mini  # noqa: E402
from _common import machine_note, median  # noqa: E402

CONDITIONS = ("raw", "offline", "online")
TEMPLATES = ("a photo of a {c}.",)
COMPARISONS = (("offline", "raw"), ("online", "raw"), ("online", "offline"))
GROUPS = ("all", "head", "tail")


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--concepts", type=int, default=100, help=f"2-{len(mini.NAMES)}")
    ap.add_argument("--pool", type=int, default=50_000, help="images in the raw pool")
    ap.add_argument("--zipf", type=float, default=1.2, help="exponent of concept frequencies")
    ap.add_argument("--noise", type=float, default=0.1, help="share of captions naming another")
    ap.add_argument("--unmatched", type=float, default=0.3, help="share naming no concept")
    ap.add_argument("--t", type=int, default=None, help="default: count at rank concepts//3")
    ap.add_argument("--steps", type=_ints, default=[250, 500, 1000], help="budgets, e.g. 250,500")
    ap.add_argument("--seeds", type=_ints, default=[0, 1, 2])
    ap.add_argument("--conditions", type=_names, default=list(CONDITIONS))
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-3, help="the recipe's scaled lr is too low here")
    ap.add_argument("--model", default="metacurate-tiny-vit")
    ap.add_argument("--image-size", type=int, default=None, help="render size; default: model's")
    ap.add_argument("--eval-images", type=int, default=20, help="held-out images per concept")
    ap.add_argument("--pool-seed", type=int, default=0, help="seed of the concepts and the pool")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per training process")
    ap.add_argument("--jobs", type=int, default=1, help="trainings run in parallel processes")
    ap.add_argument("--work", type=Path, default=None, help="kept if given; default: a temp dir")
    ap.add_argument("--json", type=Path, default=None, help="write every run's scores here")
    return ap.parse_args(argv)


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x]


def _names(text: str) -> list[str]:
    names = [x for x in text.split(",") if x]
    if unknown := set(names) - set(CONDITIONS):
        raise argparse.ArgumentTypeError(f"unknown conditions {sorted(unknown)}")
    return names


# --------------------------------------------------------------------------------------
# Curation
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Matched:
    """The match run and its pool grouped by image, in pool order."""

    run: Path
    counts: np.ndarray
    images: np.ndarray  # pool index of each record's image
    records: list[dict]  # {"url", "uuid", "texts", "entry_ids"} for OnlineBalance


def match_pool(pool: mini.Pool, concepts: list[mini.Concept], work: Path) -> Matched:
    from metacurate.metadata import Metadata
    from metacurate.pipeline.match import run_match

    pq.write_table(pool.table(), work / "pool.parquet")
    run = work / "run"
    metadata = Metadata([c.name for c in concepts], "bench_miniature concepts")
    run_match([str(work / "pool.parquet")], run, metadata)
    by_image = _group_by_image(_read_parts(run / "matched"), ("text", "entry_ids"))
    images = np.array(sorted(by_image), dtype=np.int64)
    records = [
        {
            "url": mini.url(i),
            "uuid": None,
            "texts": by_image[i]["text"],
            "entry_ids": by_image[i]["entry_ids"],
        }
        for i in images
    ]
    return Matched(run, np.load(run / "entry_counts.npy"), images, records)


def _read_parts(folder: Path) -> pa.Table:
    # Part by part: the folder also holds each part's JSON statistics.
    return pa.concat_tables(pq.read_table(p) for p in sorted(folder.glob("part-*.parquet")))


def _group_by_image(table: pa.Table, columns: tuple[str, ...]) -> dict[int, dict[str, list]]:
    grouped: dict[int, dict[str, list]] = {}
    values = [table[c].to_pylist() for c in columns]
    for url, *row in zip(table["url"].to_pylist(), *values, strict=True):
        image = grouped.setdefault(mini.image_of(url), {c: [] for c in columns})
        for column, value in zip(columns, row, strict=True):
            image[column].append(value)
    return grouped


def default_t(counts: np.ndarray) -> int:
    """The count of the concept at rank ``len // 3``: the concepts above it are capped."""
    return int(np.sort(counts)[::-1][len(counts) // 3])


def offline_subset(matched: Matched, t: int, seed: int) -> dict[int, list[str]]:
    """``run_balance``'s subset for this seed: each kept image with its kept texts."""
    from metacurate.pipeline.balance import run_balance

    run_balance(matched.run, t=t, seed=seed)
    curated = matched.run / f"curated-t{t}-seed{seed}"
    grouped = _group_by_image(_read_parts(curated), ("text",))
    return {image: columns["text"] for image, columns in grouped.items()}


@dataclass(frozen=True)
class Curation:
    matched: Matched
    t: int
    subsets: dict[int, dict[int, list[str]]]  # per seed: run_balance's images and texts
    balances: dict  # per seed: OnlineBalance
    seconds: float


def curate(pool: mini.Pool, concepts, args: argparse.Namespace, work: Path) -> Curation:
    from metacurate.loader import OnlineBalance

    t0 = time.perf_counter()
    matched = match_pool(pool, concepts, work)
    t = args.t or default_t(matched.counts)
    subsets = {seed: offline_subset(matched, t, seed) for seed in args.seeds}
    balances = {seed: OnlineBalance(matched.counts, t, seed) for seed in args.seeds}
    return Curation(matched, t, subsets, balances, time.perf_counter() - t0)


# --------------------------------------------------------------------------------------
# What each condition trains on: (pool image, text) per seen pair
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    images: np.ndarray
    texts: list[str]
    passes: int  # data epochs started to fill the budget


def plan(condition: str, curation: Curation, seed: int, samples: int) -> Plan:
    """``samples`` pairs: shuffled passes over the condition's data, a text picked per image.
    Raw: every matched image each pass. Offline: the balanced subset each pass. Online: pass e
    is ``OnlineBalance.draw(records, e)``."""
    matched, subset, balance = curation.matched, curation.subsets[seed], curation.balances[seed]
    rng = np.random.default_rng([seed, CONDITIONS.index(condition)])
    images: list[int] = []
    texts: list[str] = []
    passes = 0
    while len(images) < samples:
        pass_images, pass_texts = _one_pass(condition, matched, subset, balance, passes, rng)
        for k in rng.permutation(len(pass_images)):
            images.append(pass_images[k])
            texts.append(pass_texts[k])
        passes += 1
    return Plan(np.array(images[:samples]), texts[:samples], passes)


def _one_pass(condition, matched: Matched, subset, balance, epoch, rng):
    if condition == "raw":
        texts = [r["texts"][rng.integers(len(r["texts"]))] for r in matched.records]
        return matched.images.tolist(), texts
    if condition == "offline":
        images = sorted(subset)
        return images, [subset[i][rng.integers(len(subset[i]))] for i in images]
    draw = balance.draw(matched.records, epoch)
    used = np.flatnonzero(draw.used)
    texts = [matched.records[k]["texts"][draw.chosen[k]] for k in used]
    return matched.images[used].tolist(), texts


# --------------------------------------------------------------------------------------
# One training run (in this process or a worker)
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Setup:
    """What every training run shares."""

    concepts: list[mini.Concept]
    shown: np.ndarray  # concept of each pool image
    pool_seed: int
    size: int  # render size
    model: str
    batch: int
    lr: float
    device: str
    threads: int
    eval_folder: Path


@dataclass(frozen=True)
class Job:
    condition: str
    seed: int
    steps: int
    plan: Plan
    out: Path
    setup: Setup


def run_job(job: Job) -> dict:
    import torch

    from metacurate.training.data import Pairs
    from metacurate.training.train import TrainConfig, train
    from metacurate.training.zeroshot import evaluate

    setup = job.setup
    torch.set_num_threads(setup.threads)
    config = TrainConfig(
        model=setup.model,
        epochs=1,
        batch_size=setup.batch,
        lr=setup.lr,
        seed=job.seed,
        log_every=max(1, job.steps // 10),
    )
    pairs = Pairs(lambda _epoch: _rendered(job.plan, setup), job.steps * setup.batch)
    t0 = time.perf_counter()
    checkpoint = train(pairs, job.out, config, device=setup.device)
    t1 = time.perf_counter()
    scores = evaluate(checkpoint, setup.eval_folder, templates=TEMPLATES, device=setup.device)
    t2 = time.perf_counter()
    # The scores are all we keep: 27 runs' checkpoints (with optimiser state) would fill /tmp.
    shutil.rmtree(job.out / "checkpoints")
    return {
        "condition": job.condition,
        "seed": job.seed,
        "steps": job.steps,
        "passes": job.plan.passes,
        "train_s": t1 - t0,
        "step_s": (t1 - t0) / job.steps,
        "eval_s": t2 - t1,
        "top1": scores["top1"],
        "per_class": {c["class"]: c["top1"] for c in scores["per_class"]},
    }


def _rendered(plan: Plan, setup: Setup):
    """The plan's pairs with their images rendered now: the same pairs for every call."""
    for image, text in zip(plan.images, plan.texts, strict=True):
        concept = setup.concepts[setup.shown[image]]
        yield mini.render(concept, mini.image_seed(setup.pool_seed, int(image)), setup.size), text


def run_jobs(jobs: list[Job], processes: int) -> list[dict]:
    if processes == 1:
        return [_reported(run_job(job), i, len(jobs)) for i, job in enumerate(jobs)]
    # spawn: a forked child would inherit numba's and torch's thread pools half set up.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(processes, mp_context=context) as pool:
        futures = [pool.submit(run_job, job) for job in jobs]
        return [_reported(f.result(), i, len(jobs)) for i, f in enumerate(futures)]


def _reported(result: dict, index: int, total: int) -> dict:
    print(
        f"  [{index + 1}/{total}] {result['condition']:>7} seed {result['seed']} "
        f"{result['steps']} steps: top-1 {result['top1']:.3f}, {result['step_s']:.3f} s/step, "
        f"eval {result['eval_s']:.1f} s",
        file=sys.stderr,
        flush=True,
    )
    return result


# --------------------------------------------------------------------------------------
# Reporting
# --------------------------------------------------------------------------------------


def groups(matched: Matched, concepts: list[mini.Concept]) -> dict[str, list[str]]:
    """All concepts, the top third by match count and the bottom third."""
    order = [concepts[k].name for k in np.argsort(-matched.counts, kind="stable")]
    third = len(order) // 3
    return {"all": order, "head": order[:third], "tail": order[-third:]}


def group_scores(result: dict, names: dict[str, list[str]]) -> dict[str, float]:
    per_class = result["per_class"]
    return {g: float(np.mean([per_class[c] for c in names[g]])) for g in GROUPS}


def cell(values: list[float], scale: float = 100.0, signed: bool = False) -> str:
    fmt = "+.1f" if signed else ".1f"
    lo, mid, hi = min(values) * scale, median(values) * scale, max(values) * scale
    return f"{mid:{fmt}} ({lo:{fmt}} to {hi:{fmt}})"


def results_table(scores: dict, args: argparse.Namespace) -> list[str]:
    lines = [
        "| steps | seen pairs | condition | top-1 all (%) | top-1 head (%) | top-1 tail (%) |",
        "|---:|---:|---|---:|---:|---:|",
    ]
    for steps in args.steps:
        for condition in args.conditions:
            runs = scores[steps, condition]
            cells = " | ".join(cell([r[g] for r in runs.values()]) for g in GROUPS)
            lines.append(f"| {steps} | {steps * args.batch:,} | {condition} | {cells} |")
    return lines


def differences_table(scores: dict, args: argparse.Namespace) -> list[str]:
    """Per-seed differences (same seed: same initialisation), in points, and the ratio of the
    tail medians."""
    lines = [
        "| steps | comparison | Δ all (pts) | Δ head (pts) | Δ tail (pts) | tail ratio |",
        "|---:|---|---:|---:|---:|---:|",
    ]
    for steps in args.steps:
        for a, b in COMPARISONS:
            if a not in args.conditions or b not in args.conditions:
                continue
            runs_a, runs_b = scores[steps, a], scores[steps, b]
            deltas = [
                cell([runs_a[s][g] - runs_b[s][g] for s in args.seeds], signed=True) for g in GROUPS
            ]
            tail_b = median([r["tail"] for r in runs_b.values()])
            tail_a = median([r["tail"] for r in runs_a.values()])
            ratio = f"{tail_a / tail_b:.2f}x" if tail_b else "n/a"
            lines.append(f"| {steps} | {a} - {b} | {' | '.join(deltas)} | {ratio} |")
    return lines


def exposure_table(plans: dict, shown: np.ndarray, names, concepts, args) -> list[str]:
    """What each condition shows in the largest budget: passes over its data, distinct images,
    and the share of seen pairs whose image is of a head or tail concept."""
    index = {c.name: k for k, c in enumerate(concepts)}
    head = np.isin(np.arange(len(concepts)), [index[n] for n in names["head"]])
    tail = np.isin(np.arange(len(concepts)), [index[n] for n in names["tail"]])
    steps = max(args.steps)
    lines = [
        f"| condition ({steps} steps) | passes | distinct images | head share | tail share |",
        "|---|---:|---:|---:|---:|",
    ]
    for condition in args.conditions:
        ps = [plans[condition, seed, steps] for seed in args.seeds]
        seen = [shown[p.images] for p in ps]
        lines.append(
            f"| {condition} | {median([p.passes for p in ps]):.0f} | "
            f"{median([len(np.unique(p.images)) for p in ps]):,.0f} | "
            f"{median([head[s].mean() for s in seen]):.1%} | "
            f"{median([tail[s].mean() for s in seen]):.1%} |"
        )
    return lines


def timing_lines(results: list[dict], args) -> list[str]:
    lines = []
    for condition in args.conditions:
        mine = [r for r in results if r["condition"] == condition]
        step = [r["step_s"] for r in mine]
        lines.append(
            f"  {condition:>7}: {median(step) * 1000:.0f} ms/step (min {min(step) * 1000:.0f}, "
            f"max {max(step) * 1000:.0f}, n={len(step)}); "
            f"eval {median([r['eval_s'] for r in mine]):.1f} s"
        )
    return lines


# --------------------------------------------------------------------------------------


def curation_summary(pool: mini.Pool, curation: Curation, seed: int) -> list[str]:
    from metacurate.counting import tail_fraction

    matched, t = curation.matched, curation.t
    counts = matched.counts
    expected = curation.balances[seed].expected_size(matched.records)
    sizes = [len(s) for s in curation.subsets.values()]
    return [
        f"pool: {len(pool.texts):,} images, {sum(map(len, pool.texts)):,} texts; matched: "
        f"{len(matched.records):,} images, {sum(len(r['texts']) for r in matched.records):,} texts",
        f"entry counts: max {counts.max():,}, median {int(np.median(counts)):,}, "
        f"min {counts.min():,}",
        f"t = {t:,}: {(counts >= t).sum()} concepts capped, {(counts < t).sum()} kept whole; "
        f"tail fraction (share of matches below t) {tail_fraction(counts, t):.1%}",
        f"offline subset: {median(sizes):,.0f} images (min {min(sizes):,}, max {max(sizes):,}); "
        f"online expected images per epoch {expected:,.0f}",
        f"curation (match + {len(curation.subsets)} balance runs) {curation.seconds:.1f} s",
    ]


def main(argv=None) -> None:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench_miniature-") as scratch:
        work = args.work or Path(scratch)
        work.mkdir(parents=True, exist_ok=True)
        bench(args, work)


def bench(args: argparse.Namespace, work: Path) -> None:
    from metacurate.training.model import model_config

    size = args.image_size or model_config(args.model)["vision_cfg"]["image_size"]
    concepts = mini.make_concepts(args.concepts, args.pool_seed)
    pool = mini.make_pool(
        concepts, args.pool, args.zipf, args.noise, args.unmatched, args.pool_seed
    )
    curation = curate(pool, concepts, args, work)
    names = groups(curation.matched, concepts)
    print(f"machine: {machine_note()}")
    print(f"command: python benchmarks/bench_miniature.py {shlex.join(sys.argv[1:])}")
    print(f"model {args.model}, images {size} px, batch {args.batch}, lr {args.lr}")
    print("\n".join(curation_summary(pool, curation, args.seeds[0])))

    eval_folder = mini.write_eval_folder(work / "eval", concepts, args.eval_images, size)
    training = {k: getattr(args, k) for k in ("model", "batch", "lr", "device", "threads")}
    setup = Setup(concepts, pool.concept, pool.seed, size, eval_folder=eval_folder, **training)
    plans = {
        (c, seed, steps): plan(c, curation, seed, steps * args.batch)
        for c in args.conditions
        for seed in args.seeds
        for steps in args.steps
    }
    jobs = [
        Job(c, seed, steps, plans[c, seed, steps], work / "train" / f"{c}-{seed}-{steps}", setup)
        for steps in args.steps
        for seed in args.seeds
        for c in args.conditions
    ]
    t0 = time.perf_counter()
    results = run_jobs(jobs, args.jobs)
    print(f"training + evaluation: {len(jobs)} runs, {time.perf_counter() - t0:.0f} s wall")
    report(results, plans, pool, concepts, names, args)


def report(results, plans, pool, concepts, names, args) -> None:
    scores: dict = {}
    for r in results:
        scores.setdefault((r["steps"], r["condition"]), {})[r["seed"]] = group_scores(r, names)
    chance = 100 / len(concepts)
    print(f"\nseconds per training step (render + transform + step), {args.threads} thread(s):")
    print("\n".join(timing_lines(results, args)))
    print(f"\nwhat each condition shows (median over {len(args.seeds)} seeds):\n")
    print("\n".join(exposure_table(plans, pool.concept, names, concepts, args)))
    print(
        f"\nzero-shot top-1 over {len(concepts)} concepts (chance {chance:.1f}%), head/tail = "
        f"top/bottom {len(names['head'])} by match count; median (min to max) over seeds "
        f"{','.join(map(str, args.seeds))}:\n"
    )
    print("\n".join(results_table(scores, args)))
    print("\npaired differences (same seed), median (min to max):\n")
    print("\n".join(differences_table(scores, args)))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
