"""Register the REAPER actions and set reapy up, by editing REAPER's configuration files (REAPER must be
restarted afterwards, and should be closed while this runs: REAPER rewrites ``reaper.ini`` when it exits).

What :func:`install` does (what ``reapy.configure_reaper`` does, plus our actions), each step only if needed:

- copies the action scripts (package data, ``reaper_automix/reascripts/``) into REAPER's own
  ``Scripts/reaper-automix/<version>/``, so nothing REAPER runs points into a source checkout or a Python
  environment that may move (an older version's copy is removed);
- ``reaper.ini`` ``[reaper]``: ``reascript=1``, ``pythonlibpath64``/``pythonlibdll64`` = this Python's shared
  library; a web interface control surface (``csurf_N=HTTP 0 <port> '' 'index.html' 0 ''``, ``csurf_cnt``)
  for reapy's discovery;
- ``reaper-kb.ini``: one ``SCR 4 0 RS<id> "Custom: <description>" "<path>"`` line per action (ids derived from
  the script's name, so shortcuts bound to an action survive upgrades and re-installing adds nothing);
- ``reaper-extstate.ini``: ``[reapy] activate_reapy_server`` = our safe server action (so ``import reapy``
  starts it instead of reapy's own server), ``[reaper_automix]`` the Python interpreter, the worker command and
  the folder REAPER's embedded Python imports the package from;
- with ``keymap=True``: ``KeyMaps/reaper-automix.ReaperKeyMap`` with suggested shortcuts (import it from
  REAPER's Actions window > Key map > Import; nothing is bound until then).

When ReaPack has installed the scripts already (``Scripts/reaper-automix/reaper_automix/reascripts/``), they
are used where they are: nothing is copied and no action is registered a second time (ReaPack registered them).

Every file is backed up before its first edit (``<file>.automix-backup``) and listed in
``reaper-automix-install.json``; :func:`uninstall` puts every backup back byte for byte and deletes the files
install created. Edits are line-based (unlike ConfigParser, untouched lines stay byte-identical) and atomic.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .. import __version__
from ..errors import AutomixError
from ..files import write_bytes_atomic
from .reapack import SCRIPTS_DIR, headers

MANIFEST = "reaper-automix-install.json"
BACKUP_SUFFIX = ".automix-backup"
# Where install copies the scripts, relative to REAPER's resource folder (one folder per version).
INSTALLED_SCRIPTS = Path("Scripts") / "reaper-automix" / __version__
# Where ReaPack puts them: Scripts/<index name>/<category> (see live/reapack.py).
REAPACK_SCRIPTS = Path("Scripts") / "reaper-automix" / "reaper_automix" / "reascripts"
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


def action_scripts(folder: Path = SCRIPTS_DIR) -> list[tuple[Path, str]]:
    """(script, action description) for every action script in ``folder`` (those with an ``@description``;
    the ReaPack metapackage file is not a script)."""
    out = []
    for path in script_files(folder):
        h = headers(path)
        if "description" in h:
            out.append((path, h["description"]))
    return out


def script_files(folder: Path = SCRIPTS_DIR) -> list[Path]:
    """The files REAPER runs: every ``.py`` in ``folder`` but the ReaPack metapackage."""
    return [p for p in sorted(folder.glob("*.py")) if "metapackage" not in headers(p)]


def command_id(script: Path | str) -> str:
    """A stable ReaScript command id (REAPER's are "RS" + 40 characters), from the script's file name only: the
    same action keeps its id (and the user's shortcuts) across versions and install folders."""
    return "RS" + hashlib.sha1(f"reaper-automix/{Path(script).name}".encode("utf-8")).hexdigest()


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
    """An edited file keeps its permissions; a new one gets the user's default."""
    write_bytes_atomic(path, data, mode=path.stat().st_mode & 0o777 if path.exists() else None)


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

    def remove(self, name: str) -> None:
        """Delete a file an earlier install created (and its folder once empty)."""
        _remove_created(self.root, name)
        del self.manifest["files"][name]
        self.report.changed.append(f"{name}: removed (an earlier version)")


def _remove_created(root: Path, name: str) -> None:
    path = root / name
    path.unlink(missing_ok=True)
    for folder in path.parents:
        if folder in (root, root / "Scripts") or not folder.is_dir() or any(folder.iterdir()):
            break
        folder.rmdir()


def _load_manifest(root: Path) -> dict:
    path = root / MANIFEST
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {"files": {}}


def worker_command() -> list[str]:
    """How REAPER's actions start the worker: this Python running this package's CLI."""
    return [sys.executable, "-m", "reaper_automix.live.worker"]


def _action_line(script: Path, description: str) -> str:
    return f'SCR 4 0 {command_id(script)} "Custom: {description}" "{script}"'


def register_actions(kb: str, actions: list[tuple[Path, str]]) -> tuple[str, list[str]]:
    """``reaper-kb.ini`` text with one action line per (script, description): a line with the same command id
    (an earlier version's) is replaced where it stands, a new one appended; returns the text and what changed."""
    nl = _newline(kb) if kb else os.linesep
    lines = kb.splitlines(keepends=True)
    changed = []
    for script, description in actions:
        line = _action_line(script, description)
        prefix = f"SCR 4 0 {command_id(script)} "
        at = next((i for i, old in enumerate(lines) if old.startswith(prefix)), None)
        if at is None:
            if lines and not lines[-1].endswith(("\n", "\r")):
                lines[-1] += nl
            lines.append(line + nl)
            changed.append(description)
        elif lines[at].rstrip("\r\n") != line:
            lines[at] = line + (lines[at][len(lines[at].rstrip("\r\n")):] or nl)
            changed.append(description)
    return "".join(lines), changed


def _reapack_installed(root: Path) -> bool:
    return (root / REAPACK_SCRIPTS / SERVER_SCRIPT).is_file()


def _place_scripts(root: Path, ed: "_Editor") -> Path:
    """Copy the scripts into ``INSTALLED_SCRIPTS`` (removing another version's copy), unless ReaPack installed
    them; returns their folder relative to ``root``."""
    if _reapack_installed(root):
        return REAPACK_SCRIPTS
    ours = INSTALLED_SCRIPTS.as_posix() + "/"
    for name in [n for n, e in ed.manifest["files"].items()
                 if e["created"] and n.startswith(INSTALLED_SCRIPTS.parent.as_posix() + "/") and not n.startswith(ours)]:
        ed.remove(name)
    for script in script_files():
        ed.write((INSTALLED_SCRIPTS / script.name).as_posix(), script.read_bytes().decode("utf-8"),
                 "copied from " + str(script.parent))
    return INSTALLED_SCRIPTS


def install(resource_path: Path | str | None = None, keymap: bool = False, web_port: int = 2307) -> InstallReport:
    """Set REAPER up for the live bridge (see the module docstring); returns what was changed."""
    from .bridge import _import_reapy

    root = Path(resource_path) if resource_path else default_resource_path()
    if not root.is_dir():
        raise AutomixError(f"REAPER resource folder {root} does not exist")
    if keymap and _reapack_installed(root):
        raise AutomixError("--keymap binds the actions install registers, but ReaPack registered these ones: "
                           "bind the shortcuts in REAPER's Actions window instead")
    _import_reapy()
    from reapy.config.shared_library import get_python_shared_library

    report = InstallReport(root)
    manifest = _load_manifest(root)
    try:
        _install(root, _Editor(root, manifest, report), Path(get_python_shared_library()), keymap, web_port)
    finally:  # also after a failure half-way: what was changed is recorded, so uninstall can restore it
        if report.changed:
            _write_atomic(root / MANIFEST, json.dumps(manifest, indent=1).encode("utf-8"))
    return report


def _install(root: Path, ed: _Editor, library: Path, keymap: bool, web_port: int) -> None:
    scripts = _place_scripts(root, ed)
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

    if scripts != REAPACK_SCRIPTS:
        kb = ed.read("reaper-kb.ini")
        kb, added = register_actions(kb, [(root / scripts / p.name, d) for p, d in action_scripts()])
        if added:
            ed.write("reaper-kb.ini", kb, "actions " + "; ".join(added))

    ext = ed.read("reaper-extstate.ini")
    server = "_" + command_id(SERVER_SCRIPT)
    settings = [
        ("reaper_automix", "python", sys.executable),
        ("reaper_automix", "worker", json.dumps(worker_command())),
        ("reaper_automix", "package_path", str(Path(__file__).resolve().parents[2])),
        ("reaper_automix", "version", __version__),
    ]
    if scripts != REAPACK_SCRIPTS:  # ReaPack's own registration gives the server another command id
        settings += [("reapy", "activate_reapy_server", json.dumps(server)),
                     ("reaper_automix", "server_action", server)]
    for section, key, value in settings:
        if ini_get(ext, section, key) != value:
            ext = ini_set(ext, section, key, value)
    ed.write("reaper-extstate.ini", ext, f"the Python to run ({sys.executable}), the worker command; "
             "reapy starts the safe server action")

    if keymap:
        lines = []
        for script, description in action_scripts():
            lines.append(_action_line(root / scripts / script.name, description))
        for name, flags, key in SHORTCUTS:
            lines.append(f"KEY {flags} {key} _{command_id(name)} 0")
        ed.write(str(KEYMAP), "\n".join(lines) + "\n", "suggested shortcuts (Ctrl+Alt+Shift+B balance, "
                 "Ctrl+Alt+Shift+M mix to reference...); import it in Actions > Key map")


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
            _remove_created(root, name)
            report.changed.append(f"{name}: removed")
        else:
            os.replace(root / entry["backup"], path)
            report.changed.append(f"{name}: restored from {entry['backup']}")
    manifest_path.unlink()
    return report
