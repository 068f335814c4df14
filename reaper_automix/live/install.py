"""Register the REAPER actions and set reapy up, by editing REAPER's configuration files (REAPER must be
restarted afterwards, and should be closed while this runs: REAPER rewrites ``reaper.ini`` when it exits).

What :func:`install` does (what ``reapy.configure_reaper`` does, plus our actions), each step only if needed:

- ``reaper.ini`` ``[reaper]``: ``reascript=1``, ``pythonlibpath64``/``pythonlibdll64`` = this Python's shared
  library; a web interface control surface (``csurf_N=HTTP 0 <port> '' 'index.html' 0 ''``, ``csurf_cnt``)
  for reapy's discovery;
- ``reaper-kb.ini``: one ``SCR 4 0 RS<id> "Custom: <description>" "<path>"`` line per action in
  ``reascripts/`` (ids derived from the script path, so re-installing adds nothing);
- ``reaper-extstate.ini``: ``[reapy] activate_reapy_server`` = our safe server action (so ``import reapy``
  starts it instead of reapy's own server), ``[reaper_automix]`` the package path and the worker command;
- with ``keymap=True``: ``KeyMaps/reaper-automix.ReaperKeyMap`` with suggested shortcuts (import it from
  REAPER's Actions window > Key map > Import; nothing is bound until then).

Every file is backed up before its first edit (``<file>.automix-backup``) and listed in
``reaper-automix-install.json``; :func:`uninstall` puts every backup back byte for byte and deletes the files
install created. Edits are line-based (unlike ConfigParser, untouched lines stay byte-identical) and atomic.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import AutomixError

MANIFEST = "reaper-automix-install.json"
BACKUP_SUFFIX = ".automix-backup"
SCRIPTS_DIR = Path(__file__).resolve().parents[2] / "reascripts"
SERVER_SCRIPT = "automix_server.py"
KEYMAP = Path("KeyMaps") / "reaper-automix.ReaperKeyMap"
# Suggested shortcuts: (script, REAPER modifier flags, virtual key). Flags: 1 virtual key + 4 Shift + 8 Ctrl
# (Cmd on macOS) + 16 Alt; keys are Windows virtual-key codes ("B" = 66, "M" = 77).
SHORTCUTS = (("automix_balance.py", 29, 66), ("automix_mix_reference_dialog.py", 29, 77))


@dataclass
class InstallReport:
    resource_path: Path
    changed: list[str] = field(default_factory=list)
    backups: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        if not self.changed:
            return [f"{self.resource_path}: already installed, nothing changed"]
        return ([f"changed in {self.resource_path}:"] + [f"  {c}" for c in self.changed]
                + [f"  backup: {b}" for b in self.backups] + ["Restart REAPER to load the changes."])


def default_resource_path() -> Path:
    """REAPER's resource folder for a standard install on this OS."""
    if sys.platform == "darwin":
        path = Path.home() / "Library" / "Application Support" / "REAPER"
    elif sys.platform.startswith("win"):
        path = Path(os.environ.get("APPDATA", Path.home())) / "REAPER"
    else:
        path = Path.home() / ".config" / "REAPER"
    if not (path / "reaper.ini").exists():
        raise AutomixError(f"no REAPER resource folder at {path} (no reaper.ini); pass --resource-path "
                           "(REAPER: Options > Show REAPER resource path)")
    return path


def action_scripts() -> list[tuple[Path, str]]:
    """(script, action description) for every script in ``reascripts/`` with a ReaPack ``@description``."""
    out = []
    for path in sorted(SCRIPTS_DIR.glob("*.py")):
        m = re.search(r"^# @description (.+)$", path.read_text(encoding="utf-8"), re.MULTILINE)
        if m:
            out.append((path, m.group(1).strip()))
    return out


def command_id(script: Path) -> str:
    """A stable ReaScript command id (REAPER's are "RS" + 40 characters)."""
    return "RS" + hashlib.sha1(str(script.resolve()).encode("utf-8")).hexdigest()


