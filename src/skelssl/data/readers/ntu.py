"""Reader for NTU RGB+D 60 (Shahroudy et al., CVPR 2016) and NTU RGB+D 120 (Liu et al.,
TPAMI 2019) raw ``.skeleton`` files.

File names are ``SsssCcccPpppRrrrAaaa.skeleton``: setup, camera, performer, replication,
action (1-based). The text format is: the frame count; per frame a body count; per body
a line of 10 body values (bodyID, clipedEdges, handLeftConfidence, handLeftState,
handRightConfidence, handRightState, isResticted, leanX, leanY, trackingState), the joint
count (25) and one line of 12 values per joint (x, y, z, depthX, depthY, colorX, colorY,
orientationW/X/Y/Z, trackingState). Only x, y, z (metres) are kept.

Bodies are tracked by bodyID across frames. When more than ``max_bodies`` are tracked,
the most active ones (largest joint motion) are kept; kept bodies are ordered by first
appearance and are zeros in frames where they are absent.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
from tqdm import tqdm

from skelssl.data.interpret import ntu_metadata
from skelssl.data.readers.shards import ShardedSource, batches
from skelssl.data.types import RawDataset, Sequence
from skelssl.errors import SkelsslError

LAYOUT = "ntu-25"
NUM_JOINTS = 25
VALUES_PER_BODY_LINE = 10
VALUES_PER_JOINT_LINE = 12
FILE_PATTERN = re.compile(r"^S(\d{3})C(\d{3})P(\d{3})R(\d{3})A(\d{3})\.skeleton$")
MIN_FILES_FOR_PROCESSES = 64  # fewer files are parsed in this process
FILES_PER_CHUNK = 64

# Official action names, A001..A120 in order (A001..A060 are NTU RGB+D 60).
CLASS_NAMES_120 = [
    "drink water", "eat meal/snack", "brushing teeth", "brushing hair", "drop", "pickup",
    "throw", "sitting down", "standing up (from sitting position)", "clapping", "reading",
    "writing", "tear up paper", "wear jacket", "take off jacket", "wear a shoe",
    "take off a shoe", "wear on glasses", "take off glasses", "put on a hat/cap",
    "take off a hat/cap", "cheer up", "hand waving", "kicking something",
    "reach into pocket", "hopping (one foot jumping)", "jump up",
    "make a phone call/answer phone", "playing with phone/tablet", "typing on a keyboard",
    "pointing to something with finger", "taking a selfie", "check time (from watch)",
    "rub two hands together", "nod head/bow", "shake head", "wipe face", "salute",
    "put the palms together", "cross hands in front (say stop)", "sneeze/cough",
    "staggering", "falling", "touch head (headache)", "touch chest (stomachache/heart pain)",
    "touch back (backache)", "touch neck (neckache)", "nausea or vomiting condition",
    "use a fan (with hand or paper)/feeling warm", "punching/slapping other person",
    "kicking other person", "pushing other person", "pat on back of other person",
    "point finger at the other person", "hugging other person",
    "giving something to other person", "touch other person's pocket", "handshaking",
    "walking towards each other", "walking apart from each other",
    # A061..A120: NTU RGB+D 120
    "put on headphone", "take off headphone", "shoot at the basket", "bounce ball",
    "tennis bat swing", "juggling table tennis balls", "hush (quite)", "flick hair",
    "thumb up", "thumb down", "make ok sign", "make victory sign", "staple book",
    "counting money", "cutting nails", "cutting paper (using scissors)", "snapping fingers",
    "open bottle", "sniff (smell)", "squat down", "toss a coin", "fold paper",
    "ball up paper", "play magic cube", "apply cream on face", "apply cream on hand back",
    "put on bag", "take off bag", "put something into a bag", "take something out of a bag",
    "open a box", "move heavy objects", "shake fist", "throw up cap/hat",
    "hands up (both hands)", "cross arms", "arm circles", "arm swings",
    "running on the spot", "butt kicks (kick backward)", "cross toe touch", "side kick",
    "yawn", "stretch oneself", "blow nose", "hit other person with something",
    "wield knife towards other person", "knock over other person (hit with body)",
    "grab other person's stuff", "shoot at other person with a gun", "step on foot",
    "high-five", "cheers and drink", "carry something with other person",
    "take a photo of other person", "follow other person",
    "whisper in other person's ear", "exchange things with other person",
    "support somebody with hand", "finger-guessing game (playing rock-paper-scissors)",
]  # fmt: skip
CLASS_NAMES_60 = CLASS_NAMES_120[:60]

# Cross-subject training performers (Shahroudy et al. 2016, Sec. 3.2; Liu et al. 2019).
XSUB_TRAIN_60 = frozenset(
    (1, 2, 4, 5, 8, 9, 13, 14, 15, 16, 17, 18, 19, 25, 27, 28, 31, 34, 35, 38)
)
XSUB_TRAIN_120 = XSUB_TRAIN_60 | frozenset(
    (45, 46, 47, 49, 50, 52, 53, 54, 55, 56, 57, 58, 59, 70, 74, 78, 80, 81, 82, 83, 84,
     85, 86, 89, 91, 92, 93, 94, 95, 97, 98, 100, 103)
)  # fmt: skip
XVIEW_TRAIN_CAMERAS = frozenset((2, 3))


@dataclass(frozen=True)
class Variant:
    """What distinguishes NTU-60 from NTU-120."""

    num_actions: int
    max_setup: int
    missing_list_name: str


VARIANTS = {
    "ntu60": Variant(60, 17, "samples_with_missing_skeletons.txt"),
    "ntu120": Variant(120, 32, "ntu120_samples_with_missing_skeletons.txt"),
}


def is_performer_in(sequence: Sequence, performers: frozenset[int]) -> bool:
    """Cross-subject protocol: True when the performer is a training performer."""
    return sequence.subject in performers


def is_camera_in(sequence: Sequence, cameras: frozenset[int]) -> bool:
    """Cross-view protocol: True for training cameras (2 and 3)."""
    return sequence.view in cameras


def is_even_setup(sequence: Sequence) -> bool:
    """Cross-setup protocol (NTU-120): even setup ids train, odd ones test."""
    return sequence.setup % 2 == 0


def splits_for(variant: str) -> dict:
    """Named train predicates of a variant; the first one is the default."""
    if variant == "ntu60":
        return {
            "xsub": partial(is_performer_in, performers=XSUB_TRAIN_60),
            "xview": partial(is_camera_in, cameras=XVIEW_TRAIN_CAMERAS),
        }
    return {
        "xsub": partial(is_performer_in, performers=XSUB_TRAIN_120),
        "xset": is_even_setup,
    }


# ---------------------------------------------------------------------------------------
# One .skeleton file
# ---------------------------------------------------------------------------------------


@dataclass
class BodyTrack:
    """One tracked body (one bodyID) of a file.

    Attributes:
        body_id: the bodyID string of the file.
        joints: (T, 25, 3) float32 xyz, zeros in frames where the body is absent.
        present: (T,) bool, frames where the body was tracked.
    """

    body_id: str
    joints: np.ndarray
    present: np.ndarray

    @property
    def first_frame(self) -> int:
        return int(np.argmax(self.present))

    def motion(self) -> float:
        """Activity: sum over joints and xyz of the variance over the frames it is present."""
        xyz = self.joints[self.present]
        return float(xyz.var(axis=0).sum()) if len(xyz) > 1 else 0.0


class _Lines:
    """A cursor over the lines of a ``.skeleton`` file that raises clear errors."""

    def __init__(self, lines: list[str], path: Path):
        self.lines = lines
        self.position = 0
        self.path = path

    def remaining(self) -> int:
        return len(self.lines) - self.position

    def next(self, truncated_problem: str) -> str:
        if self.position >= len(self.lines):
            raise SkelsslError(f"truncated file: {truncated_problem}", self.path)
        line = self.lines[self.position]
        self.position += 1
        return line

    def integer(self, what: str, truncated_problem: str) -> int:
        line = self.next(truncated_problem).strip()
        try:
            return int(line)
        except ValueError:
            raise SkelsslError(
                f"expected {what} at line {self.position}, got {line[:40]!r}", self.path
            ) from None

    def take(self, count: int) -> list[str]:
        rows = self.lines[self.position : self.position + count]
        self.position += len(rows)
        return rows


def parse_skeleton_bodies(path: str | os.PathLike) -> list[BodyTrack]:
    """Every body of a ``.skeleton`` file, tracked by bodyID, in order of first appearance.

    Each body's joints have shape (T, 25, 3) with T the file's frame count.
    Raises :class:`SkelsslError` naming the file for any malformed content.
    """
    path = Path(path)
    lines = _Lines(_read_lines(path), path)
    num_frames = lines.integer("the frame count", "empty file")
    if num_frames <= 0:
        raise SkelsslError("zero frames" if num_frames == 0 else f"frame count {num_frames}", path)
    found: dict[str, list[tuple[int, np.ndarray]]] = {}  # bodyID -> [(frame, (25, 3))]
    for frame in range(num_frames):
        shown = frame + 1  # frames are counted from 1 in messages
        num_bodies = lines.integer(
            f"the body count of frame {shown}", f"expected {num_frames} frames, got {frame}"
        )
        for _ in range(num_bodies):
            body_id = _parse_body_line(lines, shown)
            found.setdefault(body_id, []).append((frame, _parse_joint_block(lines, shown)))
    _check_trailing(lines)
    if not found:
        raise SkelsslError("no body in any frame", path)
    return [_track(body_id, frames, num_frames) for body_id, frames in found.items()]


def parse_skeleton_file(path: str | os.PathLike, max_bodies: int = 2) -> np.ndarray:
    """The xyz joints of a ``.skeleton`` file, shape (T, M, 25, 3) float32.

    M = min(max_bodies, bodies tracked); the most active bodies are kept (see
    :meth:`BodyTrack.motion`), in order of first appearance, zeros where absent.
    """
    bodies = parse_skeleton_bodies(path)
    kept = select_bodies(bodies, max_bodies)
    return np.stack([body.joints for body in kept], axis=1)


def select_bodies(bodies: list[BodyTrack], max_bodies: int) -> list[BodyTrack]:
    """The ``max_bodies`` most active bodies, re-ordered by first appearance."""
    if max_bodies < 1:
        raise SkelsslError(f"max_bodies must be at least 1, got {max_bodies}")
    by_motion = sorted(range(len(bodies)), key=lambda i: -bodies[i].motion())  # stable
    kept = sorted(by_motion[:max_bodies], key=lambda i: (bodies[i].first_frame, i))
    return [bodies[i] for i in kept]


def _read_lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="ascii").splitlines()
    except FileNotFoundError:
        raise SkelsslError("file not found", path) from None
    except (OSError, UnicodeDecodeError) as error:
        raise SkelsslError(f"cannot read file as text: {error}", path) from None


def _parse_body_line(lines: _Lines, frame: int) -> str:
    """The bodyID from a body's line of 10 values."""
    values = lines.next(f"frame {frame} ends before its body line").split()
    if len(values) != VALUES_PER_BODY_LINE:
        raise SkelsslError(
            f"line {lines.position} (a body of frame {frame}) has {len(values)} values, "
            f"expected {VALUES_PER_BODY_LINE}",
            lines.path,
        )
    return values[0]


