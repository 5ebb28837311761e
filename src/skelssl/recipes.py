"""Recipe sets: several runs pre-trained by one command and evaluated as one ensemble.

A set file is a YAML mapping with three keys::

    base: simclr.yaml            # a config file (relative to the set file) or an inline tree
    runs:                        # member name -> that member's overrides (dotted or nested)
      joint: {data.stream: joint}
      bone: {data: {stream: bone}}
    ensemble: {weights: [0.6, 0.4], protocol: linear}   # or weights: validate; optional

Each member's config is: defaults <- ``base`` <- the member's overrides <- the command
line's ``key=value`` overrides (the same for every member). ``skelssl pretrain --config
SET --out OUT`` trains member ``m`` into ``OUT/m/`` and writes ``OUT/recipe.yaml``: the
set resolved (every member's full config, no ``base``), which this module reads back, so
``evaluate OUT --ensemble``, ``predict OUT FILE`` and ``export OUT`` know the members and
the set's weights and protocol.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from skelssl.config import (
    SHORTCUTS,
    RunConfig,
    _deep_merge,
    load_config,
    read_yaml,
    to_dict,
    without_method_params,
)
from skelssl.errors import SkelsslError

RECIPE_FILE = "recipe.yaml"  # the resolved set, in a set's output folder
SET_KEYS = ("base", "runs", "ensemble")
ENSEMBLE_KEYS = ("weights", "protocol")
ENSEMBLE_PROTOCOLS = ("linear", "knn")  # those of skelssl.evaluation.ensemble
MEMBER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")  # a plain folder name


@dataclass
class RecipeSet:
    """A loaded set: its members' resolved configs (file order) and ensemble options.

    ``weights``: None (equal), one number per member, or ``"validate"``.
    """

    path: Path
    members: dict[str, RunConfig] = field(default_factory=dict)
    weights: list[float] | str | None = None
    protocol: str = "linear"

    @property
    def method(self) -> str:
        """The members' method when they share one, else a comma-separated list."""
        methods = list(dict.fromkeys(config.method for config in self.members.values()))
        return ", ".join(methods)

    def member_dirs(self, out: str | Path) -> list[Path]:
        """The members' run folders below the set folder ``out``, in member order."""
        return [Path(out) / name for name in self.members]

    def to_tree(self) -> dict:
        """The resolved set as a set-file tree (full member configs, no ``base``)."""
        tree: dict = {"runs": {name: to_dict(config) for name, config in self.members.items()}}
        ensemble: dict = {"protocol": self.protocol}
        if self.weights is not None:
            ensemble["weights"] = self.weights
        tree["ensemble"] = ensemble
        return tree

    def to_yaml(self) -> str:
        """:meth:`to_tree` as YAML text (what ``recipe.yaml`` holds below its header)."""
        return yaml.safe_dump(self.to_tree(), sort_keys=False)


def set_file(path: str | Path) -> Path:
    """The set file of ``path``: ``path/recipe.yaml`` for a set folder, else ``path``."""
    path = Path(path)
    return path / RECIPE_FILE if path.is_dir() else path


def is_recipe_set(path: str | Path | None) -> bool:
    """True for a set folder (holding ``recipe.yaml``) or a YAML file with a ``runs:`` key;
    False for anything else (a run folder, a plain config, a missing or unreadable file)."""
    if path is None or not str(path).strip():
        return False
    path = Path(path)
    if path.is_dir():
        return (path / RECIPE_FILE).is_file()
    if not path.is_file() or path.suffix.lower() not in (".yaml", ".yml"):
        return False
    try:
        tree = read_yaml(path)
    except SkelsslError:
        return False
    return "runs" in tree


def load_recipe_set(
    path: str | Path, overrides: list[str] | tuple[str, ...] = (), method: str | None = None
) -> RecipeSet:
    """Read a set file (or a set folder's ``recipe.yaml``) into a :class:`RecipeSet`.

    ``overrides`` (``key=value``) apply to every member after its own; ``method``, when
    given, must be every member's method, except ``random``: the set's untrained encoders
    (each member's encoder and input, its method's params dropped, as ``load_config`` does
    for one file). Every problem is one :class:`SkelsslError` naming the file (and the
    member).
    """
    path = set_file(path)
    tree = read_yaml(path)
    unknown = sorted(set(map(str, tree)) - set(SET_KEYS))
    if unknown:
        raise SkelsslError(f"unknown key {unknown[0]} (a recipe set has: base, runs, ensemble)",
                           path)  # fmt: skip
    base = _base_tree(tree.get("base"), path)
    runs = tree.get("runs")
    if not isinstance(runs, dict) or len(runs) < 2:
        raise SkelsslError("runs: must map two or more member names to their overrides", path)
    members = {}
    for name, member in runs.items():
        _check_member_name(name, path)
        try:
            merged = _deep_merge(base, _expand(member))
            if method == "random":
                merged = {**without_method_params(merged), "method": "random"}
            config = load_config(None, None, overrides, base=merged)
        except SkelsslError as error:
            raise SkelsslError(f"member {name}: {error}", path) from None
        if method is not None and config.method != method:
            raise SkelsslError(f"member {name} is a {config.method} run, not {method}", path)
        members[name] = config
    weights, protocol = _ensemble_options(tree.get("ensemble"), len(members), path)
    return RecipeSet(path=path, members=members, weights=weights, protocol=protocol)