# --- line-based ini editing -------------------------------------------------------------------------------------


def _newline(text: str) -> str:
    return "\r\n" if "\r\n" in text else "\n"


def ini_get(text: str, section: str, key: str) -> str | None:
    current = None
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("[") and s.endswith("]"):
            current = s[1:-1]
        elif current is not None and current.lower() == section.lower() and "=" in s:
            k, v = s.split("=", 1)
            if k.strip().lower() == key.lower():
                return v
    return None


def ini_set(text: str, section: str, key: str, value: str) -> str:
    """``text`` with ``key=value`` in ``section`` (the line replaced in place, else appended to the section,
    else a new section at the end); every other line unchanged."""
    nl = _newline(text) if text else os.linesep
    lines = text.splitlines(keepends=True)
    current, section_end = None, None
    for i, line in enumerate(lines):
        s = line.strip()
        if s.startswith("[") and s.endswith("]"):
            if current is not None and current.lower() == section.lower():
                break
            current = s[1:-1]
            if current.lower() == section.lower():
                section_end = i + 1
            continue
        if current is not None and current.lower() == section.lower():
            if "=" in s and s.split("=", 1)[0].strip().lower() == key.lower():
                ending = line[len(line.rstrip("\r\n")) :] or nl
                lines[i] = f"{key}={value}{ending}"
                return "".join(lines)
            if s:
                section_end = i + 1
    if section_end is None:
        if lines and not lines[-1].endswith(("\n", "\r")):
            lines[-1] += nl
        return "".join(lines) + f"[{section}]{nl}{key}={value}{nl}"
    if section_end > 0 and not lines[section_end - 1].endswith(("\n", "\r")):
        lines[section_end - 1] += nl
    lines.insert(section_end, f"{key}={value}{nl}")
    return "".join(lines)


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


class _Editor:
    """Edits files of one resource folder, backing each up before its first change and recording it."""

    def __init__(self, root: Path, manifest: dict, report: InstallReport):
        self.root, self.manifest, self.report = root, manifest, report

    def read(self, name: str) -> str:
        path = self.root / name
        return path.read_bytes().decode("utf-8", errors="surrogateescape") if path.exists() else ""

    def write(self, name: str, text: str, what: str) -> None:
        path = self.root / name
        data = text.encode("utf-8", errors="surrogateescape")
        if path.exists() and path.read_bytes() == data:
            return
        entry = self.manifest["files"].get(name)
        if entry is None:
            if path.exists():
                backup = path.with_name(path.name + BACKUP_SUFFIX)
                if backup.exists():
                    raise AutomixError(f"{backup} exists from an earlier install that has no record; "
                                       "move it away (it may be your only copy of the original) and retry")
                backup.write_bytes(path.read_bytes())
                entry = {"backup": backup.name, "created": False}
                self.report.backups.append(str(backup))
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                entry = {"backup": None, "created": True}
            self.manifest["files"][name] = entry
        _write_atomic(path, data)
        entry["written_sha1"] = hashlib.sha1(data).hexdigest()
        self.report.changed.append(f"{name}: {what}")


def _load_manifest(root: Path) -> dict:
    path = root / MANIFEST
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {"files": {}}


def worker_command() -> list[str]:
    """How REAPER's actions start the worker: this Python running this package's CLI."""
    return [sys.executable, "-m", "reaper_automix.live.worker"]