def _parse_joint_block(lines: _Lines, frame: int) -> np.ndarray:
    """The joint count then 25 joint lines -> xyz (25, 3) float32."""
    num_joints = lines.integer(f"the joint count of frame {frame}", f"frame {frame} ends early")
    if num_joints != NUM_JOINTS:
        raise SkelsslError(
            f"wrong joint count: expected {NUM_JOINTS}, got {num_joints} in frame {frame}",
            lines.path,
        )
    first_line = lines.position + 1
    rows = lines.take(NUM_JOINTS)
    if len(rows) < NUM_JOINTS:
        raise SkelsslError(
            f"truncated file: expected {NUM_JOINTS} joint lines in frame {frame}, got {len(rows)}",
            lines.path,
        )
    values = " ".join(rows).split()
    if len(values) != NUM_JOINTS * VALUES_PER_JOINT_LINE:
        _raise_bad_joint_line(rows, first_line, frame, lines.path)
    try:
        table = np.array(values, dtype=np.float32).reshape(NUM_JOINTS, VALUES_PER_JOINT_LINE)
    except ValueError:
        raise SkelsslError(
            f"a joint line of frame {frame} is not all numbers", lines.path
        ) from None
    xyz = table[:, :3]
    if not np.isfinite(xyz).all():
        raise SkelsslError(f"non-finite coordinate (NaN or inf) in frame {frame}", lines.path)
    return xyz


