"""``skelssl export``: a run's encoder (and a saved head) as TorchScript or ONNX.

The exported module takes a fixed input ``joints (1, T, M, V, C)`` float32 and
``lengths (1,)`` int64 — the run's input after its preprocessing — and returns the
features (1, D), or the class logits (1, K) with a head. After writing, the export is
loaded back and run on a real sample; the largest difference from the module is
reported. ONNX needs the optional ``onnx`` package (and ``onnxruntime`` for the check).
"""

from __future__ import annotations

import importlib.util
import io
import os
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from skelssl.checkpoint import write_bytes_atomic
from skelssl.errors import SkelsslError
from skelssl.paths import output_file
from skelssl.runs import load_run

FORMATS = ("torchscript", "onnx")
ONNX_OPSET = 17


class Exported(nn.Module):
    """``forward(joints (1,T,M,V,C), lengths (1,)) -> (1, D or K)``: what is traced."""

    def __init__(self, module: nn.Module):
        super().__init__()
        self.module = module

    def forward(self, joints: Tensor, lengths: Tensor) -> Tensor:
        return self.module(joints, lengths)


def onnx_available() -> bool:
    return importlib.util.find_spec("onnx") is not None


def example_input(data) -> tuple[Tensor, Tensor]:
    """The first sample of ``data`` as the (1, T, M, V, C) example and its length (1,)."""
    joints = torch.from_numpy(np.array(data.joints[:1], dtype=np.float32))
    lengths = torch.from_numpy(np.array(data.lengths[:1], dtype=np.int64))
    return joints, lengths


def export_run(
    run_dir: str | os.PathLike,
    out: str | os.PathLike,
    *,
    format: str = "torchscript",
    head: str | os.PathLike | None = None,
    checkpoint: str = "last.pt",
    quiet: bool = False,
) -> dict:
    """Write the export to ``out``; returns ``{format, path, input, output, max_abs_diff}``."""
    if format not in FORMATS:
        raise SkelsslError(f"unknown export format {format!r} (known: {', '.join(FORMATS)})")
    if format == "onnx" and not onnx_available():
        raise SkelsslError("--format onnx needs the optional onnx package (pip install onnx)")
    run = load_run(run_dir, checkpoint=checkpoint, quiet=quiet)
    module = run.encoder
    if head is not None:
        from skelssl.inference import load_classifier

        module = load_classifier(run, head)
    model = Exported(module).eval()
    joints, lengths = example_input(run.data)
    with torch.no_grad():
        expected = model(joints, lengths)
    out = output_file(out)  # a device or FIFO named --out is refused, never replaced
    # serialised in memory first: a full disk is then a Python OSError (one line, the
    # temporary file removed), not an abort inside the C++ writer
    if format == "torchscript":
        data = _torchscript_bytes(model, (joints, lengths))
    else:
        data = _onnx_bytes(model, (joints, lengths), out)
    write_bytes_atomic(data, out, what="export")
    exported = run_export(out, joints, lengths, format)
    return {
        "format": format,
        "path": str(out),
        "input": {"joints": list(joints.shape), "lengths": list(lengths.shape)},
        "output": list(expected.shape),
        "head": None if head is None else str(head),
        "max_abs_diff": None if exported is None else float((exported - expected).abs().max()),
    }


def _torchscript_bytes(model: nn.Module, example: tuple[Tensor, Tensor]) -> bytes:
    """The traced module as the bytes of a TorchScript file."""
    with torch.no_grad(), warnings.catch_warnings():
        # shape checks inside the encoders are constants of the fixed input: expected
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        traced = torch.jit.trace(model, example, check_trace=False)
    buffer = io.BytesIO()
    torch.jit.save(traced, buffer)
    return buffer.getvalue()


def _onnx_bytes(model: nn.Module, example: tuple[Tensor, Tensor], out: Path) -> bytes:
    """The module as the bytes of an ONNX file; an exporter failure names ``out``."""
    buffer = io.BytesIO()
    with warnings.catch_warnings():  # constants of the fixed (1, T, M, V, C) input: expected
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", UserWarning)
        try:
            _onnx_export(model, example, buffer)
        except Exception as error:  # an operator the exporter lacks: say which, offer the other
            first_line = (str(error).splitlines() or [type(error).__name__])[0]
            raise SkelsslError(
                f"ONNX export failed ({first_line}); --format torchscript exports this encoder",
                out,
            ) from None
    return buffer.getvalue()


def _onnx_export(model: nn.Module, example: tuple[Tensor, Tensor], target) -> None:
    torch.onnx.export(
        model, example, target, input_names=["joints", "lengths"],
        output_names=["output"], opset_version=ONNX_OPSET, dynamo=False,
    )  # fmt: skip


def run_export(path: str | os.PathLike, joints: Tensor, lengths: Tensor, format: str):
    """The export's output on ``(joints, lengths)``: TorchScript through ``torch.jit.load``,
    ONNX through onnxruntime (None when onnxruntime is not installed)."""
    if format == "torchscript":
        loaded = torch.jit.load(str(path))
        with torch.no_grad():
            return loaded(joints, lengths)
    if importlib.util.find_spec("onnxruntime") is None:
        return None
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    given = {"joints": joints.numpy(), "lengths": lengths.numpy()}
    inputs = {item.name: given[item.name] for item in session.get_inputs()}  # unused: dropped
    return torch.from_numpy(session.run(None, inputs)[0])
