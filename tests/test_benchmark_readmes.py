"""Every ``python benchmarks/...py`` command in REPRODUCE.md and the benchmarks' READMEs
names a script that exists; every maintained table and validation script starts at HEAD."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "REPRODUCE.md", *sorted((REPO / "benchmarks").rglob("README.md"))]
SCRIPT = re.compile(r"python3?\s+(?:-\S+\s+)*(benchmarks/[\w./-]+\.py)")
MAINTAINED = [
    "benchmarks/summary.py", "benchmarks/rerun.py", "benchmarks/gpu_suite.py",
    "benchmarks/ms2l/table.py", "benchmarks/ms2l/validate.py",
    "benchmarks/crrl/table.py", "benchmarks/crrl/validate.py", "benchmarks/crrl/paired.py",
    "benchmarks/byol/table.py", "benchmarks/byol/validate.py",
    "benchmarks/simclr/table.py", "benchmarks/simclr/validate.py", "benchmarks/simclr/choices.py",
    "benchmarks/baselines/nwucla.py", "benchmarks/carryover/table.py",
]  # fmt: skip


def scripts_named(text: str) -> list[str]:
    """The ``benchmarks/...py`` paths that ``python`` runs in ``text``."""
    return SCRIPT.findall(text)


def test_the_pattern_finds_scripts_after_python_and_its_options():
    text = "OMP_NUM_THREADS=1 python benchmarks/a/b.py --x\npython -u benchmarks/c.py; `benchmarks/d.py`"
    assert scripts_named(text) == ["benchmarks/a/b.py", "benchmarks/c.py"]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_command_names_a_script_that_exists(page):
    named = scripts_named(page.read_text(encoding="utf-8"))
    missing = sorted({s for s in named if not (REPO / s).is_file()})
    assert not missing, f"{page.relative_to(REPO)} runs missing scripts: {missing}"


def test_every_paper_folder_has_its_readme_and_reproduce_points_at_them():
    index = (REPO / "REPRODUCE.md").read_text(encoding="utf-8")
    for folder in ("ms2l", "crrl", "byol", "simclr", "baselines", "speed", "product"):
        assert (REPO / "benchmarks" / folder / "README.md").is_file()
        assert f"benchmarks/{folder}/README.md" in index


DRIVER = """
import contextlib, io, runpy, sys
for script in sys.argv[1:]:
    sys.argv = [script, "--help"]
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            runpy.run_path(script, run_name="__main__")
    except SystemExit as stop:
        assert stop.code in (0, None), (script, stop.code)
    assert "usage" in out.getvalue(), script
    print("ok", script)
"""


def test_the_maintained_scripts_start_from_any_folder(tmp_path):
    """Each maintained script parses its options (``--help``) when run by path from another
    folder (one process): its imports of ``benchmarks.*`` and ``skelssl`` resolve at HEAD."""
    scripts = [str(REPO / script) for script in MAINTAINED]
    done = subprocess.run([sys.executable, "-c", DRIVER, *scripts], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-1000:]
    assert done.stdout.count("ok ") == len(MAINTAINED)