def _raise_bad_joint_line(rows: list[str], first_line: int, frame: int, path: Path) -> None:
    for offset, row in enumerate(rows):
        count = len(row.split())
        if count != VALUES_PER_JOINT_LINE:
            raise SkelsslError(
                f"line {first_line + offset} (a joint of frame {frame}) has {count} values, "
                f"expected {VALUES_PER_JOINT_LINE}",
                path,
            )


def _check_trailing(lines: _Lines) -> None:
    rest = lines.take(lines.remaining())
    if any(line.strip() for line in rest):
        raise SkelsslError(
            f"unexpected data after the last frame (line {len(lines.lines) - len(rest) + 1})",
            lines.path,
        )


def _track(body_id: str, frames: list[tuple[int, np.ndarray]], num_frames: int) -> BodyTrack:
    joints = np.zeros((num_frames, NUM_JOINTS, 3), dtype=np.float32)
    present = np.zeros(num_frames, dtype=bool)
    for frame, xyz in frames:  # a body listed twice in one frame keeps its last entry
        joints[frame] = xyz
        present[frame] = True
    return BodyTrack(body_id, joints, present)


# ---------------------------------------------------------------------------------------
# A directory of .skeleton files
# ---------------------------------------------------------------------------------------


def _select_files(
    root: Path, variant: str, missing_list, max_bodies: int, skip_bad: bool
) -> tuple[list[Path], list[str]]:
    """The variant's ``.skeleton`` files under ``root``, less the missing-skeleton list.

    Returns (paths, skipped "file: problem" lines of bad action ids when ``skip_bad``).
    """
    if variant not in VARIANTS:
        raise SkelsslError(f"unknown NTU variant {variant!r} (known: {', '.join(VARIANTS)})")
    if max_bodies < 1:
        raise SkelsslError(f"max_bodies must be at least 1, got {max_bodies}")
    spec = VARIANTS[variant]
    missing = _missing_names(root, spec, missing_list)
    candidates = _find_files(root)
    paths = [p for p in candidates if _belongs_to(p, spec) and p.stem not in missing]
    if not paths:
        raise SkelsslError(
            f"no {variant} .skeleton files left after filtering "
            f"({len(candidates)} found, missing-skeleton list and action/setup range applied)",
            root,
        )
    return _check_action_ids(paths, spec, skip_bad)


