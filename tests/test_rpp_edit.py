"""Tree edits: each changes only the lines it must, and folder edits keep every other track's place."""

from __future__ import annotations

import difflib
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rpp_helpers import FIXTURES, TrackSpec, project_text

from reaper_automix import operations
from reaper_automix.errors import AutomixError
from reaper_automix.rpp.apply import execute
from reaper_automix.rpp.document import parse_document, read_document
from reaper_automix.rpp.edit import (
    add_fx,
    get_track_ext,
    insert_track,
    remove_fx,
    set_folder_depth,
    set_take_volume,
    set_track_ext,
    set_track_pan,
    set_track_volume,
    track_chunks,
)
from reaper_automix.rpp.reader import session_from_document

PERLENCE = FIXTURES / "perlence-rpp_vst.RPP"
EXVERTUS = FIXTURES / "exvertus_test_track.rpp"
INSPECTOR = FIXTURES / "vst-chunk-inspector_simple.RPP"

REACOMP_BLOCK = """BYPASS 0 0 0
<VST "VST: ReaComp (Cockos)" reacomp.dll 0 "" 1919247213<5653547265636D726561636F6D700000> ""
  bWNlcu9e7f4EAAAAAQAAAAAAAAACAAAAAAAAAAQAAAAAAAAACAAAAAAAAAACAAAAAQAAAAAAAAACAAAAAAAAAFQAAAAAAAAAAAAQAA==
  AAAQAAAA
>
FLOATPOS 0 0 0 0
FXID {11111111-2222-3333-4444-555555555555}
WAK 0 0
"""


def _diff(before: bytes, after: bytes) -> list[str]:
    """Changed lines, as difflib's '-'/'+' lines (line endings kept, so CRLF changes show)."""
    a = before.decode().splitlines(keepends=True)
    b = after.decode().splitlines(keepends=True)
    return [d for d in difflib.ndiff(a, b) if d[:2] in ("- ", "+ ")]


# --- volume and pan -----------------------------------------------------------------------------------------
def test_set_track_volume_changes_exactly_one_line():
    before = EXVERTUS.read_bytes()
    doc = parse_document(before)
    set_track_volume(track_chunks(doc)[1], 0.5)
    diff = _diff(before, doc.to_bytes())
    assert diff == ["-     VOLPAN 0.8781896667659 0 -1 -1 1\n", "+     VOLPAN 0.5 0 -1 -1 1\n"]
    session = session_from_document(doc, EXVERTUS)
    assert session.tracks[1].volume == 0.5 and session.tracks[0].volume == 1.0


def test_set_track_pan_and_volume_keeps_the_rest_of_the_line_and_crlf():
    before = PERLENCE.read_bytes()
    doc = parse_document(before)
    set_track_volume(track_chunks(doc)[4], 1.4125375446228)
    set_track_pan(track_chunks(doc)[4], -0.25)
    assert _diff(before, doc.to_bytes()) == [
        "-     VOLPAN 1 0 -1 -1 1\r\n", "+     VOLPAN 1.4125375446228 -0.25 -1 -1 1\r\n"
    ]
    track = session_from_document(doc, PERLENCE).tracks[4]
    assert (track.volume, track.pan) == (1.4125375446228, -0.25)


@pytest.mark.parametrize("setter, value", [("volume", -1.0), ("volume", float("nan")), ("pan", 1.5)])
def test_set_track_volume_pan_rejects_bad_values(setter, value):
    doc = read_document(PERLENCE)
    with pytest.raises(ValueError):
        {"volume": set_track_volume, "pan": set_track_pan}[setter](track_chunks(doc)[0], value)


def test_set_take_volume_keeps_polarity():
    text = project_text([TrackSpec(body=["<ITEM", "  POSITION 0", "  LENGTH 1", "  VOLPAN 0.9 0.1 -0.5 -1",
                                         "  <SOURCE WAVE", '    FILE "a.wav"', "  >", ">"])])
    doc = parse_document(text)
    item = track_chunks(doc)[0].find_chunk("ITEM")
    set_take_volume(item, 2.0)
    assert item.find_line("VOLPAN").content == "VOLPAN 0.9 0.1 -2 -1"
    take = session_from_document(doc, "/p/x.rpp").tracks[0].items[0].take
    assert take.volume == -2.0 and take.pan == 0.1
    set_take_volume(item, 0.25, keep_polarity=False)
    assert item.find_line("VOLPAN").content == "VOLPAN 0.9 0.1 0.25 -1"
    with pytest.raises(ValueError):
        set_take_volume(item, -1.0)


