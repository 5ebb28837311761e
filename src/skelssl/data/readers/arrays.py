"""The array interchange format: one ``.npz`` holding a fixed-length dataset.

Keys (loaded with ``allow_pickle=False``, so strings are unicode arrays):

==================  ==========================  ===========================================
key                 shape, type                 when absent
==================  ==========================  ===========================================
``joints``          (N, T, M, V, C) float       required; zero after ``lengths[i]`` frames
``lengths``         (N,) int in 1..T            required
``labels``          (N,) int in 0..K-1          required
``subjects``        (N,) int                    -1
``views``           (N,) int                    -1
``setups``          (N,) int                    -1
``names``           (N,) str                    ``sample000000``, ``sample000001``, ...
``performances``    (N,) str                    the names
``class_names``     (K,) str                    ``class0``, ``class1``, ... (K = max label + 1)
``layout``          () str                      from V: 25 -> ``ntu-25``, 20 -> ``kinect-v1-20``
``split``           (N,) str "train"/"test"     no ``given`` split
``protocol_<name>`` (N,) bool, True = train     (written for splits other than ``given``)
``prepared``        () bool                     False: raw coordinates
==================  ==========================  ===========================================

``split`` becomes the split ``given``; the dataset's ``source`` is the file's path.
Coordinates are taken as raw (camera space): training centres, view-normalises and
min-maxes them as the config says, like the same clips read from their original files.
``prepared = True`` marks arrays that are already the output of those steps (skelssl
writes it for such arrays only), so they are not normalised twice.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np

from skelssl.data.types import SkeletonData
from skelssl.errors import SkelsslError
from skelssl.skeleton import get_layout

REQUIRED_KEYS = ("joints", "lengths", "labels")
INTEGER_KEYS = ("subjects", "views", "setups")
STRING_KEYS = ("names", "performances")
OPTIONAL_KEYS = (
    *INTEGER_KEYS, *STRING_KEYS, "class_names", "layout", "split", "prepared", "coords"
)  # fmt: skip
PROTOCOL_PREFIX = "protocol_"
GIVEN_SPLIT = "given"
MAX_CLASSES = 100_000  # labels at or above this without class_names are taken as a mistake


def read_npz(
    path: str | os.PathLike, *, layout: str | None = None, coords: str | None = None
) -> SkeletonData:
    """Load and validate an array-format ``.npz`` (see the module docstring).

    ``layout`` / ``coords`` (``data.layout``, ``data.coords``) apply where the file has no
    ``layout`` / ``coords`` key (and must agree with it where it has).

    Raises :class:`SkelsslError` naming the file for a missing required key, an unknown
    key or layout, joints with the wrong joint count, NaN/inf, lengths outside 1..T,
    labels outside 0..K-1, non-zero padding or a bad ``split`` value.
    """
    path = Path(path)
    arrays = _load_arrays(path)
    missing = [key for key in REQUIRED_KEYS if key not in arrays]
    if missing:
        raise SkelsslError(f"missing required key(s): {', '.join(missing)}", path)
    unknown = [key for key in arrays if not _is_known_key(key)]
    if unknown:
        known = ", ".join((*REQUIRED_KEYS, *OPTIONAL_KEYS, PROTOCOL_PREFIX + "<name>"))
        raise SkelsslError(f"unknown key(s) {', '.join(unknown)} (known: {known})", path)

    joints = _joints(arrays["joints"], path)
    num_samples, num_frames, _, num_joints, _ = joints.shape
    lengths = _integers(arrays["lengths"], "lengths", num_samples, path)
    labels = _integers(arrays["labels"], "labels", num_samples, path)
    _check_lengths(lengths, num_frames, path)
    _check_padding(joints, lengths, path)
    names = _strings(arrays, "names", num_samples, path)
    if names is None:
        names = np.array([f"sample{i:06d}" for i in range(num_samples)])
    performances = _strings(arrays, "performances", num_samples, path)
    data = SkeletonData(
        joints=joints,
        lengths=lengths,
        labels=labels,
        **{key: _optional_integers(arrays, key, num_samples, path) for key in INTEGER_KEYS},
        performances=names.copy() if performances is None else performances,
        names=names,
        class_names=_class_names(arrays, labels, path),
        layout=_layout(arrays, num_joints, path, layout),
        source=str(path),
        splits=_splits(arrays, num_samples, path),
    )
    data.coords = _coords(arrays, joints.shape[-1], data.layout, path, coords)
    data.validate()
    return data


def _coords(arrays: dict, channels: int, layout: str, path: Path, requested: str | None) -> str:
    from skelssl.data.interpret import resolve_coords

    if "coords" in arrays:
        stored = _as_str(np.asarray(arrays["coords"]), "coords", path).reshape(-1)
        if stored.size != 1:
            raise SkelsslError("coords must be one string (xyz, xy or xy+score)", path)
        if requested and requested != str(stored[0]):
            raise SkelsslError(f"data.coords={requested} but the file says {stored[0]}", path)
        requested = str(stored[0])
    return resolve_coords(channels, layout, requested, path)


def npz_prepared(path: str | os.PathLike) -> bool:
    """Whether the ``.npz`` at ``path`` says its arrays are already spatially prepared
    (key ``prepared``, a boolean scalar; absent: False, raw coordinates)."""
    arrays = _load_arrays(Path(path), keys=("prepared",))  # not the joints a second time
    if "prepared" not in arrays:
        return False
    flag = arrays["prepared"]
    if flag.shape != () or flag.dtype != np.bool_:
        raise SkelsslError(
            f"key prepared must be a boolean scalar, got {flag.dtype} {flag.shape}", path
        )
    return bool(flag)


def write_npz(data: SkeletonData, path: str | os.PathLike, *, prepared: bool = False) -> None:
    """Write ``data`` in the array format; ``read_npz`` gives back equal arrays.

    ``prepared=True`` records that the joints are already centred / view-normalised /
    min-maxed (skelssl's own prepared arrays), so that reading them for training does not
    apply the spatial steps again.

    The split ``given`` is stored as ``split``; other splits as ``protocol_<name>``.
    The file is written to a temporary name and then renamed, so it is never half-written.
    """
    data.validate()
    path = Path(path)
    arrays = {
        "joints": np.asarray(data.joints, dtype=np.float32),
        "lengths": np.asarray(data.lengths, dtype=np.int64),
        "labels": np.asarray(data.labels, dtype=np.int64),
        **{key: np.asarray(getattr(data, key), dtype=np.int64) for key in INTEGER_KEYS},
        **{key: np.asarray(getattr(data, key), dtype=str) for key in STRING_KEYS},
        "class_names": np.asarray(list(data.class_names), dtype=str),
        "layout": np.asarray(data.layout, dtype=str),
        "coords": np.asarray(data.coords, dtype=str),
    }
    if prepared:
        arrays["prepared"] = np.asarray(True)
    for name, mask in data.splits.items():
        mask = np.asarray(mask, dtype=bool)
        if name == GIVEN_SPLIT:
            arrays["split"] = np.where(mask, "train", "test")
        else:
            arrays[PROTOCOL_PREFIX + name] = mask
    save_arrays(arrays, path)


def save_arrays(arrays: dict[str, np.ndarray], path: str | os.PathLike) -> Path:
    """``np.savez`` to ``<path>.tmp`` then rename, so ``path`` is never half written (no
    pickles: strings as unicode arrays); :class:`SkelsslError` naming ``path`` on failure."""
    path = Path(path)
    temporary = path.with_name(path.name + ".tmp")
    try:
        with open(temporary, "wb") as file:
            np.savez(file, **arrays)
        os.replace(temporary, path)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise SkelsslError(f"cannot write file: {error.strerror or error}", path) from None
    return path


def _is_known_key(key: str) -> bool:
    return key in REQUIRED_KEYS or key in OPTIONAL_KEYS or key.startswith(PROTOCOL_PREFIX)


def _load_arrays(path: Path, keys: tuple[str, ...] | None = None) -> dict[str, np.ndarray]:
    """The archive's arrays (only ``keys`` of them when given: the rest stay unread)."""
    if not path.is_file():
        raise SkelsslError("file not found", path)
    if not zipfile.is_zipfile(path):
        raise SkelsslError("not an .npz archive (not a zip file)", path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {key: archive[key] for key in archive.files if keys is None or key in keys}
    except ValueError as error:
        if "pickle" in str(error):
            problem = "holds Python objects; store strings as unicode arrays (dtype str)"
        else:
            problem = f"not a readable .npz archive: {error}"
        raise SkelsslError(problem, path) from None
    except (OSError, EOFError, zipfile.BadZipFile) as error:
        raise SkelsslError(f"not a readable .npz archive: {error}", path) from None


def _joints(joints: np.ndarray, path: Path) -> np.ndarray:
    """(N, T, M, V, C) float32, checked for rank, emptiness and finiteness."""
    if joints.ndim != 5:
        raise SkelsslError(f"joints must have shape (N, T, M, V, C), got {joints.shape}", path)
    if joints.dtype.kind not in "iuf":  # booleans and complex numbers are no coordinates
        raise SkelsslError(f"joints must be real numbers, got dtype {joints.dtype}", path)
    num_samples, num_frames, num_bodies, num_joints, channels = joints.shape
    if num_samples == 0:
        raise SkelsslError("no samples (joints has N = 0)", path)
    if num_frames == 0:
        raise SkelsslError("zero frames (joints has T = 0)", path)
    if num_bodies == 0 or num_joints == 0 or channels == 0:
        raise SkelsslError(f"joints has an empty axis: shape {joints.shape}", path)
    joints = np.asarray(joints, dtype=np.float32)
    finite = np.isfinite(joints).reshape(num_samples, -1).all(axis=1)
    if not finite.all():
        sample = int(np.flatnonzero(~finite)[0])
        raise SkelsslError(f"non-finite coordinate (NaN or inf) in sample {sample}", path)
    return joints


def _integers(values: np.ndarray, key: str, count: int, path: Path) -> np.ndarray:
    """A (count,) int64 array; floats are accepted only when they are whole numbers."""
    values = np.asarray(values)
    if values.shape != (count,):
        raise SkelsslError(f"{key} must have shape ({count},), got {values.shape}", path)
    if np.issubdtype(values.dtype, np.integer):
        return values.astype(np.int64)
    if np.issubdtype(values.dtype, np.floating) and np.all(np.isfinite(values)):
        if np.all(values == np.round(values)):
            return values.astype(np.int64)
    raise SkelsslError(f"{key} must be integers, got dtype {values.dtype}", path)


def _optional_integers(arrays: dict, key: str, count: int, path: Path) -> np.ndarray:
    if key not in arrays:
        return np.full(count, -1, dtype=np.int64)
    return _integers(arrays[key], key, count, path)


def _strings(arrays: dict, key: str, count: int, path: Path) -> np.ndarray | None:
    if key not in arrays:
        return None
    values = _as_str(arrays[key], key, path)
    if values.shape != (count,):
        raise SkelsslError(f"{key} must have shape ({count},), got {values.shape}", path)
    return values


def _as_str(values: np.ndarray, key: str, path: Path) -> np.ndarray:
    if values.dtype.kind == "U":
        return values
    if values.dtype.kind == "S":
        return np.char.decode(values, "utf-8")
    raise SkelsslError(f"{key} must be strings, got dtype {values.dtype}", path)


def _check_lengths(lengths: np.ndarray, num_frames: int, path: Path) -> None:
    bad = (lengths < 1) | (lengths > num_frames)
    if bad.any():
        sample = int(np.flatnonzero(bad)[0])
        raise SkelsslError(
            f"lengths out of range 1..{num_frames}: sample {sample} has {lengths[sample]}", path
        )


def _check_padding(joints: np.ndarray, lengths: np.ndarray, path: Path) -> None:
    """Frames after ``lengths[i]`` must be zeros (otherwise ``lengths`` is likely wrong)."""
    is_padding = np.arange(joints.shape[1])[None, :] >= lengths[:, None]  # (N, T)
    nonzero = np.abs(joints).reshape(*is_padding.shape, -1).max(axis=2) > 0
    bad = (is_padding & nonzero).any(axis=1)
    if bad.any():
        sample = int(np.flatnonzero(bad)[0])
        raise SkelsslError(
            f"joints are not zero after lengths[{sample}] = {lengths[sample]} frames", path
        )


def _class_names(arrays: dict, labels: np.ndarray, path: Path) -> list[str]:
    if "class_names" not in arrays:
        if labels.min() < 0:
            raise SkelsslError(f"labels out of range: min {labels.min()}", path)
        if labels.max() >= MAX_CLASSES:
            sample = int(labels.argmax())
            raise SkelsslError(
                f"label {labels.max()} of sample {sample} implies more than {MAX_CLASSES:,} "
                "classes; labels must be 0..K-1 (give class_names to name them)",
                path,
            )
        return [f"class{k}" for k in range(int(labels.max()) + 1)]
    class_names = _as_str(arrays["class_names"], "class_names", path)
    if class_names.ndim != 1 or len(class_names) == 0:
        raise SkelsslError(f"class_names must be a non-empty list, got {class_names.shape}", path)
    return [str(name) for name in class_names]


def _layout(arrays: dict, num_joints: int, path: Path, requested: str | None = None) -> str:
    from skelssl.data.interpret import resolve_layout

    if "layout" not in arrays:
        return resolve_layout(num_joints, requested, path)
    layout = _as_str(np.asarray(arrays["layout"]), "layout", path)
    if layout.size != 1:
        raise SkelsslError(f"layout must be one string, got shape {layout.shape}", path)
    layout = str(layout.reshape(-1)[0])
    if requested and get_layout(requested).name != get_layout(layout).name:
        raise SkelsslError(f"data.layout={requested} but the file says {layout}", path)
    try:
        return resolve_layout(num_joints, layout, path)
    except SkelsslError as error:
        raise SkelsslError(error.problem, path) from None


def _splits(arrays: dict, count: int, path: Path) -> dict[str, np.ndarray]:
    splits = {}
    if "split" in arrays:
        split = _strings(arrays, "split", count, path)
        wrong = ~np.isin(split, ("train", "test"))
        if wrong.any():
            raise SkelsslError(
                f"split must be 'train' or 'test', got {split[np.flatnonzero(wrong)[0]]!r}", path
            )
        splits[GIVEN_SPLIT] = split == "train"
    for key in sorted(k for k in arrays if k.startswith(PROTOCOL_PREFIX)):
        mask = np.asarray(arrays[key])
        if mask.dtype != bool or mask.shape != (count,):
            raise SkelsslError(f"{key} must be a ({count},) bool array", path)
        splits[key.removeprefix(PROTOCOL_PREFIX)] = mask
    return splits
