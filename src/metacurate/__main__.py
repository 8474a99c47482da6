"""``python -m metacurate``: the same command line as ``metacurate``."""

from metacurate.cli import app

app(prog_name="metacurate")
