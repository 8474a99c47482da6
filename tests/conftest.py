import sys
from pathlib import Path

# Tests import the plain reference implementation from this folder.
sys.path.insert(0, str(Path(__file__).parent))
