import sys
from pathlib import Path

import pytest

# Tests import the plain reference implementation from this folder.
sys.path.insert(0, str(Path(__file__).parent))

SHARED_DATA = Path(__file__).parents[2] / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    """The real sample files in ../shared/data (see its README); skip where they are absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"{SHARED_DATA}: ../shared/data not found, real web-archive samples absent")
    return SHARED_DATA
