"""Datasets by name: which reader, shards or stream a :class:`DataConfig` names.

``name`` is one of :data:`DATASET_NAMES` or a path: skelssl's or CTR-GCN's ``.npz``, a
pyskl/mmaction2 ``.pkl`` or an AimCLR/ST-GCN feeder folder (:mod:`skelssl.data.formats`). NTU and
PKU-MMD are :class:`~skelssl.data.readers.shards.ShardedSource` (files parsed in worker
processes); a large synthetic set is generated lazily; anything else is read in memory.
Readers are imported on demand. Loading (with the on-disk cache) is
:func:`skelssl.data.cache.load_dataset`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from skelssl.data.preprocess import PreprocessConfig, prepare_arrays, preprocess
from skelssl.data.readers.shards import ShardedSource
from skelssl.data.synthetic import SyntheticConfig
from skelssl.data.types import RawDataset, Sequence, SkeletonData
from skelssl.errors import SkelsslError
from skelssl.skeleton import NTU_25

DATASET_NAMES = ("nw-ucla", "ntu60", "ntu120", "pku-mmd", "pku-mmd2", "synthetic")

SHARDED_DATASETS = ("ntu60", "ntu120", "pku-mmd", "pku-mmd2")  # parsed in worker processes

SYNTHETIC_STREAM_MIN = 20_000  # larger synthetic sets are generated lazily (iter_sequences)


@dataclass
class DataConfig:
    """Which dataset to load and how to prepare it.

    ``name`` is one of ``DATASET_NAMES`` or a path to a data file or feeder folder
    (:mod:`skelssl.data.formats`); ``layout`` a joint layout name or a layout YAML file
    (default: implied by V); ``coords`` what the channels mean (``xyz``, ``xy``,
    ``xy+score``; default from C and the layout); ``score`` the pose score of 2D input as
    an input ``channel`` or a ``mask`` (joints below the threshold zeroed, C = 2); ``root`` is the
    raw data folder of a real dataset; ``split`` (the train/test split: ``xview``, ``xsub``,
    ``given``, ...) None means the dataset's first one;
    ``stream`` the input view the encoder reads (:mod:`skelssl.data.streams`);
    ``cache_dir`` None means ``$SKELSSL_CACHE`` or ``~/.cache/skelssl``; ``splits`` is the
    folder of PKU-MMD's split files and ``actions.csv`` (part II brings its own).
    """

    name: str = "synthetic"
    root: str | None = None
    split: str | None = None
    skip_bad: bool = False
    cache_dir: str | None = None
    splits: str | None = None  # PKU-MMD: folder of the split files (default ROOT/splits)
    workers: int | None = None  # parsing processes; None: min(cpus, 8); 1: this process
    stream: str = "joint"  # what the encoder reads: joint | bone | motion | bone-motion
    layout: str | None = None  # file sources: a layout name or my_layout.yaml (default from V)
    coords: str | None = None  # file sources: xyz | xy | xy+score (default from C and layout)
    score: str = "channel"  # 2D with scores: channel (C = 3) | mask (C = 2); not validated
    stream: str = "joint"  # what the encoder reads: joint | bone | motion | bone-motion
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    synthetic: SyntheticConfig = field(default_factory=SyntheticConfig)

    @property
    def protocol(self) -> str | None:
        """Deprecated name of :attr:`split` (kept for one release)."""
        return self.split


_WARNED: set[str] = set()


def deprecated(old: str, new: str) -> None:
    """One line on stderr (once per process): ``old`` is still read, as ``new``."""
    if old not in _WARNED:
        _WARNED.add(old)
        print(f"skelssl: {old} is deprecated, use {new} (removed in the next release)",
              file=sys.stderr)  # fmt: skip


def data_tree(tree: dict) -> dict:
    """A ``data`` config mapping with the deprecated key ``protocol`` renamed ``split``."""
    if not isinstance(tree, dict) or "protocol" not in tree:
        return tree
    tree = dict(tree)
    old = tree.pop("protocol")
    if tree.get("split") not in (None, old):
        raise SkelsslError(f"data.protocol ({old}) and data.split ({tree['split']}) disagree")
    deprecated("data.protocol", "data.split")
    tree["split"] = old
    return tree


def default_split(data: SkeletonData, split: str | None = None) -> str:
    """``split`` if given (checked), else the dataset's first train/test split."""
    if split is not None:
        data.split_mask(split)
        return split
    if not data.splits:
        raise SkelsslError(f"dataset {data.source} defines no train/test split")
    return next(iter(data.splits))


