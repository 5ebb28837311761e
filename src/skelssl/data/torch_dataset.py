"""A ``torch.utils.data.Dataset`` view of :class:`~skelssl.data.types.SkeletonData`."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from skelssl.data.types import SkeletonData


class TorchSkeletonDataset(Dataset):
    """Items are dicts of tensors, one sample each (the default collate stacks them):

    - ``joints``: (T, M, V, C) float32, a copy of the (possibly memory-mapped) row
    - ``lengths``: () int64 valid frames
    - ``labels``: () int64 class index
    - ``index``: () int64 row in ``data``
    """

    def __init__(self, data: SkeletonData):
        self.data = data

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        joints = np.array(self.data.joints[index], dtype=np.float32)  # copy: memmaps are read-only
        return {
            "joints": torch.from_numpy(joints),
            "lengths": torch.tensor(int(self.data.lengths[index]), dtype=torch.int64),
            "labels": torch.tensor(int(self.data.labels[index]), dtype=torch.int64),
            "index": torch.tensor(int(index), dtype=torch.int64),
        }
