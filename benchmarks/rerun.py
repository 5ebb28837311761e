"""Rerun a committed result at the commit that produced it.

``python benchmarks/rerun.py RESULT.json`` reads the result's ``provenance`` block (written
by ``benchmarks/common.py``, or backfilled for results older than it) and prints the
commands that check out the recorded commit in a temporary ``git worktree`` and run the
recorded command there. ``--run`` does it: the worktree is created under ``--worktree``
(default a new temporary folder), the command runs in it, and the worktree is removed
afterwards unless ``--keep``. A backfilled block names the commit that committed the file:
the run ran at or before it.

    python benchmarks/rerun.py benchmarks/crrl/results/nwucla_crrl.json
    python benchmarks/rerun.py benchmarks/crrl/results/nwucla_crrl.json --run
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def recorded(path: Path) -> tuple[str, str]:
    """(commit, command) of a result JSON's provenance; exit 2 with one line when the file
    cannot be read or records neither."""
    try:
        payload = json.loads(Path(path).read_text())
    except (OSError, ValueError) as error:
        fail(f"{path}: not a readable result JSON ({error.__class__.__name__})")
    block = payload.get("provenance") if isinstance(payload, dict) else None
    if not isinstance(block, dict) or not block.get("commit"):
        fail(f"{path}: no provenance.commit (not a result written by benchmarks/common.py)")
    command = block.get("command") or payload.get("command")
    if not command:
        fail(f"{path}: records no command (provenance.command or command)")
    return block["commit"], command


def fail(message: str) -> None:
    print(message, file=sys.stderr)
    raise SystemExit(2)


def instructions(commit: str, command: str, worktree: str = "$WORKTREE") -> list[str]:
    """The shell lines that rerun ``command`` at ``commit`` in a worktree at ``worktree``."""
    return [
        f"git worktree add --detach {worktree} {commit}",
        f"cd {worktree} && {command}",
        f"git worktree remove --force {worktree}",
    ]


def run(commit: str, command: str, worktree: Path | None, keep: bool, repo: Path = REPO) -> int:
    """``command`` run in a fresh worktree of ``repo`` at ``commit``; its exit status."""
    where = worktree or Path(tempfile.mkdtemp(prefix="skelssl-rerun-")) / "tree"
    subprocess.run(["git", "worktree", "add", "--detach", str(where), commit], cwd=repo,
                   check=True)  # fmt: skip
    try:
        return subprocess.run(command, shell=True, cwd=where).returncode
    finally:
        if not keep:
            subprocess.run(["git", "worktree", "remove", "--force", str(where)], cwd=repo,
                           check=False)  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("result", type=Path, help="a result JSON with a provenance block")
    parser.add_argument("--run", action="store_true", help="run it in a temporary worktree")
    parser.add_argument("--worktree", type=Path, default=None, help="where (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the worktree after --run")
    parser.add_argument("--repo", type=Path, default=REPO, help="the git checkout (default: this)")
    args = parser.parse_args(argv)
    commit, command = recorded(args.result)
    if not args.run:
        print(f"# {args.result}: recorded at {commit}")
        print(
            "\n".join(
                instructions(
                    commit,
                    command,
                    shlex.quote(str(args.worktree or "$WORKTREE"))
                    if args.worktree
                    else "$WORKTREE",
                )
            )
        )
        return 0
    return run(commit, command, args.worktree, args.keep, args.repo)


if __name__ == "__main__":
    raise SystemExit(main())
