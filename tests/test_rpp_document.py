"""The lossless .rpp tree: byte-exact round trips, navigation, line edits, malformed input, atomic writes."""

from __future__ import annotations

import os
import stat

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rpp_helpers import FIXTURES, TrackSpec, fixture_paths, project_lines, project_text

from reaper_automix.errors import AutomixError, ProjectParseError
from reaper_automix.rpp.document import (
    Chunk,
    Line,
    parse_document,
    parse_fragment,
    read_document,
    write_document,
)


# --- round trips --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", fixture_paths(), ids=lambda p: p.name)
def test_fixture_round_trip_is_byte_identical(path):
    data = path.read_bytes()
    doc = parse_document(data, path)
    assert doc.to_bytes() == data
    # every input line is one node line, in order
    n_lines = data.count(b"\n") + (not data.endswith(b"\n"))
    assert [line.lineno for line in doc.iter_lines()] == list(range(1, n_lines + 1))


def test_all_three_fixtures_are_present():
    assert {p.name for p in fixture_paths()} >= {
        "perlence-rpp_vst.RPP", "exvertus_test_track.rpp", "vst-chunk-inspector_simple.RPP"
    }


def test_name_lines_with_angle_brackets_are_not_chunk_delimiters():
    doc = read_document(FIXTURES / "perlence-rpp_vst.RPP")
    tracks = doc.root.chunks("TRACK")
    assert len(tracks) == 10
    names = [t.find_line("NAME").tokens[1] for t in tracks]
    assert names[7:] == ["<", ">", "<>"]
    for track in tracks[7:]:
        assert track.chunks() == []  # NAME < / NAME > / NAME <> opened or closed nothing
        assert track.find_line("MAINSEND") is not None


def test_raw_data_lines_stay_inside_their_chunks():
    doc = read_document(FIXTURES / "perlence-rpp_vst.RPP")
    synth = doc.root.chunks("TRACK")[1]
    notes = synth.find_chunk("ITEM").find_chunk("NOTES")
    assert [line.content for line in notes.lines()][:3] == ["|beep  boop", "|", "|hello world"]
    assert notes.lines()[3].content.endswith("[\\]^_`{|}~")  # holds < > and quotes, still one raw line
    vst = synth.find_chunk("FXCHAIN").find_chunk("VST")
    assert vst.tokens[:3] == ["VST", "VSTi: ReaSynth (Cockos)", "reasynth.dll"]
    assert len(vst.lines()) == 3 and vst.children == vst.lines()  # base64 lines, no sub-chunks
    midi = doc.root.chunks("TRACK")[0].find_chunk("ITEM").find_chunk("SOURCE")
    assert midi.tokens == ["SOURCE", "MIDI"]
    assert [line.key for line in midi.lines()].count("E") == 7


def test_navigation():
    doc = read_document(FIXTURES / "exvertus_test_track.rpp")
    assert doc.root.tag == "REAPER_PROJECT"
    assert doc.root.find_line("SAMPLERATE").tokens == ["SAMPLERATE", "44100", "0", "0"]
    assert doc.root.find_line("NO_SUCH_KEY") is None
    kick = doc.root.chunks("TRACK")[1]
    assert kick.depth == 1 and kick.document is doc
    assert len(kick.chunks("ITEM")) == 44
    assert all(isinstance(c, Chunk) for c in kick.chunks())
    assert all(line.key == "NAME" for line in kick.lines("NAME"))


# --- generated projects -------------------------------------------------------------------------------------
_LINE_ENDINGS = st.sampled_from(["\n", "\r\n"])
# anything a track name can hold: no line breaks, no NUL, no lone surrogates (not encodable in UTF-8)
_NAME_CHARS = st.characters(exclude_characters="\r\n\x00", exclude_categories=["Cs"])


