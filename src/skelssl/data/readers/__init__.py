"""Readers for real dataset formats; each returns a RawDataset (the array format a
fixed-length SkeletonData) and raises SkelsslError naming the file on bad input."""

from skelssl.data.readers.arrays import read_npz, write_npz
from skelssl.data.readers.ntu import CLASS_NAMES_60 as NTU60_CLASS_NAMES
from skelssl.data.readers.ntu import CLASS_NAMES_120 as NTU120_CLASS_NAMES
from skelssl.data.readers.ntu import parse_skeleton_bodies, parse_skeleton_file, read_ntu
from skelssl.data.readers.nwucla import CLASS_NAMES as NWUCLA_CLASS_NAMES
from skelssl.data.readers.nwucla import read_nwucla

__all__ = [
    "NTU60_CLASS_NAMES",
    "NTU120_CLASS_NAMES",
    "NWUCLA_CLASS_NAMES",
    "parse_skeleton_bodies",
    "parse_skeleton_file",
    "read_npz",
    "read_ntu",
    "read_nwucla",
    "write_npz",
]
