"""Progress output on stderr that suits where it goes.

On a terminal tqdm redraws one line with carriage returns. Anywhere else (a log file, a
pipe, a CI console) those redraws would pile up into one line of tens of kilobytes, so
:func:`progress_stream` turns them into whole lines, at most one every
``LOG_INTERVAL_S`` seconds per bar (tqdm's ``mininterval``, set through its
``TQDM_MININTERVAL`` environment default). Standard library only: the CLI installs it
before importing torch.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

LOG_INTERVAL_S = 5.0


class LineStream:
    """A text stream that writes each carriage-return redraw as its own line.

    ``write("\\rtrain: 40%|####  | 4/10")`` writes ``"train: 40%|####  | 4/10\\n"``; the
    blank redraws tqdm uses to clear a finished bar are dropped.
    """

    def __init__(self, stream):
        self.stream = stream
        self.after_redraw = False  # the last write was a redraw, already ended by a newline

    def write(self, text: str) -> int:
        if "\r" not in text:
            if not (self.after_redraw and not text.strip()):
                self.stream.write(text)
            self.after_redraw = False
            return len(text)
        for part in text.split("\r"):
            if part.strip():
                self.stream.write(part.strip("\n").rstrip() + "\n")
        self.after_redraw = True
        return len(text)

    def flush(self) -> None:
        self.stream.flush()

    def isatty(self) -> bool:
        return False

    def __getattr__(self, name):
        return getattr(self.stream, name)


def _is_terminal(stream) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # closed stream
        return False


@contextmanager
def progress_stream() -> Iterator[None]:
    """Inside the block, progress bars on a non-terminal stderr print whole lines every
    ``LOG_INTERVAL_S`` seconds; a terminal is left alone."""
    if _is_terminal(sys.stderr):
        yield
        return
    previous_stream = sys.stderr
    previous_interval = os.environ.get("TQDM_MININTERVAL")
    sys.stderr = LineStream(previous_stream)
    os.environ["TQDM_MININTERVAL"] = str(LOG_INTERVAL_S)
    try:
        yield
    finally:
        sys.stderr = previous_stream
        if previous_interval is None:
            os.environ.pop("TQDM_MININTERVAL", None)
        else:
            os.environ["TQDM_MININTERVAL"] = previous_interval
