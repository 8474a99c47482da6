"""The engine contract on Ray, and the same bytes out of every engine.

One local Ray (2 CPUs) serves the whole file: ``RayEngine()`` joins a Ray that is already
running, as it joins a user's cluster. Spawned local workers are checked here too: like Ray's,
they are not forked from a warm driver, so each must set itself up (fastText included).
"""

import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers import same_outputs
from test_engine import Square

from metacurate.engine import LocalEngine, RayEngine
from metacurate.errors import WorkerLost
from metacurate.metadata import Metadata
from metacurate.pipeline import dedup
from metacurate.pipeline.balance import run_balance
from metacurate.pipeline.extract import run_extract
from metacurate.pipeline.match import run_match

ray = pytest.importorskip("ray")  # the [ray] extra, which [test] includes

WORDS = ["red", "dog", "cat", "blue", "house", "tree", "car", "photo", "of", "a", "the", "sky"]
METADATA = Metadata(["dog", "cat", "red dog", "blue sky", "house", "tree", "car", "photo"], "t")


@pytest.fixture(scope="module")
def local_ray():
    # Ray's workers import the tasks' classes (test_engine.Square) from this folder.
    tests = os.path.dirname(__file__)
    env = {"PYTHONPATH": os.pathsep.join([tests, os.environ.get("PYTHONPATH", "")])}
    ray.init(
        num_cpus=2, include_dashboard=False, log_to_driver=False, runtime_env={"env_vars": env}
    )
    yield
    ray.shutdown()


def _pool(folder, files: int = 3, rows: int = 700):
    """Parquet files whose texts repeat across files, so that de-duplication matters."""
    paths = []
    for f in range(files):
        texts = [
            " ".join(WORDS[(i * 7 + j * (i % 5) + f * (i % 3)) % len(WORDS)] for j in range(4))
            for i in range(rows)
        ]
        urls = [f"https://img.example/{(i * 13 + f) % 400}.jpg" for i in range(rows)]
        path = folder / f"pool-{f}.parquet"
        pq.write_table(pa.table({"url": urls, "text": texts}), path, row_group_size=10)
        paths.append(str(path))
    return paths


def test_every_task_reported_once_after_setup_in_its_process(local_ray):
    done = {}
    with RayEngine() as engine:
        engine.map(Square(), range(20), lambda task, result: done.setdefault(task, result))
    assert done == {x: (x * x, True) for x in range(20)}


def test_a_stream_is_consumed_a_bounded_number_of_tasks_ahead(local_ray):
    produced, finished = [], []

    def tasks():
        for x in range(40):
            produced.append(x)
            yield x

    engine = RayEngine()

    def on_done(task, result):
        finished.append(task)
        assert len(produced) - len(finished) <= engine.in_flight()

    engine.map(Square(), tasks(), on_done)
    assert sorted(finished) == list(range(40))


def test_a_failing_task_raises_its_own_error(local_ray):
    with pytest.raises(ValueError, match="negative task -1"):
        RayEngine().map(Square(), [1, 2, -1, 3], lambda task, result: None)


def test_a_task_whose_process_always_dies_ends_the_map_after_its_retries(local_ray):
    done = []
    with pytest.raises(WorkerLost, match=r"died 4 times running -9"):
        RayEngine().map(Square(), [1, 2, -9, 3], lambda t, r: done.append(t))
    assert -9 not in done


def test_match_and_balance_give_the_same_bytes_on_ray_as_locally(tmp_path, local_ray, monkeypatch):
    """With duplicates across files and de-duplication in several buckets (the driver decides
    how many), parts, entry counts, the data card and its figures are byte-identical."""
    monkeypatch.setattr(dedup, "IDS_PER_BUCKET", 300)
    monkeypatch.setattr(dedup, "IDS_PER_BLOCK", 500)
    inputs = _pool(tmp_path)
    outs = {}
    for name, engine in [("local", LocalEngine(1)), ("ray", RayEngine())]:
        out = tmp_path / name
        summary = run_match(inputs, out, METADATA, engine=engine, shard_rows=30)
        run_balance(out, t=40, seed=3, engine=engine)
        outs[name] = out
    assert summary["dedup"]["buckets"] > 1 and summary["dedup"]["blocks"] > 1
    assert summary["rows_duplicate"] > 0
    same_outputs(outs["ray"], outs["local"])


def test_web_archives_with_english_on_ray_and_spawned_workers(tmp_path, warc_dir, local_ray):
    """fastText and the compiled kernels are set up inside each worker process: Ray's workers and
    spawned ones (the default start on macOS and Windows) inherit nothing from the driver."""
    inputs = sorted(str(p) for p in warc_dir.glob("*.warc.gz"))
    engines = {
        "fork": LocalEngine(2, start="fork"),
        "spawn": LocalEngine(2, start="spawn"),
        "ray": RayEngine(),
    }
    for name, engine in engines.items():
        run_extract(inputs, tmp_path / name, engine=engine, lang="en")
    for name in ("spawn", "ray"):
        same_outputs(tmp_path / name, tmp_path / "fork")
    assert any((tmp_path / "fork").glob("part-*.parquet"))
