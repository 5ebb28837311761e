"""benchmarks/rerun.py: the recorded command at the recorded commit, printed or run."""

from __future__ import annotations

import json
import subprocess

import pytest


@pytest.fixture
def rerun(import_benchmark):
    return import_benchmark("rerun")


def git(repo, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                          check=True)  # fmt: skip
    return done.stdout.strip()


def tiny_repo(tmp_path):
    """A git repo whose ``f.txt`` reads ``old`` at its first commit and ``new`` after."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    git(repo, "config", "user.email", "t@example.org")
    git(repo, "config", "user.name", "t")
    (repo / "f.txt").write_text("old\n")
    git(repo, "add", "f.txt")
    git(repo, "commit", "-q", "-m", "old")
    first = git(repo, "rev-parse", "HEAD")
    (repo / "f.txt").write_text("new\n")
    git(repo, "commit", "-q", "-am", "new")
    return repo, first


def test_it_prints_the_worktree_commands_of_the_recorded_commit(rerun, tmp_path, capsys):
    result = tmp_path / "r.json"
    result.write_text(json.dumps({"top1": 1.0, "provenance": {"commit": "abc123",
                                  "command": "python benchmarks/x.py --seeds 0"}}))  # fmt: skip
    assert rerun.main([str(result)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "git worktree add --detach $WORKTREE abc123" in lines
    assert "cd $WORKTREE && python benchmarks/x.py --seeds 0" in lines


def test_a_backfilled_block_without_command_uses_the_files_own(rerun, tmp_path, capsys):
    result = tmp_path / "r.json"
    result.write_text(json.dumps({"command": "python old.py", "provenance": {"commit": "c0ffee",
                                  "command": None}}))  # fmt: skip
    rerun.main([str(result)])
    assert "cd $WORKTREE && python old.py" in capsys.readouterr().out


def test_run_executes_the_command_at_the_recorded_commit_and_removes_the_tree(
    rerun, tmp_path, capfd
):
    repo, first = tiny_repo(tmp_path)
    result = tmp_path / "r.json"
    result.write_text(json.dumps({"provenance": {"commit": first, "command": "cat f.txt"}}))
    tree = tmp_path / "tree"
    assert rerun.main([str(result), "--run", "--repo", str(repo), "--worktree", str(tree)]) == 0
    assert "old" in capfd.readouterr().out  # the first commit's file, not HEAD's "new"
    assert not tree.exists()


def test_a_file_without_provenance_is_one_line_and_exit_2(rerun, tmp_path, capsys):
    result = tmp_path / "r.json"
    result.write_text(json.dumps({"top1": 1.0}))
    with pytest.raises(SystemExit) as stop:
        rerun.main([str(result)])
    assert stop.value.code == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "provenance" in error
