"""The one exception type for user errors (bad file, bad config, bad argument).

The CLI prints it on one line and exits with code 2; library code raises it with the
offending file (or config key) and the problem, never a bare traceback.
"""

from __future__ import annotations

import os


class SkelsslError(Exception):
    """A user error: ``SkelsslError("truncated file", path="a.skeleton")``.

    ``str(err)`` is ``"a.skeleton: truncated file"``; without a path, just the problem.
    """

    def __init__(self, problem: str, path: str | os.PathLike | None = None):
        self.problem = problem
        self.path = None if path is None else str(path)
        super().__init__(str(self))

    def __str__(self) -> str:
        return f"{self.path}: {self.problem}" if self.path else self.problem


class Terminated(KeyboardInterrupt):
    """SIGTERM (SLURM, ``docker stop``), handled like Ctrl-C: training saves its state;
    the CLI exits with 143 (128 + 15) instead of Ctrl-C's 130."""
