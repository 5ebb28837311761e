"""Encoder train-step throughput: ours against our previous code and the peers' code.

A train step is forward + backward + SGD (momentum) step of encoder + linear classifier
with cross-entropy on random inputs. Each encoder preset is timed on two input sizes,
NTU-sized (T=50, two bodies, 25 Kinect v2 joints) and NW-UCLA-sized (T=50, one body,
20 Kinect v1 joints), at batch 64 for ST-GCN and 32 for the GRUs, as three
implementations built in the same process and timed *interleaved*, round by round:

- ``ours``: ``skelssl.models`` now;
- ``previous``: our earlier code (:class:`PreviousSTGCN`, :class:`PreviousGRUEncoder`,
  same parameters and outputs);
- ``peer``: the ST-GCN of SkeletonCLR / CrosSCLR / AimCLR at the same width
  (:class:`PeerSTGCN`), or ``torch.nn.GRU`` used directly with a mean over frames.

Speedups are medians over rounds of the per-round ratio of CPU seconds, so a busy machine
(several agents share two cores) slows the implementations alike. Model FLOPs are counted
by ``torch.utils.flop_counter`` on the previous implementation (the dense conv-then-aggregate
math the peers' code also does; forward + backward); the fraction of matmul peak divides the
achieved FLOP rate (per CPU second) by this CPU's fp32 ``torch.mm`` rate (2048 x 2048,
best of several, measured before, between and after the sizes with the same threads).

Usage::

    OMP_NUM_THREADS=1 python benchmarks/speed/encoders.py [--quick] [--threads 1] [--out DIR]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from statistics import median

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
from torch.utils.flop_counter import FlopCounterMode

# run as a script: the repo root on the path, so that `benchmarks` imports as a package
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.common import REPO, load_average, machine, utc_now, write_json, write_markdown
from skelssl.data.types import DataSpec
from skelssl.models import ENCODER_PRESETS, build_encoder
from skelssl.models.gru import GRUEncoder, valid_lengths
from skelssl.models.stgcn import STGCN, GraphConv, concat_bones, spatial_partitions
from skelssl.skeleton import get_layout

# ---------------------------------------------------------------------------------------
# Reference implementations, timed in the same process as ours.
# ---------------------------------------------------------------------------------------


class PreviousGraphConv(GraphConv):
    """skelssl's graph convolution before the rewrite: 1x1 conv to ``K·C_out`` channels in
    NCHW memory, then ``einsum("bkctj,kij->bcti")`` over joints. Same parameters."""

    def forward(self, x: Tensor, adjacency: Tensor) -> Tensor:
        b, _, t, v = x.shape
        y = self.conv(x).view(b, self.partitions, self.out_channels, t, v)
        return torch.einsum("bkctj,kij->bcti", y, adjacency)


class PreviousSTGCN(STGCN):
    """skelssl's ST-GCN before the rewrite (NCHW memory, conv-then-aggregate graph conv).

    Same parameters and outputs as :class:`~skelssl.models.stgcn.STGCN` (it loads the
    same state dict); kept here to measure the speedup in the same run.
    """

    def __init__(self, config, spec: DataSpec):
        super().__init__(config, spec)
        for block in self.blocks:
            fast = block.graph_conv
            block.graph_conv = PreviousGraphConv(
                fast.conv.in_channels, fast.out_channels, fast.partitions
            )
            block.graph_conv.load_state_dict(fast.state_dict())

    def _normalise_input(self, x: Tensor) -> Tensor:
        n, t, m, v, c = x.shape
        h = x.permute(0, 2, 3, 4, 1).reshape(n, m * v * c, t)
        h = self.data_norm(h).view(n, m, v, c, t)
        return h.permute(0, 1, 3, 4, 2).reshape(n * m, c, t, v)


class PeerGraphConv(nn.Module):
    """ConvTemporalGraphical of the ST-GCN code that SkeletonCLR, CrosSCLR and AimCLR
    reuse (``net/utils/tgcn.py``): 1x1 conv to ``K·C_out``, ``einsum('nkctv,kvw->nctw')``."""

    def __init__(self, in_channels: int, out_channels: int, partitions: int):
        super().__init__()
        self.partitions = partitions
        self.conv = nn.Conv2d(in_channels, out_channels * partitions, kernel_size=1)

    def forward(self, x: Tensor, adjacency: Tensor) -> Tensor:
        x = self.conv(x)
        n, kc, t, v = x.size()
        x = x.view(n, self.partitions, kc // self.partitions, t, v)
        return torch.einsum("nkctv,kvw->nctw", x, adjacency).contiguous()


class PeerBlock(nn.Module):
    """``st_gcn`` block of that code: gcn -> (BN, ReLU, temporal conv, BN, Dropout) +
    residual -> ReLU, with in-place ReLU as there."""

    def __init__(self, in_channels, out_channels, partitions, stride=1, residual=True):
        super().__init__()
        self.gcn = PeerGraphConv(in_channels, out_channels, partitions)
        self.tcn = nn.Sequential(
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, (9, 1), (stride, 1), (4, 0)),
            nn.BatchNorm2d(out_channels),
            nn.Dropout(0.0, inplace=True),
        )
        if not residual:
            self.residual = lambda x: 0
        elif in_channels == out_channels and stride == 1:
            self.residual = lambda x: x
        else:
            self.residual = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=(stride, 1)),
                nn.BatchNorm2d(out_channels),
            )
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor, adjacency: Tensor) -> Tensor:
        res = self.residual(x)
        x = self.gcn(x, adjacency)
        return self.relu(self.tcn(x) + res)


class PeerSTGCN(nn.Module):
    """The AimCLR / SkeletonCLR / CrosSCLR ST-GCN encoder (``net/st_gcn.py``, ``Model``
    with ``hidden_channels = 64·width``, ``hidden_dim = 4·hidden_channels``, edge
    importance weighting, temporal kernel 9), re-implemented from its public code for
    timing only. Input in its own layout ``(N, C, T, V, M)``; output ``(N, hidden_dim)``
    (global average pool, mean over bodies; its ``fc`` is our classifier). The adjacency
    values come from skelssl's partitioning (the speed does not depend on them).
    """

    def __init__(self, channels: int, joints: int, layout: str, width: float, bodies: int):
        super().__init__()
        adjacency = torch.from_numpy(spatial_partitions(get_layout(layout))).transpose(1, 2)
        self.register_buffer("A", adjacency.contiguous())  # A[k, v, w]: v -> w
        hidden = max(8, round(64 * width))
        self.data_bn = nn.BatchNorm1d(channels * joints * bodies)
        plan = [(channels, hidden, 1, False)] + [(hidden, hidden, 1, True)] * 3
        plan += [(hidden, 2 * hidden, 2, True)] + [(2 * hidden, 2 * hidden, 1, True)] * 2
        plan += [(2 * hidden, 4 * hidden, 2, True)] + [(4 * hidden, 4 * hidden, 1, True)] * 2
        k = adjacency.shape[0]
        self.st_gcn_networks = nn.ModuleList(
            PeerBlock(cin, cout, k, stride, residual) for cin, cout, stride, residual in plan
        )
        self.edge_importance = nn.ParameterList(
            nn.Parameter(torch.ones(adjacency.shape)) for _ in self.st_gcn_networks
        )
        self.out_dim = 4 * hidden

    def forward(self, x: Tensor) -> Tensor:
        n, c, t, v, m = x.size()
        x = x.permute(0, 4, 3, 1, 2).contiguous().view(n, m * v * c, t)
        x = self.data_bn(x)
        x = x.view(n, m, v, c, t).permute(0, 1, 3, 4, 2).contiguous().view(n * m, c, t, v)
        for gcn, importance in zip(self.st_gcn_networks, self.edge_importance):
            x = gcn(x, self.A * importance)
        x = nn.functional.avg_pool2d(x, x.size()[2:])
        return x.view(n, m, -1).mean(dim=1)


@dataclass(frozen=True)
class InputSize:
    name: str
    frames: int
    bodies: int
    layout: str
    classes: int
    stgcn_batch: int = 64
    gru_batch: int = 32
    channels: int = 3


INPUT_SIZES = (
    InputSize("ntu", frames=50, bodies=2, layout="ntu-25", classes=60),
    InputSize("nw-ucla", frames=50, bodies=1, layout="kinect-v1-20", classes=10),
)
DEFAULT_PRESETS = ["stgcn", "stgcn-0.25", "stgcn-byol-0.25", "gru-crrl", "gru-ms2l"]
IMPLEMENTATIONS = ("ours", "previous", "peer")
LENGTHS = {
    False: "all lengths = T",
    True: "lengths uniform in [T/2, T] with one at T, zero after each length (ours and our "
    "previous code run the valid frames only; the peers' read every frame)",
}


class PreviousGRUEncoder(GRUEncoder):
    """skelssl's GRU encoder before the rewrite: every batch through pack/pad."""

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        n, t = x.shape[:2]
        lengths = valid_lengths(x, lengths)
        frames = x.reshape(n, t, -1)
        packed = pack_padded_sequence(frames, lengths.cpu(), batch_first=True, enforce_sorted=False)
        packed_states, last_hidden = self.gru(packed)
        states, _ = pad_packed_sequence(packed_states, batch_first=True, total_length=t)
        if self.pooling == "mean":
            return states.sum(dim=1) / lengths[:, None].to(states.dtype)
        return last_hidden[-self.directions :].transpose(0, 1).reshape(n, -1)


