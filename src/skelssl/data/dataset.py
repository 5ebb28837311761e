"""Datasets by name: read, preprocess, cache on disk; protocols, label fractions, views.

:func:`load_dataset` turns a :class:`DataConfig` into :class:`SkeletonData`. The prepared
arrays are cached as ``<cache_dir>/<source>-<hash>/``: ``joints.npy`` (opened memory-mapped,
read-only), ``meta.npz`` (per-sample metadata and protocol masks) and ``meta.json`` (class
names, layout, source, protocol order, skipped files). The hash covers everything the
arrays depend on, so a changed config or changed raw files give a new directory; a cache
directory is written under a temporary name and renamed when complete.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from skelssl.data.preprocess import PreprocessConfig, preprocess, retime
from skelssl.data.synthetic import SyntheticConfig
from skelssl.data.torch_dataset import TorchSkeletonDataset  # re-exported (ARCHITECTURE.md)
from skelssl.data.types import RawDataset, SkeletonData
from skelssl.errors import SkelsslError

DATASET_NAMES = ("nw-ucla", "ntu60", "ntu120", "synthetic")
CACHE_VERSION = 1  # bump when the preprocessing or the cache format changes
_SHOWN_PROBLEMS = 3

__all__ = [
    "CACHE_VERSION",
    "DATASET_NAMES",
    "DataConfig",
    "TorchSkeletonDataset",
    "cache_directory",
    "default_protocol",
    "describe",
    "label_fraction_indices",
    "load_dataset",
    "performance_groups",
]


@dataclass
class DataConfig:
    """Which dataset to load and how to prepare it.

    ``name`` is one of ``DATASET_NAMES`` or a path to a ``.npz`` array file; ``root`` is the
    raw data folder of a real dataset; ``protocol`` None means the dataset's first one;
    ``cache_dir`` None means ``$SKELSSL_CACHE`` or ``~/.cache/skelssl``.
    """

    name: str = "synthetic"
    root: str | None = None
    protocol: str | None = None
    skip_bad: bool = False
    cache_dir: str | None = None
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    synthetic: SyntheticConfig = field(default_factory=SyntheticConfig)


# ---------------------------------------------------------------- loading


def load_dataset(config: DataConfig, *, quiet: bool = False) -> SkeletonData:
    """The prepared dataset of ``config``, from the cache when present (joints memory-mapped).

    Raises :class:`SkelsslError` for an unknown name, a real dataset without ``root``, a
    missing root, or an unknown ``protocol``.
    """
    config.preprocess.validate()
    source_path = _source_path(config)
    directory = cache_directory(config, source_path)
    if not (directory / "meta.json").exists():
        data, skipped = _prepare(config, source_path, quiet=quiet)
        try:
            write_cache(data, directory, skipped=skipped)
        except OSError as err:
            _say(f"could not write the cache {directory} ({err}); using the data in memory", quiet)
            return _checked(data, skipped, config, quiet)
    return _checked(read_cache(directory), cached_skipped(directory), config, quiet)


def _checked(
    data: SkeletonData, skipped: list[str], config: DataConfig, quiet: bool
) -> SkeletonData:
    """Report skipped bad files and check that the configured protocol exists."""
    if skipped:
        shown = "; ".join(skipped[:_SHOWN_PROBLEMS])
        more = (
            f" (and {len(skipped) - _SHOWN_PROBLEMS} more)"
            if len(skipped) > _SHOWN_PROBLEMS
            else ""
        )
        _say(f"skipped {len(skipped)} bad files: {shown}{more}", quiet)
    if config.protocol is not None:
        data.protocol_mask(config.protocol)
    return data


def default_protocol(data: SkeletonData, protocol: str | None = None) -> str:
    """``protocol`` if given (checked), else the dataset's first protocol."""
    if protocol is not None:
        data.protocol_mask(protocol)
        return protocol
    if not data.protocols:
        raise SkelsslError(f"dataset {data.source} defines no train/test protocol")
    return next(iter(data.protocols))


def _source_path(config: DataConfig) -> Path | None:
    """The raw data the arrays come from (a folder or a .npz file); None for synthetic."""
    if config.name.endswith(".npz"):
        path = Path(config.name).expanduser().resolve()
        if not path.is_file():
            raise SkelsslError("array file not found", path)
        return path
    if config.name not in DATASET_NAMES:
        known = ", ".join(DATASET_NAMES)
        raise SkelsslError(f"unknown dataset {config.name!r} (known: {known}, or a path to a .npz)")
    if config.name == "synthetic":
        return None
    if config.root is None:
        raise SkelsslError(
            f"dataset {config.name} needs its raw data folder: pass --root PATH (data.root)"
        )
    root = Path(config.root).expanduser().resolve()
    if not root.is_dir():
        raise SkelsslError(f"raw data folder of {config.name} not found", root)
    return root


