"""Generate ``index.xml`` (the repository's ReaPack index) the way ``reapack-index`` would from this repository.

One package: the metapackage ``reaper_automix/reascripts/reaper-automix.py``, whose header (``@version``,
``@author``, ``@changelog``, ``@provides``, ``@link``, ``@about``) describes every script; the scripts themselves
are marked ``@noindex``, so ReaPack installs (and registers) each of them exactly once. Download links are
pinned to the commit the scripts were last changed in, and ``time=`` is that commit's time, so the index is a
pure function of the git history and ReaPack downloads exactly the files the index was made from.

``python -m reaper_automix.live.reapack`` first copies the package version into the metapackage header (the
version is written in ``reaper_automix/__init__.py`` only), then, once the scripts are committed, rewrites
``index.xml``. Formats (checked by ``tests/test_reapack.py``): ReaPack's index v1 (``<index version="1">`` /
``<category>`` / ``<reapack>`` / ``<version>`` / ``<source>`` / ``<metadata>``) and reapack-index's header
rules (``@provides`` lines ``[options] file``, options ``main``/``nomain``, a platform or a type).
"""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from .. import __version__

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPTS_DIR = Path(__file__).resolve().parents[1] / "reascripts"
METAPACKAGE = SCRIPTS_DIR / "reaper-automix.py"
INDEX_NAME = "reaper-automix"
WEBSITE = "https://github.com/reaper-automix/reaper-automix"
# reapack-index's default download template for GitHub: $commit and $path (relative to the repository root).
URL_TEMPLATE = WEBSITE + "/raw/$commit/$path"
PLATFORMS = {"all", "windows", "win32", "win64", "darwin", "darwin32", "darwin64", "darwin-arm64", "linux",
             "linux32", "linux64", "linux-armv7l", "linux-aarch64"}
TYPES = {"script", "extension", "effect", "data", "theme", "langpack", "webinterface", "projecttpl", "tracktpl",
         "midinotenames", "autoitem"}


def headers(path: Path) -> dict[str, str]:
    """A script's metadata header as reapack-index reads it: ``# @tag value`` lines at the top of the file; a
    value continues on the following comment lines indented deeper (joined with newlines, indent removed)."""
    out: dict[str, str] = {}
    tag = None
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        body = line[1:]
        m = re.match(r"^ @(\w+)\s*(.*)$", body)
        if m:
            tag = m.group(1).lower()
            out[tag] = m.group(2).strip()
        elif tag is not None and (body.startswith("  ") or not body.strip()):
            piece = body[3:].rstrip() if body.strip() else ""
            out[tag] = f"{out[tag]}\n{piece}" if out[tag] else piece
        else:
            tag = None
    return {k: v.strip() for k, v in out.items()}


@dataclass(frozen=True)
class Provided:
    file: str
    main: bool
    platform: str = "all"


def parse_provides(value: str) -> list[Provided]:
    """``@provides`` lines: ``[options] file`` with options ``main``/``nomain`` or a platform (reapack-index)."""
    out = []
    for line in value.splitlines():
        m = re.match(r"^(?:\[\s*(?P<options>.+?)\s*\])?\s*(?P<file>.+?)\s*$", line.strip())
        if not m or not line.strip():
            continue
        main, platform = False, "all"
        for option in (m.group("options") or "").split():
            if option.lower() in PLATFORMS:
                platform = option.lower()
            elif option.lower() in ("main", "nomain"):
                main = option.lower() == "main"
            elif option.lower() not in TYPES:
                raise ValueError(f"{METAPACKAGE.name}: unknown @provides option {option!r}")
        out.append(Provided(m.group("file"), main, platform))
    return out