# --- tracks -------------------------------------------------------------------------------------------------
def test_insert_track_only_inserts_lines_in_the_documents_style():
    before = PERLENCE.read_bytes()
    doc = parse_document(before)
    chunk = insert_track(doc, 2, 'Bus "Drums"')
    after = doc.to_bytes()
    diff = _diff(before, after)
    assert all(d.startswith("+ ") and d.endswith("\r\n") for d in diff)  # insertions only, all CRLF
    assert diff[0] == f"+   <TRACK {chunk.tokens[1]}\r\n" and diff[-1] == "+   >\r\n"
    guid = chunk.tokens[1]
    assert re.fullmatch(r"\{[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}\}", guid)
    assert chunk.find_line("TRACKID").tokens == ["TRACKID", guid]
    reread = session_from_document(parse_document(after), PERLENCE)
    assert [t.name for t in reread.tracks][:4] == ["5.50", "Synth", 'Bus "Drums"', "|Beep Boop"]
    assert reread.tracks[2].guid == guid and reread.tracks[2].folder_depth == 0
    assert reread.tracks[2].items == () and reread.tracks[2].volume == 1.0


def test_insert_track_at_the_end_and_into_an_empty_project():
    doc = read_document(EXVERTUS)
    insert_track(doc, 4, "last", guid="{AAAAAAAA-0000-0000-0000-000000000000}")
    root_tags = [c.tag for c in doc.root.chunks()]
    assert root_tags[-2:] == ["TRACK", "EXTENSIONS"]  # after the last track, before <EXTENSIONS
    assert track_chunks(doc)[4].tokens[1] == "{AAAAAAAA-0000-0000-0000-000000000000}"
    empty = parse_document(project_text([]))
    insert_track(empty, 0, "first")
    assert [t.name for t in session_from_document(empty, "/x.rpp").tracks] == ["first"]
    with pytest.raises(IndexError):
        insert_track(empty, 5, "x")
    with pytest.raises(ValueError):
        insert_track(empty, 0, "two\nlines")


def test_set_folder_depth_writes_isbus_like_reaper():
    doc = parse_document(project_text([TrackSpec()]))
    track = track_chunks(doc)[0]
    for depth, content in [(1, "ISBUS 1 1"), (-3, "ISBUS 2 -3"), (0, "ISBUS 0 0")]:
        set_folder_depth(track, depth)
        assert track.find_line("ISBUS").content == content and get_folder_depth(track) == depth
    with pytest.raises(ValueError):
        set_folder_depth(track, 2)


# --- folders ------------------------------------------------------------------------------------------------
def get_folder_depth(track) -> int:
    """I_FOLDERDEPTH as written: field 2 of ``ISBUS``."""
    return int(track.find_line("ISBUS").tokens[2])


def wrap_in_folder(doc, first: int, last: int, name: str):
    """The resolver's folder wrap (:func:`reaper_automix.operations.wrap_in_folder`) carried out by the file
    executor; returns the new folder track."""
    session = session_from_document(doc, "/x.rpp")
    ops, _ = operations.wrap_in_folder(session, first, last, name, "new:0")
    execute(doc, session, (operations.Step("wrap", tuple(ops)),))
    return track_chunks(doc)[first]


def _parents(doc) -> list:
    return session_from_document(doc, "/x.rpp").parents()


def _expected_after_wrap(parents: list, first: int, last: int) -> list:
    """Parents after a folder is inserted at ``first`` around ``first..last``, from the parents before."""
    def moved(i):
        return None if i is None else (i if i < first else i + 1)
    result = [moved(p) for p in parents]
    for j in range(first, last + 1):
        if parents[j] == parents[first]:
            result[j] = first
    return result[:first] + [moved(parents[first])] + result[first:]


def test_wrap_top_level_tracks_in_a_folder():
    doc = read_document(PERLENCE)
    before = _parents(doc)
    folder = wrap_in_folder(doc, 0, 1, "Synths")
    assert _parents(doc) == _expected_after_wrap(before, 0, 1) == [None, 0, 0, None, 3] + [None] * 6
    assert get_folder_depth(folder) == 1 and get_folder_depth(track_chunks(doc)[2]) == -1


