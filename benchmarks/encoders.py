"""Encoder train-step throughput: forward + backward + SGD step, in sequences per second.

Every preset of ``skelssl.models.ENCODER_PRESETS`` is timed on two input sizes,
NW-UCLA-sized (batch 64, T=50, one body, 20 Kinect v1 joints) and NTU-sized (batch 32,
T=60, two bodies, 25 Kinect v2 joints), with a linear classifier and cross-entropy on
random inputs: a few warmup steps, then timed steps. Results go to
``<out>/encoders.json`` and ``<out>/encoders.md`` with the machine description.

Usage::

    python benchmarks/encoders.py [--quick] [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from common import load_average, machine, utc_now, write_json, write_markdown
from skelssl.data.types import DataSpec
from skelssl.models import ENCODER_PRESETS, build_encoder
from skelssl.models.stgcn import STGCN, GraphConv, spatial_partitions
from skelssl.skeleton import get_layout

# ---------------------------------------------------------------------------------------
# Reference implementations, timed in the same process as ours (issue 17).
# ---------------------------------------------------------------------------------------


class PreviousGraphConv(GraphConv):
    """skelssl's graph convolution before issue 17: 1x1 conv to ``K·C_out`` channels in
    NCHW memory, then ``einsum("bkctj,kij->bcti")`` over joints. Same parameters."""

    def forward(self, x: Tensor, adjacency: Tensor) -> Tensor:
        b, _, t, v = x.shape
        y = self.conv(x).view(b, self.partitions, self.out_channels, t, v)
        return torch.einsum("bkctj,kij->bcti", y, adjacency)


class PreviousSTGCN(STGCN):
    """skelssl's ST-GCN before issue 17 (NCHW memory, conv-then-aggregate graph conv).

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
    batch: int
    frames: int
    bodies: int
    layout: str
    classes: int
    channels: int = 3


INPUT_SIZES = (
    InputSize("nw-ucla", batch=64, frames=50, bodies=1, layout="kinect-v1-20", classes=10),
    InputSize("ntu", batch=32, frames=60, bodies=2, layout="ntu-25", classes=60),
)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 warmup + 2 timed steps")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps per preset")
    parser.add_argument("--steps", type=int, default=5, help="timed steps per preset")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    parser.add_argument("--device", default="cpu", help="cpu (default) or e.g. cuda")
    parser.add_argument(
        "--presets", nargs="+", default=list(ENCODER_PRESETS), choices=list(ENCODER_PRESETS)
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.quick:
        args.warmup, args.steps = 1, 2
    return args


def machine_description(device: torch.device) -> dict:
    """CPU, versions, threads, platform, and the start time and load (call before timing)."""
    description = machine(device)
    description["platform"] = platform.platform()
    description["load_average_1min_at_start"] = description.pop("load_average_1min")
    return description


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_train_steps(preset: str, size: InputSize, args, device: torch.device) -> dict:
    """Seconds per train step of one preset on one input size (after warmup)."""
    torch.manual_seed(args.seed)
    generator = torch.Generator().manual_seed(args.seed)
    spec = DataSpec(size.layout, size.classes, size.frames, size.bodies, size.channels)
    encoder = build_encoder(ENCODER_PRESETS[preset], spec)
    model = nn.ModuleDict(
        {"encoder": encoder, "classifier": nn.Linear(encoder.out_dim, size.classes)}
    )
    model.to(device).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    joints = get_layout(size.layout).num_joints
    shape = (size.batch, size.frames, size.bodies, joints, size.channels)
    x = torch.randn(shape, generator=generator).to(device)
    lengths = torch.full((size.batch,), size.frames, dtype=torch.int64, device=device)
    labels = torch.randint(size.classes, (size.batch,), generator=generator).to(device)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        logits = model["classifier"](model["encoder"](x, lengths))
        nn.functional.cross_entropy(logits, labels).backward()
        optimizer.step()

    for _ in range(args.warmup):
        step()
    synchronize(device)
    seconds, cpu_seconds = [], []
    for _ in range(args.steps):
        start, cpu_start = time.perf_counter(), time.process_time()
        step()
        synchronize(device)
        seconds.append(time.perf_counter() - start)
        cpu_seconds.append(time.process_time() - cpu_start)  # all threads of this process
    median, best = sorted(seconds)[len(seconds) // 2], min(seconds)
    cpu_median = sorted(cpu_seconds)[len(cpu_seconds) // 2]
    return {
        "preset": preset,
        "input": size.name,
        "shape": list(shape),
        "parameters": sum(p.numel() for p in encoder.parameters()),
        "out_dim": encoder.out_dim,
        "step_seconds_median": median,
        "step_seconds_min": best,
        "step_seconds": seconds,
        "sequences_per_second": size.batch / median,  # median: robust to a busy machine
        "sequences_per_second_mean": size.batch * len(seconds) / sum(seconds),
        "sequences_per_second_best": size.batch / best,  # least disturbed step
        "cpu_seconds_median": cpu_median,
        "cpu_seconds": cpu_seconds,
        "sequences_per_cpu_second": size.batch / cpu_median,
    }


def markdown_table(report: dict) -> str:
    machine = report["machine"]
    lines = [
        "# Encoder train-step throughput",
        "",
        "Forward + backward + SGD step of encoder + linear classifier on random inputs",
        f"({report['warmup']} warmup steps, {report['steps']} timed steps; "
        "sequences/s = batch / median step time; best = batch / fastest step). "
        "Command: `python benchmarks/encoders.py" + (" --quick" if report["quick"] else "") + "`.",
        "",
        f"Machine: {machine['cpu']}, torch {machine['torch']}, {machine['threads']} threads, "
        f"device {machine['device']}{', ' + machine['gpu'] if 'gpu' in machine else ''}, "
        f"Python {machine['python']}, started {machine['started']}, finished {machine['finished']}.",
        "",
        "1-minute load average at start "
        f"{machine['load_average_1min_at_start']}, at end {machine['load_average_1min_at_end']}"
        " (2 cores: a load above 2 means other processes shared them and the numbers are pessimistic).",
        "The best step is the least disturbed one; sequences/CPU-s divides by the CPU time",
        "this process used (all its threads).",
        "",
        "| preset | input | batch x T x M x V x C | parameters | D | step (s, median) "
        "| sequences/s | sequences/s (best step) | sequences/CPU-s |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in report["results"]:
        lines.append(
            f"| {row['preset']} | {row['input']} | {' x '.join(map(str, row['shape']))} "
            f"| {row['parameters']:,} | {row['out_dim']} | {row['step_seconds_median']:.3f} "
            f"| {row['sequences_per_second']:.1f} | {row['sequences_per_second_best']:.1f} "
            f"| {row['sequences_per_cpu_second']:.1f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    machine = machine_description(device)
    results = []
    for size in INPUT_SIZES:
        for preset in args.presets:
            row = time_train_steps(preset, size, args, device)
            print(
                f"{preset:>16} {size.name:>8}: {row['sequences_per_second']:8.1f} seq/s "
                f"({row['parameters']:,} parameters)",
                flush=True,
            )
            results.append(row)
    machine.update(finished=utc_now(), load_average_1min_at_end=load_average())
    report = {
        "machine": machine,
        "quick": args.quick,
        "warmup": args.warmup,
        "steps": args.steps,
        "inputs": [asdict(size) for size in INPUT_SIZES],
        "results": results,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(args.out / "encoders.json", report)
    write_markdown(args.out / "encoders.md", [markdown_table(report)])
    print(f"wrote {args.out / 'encoders.json'} and {args.out / 'encoders.md'}")


if __name__ == "__main__":
    main()
