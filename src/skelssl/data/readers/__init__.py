"""Readers for real dataset formats; each returns a RawDataset (the array format a
fixed-length SkeletonData) and raises SkelsslError naming the file on bad input.

NTU and PKU-MMD also describe themselves as a ShardedSource (``ntu_source``,
``pku_source``) so that large folders are parsed shard by shard in worker processes."""

from skelssl.data.readers.arrays import read_npz, write_npz
from skelssl.data.readers.ntu import CLASS_NAMES_60 as NTU60_CLASS_NAMES
from skelssl.data.readers.ntu import CLASS_NAMES_120 as NTU120_CLASS_NAMES
from skelssl.data.readers.ntu import (
    ntu_source,
    parse_skeleton_bodies,
    parse_skeleton_file,
    read_ntu,
)
from skelssl.data.readers.nwucla import CLASS_NAMES as NWUCLA_CLASS_NAMES
from skelssl.data.readers.nwucla import read_nwucla
from skelssl.data.readers.pku import parse_pku_labels, parse_pku_skeleton, pku_source, read_pku
from skelssl.data.readers.shards import ShardedSource

__all__ = [
    "NTU60_CLASS_NAMES",
    "NTU120_CLASS_NAMES",
    "NWUCLA_CLASS_NAMES",
    "ShardedSource",
    "ntu_source",
    "parse_pku_labels",
    "parse_pku_skeleton",
    "parse_skeleton_bodies",
    "parse_skeleton_file",
    "pku_source",
    "read_npz",
    "read_ntu",
    "read_nwucla",
    "read_pku",
    "write_npz",
]