class PeerGRU(nn.Module):
    """``torch.nn.GRU`` used directly on ``(N, T, M·V·C)``, mean over frames."""

    def __init__(self, config, input_size: int):
        super().__init__()
        self.gru = nn.GRU(
            input_size,
            config.hidden_size,
            config.num_layers,
            batch_first=True,
            bidirectional=config.bidirectional,
            dropout=config.dropout if config.num_layers > 1 else 0.0,
        )
        self.out_dim = config.hidden_size * (2 if config.bidirectional else 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.gru(x)[0].mean(dim=1)


def build_implementation(kind: str, preset: str, size: InputSize):
    """``(encoder, input adapter)`` of one implementation; the adapter maps our batch
    ``(N, T, M, V, C)`` to the encoder's own input layout once, before timing."""
    config = ENCODER_PRESETS[preset]
    spec = DataSpec(size.layout, size.classes, size.frames, size.bodies, size.channels)
    joints = get_layout(size.layout).num_joints
    if kind == "ours":
        return build_encoder(config, spec), None
    if config.name == "gru":
        if kind == "previous":
            return PreviousGRUEncoder(config, spec), None
        peer = PeerGRU(config, size.bodies * joints * size.channels)
        return peer, lambda x: x.reshape(*x.shape[:2], -1)
    if kind == "previous":
        return PreviousSTGCN(config, spec), None
    channels = size.channels * (2 if config.use_bones else 1)
    peer = PeerSTGCN(channels, joints, size.layout, config.width, size.bodies)
    parents = torch.from_numpy(get_layout(size.layout).bone_parents())
    with_bones = (lambda x: concat_bones(x, parents)) if config.use_bones else (lambda x: x)
    return peer, lambda x: with_bones(x).permute(0, 4, 1, 3, 2).contiguous()  # (N, C, T, V, M)


def make_train_step(
    encoder: nn.Module, adapter, x: Tensor, labels: Tensor, classes: int,
    lengths: Tensor | None = None,
):  # fmt: skip
    """A closure doing one SGD train step of ``encoder`` + linear classifier on ``x`` with
    valid ``lengths`` (N,; default all T); the peers' encoders (with an ``adapter``) read
    every frame."""
    if lengths is None:
        lengths = torch.full_like(labels, x.shape[1])
    classifier = nn.Linear(encoder.out_dim, classes).to(x.device)
    parameters = [*encoder.parameters(), *classifier.parameters()]
    optimizer = torch.optim.SGD(parameters, lr=0.01, momentum=0.9)
    encoder.to(x.device).train()
    inputs = (adapter(x),) if adapter else (x, lengths)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(classifier(encoder(*inputs)), labels).backward()
        optimizer.step()

    return step


def gru_flops(config, input_size: int, batch: int, frames: int) -> int:
    """Multiply-adds x2 of a GRU train step (forward + 2x for backward): per layer and
    direction ``3 gates x (input + hidden) x hidden`` per frame and sample."""
    directions = 2 if config.bidirectional else 1
    total, layer_input = 0, input_size
    for _ in range(config.num_layers):
        total += directions * 2 * 3 * config.hidden_size * (layer_input + config.hidden_size)
        layer_input = config.hidden_size * directions
    return 3 * total * batch * frames


def model_flops(preset: str, size: InputSize, x: Tensor, labels: Tensor) -> int:
    """FLOPs of one train step (forward + backward) of the preset's math."""
    config = ENCODER_PRESETS[preset]
    if config.name == "gru":
        return gru_flops(config, x[0, 0].numel(), x.shape[0], x.shape[1])
    encoder, _ = build_implementation("previous", preset, size)
    step = make_train_step(encoder, None, x, labels, size.classes)
    with FlopCounterMode(display=False) as counter:
        step()
    return counter.get_total_flops()


def matmul_rate(threads: int, n: int = 2048, repeats: int = 3) -> float:
    """Best fp32 ``torch.mm`` rate in GFLOP per CPU second (n x n x n)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        start = time.process_time()
        a @ b
        best = min(best, time.process_time() - start)
    return 2 * n**3 / best / 1e9


def time_interleaved(preset: str, size: InputSize, args) -> dict:
    """Every implementation's train step, timed round by round in one process."""
    config = ENCODER_PRESETS[preset]
    size = dataclasses.replace(size, frames=args.frames or size.frames)
    batch = size.gru_batch if config.name == "gru" else size.stgcn_batch
    joints = get_layout(size.layout).num_joints
    generator = torch.Generator().manual_seed(args.seed)
    shape = (batch, size.frames, size.bodies, joints, size.channels)
    x = torch.randn(shape, generator=generator)
    labels = torch.randint(size.classes, (batch,), generator=generator)
    lengths = None  # all T
    if args.padded:  # uniform in [T/2, T], one at T; the frames after a length are zero
        lengths = torch.randint(size.frames // 2, size.frames + 1, (batch,), generator=generator)
        lengths[0] = size.frames
        x = x * (torch.arange(size.frames)[None, :] < lengths[:, None])[..., None, None, None]
    steps = {}
    for kind in IMPLEMENTATIONS:
        torch.manual_seed(args.seed)
        encoder, adapter = build_implementation(kind, preset, size)
        steps[kind] = make_train_step(encoder, adapter, x, labels, size.classes, lengths)
    for _ in range(args.warmup):
        for step in steps.values():
            step()
    cpu = {kind: [] for kind in steps}
    wall = {kind: [] for kind in steps}
    for _ in range(args.rounds):
        for kind, step in steps.items():
            start, cpu_start = time.perf_counter(), time.process_time()
            step()
            wall[kind].append(time.perf_counter() - start)
            cpu[kind].append(time.process_time() - cpu_start)
    flops = model_flops(preset, size, x, labels)
    row = {
        "preset": preset,
        "input": size.name,
        "shape": list(shape),
        "model_gflop_per_step": flops / 1e9,
        "load_average_1min": load_average(),
    }
    for kind in steps:
        cpu_seconds = median(cpu[kind])
        row[kind] = {
            "cpu_seconds": cpu[kind],
            "wall_seconds": wall[kind],
            "sequences_per_cpu_second": batch / cpu_seconds,
            "sequences_per_second": batch / median(wall[kind]),
            "gflop_per_cpu_second": flops / cpu_seconds / 1e9,
        }
    for other in ("previous", "peer"):
        ratios = [a / b for a, b in zip(cpu[other], cpu["ours"])]
        row[f"speedup_over_{other}"] = median(ratios)
    return row


def machine_description() -> dict:
    """CPU, cores, versions, threads, platform and this process's nice value."""
    return {
        **machine("cpu"),
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "nice": os.nice(0),
    }


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="0.25x ST-GCN and GRUs, 2 rounds")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "speed" / "results")
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds")
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads")
    parser.add_argument("--presets", nargs="+", default=DEFAULT_PRESETS, choices=ENCODER_PRESETS)
    parser.add_argument("--sizes", nargs="+", default=[s.name for s in INPUT_SIZES])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--frames", type=int, default=None, help="T instead of 50")
    parser.add_argument(
        "--padded", action="store_true",
        help="lengths uniform in [T/2, T] (ours and previous skip the padding; peers read it)",
    )  # fmt: skip
    args = parser.parse_args()
    if args.quick:
        args.rounds = 2
        args.presets = [p for p in args.presets if p != "stgcn"]
    return args


