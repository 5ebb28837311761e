"""README.md and docs/ point only at files that exist, and README stays a product page."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]
MARKDOWN_LINK = re.compile(r"\]\(([^)\s]+)\)")
REPO_PATH = re.compile(r"`((?:benchmarks|configs|docs|src|tests)/[^`\s]*)`")
README_MAX_LINES = 250
README_FORBIDDEN = re.compile(r"session|issue #|HELPERS\.md", re.IGNORECASE)


def relative_links(text: str) -> list[str]:
    """Targets of markdown links ``](path)``, without anchors, web links and mail links."""
    targets = []
    for target in MARKDOWN_LINK.findall(text):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            continue
        targets.append(target.split("#", 1)[0])
    return targets


def repo_paths(text: str) -> list[str]:
    """Backticked repository paths (``benchmarks/...``, ``src/...``, ...), placeholders left
    out (``<method>``, ``{a,b}``, ``*``, ``...``)."""
    return [p for p in REPO_PATH.findall(text) if not re.search(r"[<>{}*]|\.\.\.|…", p)]


def test_the_link_patterns_find_what_they_should():
    text = "see [a](docs/a.md#x), [w](https://x.org), [s](#top), `src/b.py`, `src/<m>.py`"
    assert relative_links(text) == ["docs/a.md"]
    assert repo_paths(text) == ["src/b.py"]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_link_and_repo_path_exists(page):
    text = page.read_text(encoding="utf-8")
    missing = [t for t in relative_links(text) if not (page.parent / t).exists()]
    missing += [p for p in repo_paths(text) if not (REPO / p.rstrip("/")).exists()]
    assert not missing, f"{page.relative_to(REPO)} points at missing files: {missing}"


def test_readme_is_a_short_product_page():
    text = (REPO / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= README_MAX_LINES
    assert not README_FORBIDDEN.search(text), README_FORBIDDEN.search(text).group(0)
    assert "<!-- nwucla-summary:start -->" in text and "<!-- nwucla-summary:end -->" in text