@st.composite
def raw_projects(draw):
    """Project text with per-line random endings, BOM, indentation, raw data and a missing final newline."""
    specs = [
        TrackSpec(
            name=draw(st.text(alphabet=_NAME_CHARS, max_size=12)),
            body=draw(st.sampled_from([
                [],
                ["<NOTES", "  |a <note> with > inside", "  |", ">"],
                ["<FXCHAIN", "  BYPASS 0 0 0", '  <JS loser/3BandEQ ""', "    0 200 0 - - ", "  >", ">"],
                ["<ITEM", "  <SOURCE MIDI", "    E 0 90 3c 0a", "    e 960 80 3c 00", "  >", ">"],
            ])),
        )
        for _ in range(draw(st.integers(0, 4)))
    ]
    lines = project_lines(specs)
    indents = st.sampled_from(["", " ", "\t", "      "])
    indent_changes = draw(st.lists(indents, min_size=len(lines), max_size=len(lines)))
    lines = [ind + line.lstrip(" ") if ind else line for line, ind in zip(lines, indent_changes)]
    endings = draw(st.lists(_LINE_ENDINGS, min_size=len(lines), max_size=len(lines)))
    text = "".join(line + end for line, end in zip(lines, endings))
    if draw(st.booleans()):
        text = text.rstrip("\r\n")
    bom = draw(st.booleans())
    return (b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8")


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(raw_projects())
def test_generated_projects_round_trip_byte_identical(data):
    assert parse_document(data).to_bytes() == data


_HOSTILE = st.lists(
    st.one_of(
        st.sampled_from(list("\"'`<>|{} \t") + ["5.50", "-1", "0x1F", "1e3", "é", "日本", "\u2028", "\x0c", "🎸"]),
        _NAME_CHARS,
    ),
    max_size=20,
).map("".join)


def _expected_name(name: str) -> str:
    # A token must be quoted when empty, holding a space or tab, or starting with a quote character. REAPER
    # has no escapes, so a quoted string cannot hold all three quote characters: it turns backticks into '.
    needs_quotes = name == "" or " " in name or "\t" in name or name[0] in "\"'`"
    return name.replace("`", "'") if needs_quotes and all(q in name for q in "\"'`") else name


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_HOSTILE, min_size=1, max_size=5), _LINE_ENDINGS)
def test_hostile_track_names_read_back(names, newline):
    text = project_text([TrackSpec(name=n) for n in names], newline)
    data = text.encode("utf-8")
    doc = parse_document(data)
    assert doc.to_bytes() == data
    tracks = doc.root.chunks("TRACK")
    assert [t.find_line("NAME").tokens[1] for t in tracks] == [_expected_name(n) for n in names]
    assert [len(t.lines()) for t in tracks] == [7] * len(names)


# --- line edits ---------------------------------------------------------------------------------------------
def test_set_tokens_rewrites_one_line_keeping_indent_and_ending():
    data = (FIXTURES / "perlence-rpp_vst.RPP").read_bytes()
    doc = parse_document(data)
    line = doc.root.chunks("TRACK")[0].find_line("NAME")
    line.set_tokens(["NAME", "Lead vox"])
    assert line.raw == '    NAME "Lead vox"' and line.ending == "\r\n"
    assert doc.to_bytes() == data.replace(b"    NAME 5.50\r\n", b'    NAME "Lead vox"\r\n', 1)


def test_inserted_nodes_get_depth_indentation_and_dominant_line_ending():
    doc = parse_document(project_text([TrackSpec()], "\r\n") + "\n")  # mostly CRLF, one LF at the end
    assert doc.newline == "\r\n"
    track = doc.root.chunks("TRACK")[0]
    chunk = Chunk.new(["EXT"], [Line("a 1")])
    track.insert(0, chunk)
    assert chunk.text() == "    <EXT\r\n      a 1\r\n    >\r\n"
    reparsed = parse_document(doc.to_bytes())
    assert reparsed.root.chunks("TRACK")[0].find_chunk("EXT").find_line("a").tokens == ["a", "1"]


def test_parse_fragment():
    nodes = parse_fragment('BYPASS 0 0 0\n<JS foo ""\n  1 2 -\n>\nWAK 0 0\n')
    assert [type(n).__name__ for n in nodes] == ["Line", "Chunk", "Line"]
    assert nodes[1].tokens == ["JS", "foo", ""]
    with pytest.raises(ProjectParseError, match="stray"):
        parse_fragment("A\n>\n")
    with pytest.raises(ProjectParseError, match="never closed"):
        parse_fragment("<VST x\n  abc\n")


# --- malformed input ----------------------------------------------------------------------------------------
def _error(data: bytes, path="p.rpp") -> ProjectParseError:
    with pytest.raises(ProjectParseError) as info:
        parse_document(data, path)
    assert isinstance(info.value, AutomixError)
    assert str(info.value).startswith(f"p.rpp: line {info.value.line}:")
    return info.value


