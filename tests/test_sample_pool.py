"""The bundled synthetic sample pool (src/metacurate/data/sample_pool.parquet)."""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
SCRIPT = REPO_ROOT / "scripts" / "make_sample_pool.py"
COLUMNS = ["url", "uuid", "text", "page_url"]


def _pool_path() -> Path:
    try:
        from importlib.resources import as_file, files

        resource = files("metacurate") / "data" / "sample_pool.parquet"
        if resource.is_file():
            with as_file(resource) as p:
                return Path(p)
    except (ImportError, ModuleNotFoundError, TypeError):
        pass
    return REPO_ROOT / "src" / "metacurate" / "data" / "sample_pool.parquet"


@pytest.fixture(scope="module")
def pool() -> pa.Table:
    path = _pool_path()
    assert path.is_file(), f"missing bundled pool: {path}"
    return pq.read_table(path)


@pytest.fixture(scope="module")
def script():
    pytest.importorskip("wordfreq", reason="regenerating the pool needs wordfreq")
    spec = importlib.util.spec_from_file_location("make_sample_pool", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_shape_and_columns(pool):
    assert 10_000 <= pool.num_rows <= 50_000
    assert pool.column_names == COLUMNS
    for name in COLUMNS:
        assert pool.schema.field(name).type in (pa.string(), pa.large_string())
        assert pool.column(name).null_count == 0


def test_urls_unique_and_plausible(pool):
    urls = pool.column("url").to_pylist()
    assert len(set(urls)) == len(urls)
    assert all(u.startswith("https://") for u in urls)
    assert all(p.startswith("https://") for p in pool.column("page_url").to_pylist())


def test_uuid_is_sha224_prefix_of_url(pool):
    for url, uuid in zip(
        pool.column("url").to_pylist(), pool.column("uuid").to_pylist(), strict=True
    ):
        assert uuid == hashlib.sha224(url.encode("utf-8")).hexdigest()[:24]


def test_text_mix(pool):
    texts = pool.column("text").to_pylist()
    n = len(texts)
    blank = sum(1 for t in texts if not t.strip())
    assert 0.01 * n <= blank <= 0.08 * n  # a few percent empty / whitespace-only
    assert len(set(texts)) < n  # exact duplicate texts on different urls
    assert any(len(t) >= 450 for t in texts)  # a few very long texts
    assert any(any("\u3040" <= ch <= "\u9fff" for ch in t) for t in texts)  # CJK
    assert any(any("\u0400" <= ch <= "\u04ff" for ch in t) for t in texts)  # Cyrillic


def test_generate_pool_is_deterministic(script):
    a = script.generate_pool(2_000, 123)
    b = script.generate_pool(2_000, 123)
    c = script.generate_pool(2_000, 124)
    assert a.column_names == COLUMNS
    assert a.num_rows == 2_000
    assert a.equals(b)
    assert not a.equals(c)


def test_bundled_file_equals_regenerated(script, pool):
    meta = {k.decode(): v.decode() for k, v in (pool.schema.metadata or {}).items()}
    n_rows = int(meta.get("metacurate.sample_pool.n_rows", pool.num_rows))
    seed = int(meta.get("metacurate.sample_pool.seed", script.DEFAULT_SEED))
    from importlib.metadata import version

    recorded = meta.get("metacurate.sample_pool.wordfreq")
    if recorded and recorded != version("wordfreq"):
        pytest.skip(f"pool was built with wordfreq {recorded}, installed {version('wordfreq')}")
    assert script.generate_pool(n_rows, seed).equals(pool)
