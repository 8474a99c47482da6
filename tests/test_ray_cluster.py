"""A real multi-node Ray cluster on this machine (``ray.cluster_utils.Cluster``): a head without
CPUs, where the driver runs, and two worker nodes of one CPU each. One worker node is removed
(killed, as a machine that dies) in the middle of the match stage; Ray runs the tasks it held
again on the other node, and every output is still byte-identical to the local engine's.
"""

import signal
import threading
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers import same_outputs

from metacurate.engine import LocalEngine, RayEngine
from metacurate.metadata import Metadata
from metacurate.pipeline import dedup
from metacurate.pipeline.balance import run_balance
from metacurate.pipeline.match import run_match

ray = pytest.importorskip("ray")
from ray.cluster_utils import Cluster  # noqa: E402

FILES, ROWS, SHARD_ROWS = 2, 1200, 20  # 120 shards
IDS_PER_BUCKET = 800  # 3 de-duplication buckets for the 2,400 pairs
REMOVE_AFTER = 25  # staged parts before the node is removed
WORDS = ["red", "dog", "cat", "blue", "house", "tree", "car", "photo", "of", "a", "the", "sky"]
METADATA = Metadata(["dog", "cat", "red dog", "blue sky", "house", "tree", "car", "photo"], "t")
# The GCS declares a node dead after about failure_threshold x period of missed health checks
# (Ray's defaults: 5 x 3 s, after a first delay of 5 s). Shorter here, so that a task retried
# after its node died is not offered to that node again for long; a timeout of 1 s keeps a
# busy node on this 2-core machine from being taken for dead.
HEALTH_CHECKS = {
    "health_check_initial_delay_ms": 0,
    "health_check_period_ms": 500,
    "health_check_timeout_ms": 1000,
    "health_check_failure_threshold": 4,
}
WATCHDOG_S = 180  # a run that never ends fails the test instead of hanging the suite


def _pool(folder: Path) -> list[str]:
    """Parquet files whose (url, text) pairs repeat within and across files (about one row in
    three is a later occurrence), in row groups of SHARD_ROWS rows: a shard each."""
    rng = np.random.default_rng(7)
    folder.mkdir()
    paths = []
    for f in range(FILES):
        ids = rng.integers(0, 2000, ROWS)
        texts = [" ".join(WORDS[(i * 7 + j * (i % 5)) % len(WORDS)] for j in range(4)) for i in ids]
        urls = [f"https://img.example/{i}.jpg" for i in ids]
        paths.append(str(folder / f"pool-{f}.parquet"))
        pq.write_table(pa.table({"url": urls, "text": texts}), paths[-1], row_group_size=SHARD_ROWS)
    return paths


def _pairs(path: str) -> set[tuple[str, str]]:
    table = pq.read_table(path)
    return set(zip(table["url"].to_pylist(), table["text"].to_pylist(), strict=True))


@pytest.fixture
def cluster():
    """The cluster, shut down (and the driver disconnected from it) whatever the test did."""
    nodes = Cluster()
    try:
        nodes.add_node(num_cpus=0, include_dashboard=False, _system_config=HEALTH_CHECKS)
        workers = [nodes.add_node(num_cpus=1) for _ in range(2)]
        nodes.wait_for_nodes()
        yield nodes, workers
    finally:
        ray.shutdown()  # RayEngine joined it: ray.init stays connected until this
        nodes.shutdown()


class NodeRemover(threading.Thread):
    """Removes ``node`` (SIGKILL to its raylet and workers) once REMOVE_AFTER parts are staged
    in ``out``, so that tasks are running on it."""

    def __init__(self, cluster: Cluster, node, out: Path):
        super().__init__(daemon=True)
        self.cluster, self.node, self.out = cluster, node, out
        self.staged_then: int | None = None
        self.stage_done_then = False
        self.error: BaseException | None = None
        self.stop = threading.Event()

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                staged = len(list((self.out / "staging").glob("part-*.json")))
                if staged >= REMOVE_AFTER:
                    self.stage_done_then = (self.out / "match_summary.json").exists()
                    self.staged_then = staged
                    self.cluster.remove_node(self.node, allow_graceful=False)
                    return
                time.sleep(0.01)
        except BaseException as err:  # noqa: BLE001 - reported by the test
            self.error = err


def _watchdog(signum, frame):
    raise TimeoutError(f"the run did not end within {WATCHDOG_S} s")


def test_a_node_removed_mid_run_changes_no_byte(cluster, tmp_path, monkeypatch):
    nodes, (doomed, _) = cluster
    monkeypatch.setattr(dedup, "IDS_PER_BUCKET", IDS_PER_BUCKET)  # read in the driver
    monkeypatch.setattr(dedup, "IDS_PER_BLOCK", IDS_PER_BUCKET)
    inputs = _pool(tmp_path / "pool")

    local = tmp_path / "local"
    want = run_match(inputs, local, METADATA, engine=LocalEngine(1), shard_rows=SHARD_ROWS)
    run_balance(local, t=40, engine=LocalEngine(1))
    shards = want["shards"]
    assert shards > 64 and want["dedup"]["buckets"] > 1
    first, second = (_pairs(path) for path in inputs)
    assert len(first & second) > 100  # pairs repeat across files, not only within one
    assert want["rows_duplicate"] > len(first & second)

    out = tmp_path / "ray"
    remover = NodeRemover(nodes, doomed, out)
    previous = signal.signal(signal.SIGALRM, _watchdog)
    signal.alarm(WATCHDOG_S)
    remover.start()
    try:
        with RayEngine(address=nodes.address) as engine:
            got = run_match(inputs, out, METADATA, engine=engine, shard_rows=SHARD_ROWS)
            run_balance(out, t=40, engine=engine)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
        remover.stop.set()
        remover.join(timeout=30)
    assert remover.error is None, remover.error
    # The node went in the middle of the match stage, with parts still to stage.
    assert remover.staged_then is not None and not remover.stage_done_then
    assert remover.staged_then < shards
    assert not doomed.any_processes_alive()
    assert got["engine"] == {"engine": "ray", "workers": None}
    assert got["rows_written"] == want["rows_written"]
    same_outputs(out, local)
