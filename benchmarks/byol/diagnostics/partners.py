"""What BYOL's two views of one clip are, before any training, on inputs a user may bring.

Why this exists: on two unseen one-camera Kinect datasets brought as ``.npz`` files,
``configs/nwucla/byol.yaml`` collapsed (rank 4, kNN 8-13 %) and its true-partner loss equalled
the shuffled-partner loss from the first logged step, where on NW-UCLA the two part at once.
A loss that cannot tell a clip's own second view from another clip's at step 0 has nothing
to learn from. At initialisation the predictor is random, so the loss itself cannot part
them yet; what can is the target network: this measures, for the untrained BYOL of the
shipped config (seed 0, no optimiser step, five epochs of the method's own sampler and
views), how much closer a clip's two views are than two different clips (cosine of the
batch-standardised encoder features and of the projections z'), and the features'
effective rank.

Inputs, all built from the same NW-UCLA one-camera variant (``benchmarks/carryover``'s
``f0.25-one``, seed 0, raw camera coordinates in metres):

- ``prepared``: as skelssl reads it today (the config's centring and view normalisation);
- ``uncentred``: the same file read as already prepared (what a ``.npz`` got before the
  preprocessing fix: raw camera coordinates, the body 2-4 m from the origin);
- ``millimetres``: the coordinates x1000, read with ``units=as-is`` (no rescaling);
- ``millimetres-auto``: the same file with the default ``units=auto``;
- ``long``: every clip slowed 3x (linear interpolation: 3x the frames, as the unseen datasets'
  median 67 frames against NW-UCLA's 31), prepared;
- ``two-cameras``: the same takes with every training camera (``f0.25``): the second view
  is mostly another camera's recording of the take (multi-viewpoint sampling).

    python benchmarks/byol/diagnostics/partners.py --work $WORK

Results: ``benchmarks/byol/results/nwucla_byol_partners.{json,md}``.

Found (136 clips, seed 0): prepared input parts a clip's two views from other clips by a
cosine gap of 0.455 (features) / 0.260 (z'); uncentred raw coordinates shrink it to
0.084 / 0.056 — the body's place in the room, the same for every clip of a fixed camera,
dominates what the random network sees, so BYOL's bootstrap starts without a signal: the
signature of the unseen datasets (true-partner loss = shuffled from the first step). The
preprocessing fix removes it. Millimetres read as metres halve the gap (0.250 / 0.139) and
raise the rank 4x (saturated GRU input); ``units=auto`` restores the prepared numbers
exactly. Clip length changes nothing (``resample`` to 50 frames), and a second camera
(``two-cameras``) gives a *smaller* gap (0.336) than one camera: one take per clip is not
what starves BYOL.
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import sys
from pathlib import Path

import numpy as np
import torch

# run as a script: the repo root on the path, so that `benchmarks` imports as a package
sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from benchmarks.carryover.table import raw_nwucla, write_variant  # noqa: E402
from benchmarks.common import (  # noqa: E402
    NWUCLA_ROOT,
    REPO,
    machine,
    require_nwucla,
    results_dir,
    write_json,
    write_markdown,
)
from skelssl.config import load_config  # noqa: E402
from skelssl.data.cache import load_dataset  # noqa: E402
from skelssl.data.readers.arrays import read_npz, write_npz  # noqa: E402
from skelssl.data.types import DataSpec  # noqa: E402
from skelssl.diagnostics import effective_rank  # noqa: E402
from skelssl.methods import build_method  # noqa: E402
from skelssl.train import set_seed  # noqa: E402

CONFIG = REPO / "configs/nwucla/byol.yaml"
VARIANT = "f0.25-one"
EPOCHS = 5  # passes of the sampler (fresh views and augmentations each), no optimiser step


def slowed(path: Path, factor: int, out: Path) -> Path:
    """``path``'s clips slowed ``factor``x by linear interpolation (``factor``x the frames)."""
    if out.exists():
        return out
    data = read_npz(path)
    frames = data.joints.shape[1] * factor
    joints = np.zeros((len(data), frames, *data.joints.shape[2:]), np.float32)
    lengths = np.asarray(data.lengths) * factor
    for i, (clip, length) in enumerate(zip(data.joints, data.lengths)):
        source = np.linspace(0, int(length) - 1, int(length) * factor)
        flat = clip[: int(length)].reshape(int(length), -1)
        columns = [
            np.interp(source, np.arange(int(length)), flat[:, c]) for c in range(flat.shape[1])
        ]
        joints[i, : len(source)] = np.stack(columns, axis=1).reshape(len(source), *clip.shape[1:])
    write_npz(dataclasses.replace(data, joints=joints, lengths=lengths), out)
    return out


def scaled(path: Path, factor: float, out: Path) -> Path:
    """``path``'s coordinates times ``factor`` (e.g. metres -> millimetres)."""
    if not out.exists():
        data = read_npz(path)
        write_npz(dataclasses.replace(data, joints=np.asarray(data.joints) * factor), out)
    return out


def as_prepared(path: Path, out: Path) -> Path:
    """``path`` marked as skelssl's own prepared arrays: the spatial steps are skipped."""
    if not out.exists():
        shutil.copy(path, out)
        with np.load(out, allow_pickle=False) as archive:
            arrays = dict(archive)
        np.savez(out, **{**arrays, "prepared": np.array(True)})
    return out


