"""Does CRRL's fusion step (INF, Sec. III-C) transfer the teacher into the student?

Reads finished runs only (no training, no test view): for each seed, a step-2 run (its
checkpoint holds the frozen teacher it was taught by and the projection g of Eq. (7)) and
the SER run of the same seed (the same reconstruction without distillation). On the
training clips of the runs' split (NW-UCLA views 1+2 for the benchmark's runs, view 1 for
the validation runs), features = the pooled encoder output (the representation):

- ``distill_loss``: Eq. (7), ``||h_t − g(h_s)||²`` at the end of training (eval mode),
  beside ``teacher_variance`` (the loss of predicting the teacher's mean) and
  ``distill_r2 = 1 − distill_loss / teacher_variance``: how much of the teacher g recovers.
- ``ridge_r2_*``: held-out R² of a ridge regression from the student / SER / the untrained
  encoder (same seed) to the teacher (fit on even, scored on odd clips): how much of the
  teacher a representation holds linearly, with and without distillation.
- ``cka_*``: linear CKA of student-teacher, SER-teacher, student-SER.
- ``knn_agree_*``: leave-one-out 1-NN (cosine) label predictions on the training clips,
  the share (%) equal to the teacher's.
- ``grad_ratio_*`` / ``grad_cos_*``: on 6 batches of 32 clips, the norm of the student
  encoder's gradient from λ_d·L_d over that from L_r (Eq. (8)) and their cosine, at the
  end of training and for a freshly initialised student with the same teacher.

    python benchmarks/crrl/diagnostics/transfer.py --set full-x1 \\
        /tmp/crrl2/full-x1/seed{seed}/crrl /tmp/crrl2/full-x1/seed{seed}/ser --seeds 0,1,2

Each ``--set NAME STUDENT SER`` (patterns with ``{seed}``) becomes a table of
``benchmarks/crrl/results/nwucla_crrl/transfer.{json,md}``; sets already in the JSON and not
named again are kept; with no ``--set`` only the Markdown is written again from the JSON.

Found (``results/nwucla_crrl/transfer.md``): the distillation matches the paper and the
authors' code, and the student reaches its teacher through g (90 % of the teacher's
variance), but its own representation stays at linear CKA 0.99 with SER's, the pull is
5 % of the reconstruction's gradient, and SER's features already hold 83 % of the
teacher's variance: the fusion step has little to transfer.
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

# run as a script: the repo root on the path, so that `benchmarks` imports as a package
sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from benchmarks.common import REPO, mean_std, run_pair_study
from skelssl.data.types import DataSpec
from skelssl.diagnostics import linear_cka, ridge_r2
from skelssl.evaluation.features import extract_features
from skelssl.losses import feature_distillation_loss
from skelssl.methods.crrl import DIRECTIONS
from skelssl.models import build_encoder
from skelssl.report import markdown_table
from skelssl.runs import load_run
from skelssl.train import set_seed

OUT = REPO / "benchmarks" / "crrl" / "results" / "nwucla_crrl"
COLUMNS = {  # key -> header
    "distill_loss": "L_d (Eq. 7) at the end",
    "teacher_variance": "teacher variance",
    "distill_r2": "g recovers (1 − L_d / var)",
    "ridge_r2_student": "R² student -> teacher",
    "ridge_r2_ser": "R² SER -> teacher",
    "ridge_r2_random": "R² untrained -> teacher",
    "cka_student_teacher": "CKA student-teacher",
    "cka_ser_teacher": "CKA SER-teacher",
    "cka_student_ser": "CKA student-SER",
    "knn_agree_student": "1-NN agrees with teacher: student %",
    "knn_agree_ser": "SER %",
    "grad_ratio_init": "|∇ λL_d| / |∇ L_r|, fresh student",
    "grad_ratio_final": "same, end",
    "grad_cos_init": "cos(∇ λL_d, ∇ L_r), fresh",
    "grad_cos_final": "same, end",
}


def leave_one_out_predictions(features: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Each clip's label predicted by its nearest other clip (cosine). (N, D) -> (N,)."""
    unit = F.normalize(torch.as_tensor(np.asarray(features, dtype=np.float32)), dim=1)
    similarity = unit @ unit.T
    similarity.fill_diagonal_(-2.0)
    return np.asarray(labels)[similarity.argmax(1).numpy()]