def test_wrap_the_last_track_of_a_folder_closes_one_more_level():
    doc = read_document(PERLENCE)
    before = _parents(doc)
    wrap_in_folder(doc, 3, 3, "inner")  # 'Boop' closes the '|Beep Boop' folder (ISBUS 2 -1)
    assert _parents(doc) == _expected_after_wrap(before, 3, 3)
    assert track_chunks(doc)[4].find_line("ISBUS").content == "ISBUS 2 -2"


def test_wrap_changes_only_the_last_tracks_isbus_besides_the_insertion():
    before = PERLENCE.read_bytes()
    doc = parse_document(before)
    wrap_in_folder(doc, 4, 6, "hey")
    removed = [d for d in _diff(before, doc.to_bytes()) if d.startswith("- ")]
    assert removed == ["-     ISBUS 0 0\r\n"]


def test_wrap_nested_folders_with_a_track_closing_several_levels():
    specs = [TrackSpec("A", 1), TrackSpec("B", 1), TrackSpec("c"), TrackSpec("d", -2), TrackSpec("e")]
    doc = parse_document(project_text(specs))
    before = _parents(doc)
    assert before == [None, 0, 1, 1, None]
    wrap_in_folder(doc, 2, 3, "inner")  # d closes B and A: now it must close three levels
    assert _parents(doc) == _expected_after_wrap(before, 2, 3) == [None, 0, 1, 2, 2, None]
    assert get_folder_depth(track_chunks(doc)[4]) == -3
    doc = parse_document(project_text(specs))
    wrap_in_folder(doc, 1, 3, "mid")  # B's whole subtree
    assert _parents(doc) == _expected_after_wrap(before, 1, 3)


@pytest.mark.parametrize("first,last", [(2, 4), (1, 2), (0, 1)])
def test_wrap_rejects_ranges_that_are_not_whole_siblings(first, last):
    specs = [TrackSpec("A", 1), TrackSpec("B", 1), TrackSpec("c"), TrackSpec("d", -2), TrackSpec("e")]
    data = project_text(specs).encode()
    doc = parse_document(data)
    with pytest.raises(AutomixError):
        wrap_in_folder(doc, first, last, "x")
    assert doc.to_bytes() == data


def _valid_range(parents: list, first: int, last: int) -> bool:
    """Whole sibling subtrees: the range's tracks hang off the first one's parent or off tracks in the range,
    and no track after the range hangs off one in it (an independent check from parents alone)."""
    inside = range(first, last + 1)
    if any(parents[j] != parents[first] and parents[j] not in inside for j in inside):
        return False
    return all(parents[j] not in inside for j in range(last + 1, len(parents)))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([0, 0, 1, 1, -1, -2, -3]), min_size=1, max_size=9), st.data())
def test_wrap_keeps_every_other_tracks_folder(depths, data):
    doc = parse_document(project_text([TrackSpec(f"t{i}", d) for i, d in enumerate(depths)]))
    before = _parents(doc)
    first = data.draw(st.integers(0, len(depths) - 1))
    last = data.draw(st.integers(first, len(depths) - 1))
    if _valid_range(before, first, last):
        wrap_in_folder(doc, first, last, "F")
        assert _parents(doc) == _expected_after_wrap(before, first, last)
    else:
        with pytest.raises(AutomixError):
            wrap_in_folder(doc, first, last, "F")


# --- FX -----------------------------------------------------------------------------------------------------
def test_add_fx_creates_a_chain_before_the_items():
    before = PERLENCE.read_bytes()
    doc = parse_document(before)
    track = track_chunks(doc)[2]  # '|Beep Boop': an item, no FX chain
    plugin = add_fx(track, REACOMP_BLOCK)
    assert plugin.tokens[:2] == ["VST", "VST: ReaComp (Cockos)"]
    chain = track.find_chunk("FXCHAIN")
    assert track.children.index(chain) == track.children.index(track.find_chunk("ITEM")) - 1
    assert [line.content for line in chain.lines()][:5] == [
        "WNDRECT 24 52 655 408", "SHOW 0", "LASTSEL 0", "DOCKED 0", "BYPASS 0 0 0"
    ]
    diff = _diff(before, doc.to_bytes())
    assert all(d.startswith("+ ") and d.endswith("\r\n") for d in diff)
    vst_line = REACOMP_BLOCK.split("\n")[1]
    assert f"+       {vst_line}\r\n" in diff  # re-indented for its depth, the text kept
    reparsed = parse_document(doc.to_bytes())
    assert reparsed.to_bytes() == doc.to_bytes()
    assert len(track_chunks(reparsed)[2].find_chunk("FXCHAIN").chunks("VST")) == 1


