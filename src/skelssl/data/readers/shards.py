"""A raw dataset described up front and read shard by shard, for streaming preparation.

A reader of a large dataset (NTU-120: 114,480 files) returns a :class:`ShardedSource`
instead of every sequence at once: the class names, layout and splits now, and a list
of picklable shard readers that a worker process calls to get a few sequences at a time.
:func:`skelssl.data.cache.load_dataset` preprocesses each shard where it was read and
writes it to disk, so neither the raw nor the prepared dataset is ever whole in memory.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from skelssl.data.types import RawDataset, Sequence

# A shard reader: () -> (sequences, "file: problem" of the files it skipped).
ShardReader = Callable[[], tuple[list[Sequence], list[str]]]


@dataclass
class ShardedSource:
    """What a streaming reader returns (compare :class:`~skelssl.data.types.RawDataset`).

    ``shards`` are picklable callables (``functools.partial`` of module functions) so
    they can run in worker processes; ``splits`` are picklable predicates too.
    ``skipped`` holds the problems found before reading (e.g. a bad file name).
    """

    shards: list[ShardReader]
    class_names: list[str]
    layout: str
    source: str
    splits: dict[str, Callable[[Sequence], bool]] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)

    def read_all(self) -> RawDataset:
        """Every shard read in this process, as one in-memory :class:`RawDataset`."""
        sequences, skipped = [], list(self.skipped)
        for shard in self.shards:
            shard_sequences, shard_skipped = shard()
            sequences.extend(shard_sequences)
            skipped.extend(shard_skipped)
        return RawDataset(
            sequences, list(self.class_names), self.layout, self.source, dict(self.splits),
            skipped,
        )  # fmt: skip


def batches(items: list, size: int) -> list[list]:
    """``items`` cut into consecutive lists of at most ``size`` elements."""
    return [items[start : start + size] for start in range(0, len(items), size)]