def gradient_share(method, data, seed: int, batches: int = 6, batch_size: int = 32) -> dict:
    """Norm ratio and cosine of the student encoder's gradients from λ_d·L_d and from L_r,
    mean over ``batches`` fixed batches: at ``method``'s weights and for a copy with
    everything but the teacher re-initialised (the start of step 2)."""
    torch.manual_seed(seed)
    fresh = copy.deepcopy(method)
    for name, module in fresh.named_modules():
        if not name.startswith("teacher") and hasattr(module, "reset_parameters"):
            module.reset_parameters()
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(0))
    result = {}
    for tag, model in (("final", method), ("init", fresh)):
        model.train()
        parameters = list(model.encoder.parameters())
        ratios, cosines = [], []
        for b in range(batches):
            rows = np.sort(order[b * batch_size : (b + 1) * batch_size].numpy())
            x = torch.from_numpy(np.array(data.joints[rows], dtype=np.float32))
            lengths = torch.from_numpy(np.array(data.lengths[rows], dtype=np.int64))
            torch.manual_seed(b)  # the same dropout masks for both models
            features, states = model.encoder(x, lengths, return_sequence=True)
            flat = x.reshape(x.shape[0], x.shape[1], -1)
            losses = model.generation_loss(model.decoder, states, flat, lengths, DIRECTIONS)
            with torch.no_grad():
                teacher = model.teacher(x, lengths)
            distill = feature_distillation_loss(model.distill_head(features), teacher)
            grads = [
                torch.cat([g.flatten() for g in torch.autograd.grad(loss, parameters, retain_graph=True)])
                for loss in (sum(losses.values()), model.params.distill_weight * distill)
            ]  # fmt: skip
            ratios.append(float(grads[1].norm() / grads[0].norm()))
            cosines.append(float(F.cosine_similarity(grads[1], grads[0], dim=0)))
        result[f"grad_ratio_{tag}"] = float(np.mean(ratios))
        result[f"grad_cos_{tag}"] = float(np.mean(cosines))
    return result


def transfer(student_dir: Path, ser_dir: Path, seed: int) -> dict:
    """Every measure of the module docstring for one seed's step-2 and SER runs."""
    student = load_run(student_dir, quiet=True)
    ser = load_run(ser_dir, quiet=True)
    method = student.method
    train, _ = student.data.split(student.config.data.split or "xview")
    set_seed(seed)  # the benchmark's untrained encoder of this seed
    untrained = build_encoder(student.config.encoder, DataSpec.of(student.data))
    encoders = {"teacher": method.teacher, "student": method.encoder,
                "ser": ser.method.encoder, "random": untrained}  # fmt: skip
    features = {name: extract_features(encoder, train) for name, encoder in encoders.items()}
    teacher = features["teacher"]
    with torch.no_grad():
        projected = method.distill_head.eval()(torch.as_tensor(features["student"])).numpy()
    distill = float(((teacher - projected) ** 2).sum(1).mean())
    variance = float(((teacher - teacher.mean(0)) ** 2).sum(1).mean())
    fit = np.arange(len(teacher)) % 2 == 0
    labels = np.asarray(train.labels)
    nearest = {name: leave_one_out_predictions(f, labels) for name, f in features.items()}
    result = {
        "distill_loss": distill,
        "teacher_variance": variance,
        "distill_r2": 1 - distill / variance,
        **{f"ridge_r2_{name}": ridge_r2(features[name][fit], teacher[fit], features[name][~fit],
                                        teacher[~fit]) for name in ("student", "ser", "random")},
        "cka_student_teacher": linear_cka(features["student"], teacher),
        "cka_ser_teacher": linear_cka(features["ser"], teacher),
        "cka_student_ser": linear_cka(features["student"], features["ser"]),
        **{f"knn_agree_{name}": 100 * float((nearest[name] == nearest["teacher"]).mean())
           for name in ("student", "ser")},
        **gradient_share(method, train, seed),
        "clips": len(train),
    }  # fmt: skip
    return {
        key: round(value, 4) if isinstance(value, float) else value for key, value in result.items()
    }


def cell(key: str, value: float, std: float | None = None) -> str:
    """A table cell: percentages and losses with 1 decimal, fractions with 3."""
    digits = 1 if key.startswith(("knn_", "distill_loss", "teacher_variance")) else 3
    return f"{value:.{digits}f}" + ("" if std is None else f" ± {std:.{digits}f}")


def set_table(name: str, entry: dict) -> list[str]:
    """Markdown lines of one set: a row per seed and the mean ± std."""
    per_seed = entry["per_seed"]
    rows = [{"seed": seed, **{key: cell(key, values[key]) for key in COLUMNS}}
            for seed, values in per_seed.items()]  # fmt: skip
    mean_row = {"seed": "mean ± std"}
    for key in COLUMNS:
        mean, std = mean_std([values[key] for values in per_seed.values()])
        mean_row[key] = cell(key, mean, std or 0.0)
    table = markdown_table([*rows, mean_row], ["seed", *COLUMNS], ["seed", *COLUMNS.values()])
    return [f"## {name}", "", f"Student runs `{entry['student']}`, SER runs `{entry['ser']}`; "
            f"{entry['clips']} training clips; load average {entry['load_average']}.", "",
            table, ""]  # fmt: skip


def main() -> None:
    header = ["# CRRL's fusion step: what the student takes from its teacher", "",
              "Written by `benchmarks/crrl/diagnostics/transfer.py` (its docstring defines every "
              "column); training clips only, no test view. Commands in benchmarks/crrl/README.md.", ""]  # fmt: skip
    run_pair_study("crrl/diagnostics/transfer.py", "transfer", description=__doc__.split("\n")[0],
                   labels=("STUDENT", "SER"), shared="clips", measure=transfer,
                   set_table=set_table, header=header, out=OUT)  # fmt: skip


if __name__ == "__main__":
    main()
