"""MS²L's validation entry point: the hypotheses and C's epochs on a validation split of the
training views (pre-train and train the probe on view 1, evaluate on view 2; view 3 is not
read). This is ``benchmarks/ms2l/table.py --validate``: every option of that script applies
(``--variants``, ``--reference``, ``--curve``, ``--seeds``, ``--stem``, ``--reuse``, ...).

    python benchmarks/ms2l/validate.py --variants paper,last-state --seeds 0,1,2
    python benchmarks/ms2l/validate.py --curve rand-s --strategy-epochs 40
"""

from __future__ import annotations

import sys
from pathlib import Path

# run as a script: the repo root on the path, so that `benchmarks` imports as a package
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.ms2l import table


def main(argv: list[str] | None = None) -> None:
    """``table.py --validate`` with ``argv`` (default ``sys.argv[1:]``)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    table.main(["--validate", *[a for a in argv if a != "--validate"]])


if __name__ == "__main__":
    main()
