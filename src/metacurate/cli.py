"""Command line: ``metacurate demo | curate | extract | match | balance | export | train | eval |
explain | metadata build | metadata stats``."""

import re
import shlex
import sys
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.table import Table

from metacurate.balance.sampling import entry_probabilities
from metacurate.engine import ENGINES, Engine, make_engine
from metacurate.errors import (
    InputError,
    OutputConflict,
    OutputError,
    WorkerLost,
)
from metacurate.location import Location
from metacurate.match.matcher import Matcher
from metacurate.match.spacing import spaced
from metacurate.metadata import load_metadata
from metacurate.metadata_builder.builder import DEFAULT_BUDGET, BuildOptions, build_metadata
from metacurate.metadata_builder.stats import PAPER_TABLE_1, source_stats
from metacurate.pipeline.balance import check_seed, resolve_t, run_balance
from metacurate.pipeline.export import FORMATS, run_export
from metacurate.pipeline.export_metaclip import METACLIP, run_metaclip_export
from metacurate.pipeline.extract import run_extract
from metacurate.pipeline.match import COUNTS, METADATA, run_match
from metacurate.progress import console
from metacurate.readers.expand import COMMONCRAWL, expand_inputs

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="MetaCLIP curation: exact metadata sub-string matching, entry counts and balancing.",
)

# The bundled pool has 30k pairs, not the paper's 1.6B: at t = 10 entries below t hold ~10% of
# matches (the paper's t = 20,000 leaves 5.5%) and about half the matched pairs are kept, as in
# the paper (docs/sample-pool.md has the measured table).
DEMO_T = 10
PAPER_T = 20_000


def _local_path(path: Path | None) -> Path | None:
    """For outputs that only a local (or shared) path can hold: a URL given as one would become
    a local folder named ``s3:``."""
    if path is not None and str(path).lower().startswith(("s3:/", "gs:/", "http:/", "https:/")):
        _fail(
            InputError(
                f"{str(path).replace(':/', '://', 1)}: this output must be a local or shared path"
                " (inputs, and the folders of match, extract, curate and balance, may be URLs)"
            )
        )
    return path


def _location(where: str) -> str:
    """A run folder: a local path or an ``s3://`` / ``gs://`` prefix."""
    with _user_errors():
        Location.of(where)
    return where


Out = Annotated[
    str,
    typer.Option(
        "--out",
        "-o",
        help="Output folder: a path, or an s3:// or gs:// prefix.",
        callback=_location,
    ),
]
LocalOut = Annotated[Path, typer.Option("--out", "-o", help="Output file.", callback=_local_path)]
MetadataOpt = Annotated[
    str | None,  # not a Path, which would make "s3://b/m.json" into "s3:/b/m.json"
    typer.Option(
        help="JSON list of strings (MetaCLIP format) or one entry per line, a path or an s3://"
        " or gs:// URL; default: built-in."
    ),
]
TextColumn = Annotated[str, typer.Option("--text-column", help="Column holding the text.")]
Workers = Annotated[
    int | None,
    typer.Option(
        min=1,
        help="Worker processes (local: default 1); with --engine ray, CPUs of the local Ray it"
        " starts (default: all).",
    ),
]
EngineOpt = Annotated[
    str,
    typer.Option(
        "--engine",
        help="Where the work runs: 'local' (this machine's processes) or 'ray' (a Ray cluster;"
        " pip install 'metacurate[ray]').",
    ),
]
RayAddress = Annotated[
    str | None,
    typer.Option(
        "--ray-address",
        help="With --engine ray: the cluster to join ('auto': the one this node is part of);"
        " default: start a local Ray for the run.",
    ),
]
Overwrite = Annotated[bool, typer.Option(help="Replace a different earlier run in --out.")]
TOpt = Annotated[int | None, typer.Option("--t", min=1, help="Balancing threshold t.")]
TailOpt = Annotated[
    float | None,
    typer.Option(
        "--tail-fraction",
        min=0.0,
        max=1.0,
        help="Instead of --t: the share of all matches held by entries below t.",
    ),
]
Seed = Annotated[int, typer.Option(min=0, help="Seed of the balancing draws.")]
Inputs = Annotated[
    list[str],
    typer.Argument(
        help="Parquet, JSON Lines (.gz), CSV/TSV, WARC (.warc.gz), CommonCrawl WAT (.warc.wat.gz)"
        " or WebDataset (.tar) files: local paths, globs, brace ranges ('pool/{00000..00099}"
        ".parquet'), s3://, gs:// or http(s):// URLs, or .paths(.gz) listings of them."
    ),
]
PathsBase = Annotated[
    str,
    typer.Option(
        "--paths-base",
        help="Base URL joined to the relative lines of a .paths listing (default: CommonCrawl's).",
    ),
]
Lang = Annotated[
    str | None,
    typer.Option(
        help="Keep texts whose fastText language is one of these codes ('en', 'en,de'), 'all'"
        " (labelled, none dropped) or 'none' (no language id). Default: 'en' for WARC/WAT (the paper's setting); other"
        " inputs are not language-identified."
    ),
]
Dedup = Annotated[
    bool,
    typer.Option(
        help="Keep one row per distinct (image url or uuid, text) across all inputs of the run."
    ),
]