def raw_path(config: DataConfig) -> Path | None:
    """The raw data the arrays come from (a folder or a data file); None for synthetic."""
    from skelssl.data.formats import is_file_source

    if is_file_source(config.name):
        path = Path(config.name).expanduser().resolve()
        if not path.exists():
            raise SkelsslError("data file not found", path)
        return path
    if config.name not in DATASET_NAMES:
        known = ", ".join(DATASET_NAMES)
        raise SkelsslError(
            f"unknown dataset {config.name!r} (known: {known}, or a path to a .npz, a pyskl "
            ".pkl or an AimCLR feeder folder)"
        )
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


def is_array_file(config: DataConfig) -> bool:
    """True when ``config.name`` is skelssl's own array ``.npz`` (fixed-length arrays)."""
    from skelssl.data.formats import detect_format, is_file_source

    return is_file_source(config.name) and detect_format(raw_path(config)) == "skelssl"


def prepare(
    config: DataConfig, source_path: Path | None, *, quiet: bool
) -> tuple[SkeletonData, list[str]]:
    """Read and preprocess the dataset (a .npz through :func:`prepare_arrays`); no cache involved.

    Returns the data and the reader's "file: problem" list of skipped bad files.
    """
    if is_array_file(config):
        from skelssl.data.readers.arrays import npz_prepared, read_npz

        prepared = npz_prepared(source_path)
        data = read_npz(source_path, layout=config.layout, coords=config.coords)
        data = prepare_arrays(data, config.preprocess, prepared=prepared)
        data.validate()
        return data, []
    raw = read_raw(config, quiet=quiet)
    return preprocess(raw, config.preprocess, quiet=quiet), list(raw.skipped)


def read_raw(config: DataConfig, *, quiet: bool = False) -> RawDataset:
    """The reader's :class:`RawDataset` for a named dataset, in memory (readers imported on demand)."""
    if config.name == "synthetic":
        from skelssl.data.synthetic import generate

        return generate(config.synthetic, quiet=quiet)
    from skelssl.data.formats import is_file_source, read_file_source

    if is_file_source(config.name):
        kind, raw = read_file_source(raw_path(config), config, quiet=quiet)
        if kind == "skelssl":
            raise SkelsslError("skelssl's .npz holds prepared arrays, not raw sequences",
                               config.name)  # fmt: skip
        return raw
    root = str(Path(config.root).expanduser().resolve())
    if config.name == "nw-ucla":
        from skelssl.data.readers.nwucla import read_nwucla

        return read_nwucla(root, skip_bad=config.skip_bad, quiet=quiet)
    return sharded_source(config).read_all()


def sharded_source(config: DataConfig) -> ShardedSource:
    """The :class:`ShardedSource` of a dataset in ``SHARDED_DATASETS`` (NTU, PKU-MMD)."""
    root = str(Path(config.root).expanduser().resolve())
    if config.name in ("pku-mmd", "pku-mmd2"):
        from skelssl.data.readers.pku import pku_source

        splits = None if config.splits is None else Path(config.splits).expanduser().resolve()
        return pku_source(root, variant=config.name, splits=splits, skip_bad=config.skip_bad)
    from skelssl.data.readers.ntu import ntu_source

    return ntu_source(
        root,
        variant=config.name,
        max_bodies=config.preprocess.max_bodies,
        skip_bad=config.skip_bad,
    )


@dataclass
class SequenceStream:
    """A source read in this process: ``count`` sequences, produced lazily by ``sequences``."""

    sequences: Iterable[Sequence]
    count: int
    class_names: list[str]
    layout: str
    source: str
    splits: dict[str, Callable[[Sequence], bool]] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    coords: str = "xyz"

    @classmethod
    def of(cls, raw: RawDataset) -> SequenceStream:
        return cls(raw.sequences, len(raw.sequences), raw.class_names, raw.layout, raw.source,
                   raw.splits, list(raw.skipped), raw.coords)  # fmt: skip


def open_source(config: DataConfig, *, quiet: bool = False) -> ShardedSource | SequenceStream:
    """Where the sequences of a named dataset come from, for :func:`build_cache`.

    NTU and PKU-MMD: a :class:`ShardedSource` (parsed in parallel); a large synthetic set:
    generated lazily; anything else: :func:`read_raw` in memory.
    """
    if config.name in SHARDED_DATASETS:
        return sharded_source(config)
    if config.name == "synthetic" and config.synthetic.num_sequences >= SYNTHETIC_STREAM_MIN:
        from skelssl.data import synthetic

        return SequenceStream(
            synthetic.iter_sequences(config.synthetic),
            config.synthetic.num_sequences,
            list(synthetic.CLASS_NAMES[: config.synthetic.classes]),
            NTU_25.name,
            "synthetic",
            synthetic.splits(config.synthetic),
        )
    return SequenceStream.of(read_raw(config, quiet=quiet))