def read_ntu(
    root: str | os.PathLike,
    *,
    variant: str = "ntu60",
    missing_list: str | os.PathLike | Iterable[str] | None = None,
    max_bodies: int = 2,
    skip_bad: bool = False,
    quiet: bool = False,
    workers: int | None = None,
) -> RawDataset:
    """Read the ``.skeleton`` files of NTU RGB+D 60 or 120 under ``root``.

    Args:
        root: directory holding ``SsssCcccPpppRrrrAaaa.skeleton`` files.
        variant: ``ntu60`` (A001-A060, S001-S017 only) or ``ntu120`` (all).
        missing_list: names to skip: a file with one name per line, or the names.
            Default: ``root/../statistics/<official missing-skeleton list>`` if present.
        max_bodies: keep at most this many bodies per file (the most active ones).
        skip_bad: leave out bad files (recorded in ``skipped``) instead of raising.
        quiet: no progress bar.
        workers: parsing processes; default ``min(cpu_count, 8)``; 1 parses serially.

    Returns:
        A :class:`RawDataset` with joints (T, M, 25, 3) float32, M in 1..max_bodies.
    """
    root = Path(root)
    paths, skipped = _select_files(root, variant, missing_list, max_bodies, skip_bad)
    sequences, bad = _sequences_and_skipped(
        paths, _parse_all(paths, max_bodies, workers, skip_bad, quiet)
    )
    skipped += bad
    if not sequences:
        raise SkelsslError(f"every file is bad ({len(skipped)}); first: {skipped[0]}", root)
    return RawDataset(sequences=sequences, **_metadata(variant, skipped))


