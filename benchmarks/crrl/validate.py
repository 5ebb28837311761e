"""CRRL's validation entry point: the studies on a validation split carved from the training
views (pre-train and train the probe on view 1, evaluate on view 2; view 3 is not read).
One of ``--optimiser-study`` (SGD against Adam per phase), ``--preparation-study`` (the
input preparations) or ``--fusion-study`` (the fusion step's arms) is required; every other
option of ``benchmarks/crrl/table.py`` applies (``--seeds``, ``--epoch-scale``, ``--stem``,
``--reuse``, ``--work``, key=value overrides).

    python benchmarks/crrl/validate.py --optimiser-study --epoch-scale 0.3 encoder.hidden_size=64
    python benchmarks/crrl/validate.py --preparation-study --epoch-scale 0.25
"""

from __future__ import annotations

import sys
from pathlib import Path

# run as a script: the repo root on the path, so that `benchmarks` imports as a package
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.crrl import table

STUDIES = ("--optimiser-study", "--preparation-study", "--fusion-study")


def main(argv: list[str] | None = None) -> None:
    """``table.py`` with ``argv`` (default ``sys.argv[1:]``), which must name one study."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if "-h" not in argv and "--help" not in argv and sum(a in STUDIES for a in argv) != 1:
        print(f"name one study: {' | '.join(STUDIES)}", file=sys.stderr)
        raise SystemExit(2)
    table.main(argv)


if __name__ == "__main__":
    main()
