"""The on-disk cache of prepared datasets: cache key, streaming build, memory-mapped read.

:func:`load_dataset` turns a :class:`DataConfig` into :class:`SkeletonData`. The prepared
arrays are cached as ``<cache_dir>/<source>-<hash>/``: ``joints.npy`` (opened memory-mapped,
read-only), ``meta.npz`` (per-sample metadata and train/test split masks) and ``meta.json`` (class
names, layout, source, split order, skipped files). The hash covers everything the
arrays depend on, so a changed config or changed raw files give a new directory; a cache
directory is written under a temporary name and renamed when complete.

Preparation streams: sequences are read shard by shard (NTU, PKU-MMD: files parsed and
preprocessed in parallel worker processes; other sources in this process, chunk by
chunk), each prepared chunk is saved to ``.<name>.partial/chunk-NNNNNN.npz`` next to the
cache, and the chunks are then copied into a preallocated ``np.lib.format.open_memmap``.
Neither the raw nor the prepared dataset is ever whole in memory, and an interrupted
preparation resumes from the chunks already written.
"""

from __future__ import annotations

import hashlib
import json
import mmap
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import asdict
from itertools import islice
from pathlib import Path

import numpy as np
from tqdm import tqdm

from skelssl.data.formats import is_file_source
from skelssl.data.preprocess import PreprocessConfig, count_bodies, prepare_sequences
from skelssl.data.readers.shards import ShardedSource
from skelssl.data.sources import (
    DataConfig,
    SequenceStream,
    is_array_file,
    open_source,
    prepare,
    raw_path,
)
from skelssl.data.types import Sequence, SkeletonData
from skelssl.errors import SkelsslError
from skelssl.skeleton import Layout, get_layout

CACHE_VERSION = 2  # bump when the preprocessing or the cache format changes

SEQUENCES_PER_CHUNK = 1024  # streamed (non-sharded) sources: sequences per chunk file

RELEASE_BYTES = 2 * 2**20  # rows read from a cache memmap before its pages are unmapped

MAX_WORKERS = 8

_SHOWN_PROBLEMS = 3


def load_dataset(config: DataConfig, *, quiet: bool = False) -> SkeletonData:
    """The prepared dataset of ``config``, from the cache when present (joints memory-mapped).

    Raises :class:`SkelsslError` for an unknown name, a real dataset without ``root``, a
    missing root, or an unknown ``split``.
    """
    config.preprocess.validate()
    source_path = raw_path(config)
    directory = cache_directory(config, source_path)
    if not (directory / "meta.json").exists():
        try:
            if is_array_file(config):
                data, skipped = prepare(config, source_path, quiet=quiet)
                write_cache(data, directory, skipped=skipped)
            else:
                build_cache(open_source(config, quiet=quiet), config.preprocess, directory,
                            workers=config.workers, quiet=quiet)  # fmt: skip
        except OSError as err:
            _say(f"could not write the cache {directory} ({err}); using the data in memory", quiet)
            data, skipped = prepare(config, source_path, quiet=quiet)
            return _checked(data, skipped, config, quiet)
    return _checked(read_cache(directory), cached_skipped(directory), config, quiet)


def _checked(
    data: SkeletonData, skipped: list[str], config: DataConfig, quiet: bool
) -> SkeletonData:
    """Report skipped bad files and check that the configured split exists."""
    if skipped:
        shown = "; ".join(skipped[:_SHOWN_PROBLEMS])
        more = (
            f" (and {len(skipped) - _SHOWN_PROBLEMS} more)"
            if len(skipped) > _SHOWN_PROBLEMS
            else ""
        )
        _say(f"skipped {len(skipped)} bad files: {shown}{more}", quiet)
    if config.split is not None:
        data.split_mask(config.split)
    return data