@pytest.mark.parametrize("data", [b"", b"\n\r\n  \n"])
def test_empty_file(data):
    err = _error(data)
    assert err.line == 1 and "empty" in str(err)


def test_not_a_reaper_project():
    err = _error(b"\n<RENDER_CFG\n>\n")
    assert err.line == 2 and "<REAPER_PROJECT" in str(err)
    assert _error(b"hello world\n").line == 1


def test_non_utf8_names_the_line():
    data = bytearray(project_text([TrackSpec(name="abc")]).encode())
    at = data.index(b"abc")
    data[at] = 0xE9  # latin-1 "é"
    err = _error(bytes(data))
    assert err.line == data[:at].count(b"\n") + 1 and "UTF-8" in str(err)


def test_binary_content():
    err = _error(b"<REAPER_PROJECT 0.1\n  A 1\n\x00\x01\x02\n>\n")
    assert err.line == 3 and "binary" in str(err)


def test_file_cut_in_the_middle():
    data = (FIXTURES / "exvertus_test_track.rpp").read_bytes()
    lines = data.split(b"\n")
    full = parse_document(data)

    def enclosing(chunk, line_no):  # the chunks of the full file that are open at line_no, outermost first
        inner = [c for c in chunk.chunks() if c.open.lineno <= line_no < c.close.lineno]
        return [chunk] + (enclosing(inner[0], line_no) if inner else [])

    for cut_line in (1200, 1751, 3000):  # inside items, at a MIDI source's opening line
        err = _error(b"\n".join(lines[:cut_line]) + b"\n")
        assert err.line == cut_line and "never closed" in str(err)
        opened = enclosing(full.root, cut_line)
        assert f"<{opened[-1].tag} opened at line {opened[-1].open.lineno} is never closed" in str(err)
        assert all(f"<{c.tag} (line {c.open.lineno})" in str(err) for c in opened)
    err = _error(b"\n".join(lines[:1200]) + b"\n    LENGTH 3.7")  # cut mid-line, no final newline
    assert err.line == 1201


def test_stray_closing_line_is_located():
    lines = project_text([TrackSpec(name="a"), TrackSpec(name="b")]).split("\n")
    at = lines.index("    NCHAN 2")
    lines.insert(at, "    >")
    err = _error("\n".join(lines).encode())
    assert err.line == at + 1 and "'>'" in str(err)


def test_stray_closing_line_after_the_project():
    err = _error((project_text([TrackSpec()]) + ">\n").encode())
    assert "stray '>'" in str(err) and err.line == project_text([TrackSpec()]).count("\n") + 1


def test_missing_closing_line_is_located_by_indentation():
    lines = project_text([TrackSpec(body=["<ITEM", "  POSITION 0", ">"]), TrackSpec()]).split("\n")
    item_close = lines.index("    >")
    del lines[item_close]
    err = _error("\n".join(lines).encode())
    assert err.line == item_close + 1  # the track's '>' (now at the item's place) closes <ITEM
    assert "<ITEM" in str(err)


# --- files --------------------------------------------------------------------------------------------------
def test_write_document_is_atomic_and_refuses_to_overwrite(tmp_path):
    source = FIXTURES / "perlence-rpp_vst.RPP"
    doc = read_document(source)
    out = tmp_path / "out.rpp"
    write_document(doc, out)
    assert out.read_bytes() == source.read_bytes()
    doc.root.chunks("TRACK")[0].find_line("NAME").set_tokens(["NAME", "x"])
    with pytest.raises(AutomixError, match="refusing to overwrite"):
        write_document(doc, out)
    assert out.read_bytes() == source.read_bytes()
    os.chmod(out, 0o640)
    write_document(doc, out, overwrite=True)
    assert out.read_bytes() == doc.to_bytes() != source.read_bytes()
    assert stat.S_IMODE(out.stat().st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.rpp"]  # no temporary files left


def test_read_missing_file(tmp_path):
    with pytest.raises(AutomixError, match="cannot read"):
        read_document(tmp_path / "nope.rpp")


def test_write_into_missing_folder(tmp_path):
    doc = read_document(FIXTURES / "perlence-rpp_vst.RPP")
    with pytest.raises(AutomixError, match="cannot write"):
        write_document(doc, tmp_path / "no" / "such" / "x.rpp")
