"""Tiny files in the field's formats, with exactly the keys, shapes and dtypes their
writers use (pyskl's tools/data, AimCLR's tools/ntu_gendata.py, CTR-GCN's
data/ntu/seq_transformation.py)."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np


def _motion(rng, bodies: int, frames: int, joints: int, channels: int, scale: float) -> np.ndarray:
    """(M, T, V, C) smooth random motion around a random pose."""
    pose = rng.normal(size=(bodies, 1, joints, channels)) * scale
    drift = np.cumsum(rng.normal(size=(bodies, frames, 1, channels)), axis=1) * scale * 0.05
    wiggle = rng.normal(size=(bodies, frames, joints, channels)) * scale * 0.02
    return pose + drift + wiggle


def ntu_name(i: int) -> str:
    """NTU-style name: camera 1-3, subject 1-2, replication i // 6 + 1, action i % 3 + 1."""
    return f"S001C{1 + i % 3:03d}P{1 + (i // 3) % 2:03d}R{1 + i // 6:03d}A{1 + i % 3:03d}"


def write_pyskl_3d(path: Path, count: int = 12, seed: int = 0) -> Path:
    """pyskl ntu_preproc.py: keypoint (M, T, 25, 3) float16, label, frame_dir, total_frames;
    split xsub_train/xsub_val and xview_train/xview_val."""
    rng = np.random.default_rng(seed)
    annotations = []
    for i in range(count):
        frames = 12 + i
        keypoint = (_motion(rng, 1 + i % 2, frames, 25, 3, 0.3) + [0, 0, 3]).astype(np.float16)
        name = ntu_name(i)
        annotations.append(dict(frame_dir=name, label=i % 3, keypoint=keypoint,
                                total_frames=frames))  # fmt: skip
    names = [a["frame_dir"] for a in annotations]
    split = dict(
        xsub_train=[n for n in names if "P001" in n],
        xsub_val=[n for n in names if "P001" not in n],
        xview_train=[n for n in names if "C001" not in n],
        xview_val=[n for n in names if "C001" in n],
    )
    with open(path, "wb") as handle:
        pickle.dump(dict(split=split, annotations=annotations), handle, protocol=2)  # mmcv's
    return path


def pyskl_2d_annotations(count: int = 12, seed: int = 1, labelled: bool = True) -> list[dict]:
    """pyskl custom_2d_skeleton.py: keypoint (M, T, 17, 2) float16 pixels, keypoint_score
    (M, T, 17) float16, img_shape, original_shape, total_frames, label, num_person_raw."""
    rng = np.random.default_rng(seed)
    annotations = []
    for i in range(count):
        frames = 10 + i
        keypoint = _motion(rng, 1, frames, 17, 2, 60.0) + [960, 540]
        annotation = dict(
            frame_dir=f"video{i:03d}",
            img_shape=(1080, 1920),
            original_shape=(1080, 1920),
            total_frames=frames,
            num_person_raw=1,
            keypoint=keypoint.astype(np.float16),
            keypoint_score=rng.uniform(0.1, 1.0, size=(1, frames, 17)).astype(np.float16),
        )
        if labelled:
            annotation["label"] = i % 3
        annotations.append(annotation)
    return annotations


def write_pyskl_2d(path: Path, count: int = 12, with_split: bool = True) -> Path:
    annotations = pyskl_2d_annotations(count)
    names = [a["frame_dir"] for a in annotations]
    content = annotations
    if with_split:
        content = dict(split=dict(train=names[: count * 2 // 3], val=names[count * 2 // 3 :]),
                       annotations=annotations)  # fmt: skip
    with open(path, "wb") as handle:
        pickle.dump(content, handle)
    return path


def write_feeder(folder: Path, counts=(9, 6), frames: int = 30, seed: int = 2) -> Path:
    """AimCLR ntu_gendata.py: <part>_data.npy (N, 3, 300->frames, 25, 2) float32 zero after
    each clip; <part>_label.pkl = pickle.dump((sample_name, list(sample_label)))."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    index = 0
    for part, count in zip(("train", "val"), counts):
        data = np.zeros((count, 3, frames, 25, 2), dtype=np.float32)
        names, labels = [], []
        for i in range(count):
            length = 10 + (index % 15)
            motion = _motion(rng, 1, length, 25, 3, 0.3)[0] + [0, 0, 3]  # (T, V, C)
            data[i, :, :length, :, 0] = motion.transpose(2, 0, 1)
            names.append(ntu_name(index) + ".skeleton")
            labels.append(index % 3)
            index += 1
        np.save(folder / f"{part}_data.npy", data)
        with open(folder / f"{part}_label.pkl", "wb") as handle:
            pickle.dump((names, list(labels)), handle)
    return folder


def write_ctrgcn(path: Path, counts=(9, 6), frames: int = 30, classes: int = 60, seed: int = 3):
    """CTR-GCN seq_transformation.py: x_train (N, T, 150) float32, y_train one-hot (N, 60)
    float64, x_test, y_test; np.savez."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for part, count in zip(("train", "test"), counts):
        x = np.zeros((count, frames, 150), dtype=np.float32)
        labels = np.arange(count) % 3
        for i in range(count):
            length = 10 + i
            motion = _motion(rng, 1, length, 25, 3, 0.3)[0]  # (T, 25, 3)
            x[i, :length, :75] = motion.reshape(length, 75)
        y = np.zeros((count, classes))
        y[np.arange(count), labels] = 1
        arrays[f"x_{part}"], arrays[f"y_{part}"] = x, y
    np.savez(path, **arrays)
    return path
