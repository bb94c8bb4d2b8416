"""The CLI's edge: every failure becomes one redacted line on stderr and a documented exit code.

Exit codes: 0 answer · 1 run failed · 2 bad usage or input · 3 key rejected or out of credits ·
130 interrupted. ``--debug`` (or ``HIVE_DEBUG=1``) adds the traceback, still redacted.
"""

from __future__ import annotations

import contextlib
import os
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager

import typer

from hive import env
from hive.errors import HiveError
from hive.redact import redact

EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell expects when `| head` closes early


def _known_keys() -> list[str]:
    """Every key hive could be using, so none can reach stderr whatever its source."""
    keys = [found[1]] if (found := env.api_key()) else []
    with contextlib.suppress(Exception):  # a broken keys file must not hide the real error
        from hive.store.keys import stored_key
        from hive.store.paths import resolve_paths

        keys.append(stored_key(resolve_paths()) or "")
    return keys


def _line(message: str) -> None:
    sys.stderr.write(redact(message, *_known_keys()) + "\n")
    sys.stderr.flush()


@contextmanager
def error_edge(debug: bool) -> Iterator[None]:
    try:
        yield
    except HiveError as exc:
        if debug:
            _line("".join(traceback.format_exception(exc)).rstrip())
        _line(f"hive: error: {exc}")
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        _line("hive: interrupted")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except (typer.Exit, typer.Abort):
        raise
    except BrokenPipeError:
        # The reader went away (`| head`): silence the final flush at exit, say nothing.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise typer.Exit(EXIT_BROKEN_PIPE) from None
    except Exception as exc:  # a bug: still one line unless asked for more
        if debug:
            _line("".join(traceback.format_exception(exc)).rstrip())
        else:
            _line(f"hive: internal error: {type(exc).__name__}: {exc} (rerun with --debug)")
        raise typer.Exit(1) from None
