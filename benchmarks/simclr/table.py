"""SimCLR on NW-UCLA cross-view: the fixed-budget SimCLR row, the untrained encoder and the
supervised encoder beside it (the same protocol as ``benchmarks/baselines/nwucla.py``, whose
code this runs: pre-train views 1+2 within ``--budget-minutes``, then a linear probe and kNN
(k=1, cosine) on frozen features of view 3, final epoch).

Results merge into ``benchmarks/simclr/results/nwucla.json`` / ``.md`` (one row per method);
``benchmarks/summary.py`` reads its rows beside the baselines'.

    python benchmarks/simclr/table.py --root ../shared/datasets/nw-ucla/all_sqe --budget-minutes 25
    python benchmarks/simclr/table.py --methods simclr   # the SimCLR row alone
"""

from __future__ import annotations

import sys
from pathlib import Path

# run as a script: the repo root on the path, so that `benchmarks` imports as a package
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.baselines import nwucla
from benchmarks.common import results_dir

RESULTS = results_dir("simclr")


def main(argv: list[str] | None = None) -> None:
    nwucla.main(argv, methods="random,supervised,simclr", out=RESULTS,
                script="benchmarks/simclr/table.py", description=__doc__.split("\n")[0])  # fmt: skip


if __name__ == "__main__":
    main()
