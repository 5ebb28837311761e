"""benchmarks/crrl/diagnostics/transfer.py: the leave-one-out agreement and the table."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture
def transfer(import_benchmark):
    return import_benchmark("crrl.diagnostics.transfer")


def test_leave_one_out_never_takes_the_clip_itself(transfer):
    features = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    labels = np.array([0, 1, 2, 3])
    np.testing.assert_array_equal(
        transfer.leave_one_out_predictions(features, labels), [1, 0, 3, 2]
    )


def test_set_table_has_a_row_per_seed_and_the_mean(transfer):
    values = {key: 1.0 for key in transfer.COLUMNS}
    entry = {"student": "s{seed}", "ser": "r{seed}", "clips": "10", "load_average": 1.0,
             "per_seed": {"0": values, "1": {**values, "distill_loss": 3.0}}}  # fmt: skip
    table = "\n".join(transfer.set_table("demo", entry))
    assert (
        "| mean ± std | 2.0 ± 1.4 | 1.0 ± 0.0 | 1.000 ± 0.000 |" in table
    )  # fractions: 3 decimals
    assert table.count("\n| 0 |") == 1 and table.count("\n| 1 |") == 1