def _base_tree(base: Any, path: Path) -> dict:
    """``base:`` as a raw config tree: a file relative to the set file, or inline."""
    if base is None:
        return {}
    if isinstance(base, dict):
        return base
    if isinstance(base, str) and base.strip():
        return read_yaml(path.parent / base)
    raise SkelsslError(f"base: must be a config file name or a config mapping, got {base!r}", path)


def _check_member_name(name: Any, path: Path) -> None:
    if not isinstance(name, str) or not MEMBER_NAME.match(name):
        raise SkelsslError(
            f"member name {name!r} must be a plain folder name (letters, digits, - and _)", path
        )


def _expand(member: Any, top: bool = True) -> dict:
    """A member's overrides (``{data.stream: bone}`` or ``{data: {stream: bone}}``, the
    top-level ``epochs``/``lr``/... shortcuts too) as a nested config tree."""
    if member is None:
        return {}
    if not isinstance(member, dict):
        raise SkelsslError(f"overrides must be a mapping of config keys, got {member!r}")
    tree: dict = {}
    for key, value in member.items():
        keys = (SHORTCUTS.get(str(key), str(key)) if top else str(key)).split(".")
        if not all(keys):
            raise SkelsslError(f"bad config key {key!r}")
        nested = _expand(value, top=False) if isinstance(value, dict) else value
        for part in reversed(keys):
            nested = {part: nested}
        tree = _deep_merge(tree, nested)
    return tree


def _ensemble_options(options: Any, count: int, path: Path) -> tuple[list[float] | str | None, str]:
    """``ensemble: {weights: [..] | validate, protocol: linear | knn}`` checked against the
    number of members."""
    from skelssl.evaluation.ensemble import check_weights

    if options is None:
        return None, "linear"
    if not isinstance(options, dict):
        raise SkelsslError("ensemble: must be a mapping (weights, protocol)", path)
    unknown = sorted(set(map(str, options)) - set(ENSEMBLE_KEYS))
    if unknown:
        raise SkelsslError(f"unknown key ensemble.{unknown[0]} (known: weights, protocol)", path)
    protocol = options.get("protocol", "linear")
    if protocol not in ENSEMBLE_PROTOCOLS:
        raise SkelsslError(f"ensemble.protocol must be linear or knn, got {protocol!r}", path)
    weights = options.get("weights")
    if weights is None or weights == "validate":
        return weights, protocol
    if not isinstance(weights, list) or not all(
        isinstance(w, (int, float)) and not isinstance(w, bool) for w in weights
    ):
        raise SkelsslError(f"ensemble.weights must be a list of numbers or 'validate', "
                           f"got {weights!r}", path)  # fmt: skip
    if len(weights) != count:
        raise SkelsslError(f"ensemble.weights has {len(weights)} numbers for {count} runs", path)
    try:
        check_weights(weights, count)
    except SkelsslError as error:
        raise SkelsslError(f"ensemble.{error}", path) from None
    return [float(w) for w in weights], protocol


def write_recipe(recipe: RecipeSet, out: str | Path) -> Path:
    """``out/recipe.yaml``: the resolved set (safe_dump, written atomically)."""
    from skelssl.paths import write_text_atomic

    header = (
        "# A recipe set, resolved: each member's full config; its runs are the folders of\n"
        "# the same names beside this file. skelssl evaluate/predict/export take the folder.\n"
    )
    text = header + recipe.to_yaml()
    return write_text_atomic(Path(out) / RECIPE_FILE, text)


def expand_set(path: str | Path) -> tuple[list[str], RecipeSet]:
    """A set folder's member run folders (as strings) and the set; each must hold a run."""
    recipe = load_recipe_set(path)
    runs = [str(run_dir) for run_dir in recipe.member_dirs(path)]
    for run_dir in runs:
        if not (Path(run_dir) / "config.yaml").is_file():
            raise SkelsslError(
                f"member not pre-trained yet (resume the set: skelssl pretrain --out {path} "
                "--resume)",
                run_dir,
            )
    return runs, recipe


def finished_summary(run_dir: str | Path) -> dict | None:
    """A member run's ``summary.json`` when the run holds every planned epoch (its
    ``config.yaml``'s ``train.epochs``) and ``last.pt``; None for an unfinished or new one."""
    from skelssl.runs import read_summary

    run_dir = Path(run_dir)
    summary = read_summary(run_dir)
    try:
        planned = read_yaml(run_dir / "config.yaml")["train"]["epochs"]
    except (OSError, ValueError, KeyError, TypeError, SkelsslError):
        return None
    if summary is None or not (run_dir / "last.pt").is_file():
        return None
    epochs = summary.get("epochs")
    return summary if isinstance(epochs, int) and epochs >= planned else None