def test_add_fx_appends_to_an_existing_chain_and_remove_fx_takes_it_out():
    before = PERLENCE.read_bytes()
    doc = parse_document(before)
    track = track_chunks(doc)[0]
    added = add_fx(track, REACOMP_BLOCK)
    chain = track.find_chunk("FXCHAIN")
    assert [c.tokens[1] for c in chain.chunks()] == ["VST: ReaComp (Cockos)"] * 2
    assert chain.children[-1].key == "WAK"
    removed = remove_fx(track, lambda plugin: plugin is added)
    assert removed == 1 and doc.to_bytes() == before


def test_remove_fx_removes_whole_blocks_and_fixes_out_of_range_selection():
    before = INSPECTOR.read_bytes()
    doc = parse_document(before)
    track = track_chunks(doc)[0]
    assert remove_fx(track, lambda p: "ReaComp" in p.tokens[1]) == 3
    chain = track.find_chunk("FXCHAIN")
    assert len(chain.chunks("VST")) == 10 and len(chain.lines("BYPASS")) == 10
    assert chain.find_chunk("PROGRAMENV") is None  # part of the bypassed ReaComp's block
    assert chain.find_line("LASTSEL").content == "LASTSEL 0" and chain.find_line("SHOW").content == "SHOW 0"
    removed = [d for d in _diff(before, doc.to_bytes()) if d.startswith("- ")]
    added = [d for d in _diff(before, doc.to_bytes()) if d.startswith("+ ")]
    assert added == ["+       SHOW 0\r\n", "+       LASTSEL 0\r\n"]
    assert len(removed) == 2 + (155 - 117 + 1)  # SHOW/LASTSEL + lines 117..155 (three ReaComp blocks)
    assert remove_fx(track, lambda p: False) == 0


def test_add_fx_rejects_a_block_without_bypass_or_plugin():
    doc = read_document(PERLENCE)
    with pytest.raises(ValueError):
        add_fx(track_chunks(doc)[0], "<VST x\n>\n")
    with pytest.raises(ValueError):
        add_fx(track_chunks(doc)[0], "BYPASS 0 0 0\nWAK 0 0\n")


# --- extension data -----------------------------------------------------------------------------------------
def test_track_ext_round_trip():
    before = PERLENCE.read_bytes()
    doc = parse_document(before)
    track = track_chunks(doc)[0]
    assert get_track_ext(track) == {}
    set_track_ext(track, "automix_role", "group bus")
    set_track_ext(track, "automix_gain_db", "-3.5")
    set_track_ext(track, "automix_role", "stem")
    assert get_track_ext(track) == {"automix_role": "stem", "automix_gain_db": "-3.5"}
    ext = track.find_chunk("EXT")
    assert track.children.index(ext) == track.children.index(track.find_line("MIDIOUT")) - 1
    assert ext.text() == "    <EXT\r\n      automix_role stem\r\n      automix_gain_db -3.5\r\n    >\r\n"
    reread = session_from_document(parse_document(doc.to_bytes()), PERLENCE)
    assert reread.tracks[0].ext == {"automix_role": "stem", "automix_gain_db": "-3.5"}
    set_track_ext(track, "automix_role", "")
    set_track_ext(track, "automix_gain_db", "")
    assert doc.to_bytes() == before  # deleting every entry removes the chunk


def test_track_ext_reads_unquoted_values_with_spaces():
    doc = parse_document(project_text([TrackSpec(body=["<EXT", "  note hello big world", '  q "a b"', ">"])]))
    assert get_track_ext(track_chunks(doc)[0]) == {"note": "hello big world", "q": "a b"}
    with pytest.raises(ValueError):
        set_track_ext(track_chunks(doc)[0], "two words", "x")