def partner_cosines(a: torch.Tensor, b: torch.Tensor) -> tuple[float, float]:
    """Mean cosine of each row of ``a`` with its own row of ``b`` and with the other rows.
    Shapes: (N, D), (N, D)."""
    a, b = torch.nn.functional.normalize(a, dim=1), torch.nn.functional.normalize(b, dim=1)
    cosine = a @ b.T
    n = cosine.shape[0]
    own = float(cosine.diagonal().mean())
    return own, float((cosine.sum() - cosine.diagonal().sum()) / (n * n - n))


@torch.no_grad()
def separation(data_file: Path, overrides: list[str], seed: int = 0) -> dict:
    """How much closer a clip's two views are than two clips', in the untrained BYOL's
    target network (encoder features, standardised over the batch, and projections z'),
    mean over :data:`EPOCHS` epochs' batches of the method's own sampler and views."""
    config = load_config("byol", CONFIG, [f"data.name={data_file}", "data.root=null",
                                          "data.split=given", *overrides])  # fmt: skip
    data = load_dataset(config.data, quiet=True)
    train, _ = data.split("given")
    set_seed(seed)
    method = build_method("byol", config.params, config.encoder, DataSpec.of(train))
    method.prepare(train)
    method.train()  # BN with batch statistics, as in the first training step
    dataset = method.train_dataset(train, seed)
    loader = torch.utils.data.DataLoader(dataset, batch_size=config.train.batch_size,
                                         shuffle=True, drop_last=True,
                                         generator=torch.Generator().manual_seed(seed))  # fmt: skip
    found: dict[str, list[float]] = {}
    for epoch in range(EPOCHS):
        if hasattr(dataset, "set_epoch"):
            dataset.set_epoch(epoch)
        for batch in loader:
            batch["generator"] = torch.Generator().manual_seed(seed * 1000 + epoch)
            v1, lengths1, v2, lengths2 = method.views(batch)
            features1, z1 = method.target(v1, lengths1)
            features2, z2 = method.target(v2, lengths2)
            both = torch.cat([features1, features2])
            mean, std = both.mean(0), both.std(0) + 1e-6
            pairs = {
                "feature": partner_cosines((features1 - mean) / std, (features2 - mean) / std),
                "projection": partner_cosines(z1, z2),
            }
            for name, (own, other) in pairs.items():
                found.setdefault(f"{name}_own", []).append(own)
                found.setdefault(f"{name}_other", []).append(other)
            found.setdefault("effective_rank", []).append(effective_rank(both))
    result = {key: float(np.mean(values)) for key, values in found.items()}
    for name in ("feature", "projection"):
        result[f"{name}_gap"] = result[f"{name}_own"] - result[f"{name}_other"]
    result["n_train"] = len(train)
    return result


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=str(NWUCLA_ROOT), help="NW-UCLA all_sqe folder")
    parser.add_argument("--work", required=True, help="the variant files (kept between calls)")
    parser.add_argument("--out", default=str(results_dir("byol") / "nwucla_byol_partners"))
    args = parser.parse_args(argv)
    require_nwucla(args.root)
    work = Path(args.work).resolve()
    started = machine()
    base = write_variant(raw_nwucla(args.root, work), VARIANT, 0, work)
    inputs = {
        "prepared": (base, []),
        "uncentred": (as_prepared(base, work / "partners_uncentred.npz"), []),
        "millimetres": (scaled(base, 1000.0, work / "partners_mm.npz"),
                        ["data.preprocess.units=as-is"]),
        "millimetres-auto": (work / "partners_mm.npz", []),
        "long": (slowed(base, 3, work / "partners_long.npz"), []),
        "two-cameras": (write_variant(raw_nwucla(args.root, work), "f0.25", 0, work), []),
    }  # fmt: skip
    rows = {name: separation(path, overrides) for name, (path, overrides) in inputs.items()}
    write_json(Path(args.out).with_suffix(".json"), {"rows": rows, "machine": started,
                                                     "variant": VARIANT, "config": str(CONFIG.relative_to(REPO))},
               configs=[str(CONFIG.relative_to(REPO))], seeds=[0])  # fmt: skip
    lines = ["# BYOL's two views at initialisation, by input", "",
             "Generated by `benchmarks/byol/diagnostics/partners.py` (module docstring: the "
             f"inputs). Untrained `configs/nwucla/byol.yaml`, seed 0, NW-UCLA `{VARIANT}` "
             f"({rows['prepared']['n_train']} training clips), mean over five epochs' batches. "
             "Cosines in the target network between a clip's two views (own) and between "
             "different clips (other); a gap near 0: nothing tells a clip's own second view "
             "from another clip's.",
             "", "| input | own-view cosine, features | other-clip cosine, features | gap "
             "| own-view cosine, z' | other-clip cosine, z' | gap | effective rank |",
             "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for name, row in rows.items():
        lines.append(f"| {name} | {row['feature_own']:.3f} | {row['feature_other']:.3f} | "
                     f"{row['feature_gap']:.3f} | {row['projection_own']:.3f} | "
                     f"{row['projection_other']:.3f} | {row['projection_gap']:.3f} | "
                     f"{row['effective_rank']:.1f} |")  # fmt: skip
    write_markdown(Path(args.out).with_suffix(".md"), lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
