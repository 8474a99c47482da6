"""The ``metacurate`` command (also ``python -m metacurate``). Only the standard library is
imported before ``main`` runs, so that its handlers cover as much of the start as they can.

SIGTERM (a scheduler, ``kill``, a container stop) is made to take Ctrl-C's path before anything
heavy is imported, and a Ctrl-C that lands while the command is still starting ends with the
same one line as one that lands mid-run.
"""

import os
import signal
import sys


def _terminate_in(driver: int):
    def terminate(signum, frame) -> None:
        if os.getpid() == driver:
            from metacurate.errors import Interrupted

            raise Interrupted
        # A worker forked before it could reset this handler: die as SIGTERM means.
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)

    return terminate


def _interruption_behind(err: BaseException) -> KeyboardInterrupt | None:
    cause = err.__cause__ or err.__context__
    while cause is not None and not isinstance(cause, KeyboardInterrupt):
        cause = cause.__cause__ or cause.__context__
    return cause


def main() -> None:
    signal.signal(signal.SIGTERM, _terminate_in(os.getpid()))
    try:
        _import_cli()(prog_name="metacurate")
    except KeyboardInterrupt as err:
        _stopped(err)
    except SystemExit as exit_:
        # Typer ends a command that Ctrl-C stopped with exit status 130 and no word; click's
        # "Aborted!" is status 1 with the interruption behind it.
        interrupted = _interruption_behind(exit_)
        if exit_.code == 130 or interrupted is not None:
            _stopped(interrupted or KeyboardInterrupt())
        raise
    except Exception as err:
        # Ctrl-C that lands while a compiled (numba) kernel runs in this process surfaces as
        # SystemError "returned a result with an exception set", and one inside a library's
        # import may come out as its own error: the interruption is behind either.
        interrupted = _interruption_behind(err)
        if interrupted is None:
            raise
        _stopped(interrupted)


def _import_cli():
    """The command line app, imported (numba, pyarrow, rich: about a second) with Ctrl-C
    remembered as well as raised: a library whose optional import of its own catches
    everything (a bare ``except:``) would otherwise swallow it, and the command would run on
    as if no Ctrl-C had come. Where Ctrl-C is ignored (a background job), it stays ignored."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        from metacurate.cli import app

        return app
    came = []

    def interrupt(signum, frame) -> None:
        came.append(signum)
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, interrupt)
    try:
        from metacurate.cli import app
    finally:
        signal.signal(signal.SIGINT, previous)
    if came:
        raise KeyboardInterrupt
    return app


def _stopped(err: KeyboardInterrupt) -> None:
    """Say so and leave at once: the workers are stopped and every output is whole, and a
    module whose import the interruption cut short must not run its exit handlers."""
    from metacurate.errors import LeaseLost, interruption

    print(f"error: {interruption(err)}", file=sys.stderr, flush=True)
    sys.stdout.flush()
    os._exit(2 if isinstance(err, LeaseLost) else 130)


if __name__ == "__main__":
    main()
