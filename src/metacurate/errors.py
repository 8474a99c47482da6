"""Errors a user can act on: the CLI prints their one-line message and exits non-zero."""


class InputError(Exception):
    """Bad or missing input: the message names the file (and line or column) at fault."""


class OutputConflict(Exception):
    """The output folder holds a different run; the message says how to proceed."""
