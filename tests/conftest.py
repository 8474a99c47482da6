"""Fixtures shared by the test files.

Plain helper functions shared by several test files (reading an input file through the readers,
joining an output folder's Parquet parts) are in tests/helpers.py: `from helpers import ...`.
"""

import sys
from pathlib import Path

import pytest

from metacurate.metadata import Metadata

# Tests import the plain reference implementation and tests/helpers.py from this folder.
sys.path.insert(0, str(Path(__file__).parent))

WARC_DIR = Path(__file__).parent / "data" / "warc"


@pytest.fixture
def warc_dir() -> Path:
    """The real web-archive samples in tests/data/warc (provenance: tests/data/README.md)."""
    return WARC_DIR


@pytest.fixture
def dog_cat_metadata() -> Metadata:
    """A two-entry metadata list ("dog", "cat") for tests that only need something to match."""
    return Metadata(["dog", "cat"], "test")