def install(resource_path: Path | str | None = None, keymap: bool = False, web_port: int = 2307) -> InstallReport:
    """Set REAPER up for the live bridge (see the module docstring); returns what was changed."""
    from .bridge import _import_reapy

    root = Path(resource_path) if resource_path else default_resource_path()
    if not root.is_dir():
        raise AutomixError(f"REAPER resource folder {root} does not exist")
    report = InstallReport(root)
    manifest = _load_manifest(root)
    ed = _Editor(root, manifest, report)

    _import_reapy()
    from reapy.config.shared_library import get_python_shared_library

    library = Path(get_python_shared_library())
    ini = ed.read("reaper.ini")
    for key, value in (("reascript", "1"), ("pythonlibpath64", str(library.parent)),
                       ("pythonlibdll64", library.name)):
        if ini_get(ini, "reaper", key) != value:
            ini = ini_set(ini, "reaper", key, value)
    count = int(ini_get(ini, "reaper", "csurf_cnt") or 0)
    surfaces = [ini_get(ini, "reaper", f"csurf_{i}") or "" for i in range(count)]
    if not any(s.startswith("HTTP") and s.split(" ")[2:3] == [str(web_port)] for s in surfaces):
        ini = ini_set(ini, "reaper", f"csurf_{count}", f"HTTP 0 {web_port} '' 'index.html' 0 ''")
        ini = ini_set(ini, "reaper", "csurf_cnt", str(count + 1))
    ed.write("reaper.ini", ini, f"Python ReaScript enabled ({library}), web interface on port {web_port}")

    kb = ed.read("reaper-kb.ini")
    nl = _newline(kb) if kb else os.linesep
    added = []
    for script, description in action_scripts():
        if f'"{script}"' not in kb:
            if kb and not kb.endswith(("\n", "\r")):
                kb += nl
            kb += f'SCR 4 0 {command_id(script)} "Custom: {description}" "{script}"{nl}'
            added.append(description)
    if added:
        ed.write("reaper-kb.ini", kb, "actions " + "; ".join(added))

    ext = ed.read("reaper-extstate.ini")
    server = SCRIPTS_DIR / SERVER_SCRIPT
    for section, key, value in (
        ("reapy", "activate_reapy_server", json.dumps("_" + command_id(server))),
        ("reaper_automix", "server_action", "_" + command_id(server)),
        ("reaper_automix", "package_path", str(SCRIPTS_DIR.parent)),
        ("reaper_automix", "worker", json.dumps(worker_command())),
    ):
        if ini_get(ext, section, key) != value:
            ext = ini_set(ext, section, key, value)
    ed.write("reaper-extstate.ini", ext, "reapy starts the safe server action; worker command, package path")

    if keymap:
        lines = []
        for script, description in action_scripts():
            lines.append(f'SCR 4 0 {command_id(script)} "Custom: {description}" "{script}"')
        for name, flags, key in SHORTCUTS:
            lines.append(f"KEY {flags} {key} _{command_id(SCRIPTS_DIR / name)} 0")
        ed.write(str(KEYMAP), "\n".join(lines) + "\n", "suggested shortcuts (Ctrl+Alt+Shift+B balance, "
                 "Ctrl+Alt+Shift+M mix to reference...); import it in Actions > Key map")

    if report.changed:
        _write_atomic(root / MANIFEST, json.dumps(manifest, indent=1).encode("utf-8"))
    return report


def uninstall(resource_path: Path | str | None = None) -> InstallReport:
    """Undo :func:`install`: every edited file gets its backup back byte for byte, created files are removed.

    A file changed since install (REAPER rewrites ``reaper.ini`` on exit) is kept beside it as
    ``<file>.automix-uninstalled`` before the backup replaces it, so nothing is lost.
    """
    root = Path(resource_path) if resource_path else default_resource_path()
    manifest_path = root / MANIFEST
    if not manifest_path.exists():
        raise AutomixError(f"nothing to uninstall in {root}: no {MANIFEST}")
    manifest = _load_manifest(root)
    report = InstallReport(root)
    for name, entry in manifest["files"].items():
        path = root / name
        if path.exists() and hashlib.sha1(path.read_bytes()).hexdigest() != entry.get("written_sha1"):
            kept = path.with_name(path.name + ".automix-uninstalled")
            kept.write_bytes(path.read_bytes())
            report.changed.append(f"{name}: changed since install; current version kept as {kept.name}")
        if entry["created"]:
            path.unlink(missing_ok=True)
            report.changed.append(f"{name}: removed")
        else:
            os.replace(root / entry["backup"], path)
            report.changed.append(f"{name}: restored from {entry['backup']}")
    manifest_path.unlink()
    return report