def _say(message: str, quiet: bool) -> None:
    if not quiet:
        print(message, file=sys.stderr)


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
            try:
                stat = os.stat(full)
            except OSError:  # a dangling symbolic link: the link itself, size -1
                stat = os.lstat(full)
                entries.append((os.path.relpath(full, path), -1, stat.st_mtime_ns))
                continue
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
        "splits": _splits_fingerprint(config),
        "preprocess": asdict(config.preprocess),
        "synthetic": asdict(config.synthetic) if config.name == "synthetic" else None,
    }
    if config.layout or config.coords or config.score != "channel":  # keys of file sources
        content["file_source"] = [config.layout, _layout_fingerprint(config.layout),
                                  config.coords, config.score]  # fmt: skip
    text = json.dumps(content, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _layout_fingerprint(layout: str | None) -> list | None:
    """Fingerprint of a layout YAML file (its layout is part of the prepared data)."""
    if not layout or not layout.lower().endswith((".yaml", ".yml")):
        return None
    path = Path(layout).expanduser().resolve()
    return [str(path), raw_fingerprint(path if path.exists() else None)]


def _splits_fingerprint(config: DataConfig) -> list | None:
    """Fingerprint of an explicitly given PKU-MMD split folder (None when not given)."""
    if config.splits is None:
        return None
    path = Path(config.splits).expanduser().resolve()
    return [str(path), raw_fingerprint(path if path.exists() else None)]


def cache_directory(config: DataConfig, source_path: Path | None = None) -> Path:
    """``<cache_dir>/<source>-<hash>`` for ``config``."""
    if source_path is None and config.name != "synthetic":
        source_path = raw_path(config)
    base = Path(config.cache_dir).expanduser() if config.cache_dir else default_cache_dir()
    stem = Path(config.name).stem if is_file_source(config.name) else config.name
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", stem)
    return base / f"{stem}-{cache_key(config, source_path)}"


_META_ARRAYS = ("lengths", "labels", "subjects", "views", "setups", "performances", "names")


def write_cache(data: SkeletonData, directory: Path, *, skipped: list[str] = ()) -> None:
    """Write in-memory ``data`` (and the skipped-file list) to ``directory`` atomically.

    Everything goes to a temporary sibling directory that is renamed when complete.
    """
    directory.parent.mkdir(parents=True, exist_ok=True)
    temporary = Path(tempfile.mkdtemp(prefix=f".{directory.name}-", dir=directory.parent))
    try:
        np.save(temporary / "joints.npy", np.ascontiguousarray(data.joints, dtype=np.float32))
        arrays = {name: np.asarray(getattr(data, name)) for name in _META_ARRAYS}
        _write_meta(temporary, arrays, data.splits, data, skipped)
        _publish(temporary, directory)
    finally:
        if temporary.exists():
            shutil.rmtree(temporary, ignore_errors=True)


def _write_meta(
    directory: Path, arrays: dict, splits: dict[str, np.ndarray], about, skipped: list[str]
) -> None:
    """``meta.npz`` (per-sample arrays, split masks) and ``meta.json`` of a cache.

    ``about`` provides ``class_names``, ``layout`` and ``source``.
    """
    arrays = dict(arrays)
    split_names = list(splits)
    for i, name in enumerate(split_names):
        arrays[f"protocol_{i}"] = np.asarray(splits[name], dtype=bool)
    np.savez(directory / "meta.npz", **arrays)
    meta = {
        "cache_version": CACHE_VERSION,
        "class_names": list(about.class_names),
        "layout": about.layout,
        "source": about.source,
        "protocols": split_names,  # on-disk key, kept for existing caches
        "skipped": list(skipped),
        "coords": getattr(about, "coords", "xyz"),
    }
    (directory / "meta.json").write_text(json.dumps(meta, indent=1))


def _publish(temporary: Path, directory: Path) -> None:
    """Rename a complete temporary cache directory to its final name."""
    try:
        os.rename(temporary, directory)
    except OSError:
        if not (directory / "meta.json").exists():  # not another process winning the race
            raise


def build_cache(
    source: ShardedSource | SequenceStream,
    config: PreprocessConfig,
    directory: Path,
    *,
    workers: int | None = None,
    quiet: bool = False,
) -> None:
    """Prepare ``source`` chunk by chunk into the cache ``directory`` (see module docstring).

    Chunks go to ``.<name>.partial/`` beside ``directory``; chunks already there (from an
    interrupted call with the same plan) are kept. The final joints ``(N, T, M, V, C)``
    with ``M = min(max_bodies, largest body count)`` are assembled into a preallocated
    memory-mapped ``joints.npy``, one chunk at a time.
    """
    config.validate()
    layout = get_layout(source.layout)
    directory.parent.mkdir(parents=True, exist_ok=True)
    partial_dir = directory.parent / f".{directory.name}.partial"
    if isinstance(source, ShardedSource):
        chunk_count = len(source.shards)
        _start_partial(partial_dir, {"kind": "shards", "chunks": chunk_count})
        _prepare_shards(source, layout, config, partial_dir, workers, quiet)
    else:
        chunk_count = -(-source.count // SEQUENCES_PER_CHUNK)
        plan = {"kind": "stream", "chunks": chunk_count, "per_chunk": SEQUENCES_PER_CHUNK}
        _start_partial(partial_dir, plan)
        _prepare_stream(source, layout, config, partial_dir, quiet)
    chunks = [_chunk_path(partial_dir, i) for i in range(chunk_count)]
    _assemble(chunks, source, config, layout, directory, quiet)
    shutil.rmtree(partial_dir, ignore_errors=True)


def _chunk_path(partial_dir: Path, index: int) -> Path:
    return partial_dir / f"chunk-{index:06d}.npz"


def _start_partial(partial_dir: Path, plan: dict) -> None:
    """Create the chunk folder, or keep it for resuming when its plan is the same."""
    plan_file = partial_dir / "plan.json"
    if partial_dir.exists():
        same = plan_file.exists() and json.loads(plan_file.read_text()) == plan
        if same:
            return
        shutil.rmtree(partial_dir)
    partial_dir.mkdir(parents=True)
    plan_file.write_text(json.dumps(plan))


def write_chunk(
    path: Path,
    sequences: list[Sequence],
    skipped: list[str],
    layout: Layout,
    config: PreprocessConfig,
    splits: dict[str, Callable[[Sequence], bool]],
    coords: str = "xyz",
) -> int:
    """Preprocess ``sequences`` with ``max_bodies`` bodies and save them as one chunk file.

    Saved atomically (temporary file, then rename); returns the number of sequences.
    """
    channels = sequences[0].joints.shape[-1] if sequences else 3
    joints, lengths = prepare_sequences(
        sequences, len(sequences), layout, config, config.max_bodies, channels, coords
    )
    arrays = {
        "joints": joints,
        "lengths": lengths,
        "raw_lengths": np.array([s.num_frames for s in sequences], dtype=np.int64),
        "bodies": np.array([count_bodies(s.joints) for s in sequences], dtype=np.int64),
        "labels": np.array([s.label for s in sequences], dtype=np.int64),
        "subjects": np.array([s.subject for s in sequences], dtype=np.int64),
        "views": np.array([s.view for s in sequences], dtype=np.int64),
        "setups": np.array([s.setup for s in sequences], dtype=np.int64),
        "performances": np.array([s.performance for s in sequences], dtype=str),
        "names": np.array([s.name for s in sequences], dtype=str),
        "skipped": np.array(skipped, dtype=str),
    }
    for i, is_train in enumerate(splits.values()):
        arrays[f"protocol_{i}"] = np.array([bool(is_train(s)) for s in sequences], dtype=bool)
    temporary = path.with_name(f".{path.name}.tmp")
    with open(temporary, "wb") as handle:
        np.savez(handle, **arrays)
    os.replace(temporary, path)
    return len(sequences)


def prepare_shard(
    shard: Callable, path: Path, layout_name: str, config: PreprocessConfig, splits: dict
) -> int:
    """Worker: read one shard (parse its raw files) and write it as a chunk file."""
    sequences, skipped = shard()
    return write_chunk(path, sequences, skipped, get_layout(layout_name), config, splits)


def _worker_count(workers: int | None, tasks: int) -> int:
    workers = min(os.cpu_count() or 1, MAX_WORKERS) if workers is None else workers
    return max(1, min(workers, tasks))


def _prepare_shards(
    source: ShardedSource,
    layout: Layout,
    config: PreprocessConfig,
    partial_dir: Path,
    workers: int | None,
    quiet: bool,
) -> None:
    """Write the chunk of every shard not yet written, in worker processes when several."""
    todo = [i for i in range(len(source.shards)) if not _chunk_path(partial_dir, i).exists()]
    workers = _worker_count(workers, len(todo))
    bar = tqdm(total=len(source.shards), initial=len(source.shards) - len(todo), unit="shard",
               desc=f"preparing {source.source}", disable=quiet)  # fmt: skip
    with bar:
        if workers == 1:
            for i in todo:
                prepare_shard(source.shards[i], _chunk_path(partial_dir, i), layout.name,
                              config, source.splits)  # fmt: skip
                bar.update(1)
            return
        with ProcessPoolExecutor(max_workers=workers) as pool:
            pending = {
                pool.submit(prepare_shard, source.shards[i], _chunk_path(partial_dir, i),
                            layout.name, config, source.splits): i
                for i in todo
            }  # fmt: skip
            try:
                while pending:
                    done, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        pending.pop(future)
                        future.result()
                        bar.update(1)
            except BaseException:
                pool.shutdown(wait=True, cancel_futures=True)
                raise


def _prepare_stream(
    source: SequenceStream, layout: Layout, config: PreprocessConfig, partial_dir: Path, quiet: bool
) -> None:
    """Write the sequences of a lazy source as chunks of ``SEQUENCES_PER_CHUNK``, in order.

    Chunks already written are skipped (their sequences are still produced, then dropped).
    """
    sequences = iter(source.sequences)
    with tqdm(total=source.count, unit="seq", desc=f"preparing {source.source}",
              disable=quiet) as bar:  # fmt: skip
        for index in range(-(-source.count // SEQUENCES_PER_CHUNK)):
            chunk = list(islice(sequences, SEQUENCES_PER_CHUNK))
            path = _chunk_path(partial_dir, index)
            if not path.exists():
                skipped = source.skipped if index == 0 else []
                write_chunk(path, chunk, skipped, layout, config, source.splits, source.coords)
            bar.update(len(chunk))


_CHUNK_META = ("lengths", "raw_lengths", "bodies", "labels", "subjects", "views", "setups",
               "performances", "names")  # fmt: skip


def _assemble(
    chunks: list[Path],
    source: ShardedSource | SequenceStream,
    config: PreprocessConfig,
    layout: Layout,
    directory: Path,
    quiet: bool,
) -> None:
    """Copy the chunk files into a preallocated memory-mapped ``joints.npy`` and publish.

    The memmap is opened, written and closed per chunk, so at most one chunk of joints is
    resident at a time.
    """
    meta = {name: [] for name in _CHUNK_META}
    splits = {name: [] for name in source.splits}
    skipped = list(source.skipped) if isinstance(source, ShardedSource) else []  # else in chunk 0
    channels = None
    for path in chunks:
        with np.load(path, allow_pickle=False) as chunk:
            for name in _CHUNK_META:
                meta[name].append(chunk[name])
            for i, name in enumerate(splits):
                splits[name].append(chunk[f"protocol_{i}"])
            skipped.extend(chunk["skipped"].tolist())
            if len(chunk["lengths"]):
                channels = channels or int(chunk["joints"].shape[-1])
    values = {name: np.concatenate(parts) for name, parts in meta.items()}
    total = len(values["labels"])
    if total == 0:
        first = f"; first problem: {skipped[0]}" if skipped else ""
        raise SkelsslError(f"dataset has no sequences{first}", source.source)
    bodies = max(1, min(config.max_bodies, int(values.pop("bodies").max())))
    shape = (total, config.frames, bodies, layout.num_joints, channels)
    temporary = Path(tempfile.mkdtemp(prefix=f".{directory.name}-", dir=directory.parent))
    try:
        joints_path = temporary / "joints.npy"
        np.lib.format.open_memmap(joints_path, mode="w+", dtype=np.float32, shape=shape).flush()
        start = 0
        for path in tqdm(chunks, desc="writing cache", unit="chunk", disable=quiet, leave=False):
            start = _copy_chunk(path, joints_path, start, bodies, channels)
        masks = {name: np.concatenate(parts) for name, parts in splits.items()}
        _write_meta(temporary, values, masks, source, skipped)
        _publish(temporary, directory)
    finally:
        if temporary.exists():
            shutil.rmtree(temporary, ignore_errors=True)


def _copy_chunk(path: Path, joints_path: Path, start: int, bodies: int, channels: int) -> int:
    """Write a chunk's joints at row ``start`` of the memmap; returns the next free row."""
    with np.load(path, allow_pickle=False) as chunk:
        joints = chunk["joints"]
    if len(joints) == 0:
        return start
    if joints.shape[-1] != channels:
        raise SkelsslError(f"chunk has {joints.shape[-1]} coordinates, expected {channels}", path)
    target = np.lib.format.open_memmap(joints_path, mode="r+")
    target[start : start + len(joints)] = joints[:, :, :bodies]
    target.flush()
    del target  # unmap: the written pages leave this process's memory
    return start + len(joints)


class ReleasingMemmap(np.memmap):
    """A read-only ``np.memmap`` that keeps the resident memory of reading it bounded.

    Every page of a memmap that is read stays mapped into the process, so one epoch over
    a cache would grow RSS to the file's size. After each ``RELEASE_BYTES`` indexed,
    ``madvise(MADV_DONTNEED)`` unmaps the pages: the data stays on disk and in the kernel's
    page cache, and a later access maps it again. Views share the byte counter. The
    kernel maps whole page-cache folios around each access (measured: ~30x the bytes
    read with shuffled rows), hence the small ``RELEASE_BYTES``.
    """

    _bytes_read: list[int] | None = None

    def __array_finalize__(self, obj) -> None:
        super().__array_finalize__(obj)
        self._bytes_read = getattr(obj, "_bytes_read", None)

    def __getitem__(self, index):
        item = super().__getitem__(index)
        counter = self._bytes_read
        if counter is not None and self._mmap is not None:
            counter[0] += getattr(item, "nbytes", 0)
            if counter[0] >= RELEASE_BYTES:
                counter[0] = 0
                self._mmap.madvise(mmap.MADV_DONTNEED)
        return item


def open_joints(path: Path) -> np.memmap:
    """A cache's ``joints.npy`` as a read-only :class:`ReleasingMemmap`."""
    joints = np.load(path, mmap_mode="r").view(ReleasingMemmap)
    joints._bytes_read = [0]
    return joints


def read_cache(directory: Path) -> SkeletonData:
    """The :class:`SkeletonData` in a cache directory; joints as a read-only memmap."""
    meta = json.loads((directory / "meta.json").read_text())
    joints = open_joints(directory / "joints.npy")
    with np.load(directory / "meta.npz", allow_pickle=False) as arrays:
        values = {name: arrays[name] for name in _META_ARRAYS}
        splits = {name: arrays[f"protocol_{i}"] for i, name in enumerate(meta["protocols"])}
    data = SkeletonData(
        joints=joints,
        class_names=list(meta["class_names"]),
        layout=meta["layout"],
        source=meta["source"],
        splits=splits,
        coords=meta.get("coords", "xyz"),
        **values,
    )
    data.validate()
    return data


def cached_raw_lengths(config: DataConfig) -> np.ndarray | None:
    """Frames per sequence as recorded, before the temporal step (N,) int64, from the cache
    of ``config``; None where the cache does not hold them (``.npz`` sources, caches of
    earlier versions, data kept in memory)."""
    directory = cache_directory(config, raw_path(config))
    if not (directory / "meta.npz").is_file():
        return None
    with np.load(directory / "meta.npz", allow_pickle=False) as arrays:
        return np.asarray(arrays["raw_lengths"]) if "raw_lengths" in arrays.files else None


def cached_skipped(directory: Path) -> list[str]:
    """The "file: problem" list of bad files skipped when the cache was built."""
    return list(json.loads((directory / "meta.json").read_text()).get("skipped", []))