def markdown_to_rtf(text: str) -> str:
    """The small Markdown subset the headers use (``#`` headings, ``-`` bullets, paragraphs) as RTF, which is
    what ReaPack shows (reapack-index converts ``@about`` with pandoc)."""

    def inline(s: str) -> str:
        s = s.replace("\\", "\\\\").replace("{", "\\{").replace("}", "\\}")
        return "".join(c if ord(c) < 128 else f"\\u{ord(c) if ord(c) < 32768 else ord(c) - 65536}?" for c in s)

    parts = ["{\\rtf1\\ansi\\deff0{\\fonttbl{\\f0 \\fswiss Helvetica;}}\\f0\\fs20"]
    for block in re.split(r"\n\s*\n", text.strip()):
        lines = [ln.strip() for ln in block.splitlines()]
        if lines[0].startswith("#"):
            parts.append("\\pard\\sb180\\sa120\\b\\fs28 " + inline(lines[0].lstrip("# ")) + "\\b0\\fs20\\par")
        elif all(ln.startswith("- ") for ln in lines):
            parts += ["\\pard\\li360\\fi-180 \\bullet  " + inline(ln[2:]) + "\\par" for ln in lines]
        else:
            parts.append("\\pard\\sa120 " + inline(" ".join(lines)) + "\\par")
    return "\n".join(parts) + "\n}"


def _git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(REPO_ROOT), *args], check=True, capture_output=True,
                          text=True).stdout.strip()


def scripts_commit() -> tuple[str, str]:
    """(commit, UTC time ``YYYY-MM-DDTHH:MM:SSZ``) of the last commit that changed the scripts."""
    commit, iso = _git("log", "-1", "--format=%H %cI", "--", str(SCRIPTS_DIR.relative_to(REPO_ROOT))).split()
    when = datetime.fromisoformat(iso).astimezone(timezone.utc)
    return commit, when.strftime("%Y-%m-%dT%H:%M:%SZ")


def index_xml(commit: str, time: str) -> str:
    """The index for the scripts as committed in ``commit`` (40 hex digits) at ``time``."""
    h = headers(METAPACKAGE)
    category = SCRIPTS_DIR.relative_to(REPO_ROOT).as_posix()
    link_name, link_url = h["link"].rsplit(" ", 1)
    metadata = [f"<description><![CDATA[{markdown_to_rtf(h['about'])}]]></description>",
                f'<link rel="website" href={quoteattr(link_url)}>{escape(link_name)}</link>']
    lines = ['<?xml version="1.0" encoding="utf-8"?>',
             f'<index version="1" name="{INDEX_NAME}" commit="{commit}">',
             f"  <category name={quoteattr(category)}>",
             f'    <reapack name={quoteattr(METAPACKAGE.name)} type="script" desc={quoteattr(h["description"])}>',
             f"      <version name={quoteattr(h['version'])} author={quoteattr(h['author'])} time=\"{time}\">",
             f"        <changelog><![CDATA[{h.get('changelog', '')}]]></changelog>"]
    for p in parse_provides(h["provides"]):
        url = URL_TEMPLATE.replace("$commit", commit).replace("$path", f"{category}/{p.file}")
        main = ' main="main"' if p.main else ""
        lines.append(f'        <source platform="{p.platform}" file={quoteattr(p.file)}{main}>{escape(url)}</source>')
    lines += ["      </version>", "      <metadata>", *("        " + m for m in metadata), "      </metadata>",
              "    </reapack>", "  </category>",
              "  <metadata>", *("    " + m for m in metadata), "  </metadata>",  # shown as the repository's about
              "</index>", ""]
    return "\n".join(lines)


def sync_version() -> bool:
    """Write the package version into the metapackage's ``@version`` line; True if it changed."""
    text = METAPACKAGE.read_text(encoding="utf-8")
    new = re.sub(r"^# @version .*$", f"# @version {__version__}", text, count=1, flags=re.MULTILINE)
    if new != text:
        METAPACKAGE.write_text(new, encoding="utf-8")
    return new != text


def main() -> None:
    if sync_version():
        sys.exit(f"{METAPACKAGE}: @version set to {__version__}; commit it, then run this again")
    if _git("status", "--porcelain", "--", str(SCRIPTS_DIR.relative_to(REPO_ROOT))):
        sys.exit(f"{SCRIPTS_DIR} has uncommitted changes: commit them first (the index pins a commit)")
    commit, time = scripts_commit()
    (REPO_ROOT / "index.xml").write_text(index_xml(commit, time), encoding="utf-8")
    print(f"wrote {REPO_ROOT / 'index.xml'} (scripts at {commit[:12]}, {time})")


if __name__ == "__main__":
    main()