def _prepare(
    config: DataConfig, source_path: Path | None, *, quiet: bool
) -> tuple[SkeletonData, list[str]]:
    """Read and preprocess (or, for .npz, re-cast) the dataset; no cache involved.

    Returns the data and the reader's "file: problem" list of skipped bad files.
    """
    if config.name.endswith(".npz"):
        from skelssl.data.readers.arrays import read_npz

        data = retime(read_npz(source_path), config.preprocess)
        data.validate()
        return data, []
    raw = read_raw(config, quiet=quiet)
    return preprocess(raw, config.preprocess, quiet=quiet), list(raw.skipped)


def read_raw(config: DataConfig, *, quiet: bool = False) -> RawDataset:
    """The reader's :class:`RawDataset` for a named dataset (readers imported on demand)."""
    if config.name == "synthetic":
        from skelssl.data.synthetic import generate

        return generate(config.synthetic, quiet=quiet)
    root = str(Path(config.root).expanduser().resolve())
    if config.name == "nw-ucla":
        from skelssl.data.readers.nwucla import read_nwucla

        return read_nwucla(root, skip_bad=config.skip_bad, quiet=quiet)
    from skelssl.data.readers.ntu import read_ntu

    return read_ntu(
        root,
        variant=config.name,
        max_bodies=config.preprocess.max_bodies,
        skip_bad=config.skip_bad,
        quiet=quiet,
    )


def _say(message: str, quiet: bool) -> None:
    if not quiet:
        print(message, file=sys.stderr)


# ---------------------------------------------------------------- cache


def default_cache_dir() -> Path:
    """``$SKELSSL_CACHE`` or ``~/.cache/skelssl``."""
    return Path(os.environ.get("SKELSSL_CACHE") or Path.home() / ".cache" / "skelssl").expanduser()


def raw_fingerprint(path: Path | None) -> list[tuple[str, int, int]]:
    """(relative name, size, mtime_ns) of every file under ``path`` (or of ``path`` itself)."""
    if path is None:
        return []
    if path.is_file():
        stat = path.stat()
        return [(path.name, stat.st_size, stat.st_mtime_ns)]
    entries = []
    for folder, _, files in os.walk(path):
        for name in files:
            full = os.path.join(folder, name)
            stat = os.stat(full)
            entries.append((os.path.relpath(full, path), stat.st_size, stat.st_mtime_ns))
    return sorted(entries)


