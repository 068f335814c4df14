"""User settings for a balance run, read from YAML.

Example (every key optional)::

    groups:                      # override grouping: group name -> track-name patterns (fnmatch, case-insensitive)
      Drums: ["kick*", "snare*", "oh *"]
      Vocals: ["lead vox*"]
    exclude: ["click", "*guide*"]  # never touched, never counted
    lock: ["Lead Vox"]            # keep their fader, still count in their group
    offsets_db:                   # added to the computed gain
      tracks: {"Lead Vox": 3.0}
      groups: {"Backing Vocals": -2.0}
    returns: group                # return tracks (sends only, e.g. reverbs): each its own group, or "exclude"

Patterns match whole track names with shell wildcards (``*``, ``?``, ``[ab]``), ignoring case.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .errors import AutomixError


@dataclass(frozen=True)
class BalanceConfig:
    groups: dict[str, tuple[str, ...]] = field(default_factory=dict)
    exclude: tuple[str, ...] = ()
    lock: tuple[str, ...] = ()
    track_offsets_db: dict[str, float] = field(default_factory=dict)
    group_offsets_db: dict[str, float] = field(default_factory=dict)
    returns: str = "group"  # return tracks: "group" (each its own group) or "exclude"

    def group_override(self, track_name: str) -> str | None:
        """The group a YAML pattern assigns ``track_name`` to (first match in file order), if any."""
        for group, patterns in self.groups.items():
            if matches_any(track_name, patterns):
                return group
        return None

    def is_excluded(self, track_name: str) -> bool:
        return matches_any(track_name, self.exclude)

    def is_locked(self, track_name: str) -> bool:
        return matches_any(track_name, self.lock)

    def track_offset_db(self, track_name: str) -> float:
        return sum(v for pattern, v in self.track_offsets_db.items() if matches_any(track_name, (pattern,)))

    def group_offset_db(self, group_name: str) -> float:
        return sum(v for pattern, v in self.group_offsets_db.items() if matches_any(group_name, (pattern,)))


def matches_any(name: str, patterns: tuple[str, ...] | list[str]) -> bool:
    lowered = name.casefold()
    return any(fnmatch.fnmatchcase(lowered, p.casefold()) for p in patterns)


_TOP_KEYS = {"groups", "exclude", "lock", "offsets_db", "returns"}
RETURNS = ("group", "exclude")


def load_config(path: Path) -> BalanceConfig:
    """Read and validate a YAML settings file; every problem names the file and the key."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise AutomixError(f"{path}: cannot read settings file ({exc.strerror})") from exc
    except yaml.YAMLError as exc:
        raise AutomixError(f"{path}: not valid YAML: {exc}") from exc
    if data is None:
        return BalanceConfig()
    if not isinstance(data, dict):
        raise AutomixError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise AutomixError(f"{path}: unknown key(s) {sorted(unknown)}; known: {sorted(_TOP_KEYS)}")

    def str_list(value: object, key: str) -> tuple[str, ...]:
        if isinstance(value, str):
            return (value,)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise AutomixError(f"{path}: '{key}' must be a list of track-name patterns")
        return tuple(value)

    def number_map(value: object, key: str) -> dict[str, float]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise AutomixError(f"{path}: '{key}' must map names to numbers of dB")
        out: dict[str, float] = {}
        for name, v in value.items():
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise AutomixError(f"{path}: '{key}.{name}' must be a number of dB, got {v!r}")
            out[str(name)] = float(v)
        return out

    groups_raw = data.get("groups") or {}
    if not isinstance(groups_raw, dict):
        raise AutomixError(f"{path}: 'groups' must map group names to lists of track-name patterns")
    groups = {str(g): str_list(p, f"groups.{g}") for g, p in groups_raw.items()}
    offsets = data.get("offsets_db") or {}
    if not isinstance(offsets, dict) or set(offsets) - {"tracks", "groups"}:
        raise AutomixError(f"{path}: 'offsets_db' takes the keys 'tracks' and 'groups'")
    returns = data.get("returns", "group")
    if returns not in RETURNS:
        raise AutomixError(f"{path}: 'returns' must be one of {', '.join(RETURNS)}, got {returns!r}")
    return BalanceConfig(
        returns=returns,
        groups=groups,
        exclude=str_list(data.get("exclude") or [], "exclude"),
        lock=str_list(data.get("lock") or [], "lock"),
        track_offsets_db=number_map(offsets.get("tracks"), "offsets_db.tracks"),
        group_offsets_db=number_map(offsets.get("groups"), "offsets_db.groups"),
    )
