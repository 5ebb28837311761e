"""benchmarks/byol/table.py: a run stopped mid-way resumes under ``--reuse``."""

from __future__ import annotations

import argparse


def test_pretrain_run_resumes_an_unfinished_run_of_the_same_config_only(
    import_benchmark, tmp_path, monkeypatch
):
    import yaml

    from skelssl.config import to_dict

    bench = import_benchmark("byol.table")
    calls = []

    def fake_pretrain(config, run_dir, *, resume=False, quiet=False):
        calls.append(resume)
        if not resume:  # what a run stopped mid-way leaves: its config and last.pt
            run_dir.mkdir(parents=True)
            (run_dir / "config.yaml").write_text(yaml.safe_dump(to_dict(config)))
            (run_dir / "last.pt").write_bytes(b"weights")
        return {"epochs": config.train.epochs}

    monkeypatch.setattr(bench, "pretrain", fake_pretrain)
    args = argparse.Namespace(
        work=str(tmp_path), reuse=True, quick=True, set=[], teacher_set=None, epochs=3,
        teacher_epochs=2, root=None,
    )  # fmt: skip
    bench.pretrain_run("ours", 0, args)
    bench.pretrain_run("ours", 0, args)  # the same config, unfinished: resumed
    assert calls == [False, True]
    args.set = ["train.batch_size=8"]  # another config: trained afresh over the unfinished run
    bench.pretrain_run("ours", 0, args)
    args.reuse = False  # without --reuse: always afresh
    bench.pretrain_run("ours", 0, args)
    assert calls == [False, True, False, False]


def test_pretrain_run_keeps_a_finished_run_of_the_same_config_only(
    import_benchmark, tmp_path, monkeypatch
):
    import json

    import yaml

    from skelssl.config import to_dict

    bench = import_benchmark("byol.table")
    calls = []

    def fake_pretrain(config, run_dir, *, resume=False, quiet=False):
        calls.append(config.train.batch_size)
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "config.yaml").write_text(yaml.safe_dump(to_dict(config)))
        (run_dir / "last.pt").write_bytes(b"weights")
        summary = {"batch_size": config.train.batch_size}
        (run_dir / "summary.json").write_text(json.dumps(summary))
        return summary

    monkeypatch.setattr(bench, "pretrain", fake_pretrain)
    args = argparse.Namespace(
        work=str(tmp_path), reuse=True, quick=True, set=["train.batch_size=8"],
        teacher_set=None, epochs=3, teacher_epochs=2, root=None,
    )  # fmt: skip
    bench.pretrain_run("ours", 0, args)
    assert bench.pretrain_run("ours", 0, args)[1] == {"batch_size": 8}  # kept
    args.set = ["train.batch_size=16"]  # a finished run of another config: trained afresh
    assert bench.pretrain_run("ours", 0, args)[1] == {"batch_size": 16}
    assert calls == [8, 16]


def test_validation_runs_are_kept_resumed_or_retrained_by_config(
    import_benchmark, tmp_path, monkeypatch
):
    """nwucla_byol_validation.py --reuse: a finished run of the same config is kept, an
    unfinished one resumed, another config's run trained afresh."""
    import json

    import yaml

    from skelssl.config import to_dict

    bench = import_benchmark("byol.validate")
    calls = []

    def fake_pretrain(config, run_dir, *, resume=False, quiet=False):
        calls.append((config.train.epochs, resume))
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "config.yaml").write_text(yaml.safe_dump(to_dict(config)))
        (run_dir / "last.pt").write_bytes(b"weights")
        summary = {"epochs": config.train.epochs, "seconds": 60.0}
        if config.train.epochs != 3:  # the 3-epoch run "stops" before its summary
            (run_dir / "summary.json").write_text(json.dumps(summary))
        return summary

    monkeypatch.setattr(bench, "pretrain", fake_pretrain)
    args = argparse.Namespace(
        work=str(tmp_path),
        reuse=True,
        npz=tmp_path / "val.npz",
        frames=32,
        base=[],
        epochs=2,
        split="view",
        readout="same",
    )
    bench.pretrain_one(args, "lars", 0)
    bench.pretrain_one(args, "lars", 0)  # finished, same config: kept
    args.epochs = 3
    bench.pretrain_one(args, "lars", 0)  # another config: afresh (and left unfinished)
    bench.pretrain_one(args, "lars", 0)  # unfinished, same config: resumed
    args.reuse = False
    bench.pretrain_one(args, "lars", 0)
    assert calls == [(2, False), (3, False), (3, True), (3, False)]


def test_an_untrained_row_compares_at_the_zero_epochs_its_run_saves(import_benchmark):
    """skelssl.runs.pretrain saves a ``random`` run with train.epochs and train.min_steps 0
    whatever it was asked, so a finished untrained row must still match its config under
    --reuse (a recipe's min_steps once made every untrained row retrain)."""
    compare = import_benchmark("common").comparable_settings
    asked = {"method": "random", "train": {"epochs": 40, "min_steps": 1400, "seed": 1}}
    saved = {"method": "random", "train": {"epochs": 0, "min_steps": 0, "seed": 1}}
    assert compare(asked) == compare(saved)
    assert compare(asked) != compare({**saved, "train": {"epochs": 0, "seed": 2}})
    trained = {"method": "byol", "train": {"epochs": 40, "seed": 1}}
    assert compare(trained) != compare({**trained, "train": {"epochs": 0, "seed": 1}})