def ntu_source(
    root: str | os.PathLike,
    *,
    variant: str = "ntu60",
    missing_list: str | os.PathLike | Iterable[str] | None = None,
    max_bodies: int = 2,
    skip_bad: bool = False,
) -> ShardedSource:
    """The files of :func:`read_ntu` as a :class:`ShardedSource`, ``FILES_PER_CHUNK`` per shard.

    Names, filtering and action ids are checked now; the files are parsed when a shard
    (:func:`read_ntu_files`) is called, in whichever process calls it.
    """
    root = Path(root)
    paths, skipped = _select_files(root, variant, missing_list, max_bodies, skip_bad)
    shards = [
        partial(read_ntu_files, chunk, max_bodies, skip_bad)
        for chunk in batches(paths, FILES_PER_CHUNK)
    ]
    return ShardedSource(shards=shards, **_metadata(variant, skipped))


def _metadata(variant: str, skipped: list[str]) -> dict:
    """What :class:`RawDataset` and :class:`ShardedSource` of ``variant`` both carry."""
    return {
        "class_names": list(CLASS_NAMES_120[: VARIANTS[variant].num_actions]),
        "layout": LAYOUT,
        "source": variant,
        "splits": splits_for(variant),
        "skipped": skipped,
    }


def read_ntu_files(
    paths: list[Path], max_bodies: int, skip_bad: bool
) -> tuple[list[Sequence], list[str]]:
    """Shard reader: the sequences of ``paths`` and the "file: problem" of skipped ones."""
    return _sequences_and_skipped(paths, _collect(paths, _parse_chunk(paths, max_bodies), skip_bad))


def _sequences_and_skipped(paths: list[Path], results) -> tuple[list[Sequence], list[str]]:
    """The parsed ``results`` of ``paths`` as sequences, an error string as "file: problem"."""
    sequences, skipped = [], []
    for path, result in zip(paths, results):
        if isinstance(result, str):
            skipped.append(f"{path}: {result}")
        else:
            sequences.append(_sequence(path, result))
    return sequences, skipped


def _find_files(root: Path) -> list[Path]:
    if not root.is_dir():
        raise SkelsslError("NTU skeleton directory not found", root)
    paths = sorted(p for p in root.iterdir() if FILE_PATTERN.match(p.name))
    if not paths:
        raise SkelsslError("no NTU files (SsssCcccPpppRrrrAaaa.skeleton) in directory", root)
    return paths


def _name_fields(path: Path) -> tuple[int, int, int, int, int]:
    """(setup, camera, performer, replication, action) from the file name."""
    return tuple(int(group) for group in FILE_PATTERN.match(path.name).groups())


def _belongs_to(path: Path, spec: Variant) -> bool:
    setup, _, _, _, action = _name_fields(path)
    return spec.num_actions == 120 or (action <= spec.num_actions and setup <= spec.max_setup)


def _missing_names(
    root: Path, spec: Variant, missing_list: str | os.PathLike | Iterable[str] | None
) -> set[str]:
    """Sample names (file stems) of the official missing-skeleton list, or of ``missing_list``."""
    if missing_list is None:
        default = root.parent / "statistics" / spec.missing_list_name
        return _read_name_list(default) if default.is_file() else set()
    if isinstance(missing_list, (str, os.PathLike)):
        if not Path(missing_list).is_file():
            raise SkelsslError("missing-skeleton list not found", missing_list)
        return _read_name_list(Path(missing_list))
    return {_stem(name) for name in missing_list}


def _read_name_list(path: Path) -> set[str]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise SkelsslError(f"cannot read name list: {error}", path) from None
    return {_stem(line) for line in text.splitlines() if line.strip()}


def _stem(name: str) -> str:
    return name.strip().removesuffix(".skeleton")