def markdown_table(report: dict) -> str:
    machine, peak = report["machine"], report["matmul_gflops_per_cpu_second"]
    loads = report["load_average_1min"]
    lines = [
        "# Encoder train-step throughput (CPU)",
        "",
        "Train step = forward + backward + SGD step of encoder + linear classifier, random",
        f"inputs, {LENGTHS[report['padded']]}. Ours, our previous code and the peers'",
        "code are built in one process and timed interleaved (round by round). Speedup =",
        "median over rounds of the per-round CPU-seconds ratio. Model GFLOP = dense",
        "conv-then-aggregate math",
        "(forward + backward, `torch.utils.flop_counter`) for ST-GCN, gate matmuls for GRUs;",
        "% peak = GFLOP per CPU second / fp32 `torch.mm` rate of this CPU measured in the",
        f"same run ({peak:.1f} GFLOP per CPU second, best of {len(report['matmul_samples'])}"
        " samples, 2048^3).",
        "",
        f"Command: `{report['command']}`. Machine: {machine['cpu']} ({machine['cores']} cores,"
        f" shared with other work), torch {machine['torch']}, {machine['threads']} thread(s),"
        f" nice {machine['nice']}; {report['started']} to {report['finished']}.",
        f"1-minute load average at start {loads['start']}, at end {loads['end']}; per row in"
        " the JSON. CPU seconds (not wall) are the measure because the machine is shared;",
        "sequences/s (wall) is shown for reference.",
        "",
        "| preset | input | batch x T x M x V x C | model GFLOP/step | ours seq/CPU-s "
        "| ours seq/s (wall) | % matmul peak | previous seq/CPU-s | peer seq/CPU-s "
        "| speedup vs previous | speedup vs peer | load |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in report["results"]:
        ours = row["ours"]
        lines.append(
            f"| {row['preset']} | {row['input']} | {' x '.join(map(str, row['shape']))} "
            f"| {row['model_gflop_per_step']:.1f} | {ours['sequences_per_cpu_second']:.1f} "
            f"| {ours['sequences_per_second']:.1f} "
            f"| {100 * ours['gflop_per_cpu_second'] / peak:.0f} % "
            f"| {row['previous']['sequences_per_cpu_second']:.1f} "
            f"| {row['peer']['sequences_per_cpu_second']:.1f} "
            f"| {row['speedup_over_previous']:.2f}x | {row['speedup_over_peer']:.2f}x "
            f"| {row['load_average_1min']} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    report = {
        "command": " ".join(["python", *sys.argv]),
        "machine": machine_description(),
        "started": utc_now(),
        "load_average_1min": {"start": load_average()},
        "matmul_samples": [matmul_rate(args.threads)],
        "warmup": args.warmup,
        "rounds": args.rounds,
        "inputs": [asdict(size) for size in INPUT_SIZES],
        "frames": args.frames,
        "padded": args.padded,
        "results": [],
    }
    for size in INPUT_SIZES:
        if size.name not in args.sizes:
            continue
        for preset in args.presets:
            row = time_interleaved(preset, size, args)
            print(
                f"{preset:>16} {size.name:>8}: {row['ours']['sequences_per_cpu_second']:8.1f} "
                f"seq/CPU-s, x{row['speedup_over_previous']:.2f} vs previous, "
                f"x{row['speedup_over_peer']:.2f} vs peer (load {row['load_average_1min']})",
                flush=True,
            )
            report["results"].append(row)
            write_report(report, args.out)  # after every row: a long run keeps what it has
        report["matmul_samples"].append(matmul_rate(args.threads))
    write_report(report, args.out)
    print(f"wrote {args.out / 'encoders.json'} and {args.out / 'encoders.md'}")


def write_report(report: dict, out: Path) -> None:
    """``encoders.json`` and ``encoders.md`` with the peak and load as of now."""
    report.update(finished=utc_now(), matmul_gflops_per_cpu_second=max(report["matmul_samples"]))
    report["load_average_1min"]["end"] = load_average()
    write_json(out / "encoders.json", report)
    write_markdown(out / "encoders.md", [markdown_table(report)])


if __name__ == "__main__":
    main()
