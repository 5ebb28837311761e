"""Report helpers: markdown tables and PNG plots."""

from __future__ import annotations

import numpy as np
import pytest
import sklearn.manifold  # noqa: F401  (loads its OpenMP runtime, so the limit below applies)
from threadpoolctl import threadpool_limits

from skelssl.errors import SkelsslError
from skelssl.report import markdown_table, plot_confusion_matrix, plot_curves, plot_tsne

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_markdown_table_formats_numbers_and_std():
    rows = [
        {"method": "simclr", "top1": 71.234, "top1_std": 0.56, "n_train": 1020, "augment": True},
        {"method": "a|b", "top1": 50.0, "n_train": np.int64(7)},
    ]
    table = markdown_table(
        rows, ["method", "top1", "n_train", "augment"], ["method", "top-1 %", "n", "aug"]
    )
    assert table.splitlines() == [
        "| method | top-1 % | n | aug |",
        "|---|---|---|---|",
        "| simclr | 71.2 ± 0.6 | 1020 | yes |",
        "| a\\|b | 50.0 | 7 | - |",
    ]


def test_markdown_table_defaults_headers_to_columns_and_checks_them():
    assert markdown_table([{"x": np.float32(0.25)}], ["x"]).splitlines()[2] == "| 0.2 |"
    with pytest.raises(SkelsslError):
        markdown_table([], ["a", "b"], ["only one"])


def _assert_png(path):
    data = path.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 1000


def test_confusion_matrix_png(tmp_path):
    matrix = np.array([[5, 1, 0], [0, 3, 2], [0, 0, 0]])
    path = plot_confusion_matrix(
        matrix, ["walk", "sit", "wave"], tmp_path / "sub" / "cm.png", "test"
    )
    _assert_png(path)
    with pytest.raises(SkelsslError):
        plot_confusion_matrix(matrix, ["walk", "sit"], tmp_path / "bad.png", "bad")


def test_tsne_png_and_embedding(tmp_path):
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1, 2], 8)
    features = rng.normal(size=(24, 5)) + labels[:, None] * 5.0
    with threadpool_limits(limits=1):  # OpenMP threads on a shared, busy machine crawl
        embedding = plot_tsne(features, labels, ["a", "b", "c"], tmp_path / "tsne.png", "t-SNE")
        again = plot_tsne(features, labels, ["a", "b", "c"], tmp_path / "tsne2.png", "t-SNE")
    assert embedding.shape == (24, 2)
    _assert_png(tmp_path / "tsne.png")
    np.testing.assert_allclose(embedding, again)


def test_curves_png(tmp_path):
    series = {"simclr": ([0, 1, 2], [3.0, 2.0, 1.5]), "byol": ([0, 1, 2], [1.0, 0.5, 0.4])}
    _assert_png(plot_curves(series, tmp_path / "loss.png", "loss", "epoch", "loss"))
    with pytest.raises(SkelsslError):
        plot_curves({"bad": ([0, 1], [1.0])}, tmp_path / "bad.png", "bad", "x", "y")