def _check_action_ids(
    paths: list[Path], spec: Variant, skip_bad: bool
) -> tuple[list[Path], list[str]]:
    """(paths with an action id in 1..num_actions, "path: problem" of the others)."""
    kept, skipped = [], []
    for path in paths:
        action = _name_fields(path)[4]
        if 1 <= action <= spec.num_actions:
            kept.append(path)
            continue
        error = SkelsslError(f"action id {action} out of range 1..{spec.num_actions}", path)
        if not skip_bad:
            raise error
        skipped.append(str(error))
    return kept, skipped


def _sequence(path: Path, joints: np.ndarray) -> Sequence:
    """A sequence with label and metadata from the file name (action id already checked)."""
    setup, camera, performer, replication, action = _name_fields(path)
    return Sequence(
        joints=joints,
        label=action - 1,
        name=path.stem,
        subject=performer,
        view=camera,
        setup=setup,
        performance=f"S{setup:03d}P{performer:03d}R{replication:03d}A{action:03d}",
    )


def _parse_all(
    paths: list[Path], max_bodies: int, workers: int | None, skip_bad: bool, quiet: bool
) -> list[np.ndarray | str]:
    """Joints of each file, or its problem string; raises the first problem unless skip_bad."""
    workers = min(os.cpu_count() or 1, 8) if workers is None else workers
    chunks = [paths[i : i + FILES_PER_CHUNK] for i in range(0, len(paths), FILES_PER_CHUNK)]
    results: list[list[np.ndarray | str] | None] = [None] * len(chunks)
    with tqdm(total=len(paths), desc="reading NTU", unit="file", disable=quiet) as bar:
        if workers <= 1 or len(paths) < MIN_FILES_FOR_PROCESSES:
            for index, chunk in enumerate(chunks):
                results[index] = _collect(chunk, _parse_chunk(chunk, max_bodies), skip_bad)
                bar.update(len(chunk))
        else:
            _parse_in_processes(chunks, results, max_bodies, workers, skip_bad, bar)
    return [result for chunk in results for result in chunk]


def _parse_in_processes(
    chunks: list[list[Path]],
    results: list,
    max_bodies: int,
    workers: int,
    skip_bad: bool,
    bar: tqdm,
) -> None:
    """Fill ``results[i]`` for each chunk using a process pool; fail fast unless skip_bad."""
    with ProcessPoolExecutor(max_workers=min(workers, len(chunks))) as pool:
        pending = {
            pool.submit(_parse_chunk, chunk, max_bodies): index
            for index, chunk in enumerate(chunks)
        }
        try:
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    index = pending.pop(future)
                    results[index] = _collect(chunks[index], future.result(), skip_bad)
                    bar.update(len(chunks[index]))
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise


def _collect(chunk: list[Path], parsed: list[np.ndarray | str], skip_bad: bool) -> list:
    if not skip_bad:
        for path, result in zip(chunk, parsed):
            if isinstance(result, str):
                raise SkelsslError(result, path)
    return parsed


def _parse_chunk(paths: list[Path], max_bodies: int) -> list[np.ndarray | str]:
    """Worker: each file's joints (T, M, 25, 3), or its problem as a string."""
    parsed = []
    for path in paths:
        try:
            parsed.append(parse_skeleton_file(path, max_bodies))
        except SkelsslError as error:
            parsed.append(error.problem)
    return parsed


def ntu_class_names(labels: list[int], names: list[str]) -> list[str] | None:
    """NTU's class names when every name is NTU-style and its action is its label."""
    if not names:
        return None
    for label, name in zip(labels, names):
        meta = ntu_metadata(name)
        if meta is None or meta["action"] != label:
            return None
    top = max(labels) + 1
    return list(CLASS_NAMES_60) if top <= 60 else list(CLASS_NAMES_120) if top <= 120 else None


def class_names_for(labels: list[int], names: list[str]) -> list[str]:
    """NTU's class names where they apply (:func:`ntu_class_names`), else ``class0`` ..
    ``class{K-1}``."""
    return ntu_class_names(labels, names) or [f"class{k}" for k in range(max(labels) + 1)]