def _command() -> str:
    return shlex.join(["metacurate", *sys.argv[1:]])


def _fail(err: Exception) -> None:
    console.print(f"[bold red]error:[/] {err}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)


@contextmanager
def _user_errors():
    """Errors the user can act on end the command with their one-line message (an interruption's
    is printed by ``metacurate.__main__``, which sees one wherever it lands)."""
    try:
        yield
    except (InputError, OutputConflict, OutputError, WorkerLost) as err:
        _fail(err)


def _engine(name: str, workers: int | None, address: str | None) -> Engine:
    if name not in ENGINES:
        _fail(InputError(f"--engine {name!r}: expected one of {', '.join(ENGINES)}"))
    if address is not None and name != "ray":
        _fail(InputError("--ray-address needs --engine ray"))
    if address is not None and workers is not None:
        _fail(
            InputError(
                "--workers sets the CPUs of a local Ray; a cluster (--ray-address) has its own"
            )
        )
    return make_engine(name, workers, address)


def _engine_said(engine: dict) -> str:
    workers = engine["workers"]
    if engine["engine"] == "ray":
        return f"ray ({f'{workers} CPUs' if workers else 'the cluster'})"
    return f"local ({workers} worker{'s' if workers != 1 else ''})"


def _print_match(summary: dict) -> None:
    table = Table(title="match", show_header=False, title_justify="left")
    read = summary["rows_read"]
    table.add_row(
        "inputs",
        f"{len(summary['inputs'])} files, {summary['shards']} shards "
        f"({summary['shards_resumed']} resumed)",
    )
    table.add_row("engine", _engine_said(summary["engine"]))
    table.add_row(
        "metadata",
        f"{summary['metadata']['origin']}: {summary['metadata']['entries']:,} "
        f"entries ({summary['unmatchable_entries']:,} can never match)",
    )
    if summary["unmatchable_examples"]:
        examples = ", ".join(repr(e) for e in summary["unmatchable_examples"][:5])
        table.add_row("", f"[dim]never matchable, e.g. {examples}[/]")
    table.add_row("rows read", f"{read:,}")
    share = f" ({summary['rows_matched'] / read:.1%})" if read else ""
    table.add_row("rows matched", f"{summary['rows_matched']:,}{share}")
    table.add_row("empty or null text", f"{summary['rows_empty_text']:,}")
    _print_filters(table, summary)
    table.add_row(
        "matches", f"{summary['matches_total']:,} over {summary['entries_matched']:,} entries"
    )
    console.print(table)


def _print_filters(table: Table, summary: dict) -> None:
    """Rows that a language, de-duplication or reader rule removed, and what readers saw."""
    langs = summary["languages"]
    table.add_row(
        "language", f"web archives: {langs['web_archives']}; other inputs: {langs['tables']}"
    )
    table.add_row("other language (dropped)", f"{summary['rows_other_language']:,}")
    dedup = summary["dedup"]
    table.add_row(
        "duplicate pairs (dropped)",
        f"{summary['rows_duplicate']:,}"
        + (f" ({dedup['pairs_distinct']:,} distinct)" if dedup else " (de-duplication off)"),
    )
    table.add_row("rows written", f"{summary['rows_written']:,}")
    for what, n in summary["seen"].items():
        table.add_row(f"seen: {what}", f"{n:,}")
    for reason, n in summary["rejected"].items():
        table.add_row(f"rejected: {reason}", f"{n:,}")
    for example in summary["reject_examples"][:5]:
        table.add_row("", f"[dim]{example}[/]")


def _print_extract(summary: dict) -> None:
    table = Table(title="extract", show_header=False, title_justify="left")
    table.add_row(
        "inputs",
        f"{len(summary['inputs'])} files ({summary['shards_resumed']} resumed)",
    )
    table.add_row("engine", _engine_said(summary["engine"]))
    table.add_row("pairs read", f"{summary['rows_read']:,}")
    table.add_row("empty or null text", f"{summary['rows_empty_text']:,}")
    _print_filters(table, summary)
    table.add_row("output", f"{summary['out']} ({len(summary['parts'])} Parquet parts)")
    console.print(table)


def _print_balance(card: dict) -> None:
    bal = card["balancing"]
    table = Table(title="balance", show_header=False, title_justify="left")
    table.add_row(
        "t",
        f"{bal['t']:,} (tail fraction {bal['tail_fraction']:.1%}, "
        f"{bal['head_entries']:,} head entries)",
    )
    table.add_row("seed", str(bal["seed"]))
    # Balancing sees the rows written by match: duplicates and other languages are gone.
    written = card["matching"]["rows_written"]
    share = f" ({bal['rows_kept'] / written:.1%} of {written:,} matched rows)" if written else ""
    table.add_row(
        "rows kept",
        f"{bal['rows_kept']:,}{share}; expected "
        f"{bal['expected_rows_kept']:,.0f} ± {bal['expected_rows_kept_std']:,.0f}",
    )
    table.add_row("output", card["outputs"]["folder"])
    for kind, path in card["outputs"]["datacard"].items():
        table.add_row(kind, path)
    console.print(table)


@app.command()
def match(
    inputs: Inputs,
    out: Out,
    metadata: MetadataOpt = None,
    text_column: TextColumn = "text",
    lang: Lang = None,
    dedup: Dedup = True,
    workers: Workers = None,
    engine: EngineOpt = "local",
    ray_address: RayAddress = None,
    overwrite: Overwrite = False,
    paths_base: PathsBase = COMMONCRAWL,
) -> None:
    """Stages 1+2: match texts against the metadata and count matches per entry."""
    with _user_errors():
        inputs = expand_inputs(inputs, paths_base)
    with _user_errors(), _engine(engine, workers, ray_address) as runner:
        summary = run_match(
            inputs,
            out,
            load_metadata(metadata),
            text_column,
            runner,
            overwrite,
            lang=lang,
            dedup=dedup,
        )
        _print_match(summary)


@app.command()
def extract(
    inputs: Inputs,
    out: Out,
    text_column: TextColumn = "text",
    lang: Lang = None,
    dedup: Dedup = True,
    workers: Workers = None,
    engine: EngineOpt = "local",
    ray_address: RayAddress = None,
    overwrite: Overwrite = False,
    paths_base: PathsBase = COMMONCRAWL,
) -> None:
    """Parse only: one Parquet row per distinct (image, text) with url, uuid, page_url, source,
    lang and crawl_file."""
    with _user_errors():
        inputs = expand_inputs(inputs, paths_base)
    with _user_errors(), _engine(engine, workers, ray_address) as runner:
        summary = run_extract(inputs, out, text_column, runner, overwrite, lang, dedup)
        _print_extract(summary)


@app.command()
def balance(
    out: Annotated[
        str,
        typer.Argument(
            help="Folder (or s3:// or gs:// prefix) of an earlier `match` run.", callback=_location
        ),
    ],
    t: TOpt = None,
    tail_fraction: TailOpt = None,
    seed: Seed = 0,
    workers: Workers = None,
    engine: EngineOpt = "local",
    ray_address: RayAddress = None,
    overwrite: Overwrite = False,
) -> None:
    """Stage 3: keep each pair with probability 1 - prod(1 - min(1, t / count_e))."""
    with _user_errors(), _engine(engine, workers, ray_address) as runner:
        card = run_balance(out, t, tail_fraction, seed, runner, overwrite, _command())
        _print_balance(card)


def _curate(inputs, out, metadata, t, tail_fraction, seed, engine, overwrite, **match) -> None:
    """``match``: run_match's keyword options (text_column, lang, dedup); ``engine``: the
    ``(--engine, --workers, --ray-address)`` options."""
    with _user_errors(), _engine(*engine) as runner:
        check_seed(seed)
        summary = run_match(
            inputs, out, load_metadata(metadata), engine=runner, overwrite=overwrite, **match
        )
        _print_match(summary)
        card = run_balance(out, t, tail_fraction, seed, runner, overwrite, _command())
        _print_balance(card)


@app.command()
def curate(
    inputs: Inputs,
    out: Out,
    metadata: MetadataOpt = None,
    text_column: TextColumn = "text",
    lang: Lang = None,
    dedup: Dedup = True,
    t: TOpt = None,
    tail_fraction: TailOpt = None,
    seed: Seed = 0,
    workers: Workers = None,
    engine: EngineOpt = "local",
    ray_address: RayAddress = None,
    overwrite: Overwrite = False,
    paths_base: PathsBase = COMMONCRAWL,
) -> None:
    """match then balance, in one command (default t: 20,000, the paper's for a 1.6B pool)."""
    with _user_errors():
        inputs = expand_inputs(inputs, paths_base)
    if t is None and tail_fraction is None:
        t = PAPER_T
    _curate(
        inputs,
        out,
        metadata,
        t,
        tail_fraction,
        seed,
        (engine, workers, ray_address),
        overwrite,
        text_column=text_column,
        lang=lang,
        dedup=dedup,
    )


@app.command()
def demo(
    out: Annotated[Path, typer.Argument(help="Output folder.")] = Path("out"),
    t: Annotated[int, typer.Option("--t", min=1, help="Balancing threshold.")] = DEMO_T,
    workers: Workers = None,
    engine: EngineOpt = "local",
    overwrite: Overwrite = False,
) -> None:
    """Curate the bundled sample pool with the built-in metadata."""
    with resources.as_file(resources.files("metacurate") / "data" / "sample_pool.parquet") as pool:
        _curate([str(pool)], out, None, t, None, 0, (engine, workers, None), overwrite)


@app.command()
def export(
    folder: Annotated[
        str,
        typer.Argument(
            help="A curated-t{T}-seed{S} folder of `balance` (the balanced pairs), or a `match`"
            " run folder (its whole matched pool, for a loader that balances online); local or"
            " an s3:// or gs:// prefix.",
            callback=_location,
        ),
    ],
    out: Annotated[
        Path,
        typer.Argument(
            help="img2dataset: the Parquet file to write; webdataset-json, metaclip: a folder.",
            callback=_local_path,
        ),
    ],
    to: Annotated[str, typer.Option("--to", help=f"Format: {', '.join(FORMATS)} or {METACLIP}.")],
    shards: Annotated[
        str | None,
        typer.Option(
            "--shards",
            help="metaclip: img2dataset's shards of this folder's export, to convert:"
            " 'shards/{00000..00099}.tar', a glob or a .paths listing.",
        ),
    ] = None,
    t: Annotated[
        float | None,
        typer.Option(
            "--t", help="metaclip, from a match run: the threshold of online curation.", min=0
        ),
    ] = None,
    workers: Workers = None,
    engine: EngineOpt = "local",
    ray_address: RayAddress = None,
    overwrite: Overwrite = False,
) -> None:
    """Hand the pairs to the next tool: img2dataset Parquet (one row per image: url, caption,
    uuid and its texts with their entry_ids), MetaCLIP-style per-uuid JSON texts, or, once
    img2dataset has downloaded the export, MetaCLIP's own training layout (--to metaclip
    --shards ...: tars of <uuid>.json and <uuid>.jpeg, and per-shard online-curation files for
    a match run's pool). A curated folder is already balanced: do not let a loader sample it by
    keep_prob again; a match run's pool is balanced online by `metacurate train --counts`."""
    with _user_errors():
        if to == METACLIP:
            if shards is None:
                raise InputError("--to metaclip converts downloaded shards: give --shards")
            paths = expand_inputs([shards])
            with _engine(engine, workers, ray_address) as runner:
                summary = run_metaclip_export(folder, paths, out, t, overwrite, runner)
        elif shards is not None or t is not None or workers or ray_address or engine != "local":
            raise InputError(
                "--shards, --t, --workers, --engine and --ray-address are options of --to metaclip"
            )
        else:
            summary = run_export(folder, to, out, overwrite)
    table = Table(title="export", show_header=False, title_justify="left")
    table.add_row("format", summary["format"])
    table.add_row("from", summary["from"])
    if "rows" in summary:
        table.add_row("rows", f"{summary['rows']:,} of {summary['rows_in']:,}")
    if "shards" in summary:
        resumed = " (resumed)" if summary["resumed"] else ""
        table.add_row("shards", f"{summary['shards']:,}{resumed}")
    if "images" in summary:
        table.add_row("images", f"{summary['images']:,}")
    for reason, n in summary["skipped"].items():
        table.add_row(f"skipped: {reason}", f"{n:,}")
    for path in summary["paths"][:5]:
        table.add_row("wrote", str(path))
    if "next" in summary:
        table.add_row("next", summary["next"])
    if "metaclip_config" in summary:  # the fields of a MetaCLIP training config
        fields = summary["metaclip_config"].items()
        table.add_row("next", "MetaCLIP config: " + ", ".join(f"{k}={v!r}" for k, v in fields))
    console.print(table)


@app.command("train")
def train_command(
    data: Annotated[
        str,
        typer.Option(
            "--data",
            help="img2dataset WebDataset shards of an exported matched pool:"
            " 'shards/{00000..00099}.tar', a glob or a .paths listing.",
        ),
    ],
    counts: Annotated[
        Path,
        typer.Option("--counts", help="The `match` run folder (or its entry_counts.npy)."),
    ],
    t: Annotated[float, typer.Option("--t", help="Balancing threshold, re-drawn each epoch.")],
    out: Annotated[
        Path,
        typer.Option(
            "--out", "-o", help="Folder for checkpoints/, log.jsonl.", callback=_local_path
        ),
    ] = Path("clip-run"),
    model: Annotated[
        str,
        typer.Option(
            "--model",
            help="An open_clip model name (ViT-B-32-quickgelu, ...), a bundled tiny one"
            " (metacurate-tiny-vit, metacurate-small-vit) or a model config .json.",
        ),
    ] = "ViT-B-32-quickgelu",
    epochs: Annotated[int, typer.Option("--epochs", min=1)] = 1,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Per process.")] = 256,
    lr: Annotated[
        float | None,
        typer.Option("--lr", help="Default: the paper's 5e-4 scaled to the global batch."),
    ] = None,
    warmup: Annotated[
        int | None,
        typer.Option("--warmup", help="Steps; default: 2,000, or 5%% of a shorter run."),
    ] = None,
    precision: Annotated[
        str,
        typer.Option(
            "--precision", help="fp32, amp (fp16, GPU) or amp_bf16; auto: amp_bf16 on a GPU."
        ),
    ] = "auto",
    seed: Annotated[int, typer.Option("--seed", help="Seed of the online draws.")] = 0,
    workers: Annotated[int, typer.Option("--workers", min=0, help="DataLoader workers.")] = 0,
    save_every: Annotated[
        int | None, typer.Option("--save-every", help="Also checkpoint every N steps.")
    ] = None,
    resume: Annotated[
        Path | None,
        typer.Option("--resume", help="A checkpoint; default: the newest one in --out."),
    ] = None,
    zeroshot: Annotated[
        Path | None,
        typer.Option("--zeroshot", help="An ImageFolder to evaluate the trained model on."),
    ] = None,
) -> None:
    """Train a CLIP with open_clip on img2dataset shards of the matched pool, balancing online:
    each epoch re-draws the pairs with the balance rule (epoch 0 = `balance --seed`). Run it
    under torchrun for several GPUs; the same command resumes from the newest checkpoint."""
    from metacurate.training.precision import default_precision
    from metacurate.training.run import train_balanced
    from metacurate.training.train import TrainConfig

    check_seed(seed)
    config = TrainConfig(
        model=model,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        warmup=warmup,
        precision=default_precision() if precision == "auto" else precision,
        num_workers=workers,
        save_every=save_every,
    )
    with _user_errors(), _value_errors():
        result = train_balanced(data, counts, t, out, config, seed, resume, zeroshot)
    if not result["main"]:  # under torchrun, one summary: the main process's
        return
    table = Table(title="train", show_header=False, title_justify="left")
    if result["resumed_from"]:
        table.add_row("resumed from", result["resumed_from"])
    table.add_row("checkpoint", result["checkpoint"])
    table.add_row("log", str(out / "log.jsonl"))
    if "zeroshot" in result:
        _add_zeroshot(table, result["zeroshot"])
    console.print(table)


@app.command("eval")
def eval_command(
    checkpoint: Annotated[Path, typer.Argument(help="A checkpoint of `metacurate train`.")],
    zeroshot: Annotated[
        Path,
        typer.Option(
            "--zeroshot",
            help="An ImageFolder: one folder of images per class (classnames.txt optional).",
        ),
    ],
    templates: Annotated[
        str,
        typer.Option("--templates", help="openai, openai-simple, simple, or a file of them."),
    ] = "openai",
    json_out: Annotated[
        Path | None,
        typer.Option("--json", help="Also write the scores, per class too.", callback=_local_path),
    ] = None,
) -> None:
    """Zero-shot classification of an ImageFolder with a trained checkpoint: top-1, top-5."""
    from metacurate.training.run import evaluate_checkpoint

    with _user_errors():
        scores = evaluate_checkpoint(checkpoint, zeroshot, templates, json_out)
    table = Table(title="eval", show_header=False, title_justify="left")
    _add_zeroshot(table, scores)
    console.print(table)


def _add_zeroshot(table: Table, scores: dict) -> None:
    table.add_row("zero-shot", f"{scores['images']:,} images, {scores['classes']:,} classes")
    table.add_row("top-1", f"{scores['top1']:.4f}")
    table.add_row("top-5", f"{scores['top5']:.4f}")
    ranked = sorted(scores["per_class"], key=lambda c: c["top1"])
    if len(ranked) > 1:
        table.add_row("worst class", f"{ranked[0]['class']} ({ranked[0]['top1']:.2f})")
        table.add_row("best class", f"{ranked[-1]['class']} ({ranked[-1]['top1']:.2f})")


@contextmanager
def _value_errors():
    """The loader refuses inconsistent inputs (entry ids outside the counts, too few shards for
    the ranks) with a ValueError naming them: one line, as any user error."""
    try:
        yield
    except ValueError as err:
        _fail(InputError(str(err)))


def _latest_t(out: Path) -> int | None:
    runs = sorted(out.glob("curated-t*-seed*"), key=lambda p: p.stat().st_mtime)
    found = re.match(r"curated-t(\d+)-seed\d+$", runs[-1].name) if runs else None
    return int(found.group(1)) if found else None


@app.command()
def explain(
    text: Annotated[str, typer.Argument(help="The text to match.")],
    counts: Annotated[
        Path | None, typer.Option("--counts", help="Folder of a `match` run: show counts and p_e.")
    ] = None,
    metadata: MetadataOpt = None,
    t: Annotated[
        int | None,
        typer.Option(
            "--t",
            min=1,
            help="Threshold for p_e (default: the latest balance run in --counts, else 20,000).",
        ),
    ] = None,
) -> None:
    """Show the prepared text and every entry it matches (with counts and keep probability)."""
    with _user_errors():
        meta = load_metadata(counts / METADATA if counts else metadata)
        if counts and not (counts / COUNTS).exists():
            raise InputError(f"{counts}: no {COUNTS}; run `metacurate match` first")
        entry_counts = np.load(counts / COUNTS) if counts else None
    ids = Matcher(meta.entries).match_texts([text]).of(0)
    console.print(f"prepared text: {spaced(text)!r}", highlight=False)
    table = Table(
        "id", "entry", "source", title=f"{len(ids)} matched entries", title_justify="left"
    )
    if entry_counts is None:
        for i in ids:
            table.add_row(str(i), repr(meta.entries[i]), meta.source_of(i) or "")
        console.print(table)
        return
    t = t or _latest_t(counts) or PAPER_T
    t, tail = resolve_t(entry_counts, t, None)
    p = entry_probabilities(entry_counts, t)
    table.add_column("count", justify="right")
    table.add_column("p_e", justify="right")
    for i in ids:
        table.add_row(
            str(i),
            repr(meta.entries[i]),
            meta.source_of(i) or "",
            f"{int(entry_counts[i]):,}",
            f"{p[i]:.4f}",
        )
    console.print(table)
    keep = 1.0 - float(np.prod(1.0 - p[ids])) if ids else 0.0
    console.print(
        f"t = {t:,} (tail fraction {tail:.1%}); keep probability 1 - prod(1 - p_e) = {keep:.4f}"
    )


metadata_app = typer.Typer(
    no_args_is_help=True,
    help="Build metadata from WordNet and Wikipedia as the paper did, or describe a list.",
)
app.add_typer(metadata_app, name="metadata")


@metadata_app.command("build")
def metadata_build(
    out: LocalOut,
    wordnet: Annotated[
        Path | None,
        typer.Option(help="WordNet 3.x dict folder (data.noun, ...); default: the bundled names."),
    ] = None,
    wikipedia: Annotated[
        list[Path] | None,
        typer.Option(
            help="English Wikipedia dump (pages-articles .xml.bz2) or WikiExtractor output;"
            " repeat for several files."
        ),
    ] = None,
    pageviews: Annotated[
        list[Path] | None,
        typer.Option(help="Folder of pageviews-YYYYMMDD-HH0000.gz files, or files; repeatable."),
    ] = None,
    min_unigram_count: Annotated[int, typer.Option(min=1)] = 100,
    min_bigram_pmi: Annotated[float, typer.Option(help="log2 PMI, as NLTK.")] = 30.0,
    min_bigram_count: Annotated[
        int, typer.Option(min=1, help="Bigrams seen fewer times are not scored.")
    ] = 1,
    min_title_views: Annotated[int, typer.Option(min=0)] = 70,
    budget: Annotated[int, typer.Option(min=1, help="Most entries in all.")] = DEFAULT_BUDGET,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = BuildOptions.workers,
    work_dir: Annotated[
        Path | None,
        typer.Option(help="Counts kept for resuming and re-thresholding; default: <out>.work."),
    ] = None,
    overwrite: Annotated[
        bool, typer.Option(help="Replace an --out file that metacurate did not write.")
    ] = False,
) -> None:
    """Merge WordNet names, Wikipedia unigrams, PMI bigrams and titles into MetaCLIP's format."""
    options = BuildOptions(
        out=out,
        wordnet=wordnet,
        wikipedia=wikipedia or [],
        pageviews=pageviews or [],
        min_unigram_count=min_unigram_count,
        min_bigram_pmi=min_bigram_pmi,
        min_bigram_count=min_bigram_count,
        min_title_views=min_title_views,
        budget=budget,
        workers=workers,
        work_dir=work_dir,
        overwrite=overwrite,
    )
    with _user_errors():
        report = build_metadata(options)
    build = report.sidecar["build"]
    table = Table(
        "source", "entries", "ids", "candidates", title="metadata build", title_justify="left"
    )
    for part in report.parts:
        table.add_row(
            part.name,
            f"{part.stop - part.start:,}",
            f"[{part.start:,}, {part.stop:,})",
            f"{part.candidates:,}",
        )
    table.add_row("total", f"{len(report.entries):,}", f"budget {options.budget:,}", "")
    console.print(table)
    wiki = build.get("wikipedia")
    if wiki:
        console.print(
            f"Wikipedia: {wiki['pages']:,} articles, {wiki['tokens']:,} tokens, "
            f"{wiki['distinct_unigrams']:,} distinct tokens, {wiki['distinct_bigrams']:,} distinct "
            f"bigrams ({wiki['chunks_reused']:,} of {wiki['chunks_reused'] + wiki['chunks_counted']:,}"
            " chunks reused)"
        )
        ladder = ", ".join(f">= {t}: {n:,}" for t, n in wiki["bigrams_passing_pmi"].items())
        console.print(f"bigrams by PMI threshold: {ladder}", highlight=False)
    for reason, n in build["rejected"].items():
        console.print(f"rejected {reason}: {n:,}", highlight=False)
    for example in build["reject_examples"]:
        console.print(f"  [dim]{example}[/]", highlight=False, soft_wrap=True)
    console.print(f"wrote {report.out} and {report.sidecar_out} in {report.seconds:.1f} s")
    if options.wikipedia or options.pageviews:
        console.print(f"counts kept in {options.work} for a re-run with other thresholds")


@metadata_app.command("stats")
def metadata_stats(
    path: Annotated[Path, typer.Argument(help="Metadata list (with its .sources.json sidecar).")],
) -> None:
    """Per-source entry counts, like the paper's Table 1."""
    with _user_errors():
        meta = load_metadata(path)
    table = Table(title=f"{meta.origin}: {len(meta):,} entries", title_justify="left")
    table.add_column("source", no_wrap=True)
    for column in ("entries", "first id", "multi-word", "never match", "paper"):
        table.add_column(column, justify="right", no_wrap=True)
    for row in source_stats(meta):
        table.add_row(
            row.name,
            f"{row.entries:,}",
            f"{row.start:,}",
            f"{row.multi_word:,}",
            f"{row.never_match:,}",
            f"{PAPER_TABLE_1[row.name]:,}" if row.name in PAPER_TABLE_1 else "",
        )
    console.print(table)
    console.print(f"sha256 {meta.sha256}", highlight=False)