def test_encoder_fields_the_encoder_does_not_read_do_not_make_another_run(import_benchmark):
    """A GRU run whose config records an ST-GCN ``width`` (a preset's leftover) is the
    same run as one without it; a field the GRU reads still makes another run."""
    compare = import_benchmark("common").comparable_settings
    gru = {"method": "byol", "encoder": {"name": "gru", "hidden_size": 128, "width": 1.0}}
    assert compare(gru) == compare({**gru, "encoder": {**gru["encoder"], "width": 0.25}})
    assert compare(gru) != compare({**gru, "encoder": {**gru["encoder"], "hidden_size": 64}})
    stgcn = {"method": "byol", "encoder": {"name": "stgcn", "width": 0.25, "dropout": 0.2}}
    assert compare(stgcn) == compare({**stgcn, "encoder": {**stgcn["encoder"], "dropout": 0.0}})


def test_the_subject_split_keeps_both_cameras_and_the_sampling(import_benchmark, tmp_path):
    """``--split subject``: the held-out subjects' sequences (every camera) are the
    validation part, a training performance keeps both its cameras, and the variants keep
    the config's multi-viewpoint sampling unless they set it."""
    import numpy as np

    from skelssl.data.readers.arrays import read_npz
    from skelssl.data.types import SkeletonData

    bench = import_benchmark("byol.validate")
    n = 24
    subjects, views = np.arange(n) // 4 + 1, np.arange(n) % 2 + 1
    data = SkeletonData(
        joints=np.ones((n, 10, 1, 20, 3), np.float32), lengths=np.full(n, 10),
        labels=np.arange(n) % 3, subjects=subjects, views=views, setups=np.zeros(n, int),
        performances=np.array([f"p{i // 2}" for i in range(n)]),
        names=np.array([f"s{i}" for i in range(n)]), class_names=["a", "b", "c"],
        layout="kinect-v1-20", source="tiny",
    )  # fmt: skip
    written = read_npz(bench.write_held_out_subjects(data, tmp_path / "s.npz", [5, 6]))
    train = written.splits["given"]
    assert not train[np.isin(subjects, [5, 6])].any() and train[subjects <= 4].all()
    assert set(views[train]) == {1, 2}
    # 16 training sequences of 8 performances at batch 4: 2 steps an epoch against 4
    args = argparse.Namespace(npz=tmp_path / "s.npz", frames=10, epochs=200)
    args.base, args.split = ["train.batch_size=4", "train.warmup_epochs=10"], "subject"
    multi = bench.run_config(args, "multi-view", 0)
    single = bench.run_config(args, "single-view-steps", 0)
    assert multi.params.multi_view and multi.train.epochs == 200
    assert not single.params.multi_view
    assert (single.train.epochs, single.train.warmup_epochs) == (100, 5)
    args.split = "view"
    assert not bench.run_config(args, "multi-view", 0).params.multi_view
    fit, measured = bench.readout_parts(written, "cross-view")
    assert set(fit.views) == {1} and set(measured.views) == {2}
    assert set(fit.subjects) <= {1, 2, 3, 4} and set(measured.subjects) == {5, 6}


def test_a_variant_with_its_own_input_reads_its_own_file(import_benchmark, tmp_path):
    """``multi-view-frames-150`` (the paper's 150 frames, repeated) trains on a file
    prepared at its frames beside ``--npz``; the others keep ``--frames``' file."""
    bench = import_benchmark("byol.validate")
    args = argparse.Namespace(npz=tmp_path / "s.npz", frames=50, epochs=2, base=[])
    args.split = "subject"
    paper = bench.run_config(args, "multi-view-frames-150", 0)
    assert paper.data.name == str(tmp_path / "s_150_repeat.npz")
    assert (paper.data.preprocess.frames, paper.data.preprocess.temporal) == (150, "repeat")
    ours = bench.run_config(args, "multi-view-decay-all", 0)
    assert ours.data.name == str(tmp_path / "s.npz") and ours.data.preprocess.frames == 50
    assert not ours.train.exclude_bias_and_norm


def test_validation_summary_reports_sample_stds_of_values_and_paired_differences(
    import_benchmark,
):
    """Every benchmark reports mean ± sample std (ddof 1); paired over the seeds both hold."""
    bench = import_benchmark("byol.validate")
    rows = [
        {"variant": "base", "seed": s, "probe_top1": p, "knn_top1": 50.0}
        for s, p in ((0, 60.0), (1, 62.0), (2, 64.0))
    ] + [
        {"variant": "new", "seed": s, "probe_top1": p, "knn_top1": 50.0}
        for s, p in ((0, 61.0), (1, 65.0), (2, 64.0), (3, 99.0))
    ]
    summary = {entry["variant"]: entry for entry in bench.summarise(rows, "base")}
    assert summary["base"]["probe_top1"] == "62.0 ± 2.0"  # ddof 0 would say 1.6
    assert summary["new"]["probe_top1_minus_base"] == "+1.3 ± 1.5"  # +1, +3, 0: seed 3 unpaired
    assert "probe_top1_minus_base" not in summary["base"]