def cache_key(config: DataConfig, source_path: Path | None) -> str:
    """Hash of everything the prepared arrays depend on (16 hex digits)."""
    content = {
        "version": CACHE_VERSION,
        "name": config.name,
        "root": None if source_path is None else str(source_path),
        "files": raw_fingerprint(source_path),
        "skip_bad": config.skip_bad,
        "preprocess": asdict(config.preprocess),
        "synthetic": asdict(config.synthetic) if config.name == "synthetic" else None,
    }
    text = json.dumps(content, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def cache_directory(config: DataConfig, source_path: Path | None = None) -> Path:
    """``<cache_dir>/<source>-<hash>`` for ``config``."""
    if source_path is None and config.name != "synthetic":
        source_path = _source_path(config)
    base = Path(config.cache_dir).expanduser() if config.cache_dir else default_cache_dir()
    stem = Path(config.name).stem if config.name.endswith(".npz") else config.name
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", stem)
    return base / f"{stem}-{cache_key(config, source_path)}"


_META_ARRAYS = ("lengths", "labels", "subjects", "views", "setups", "performances", "names")


def write_cache(data: SkeletonData, directory: Path, *, skipped: list[str] = ()) -> None:
    """Write ``data`` (and the skipped-file list) to ``directory`` atomically.

    Everything goes to a temporary sibling directory that is renamed when complete.
    """
    directory.parent.mkdir(parents=True, exist_ok=True)
    temporary = Path(tempfile.mkdtemp(prefix=f".{directory.name}-", dir=directory.parent))
    try:
        np.save(temporary / "joints.npy", np.ascontiguousarray(data.joints, dtype=np.float32))
        arrays = {name: np.asarray(getattr(data, name)) for name in _META_ARRAYS}
        protocol_names = list(data.protocols)
        for i, name in enumerate(protocol_names):
            arrays[f"protocol_{i}"] = np.asarray(data.protocols[name], dtype=bool)
        np.savez(temporary / "meta.npz", **arrays)
        meta = {
            "cache_version": CACHE_VERSION,
            "class_names": list(data.class_names),
            "layout": data.layout,
            "source": data.source,
            "protocols": protocol_names,
            "skipped": list(skipped),
        }
        (temporary / "meta.json").write_text(json.dumps(meta, indent=1))
        try:
            os.rename(temporary, directory)
        except OSError:
            if not (directory / "meta.json").exists():  # not another process winning the race
                raise
    finally:
        if temporary.exists():
            shutil.rmtree(temporary, ignore_errors=True)


def read_cache(directory: Path) -> SkeletonData:
    """The :class:`SkeletonData` in a cache directory; joints as a read-only memmap."""
    meta = json.loads((directory / "meta.json").read_text())
    joints = np.load(directory / "joints.npy", mmap_mode="r")
    with np.load(directory / "meta.npz", allow_pickle=False) as arrays:
        values = {name: arrays[name] for name in _META_ARRAYS}
        protocols = {name: arrays[f"protocol_{i}"] for i, name in enumerate(meta["protocols"])}
    data = SkeletonData(
        joints=joints,
        class_names=list(meta["class_names"]),
        layout=meta["layout"],
        source=meta["source"],
        protocols=protocols,
        **values,
    )
    data.validate()
    return data


def cached_skipped(directory: Path) -> list[str]:
    """The "file: problem" list of bad files skipped when the cache was built."""
    return list(json.loads((directory / "meta.json").read_text()).get("skipped", []))


# ---------------------------------------------------------------- sampling helpers


def label_fraction_indices(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Class-balanced sample: ``round(fraction * count)`` (at least 1) indices per class.

    Rounding is half-up. Deterministic by ``seed``; for one seed, a smaller fraction's
    sample is a subset of a larger one's. Returns sorted int64 indices into ``labels``.
    """
    if not 0 < fraction <= 1:
        raise SkelsslError(f"label fraction must be in (0, 1], got {fraction}")
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    chosen = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        keep = max(1, int(np.floor(fraction * members.size + 0.5)))
        chosen.append(rng.permutation(members)[:keep])
    if not chosen:
        return np.zeros(0, dtype=np.int64)
    return np.sort(np.concatenate(chosen)).astype(np.int64)


def performance_groups(data: SkeletonData) -> list[np.ndarray]:
    """Indices of the samples of each performance (one take, several cameras).

    Groups are ordered by first occurrence, indices ascending; a sample with an empty
    ``performance`` is a group of its own.
    """
    groups: dict[str, list[int]] = {}
    for i, performance in enumerate(np.asarray(data.performances, dtype=str).tolist()):
        groups.setdefault(performance or f"\0sample {i}", []).append(i)
    return [np.array(members, dtype=np.int64) for members in groups.values()]


def bodies_per_sample(data: SkeletonData, chunk: int = 1024) -> np.ndarray:
    """Number of bodies present in any frame of each sample, (N,) int64 (read in chunks)."""
    counts = np.zeros(len(data), dtype=np.int64)
    for start in range(0, len(data), chunk):
        block = np.asarray(data.joints[start : start + chunk])
        counts[start : start + chunk] = np.any(block != 0, axis=(1, 3, 4)).sum(axis=1)
    return counts


def describe(data: SkeletonData) -> dict:
    """A JSON-able summary for ``skelssl info``: sizes, classes, lengths, bodies, protocols."""
    lengths = np.asarray(data.lengths)
    labels = np.asarray(data.labels)
    class_counts = (
        np.bincount(labels, minlength=data.num_classes)
        if len(data)
        else np.zeros(data.num_classes, int)
    )
    bodies = bodies_per_sample(data)
    known_ids = {
        name: int(np.unique(values[values >= 0]).size)
        for name, values in (
            ("subjects", data.subjects),
            ("views", data.views),
            ("setups", data.setups),
        )
    }
    return {
        "source": data.source,
        "layout": data.layout,
        "samples": len(data),
        "shape": list(data.shape),
        "classes": {name: int(count) for name, count in zip(data.class_names, class_counts)},
        "lengths": {
            "min": int(lengths.min()) if len(data) else 0,
            "median": float(np.median(lengths)) if len(data) else 0.0,
            "max": int(lengths.max()) if len(data) else 0,
        },
        "bodies": {
            "max": int(data.shape[2]),
            "samples_by_count": {
                int(k): int(v) for k, v in zip(*np.unique(bodies, return_counts=True))
            },
        },
        **known_ids,
        "performances": len(performance_groups(data)),
        "protocols": {
            name: {"train": int(mask.sum()), "test": int((~mask).sum())}
            for name, mask in data.protocols.items()
        },
    }
