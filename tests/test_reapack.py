"""The ReaPack index: valid against the rules of ReaPack's index parser (index v1: ``index_v1.cpp``,
``version.cpp``, ``source.cpp``) and reapack-index's header rules, one package that provides every script
once, and current: pinned to a commit of this history whose scripts are byte-identical to the tree's."""

from __future__ import annotations

import re
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from reaper_automix import __version__
from reaper_automix.live.install import action_scripts, script_files
from reaper_automix.live.reapack import (INDEX_NAME, METAPACKAGE, PLATFORMS, REPO_ROOT, SCRIPTS_DIR, TYPES,
                                         headers, index_xml, markdown_to_rtf, parse_provides)

INDEX = REPO_ROOT / "index.xml"
SECTIONS = {"main", "midi_editor", "midi_inline_editor", "true"}  # Source::getSection
LINK_TYPES = {"website", "screenshot", "donation"}


def version_segments(name: str) -> list:
    """ReaPack's VersionName::parse: digit runs and letter runs; it must start with a number."""
    segments = re.findall(r"\d+|[a-zA-Z]+", name)
    if not segments or not segments[0].isdigit():
        raise ValueError(f"invalid version name {name!r}")
    return segments


def check_metadata(node: ET.Element) -> None:
    description = node.find("description")
    assert description is not None and description.text.startswith("{\\rtf")
    depth = 0
    for c in re.sub(r"\\[{}\\]", "", description.text):  # RTF groups balance (escaped braces aside)
        depth += {"{": 1, "}": -1}.get(c, 0)
        assert depth >= 0
    assert depth == 0
    for link in node.findall("link"):
        assert link.get("rel") in LINK_TYPES and re.match(r"https?://", link.get("href") or link.text)


def test_index_follows_reapacks_format_rules():
    root = ET.parse(INDEX).getroot()
    assert root.tag == "index" and root.get("version") == "1" and root.get("name") == INDEX_NAME
    commit = root.get("commit")
    assert re.fullmatch(r"[0-9a-f]{40}", commit)
    packages = [(c, p) for c in root.findall("category") for p in c.findall("reapack")]
    assert len(packages) == 1, "one package: ReaPack lets only one package own a file"
    category, package = packages[0]
    assert category.get("name") and package.get("name") and package.get("desc")
    assert package.get("type") in TYPES
    (version,) = package.findall("version")
    assert version.get("name") == __version__ and version_segments(version.get("name"))
    assert version.get("author")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", version.get("time"))
    targets = set()
    for source in version.findall("source"):
        url = source.text
        assert url.startswith("https://") and f"/raw/{commit}/{category.get('name')}/{source.get('file')}" in url
        assert source.get("platform", "all") in PLATFORMS
        assert set((source.get("main") or "").split()) <= SECTIONS
        target = Path("Scripts", root.get("name"), category.get("name"), source.get("file"))
        assert ".." not in target.parts and target not in targets  # Version::addSource drops a repeated file
        targets.add(target)
    mains = {s.get("file") for s in version.findall("source") if "main" in (s.get("main") or "").split()}
    assert mains == {p.name for p, _ in action_scripts()}  # every action is registered, once, by ReaPack
    assert {t.name for t in targets} == {p.name for p in script_files()}  # and every file REAPER runs comes along
    check_metadata(package.find("metadata"))
    check_metadata(root.find("metadata"))


def _git(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", str(REPO_ROOT), *args], capture_output=True)


def test_index_is_current_and_pinned_to_this_history():
    commit = ET.parse(INDEX).getroot().get("commit")
    if _git("rev-parse", "--git-dir").returncode != 0:
        pytest.skip("not a git checkout")
    if _git("cat-file", "-e", f"{commit}^{{commit}}").returncode != 0:
        if _git("rev-parse", "--is-shallow-repository").stdout.strip() == b"true":
            pytest.skip("shallow clone: the pinned commit is not fetched")
        pytest.fail(f"index.xml pins {commit}, which is not in this repository: run python -m "
                    "reaper_automix.live.reapack")
    assert _git("merge-base", "--is-ancestor", commit, "HEAD").returncode == 0, "pinned commit not in HEAD's history"
    for path in script_files():
        committed = _git("show", f"{commit}:{path.relative_to(REPO_ROOT).as_posix()}").stdout
        assert committed == path.read_bytes(), f"{path.name} changed since {commit[:12]}: regenerate index.xml"
    time = _git("show", "-s", "--format=%cI", commit).stdout.decode().strip()
    stamp = ET.parse(INDEX).getroot().find("category/reapack/version").get("time")
    from datetime import datetime, timezone

    assert datetime.fromisoformat(time).astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") == stamp
    assert INDEX.read_text(encoding="utf-8") == index_xml(commit, stamp)


def test_metapackage_header_follows_reapack_index_rules():
    h = headers(METAPACKAGE)
    assert "metapackage" in h and h["version"] == __version__ and re.match(r"\A\d", h["version"])
    assert "\n" not in h["version"] and "\n" not in h["author"]
    provided = parse_provides(h["provides"])
    assert len({p.file for p in provided}) == len(provided)
    assert all((SCRIPTS_DIR / p.file).is_file() for p in provided)
    for script in script_files():  # the scripts are not packages of their own
        assert "noindex" in headers(script)


def test_provides_options_and_multiline_headers(tmp_path):
    assert parse_provides("[main] a.py\n  [nomain windows] b.py\nc.py") == [
        parse_provides("[main] a.py")[0], parse_provides("[windows] b.py")[0], parse_provides("c.py")[0]]
    assert parse_provides("[main] a.py")[0].main and parse_provides("[windows] b.py")[0].platform == "windows"
    with pytest.raises(ValueError, match="unknown @provides option"):
        parse_provides("[sideways] a.py")
    f = tmp_path / "s.py"
    f.write_text("# @version 1.0\n# @about\n#   # Title\n#\n#   text\n#   more\n# @author me\nimport x\n# @no x\n")
    assert headers(f) == {"version": "1.0", "about": "# Title\n\ntext\nmore", "author": "me"}


def test_about_becomes_rtf_with_escapes():
    rtf = markdown_to_rtf("# Head\n\nbraces {x} and back\\slash, caf\u00e9\n\n- one\n- two")
    assert rtf.startswith("{\\rtf1") and rtf.endswith("}")
    assert "\\{x\\}" in rtf and "back\\\\slash" in rtf and "caf\\u233?" in rtf and rtf.count("\\bullet") == 2
