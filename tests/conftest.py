import sys
from pathlib import Path

import pytest

# Tests import the plain reference implementation from this folder.
sys.path.insert(0, str(Path(__file__).parent))

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real sample data folder {SHARED_DATA} is absent")
    return SHARED_DATA
