"""Errors a user can act on: the CLI prints their one-line message and exits non-zero."""


class InputError(Exception):
    """Bad or missing input: the message names the file (and line or column) at fault."""


class RemoteReadError(InputError):
    """A remote input (object store or HTTP) kept failing at one offset after the retries were
    spent. Readers count it as a rejected input and keep what they read before it, so one flaky
    file among thousands never ends a run; raised where nothing was read yet (planning), it is a
    plain one-line input error."""

    def __init__(self, url: str, offset: int, detail: str) -> None:
        super().__init__(url, offset, detail)  # all three in args: the error pickles to the driver
        self.url, self.offset, self.detail = url, offset, detail

    def __str__(self) -> str:
        return f"{self.url}:{self.offset}: read failed ({self.detail})"


class OutputConflict(Exception):
    """The output folder holds a different run; the message says how to proceed."""


def import_extra(module: str, extra: str, purpose: str):
    """Import an optional dependency, or say which extra installs it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise InputError(f"{purpose} needs {module}: pip install 'metacurate[{extra}]'") from None


class OutputError(Exception):
    """An output cannot be written (read-only folder, full disk, a file in the way); the
    message names the path."""


class WorkerLost(Exception):
    """A worker process died (killed, out of memory) while running tasks; the message names
    them. What finished tasks wrote is kept, so the same command resumes."""


class Interrupted(KeyboardInterrupt):
    """SIGTERM, handled as Ctrl-C is: a KeyboardInterrupt, so no ``except Exception`` swallows it."""


class LeaseLost(KeyboardInterrupt):
    """This run no longer holds its object-store folder's lease (another run took it over, or
    it could not be renewed): raised in the driver between two tasks, taking Ctrl-C's path so
    that the workers are stopped at once and nothing more is written beside the other run."""


def interruption(err: KeyboardInterrupt) -> str:
    """The one line a stopped run ends with."""
    if isinstance(err, LeaseLost):
        return str(err)
    how = "by SIGTERM" if isinstance(err, Interrupted) else "(Ctrl-C)"
    return f"interrupted {how}; what finished is kept: run the same command again to resume"
