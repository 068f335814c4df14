"""Generate ``reascripts/index.xml`` (a ReaPack repository index) from the scripts' ReaPack headers.

Each action script carries ``@description``, ``@version``, ``@author``, ``@changelog`` and ``@provides``
(helper files installed beside it, not registered as actions); scripts marked ``@noindex`` are only provided.
``python -m reaper_automix.live.reapack`` rewrites the index; a test checks it is current.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

SCRIPTS_DIR = Path(__file__).resolve().parents[2] / "reascripts"
# Where ReaPack downloads the files from: the repository's raw URL (set for the published repository).
BASE_URL = "https://raw.githubusercontent.com/reaper-automix/reaper-automix/main/reascripts/"


def headers(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        m = re.match(r"^# @(\w+)\s*(.*)$", line)
        if m:
            out[m.group(1)] = m.group(2).strip()
        elif not line.startswith("#"):
            break
    return out


def index_xml(scripts_dir: Path = SCRIPTS_DIR, base_url: str = BASE_URL) -> str:
    lines = ['<?xml version="1.0" encoding="utf-8"?>', '<index version="1" name="reaper-automix">',
             '  <category name="Mixing">']
    for path in sorted(scripts_dir.glob("*.py")):
        h = headers(path)
        if "noindex" in h or "description" not in h:
            continue
        lines.append(f'    <reapack name={quoteattr(path.name)} type="script" desc={quoteattr(h["description"])}>')
        lines.append(f'      <version name={quoteattr(h["version"])} author={quoteattr(h["author"])}>')
        lines.append(f'        <changelog><![CDATA[{h.get("changelog", "")}]]></changelog>')
        lines.append(f'        <source main="main">{escape(base_url + path.name)}</source>')
        for provided in h.get("provides", "").split():
            if provided.startswith("["):
                continue
            lines.append(f'        <source file={quoteattr(provided)}>{escape(base_url + provided)}</source>')
        lines += ["      </version>", "    </reapack>"]
    lines += ["  </category>", "</index>", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    (SCRIPTS_DIR / "index.xml").write_text(index_xml(), encoding="utf-8")
    sys.exit(0)
