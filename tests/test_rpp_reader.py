"""The .rpp -> Session reader, on REAPER-written fixtures and on hand-written chunks for each rule."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from rpp_helpers import FIXTURES, TrackSpec, project_text

from reaper_automix.errors import ProjectParseError
from reaper_automix.rpp.document import parse_document
from reaper_automix.rpp.edit import track_chunks
from reaper_automix.rpp.reader import load_session, session_from_document
from reaper_automix.session import FadeShape, SourceKind

PROJECT = Path("/music/song/song.rpp")


def _session(tracks, header=None):
    return session_from_document(parse_document(project_text(tracks, header=header)), PROJECT)


def _item(*lines: str) -> list[str]:
    return ["<ITEM", *("  " + line for line in lines), ">"]


# --- fixtures -----------------------------------------------------------------------------------------------
def test_exvertus():
    path = FIXTURES / "exvertus_test_track.rpp"
    session, doc = load_session(path)
    text = path.read_text()
    assert session.sample_rate == 44100 and session.path == path
    assert [t.name for t in session.tracks] == ["NB loop", "Kick", "Sidechained Bus", "Scratch"]
    items = [i for t in session.tracks for i in t.items]
    flac = [i for i in items if i.take and i.take.source.source_type == "FLAC"]
    midi = [i for i in items if i.take and i.take.source.kind is SourceKind.MIDI]
    assert len(flac) == len(re.findall(r"<SOURCE FLAC", text)) == 57
    assert len(midi) == len(re.findall(r"<SOURCE MIDI", text)) == 44
    assert {i.take.source.file for i in flac} == {FIXTURES / "audio" / "02 - Just Between Us.flac"}
    assert all(i.is_audio for i in flac) and session.tracks[0].has_audio and session.tracks[1].is_midi_only
    # positions and offsets, against a plain scan of the first track's text
    first_track = text[text.index("<TRACK") : text.index("<TRACK", text.index("<TRACK") + 1)]
    positions = [float(x) for x in re.findall(r"\n +POSITION (\S+)", first_track)]
    offsets = [float(x) for x in re.findall(r"\n +SOFFS (\S+)", first_track)]
    assert [i.position_s for i in session.tracks[0].items] == positions
    assert [i.take.start_offset_s for i in session.tracks[0].items] == offsets
    assert session.tracks[1].volume == pytest.approx(0.8781896667659)
    assert [t.guid for t in session.tracks] == [c.tokens[1] for c in track_chunks(doc)]
    assert [t.index for t in session.tracks] == [0, 1, 2, 3]
    # auto-crossfade lengths (FADEIN 1.1 0 0.005566 ...) win over the zero manual length
    lengths = {round(i.fade_in.length_s, 6) for i in flac}
    assert {0.0, 0.005566, 0.004453}.issubset(lengths)


def test_perlence_folder_and_sources():
    session, _ = load_session(FIXTURES / "perlence-rpp_vst.RPP")
    assert len(session.tracks) == 10
    assert session.parents() == [None, None, None, 2, None, None, None, None, None, None]
    assert [t.folder_depth for t in session.tracks[2:4]] == [1, -1]
    assert session.tracks[2].is_folder and [t.name for t in session.children(2)] == ["Boop"]
    assert session.tracks[0].items[0].take.source.kind is SourceKind.MIDI
    assert session.tracks[2].items[0].take.source.kind is SourceKind.CLICK
    assert session.tracks[1].items[0].take is None  # an item with only notes: no take
    assert [t.name for t in session.tracks[5:]] == ['"hey', 'hey"', "<", ">", "<>"]
    assert session.tracks[0].name == "5.50"  # not the number 5.5
    assert session.tracks[0].items[0].loop and session.tracks[0].items[0].length_s == 2


def test_vst_chunk_inspector_has_one_empty_track():
    session, _ = load_session(FIXTURES / "vst-chunk-inspector_simple.RPP")
    assert [(t.name, t.items) for t in session.tracks] == [("", ())]


# --- folders ------------------------------------------------------------------------------------------------
def test_nested_folders_and_a_track_closing_several_levels():
    depths = [1, 0, 1, 1, 0, -3, 0, 1, -1]
    session = _session([TrackSpec(f"t{i}", d) for i, d in enumerate(depths)])
    assert [t.folder_depth for t in session.tracks] == depths
    assert session.parents() == [None, 0, 0, 2, 3, 3, None, None, 7]


# --- items and takes ----------------------------------------------------------------------------------------
def test_item_fields_and_first_take():
    item = _item(
        "POSITION 1.5", "LENGTH 2.25", "LOOP 0", "FADEIN 2 0.1 0 1 0 0.5 0", "FADEOUT 5 0.2 0.3 1 1 -0.25 0",
        "MUTE 1 0", "NAME \"take one\"", "VOLPAN 0.5 -0.3 -0.8 -1", "SOFFS 3.5", "PLAYRATE 1.5 0 0 -1 0 0.0025",
        "<SOURCE WAVE", '  FILE "audio\\kick in.wav"', ">",
    )
    (it,) = _session([TrackSpec(body=item)]).tracks[0].items
    assert (it.position_s, it.length_s, it.end_s, it.loop, it.mute, it.volume) == (1.5, 2.25, 3.75, False, True, 0.5)
    assert (it.fade_in.length_s, it.fade_in.shape, it.fade_in.curve) == (0.1, FadeShape.FAST_END, 0.5)
    assert (it.fade_out.length_s, it.fade_out.shape, it.fade_out.curve) == (0.3, FadeShape.SLOW_START_END, -0.25)
    take = it.take
    assert (take.name, take.volume, take.pan, take.start_offset_s) == ("take one", -0.8, -0.3, 3.5)
    assert (take.playrate, take.preserve_pitch) == (1.5, False)
    assert take.source.file == Path("/music/song/audio/kick in.wav") and take.source.kind is SourceKind.AUDIO


def test_active_take_is_the_one_marked_sel():
    item = _item(
        "POSITION 0", "LENGTH 1", "NAME first", "VOLPAN 1 0 1 -1",
        "<SOURCE WAVE", '  FILE "a.wav"', ">",
        "TAKE", "NAME second", "TAKEVOLPAN 0 0.5 -1", "<SOURCE WAVE", '  FILE "b.wav"', ">",
        "TAKE SEL", "NAME third", "TAKEVOLPAN 0.25 -0.7 -1", "SOFFS 2", "<SOURCE FLAC", '  FILE "c.flac"', ">",
    )
    take = _session([TrackSpec(body=item)]).tracks[0].items[0].take
    assert (take.name, take.pan, take.volume, take.start_offset_s) == ("third", 0.25, -0.7, 2.0)
    assert take.source.file == Path("/music/song/c.flac")
    unmarked = [line.replace("TAKE SEL", "TAKE") for line in item]
    assert _session([TrackSpec(body=unmarked)]).tracks[0].items[0].take.name == "first"
    null = [line.replace("TAKE SEL", "TAKE NULL SEL") for line in item]
    assert _session([TrackSpec(body=null)]).tracks[0].items[0].take is None


@pytest.mark.parametrize(
    "source,kind,file",
    [
        (["<SOURCE MP3", '  FILE "/abs/x.mp3"', ">"], SourceKind.AUDIO, Path("/abs/x.mp3")),
        (["<SOURCE VORBIS", '  FILE "../common/x.ogg"', ">"], SourceKind.AUDIO, Path("/music/common/x.ogg")),
        (["<SOURCE _OFFLINE_WAVE", '  FILE "gone.wav"', ">"], SourceKind.AUDIO, Path("/music/song/gone.wav")),
        (["<SOURCE WAVE", '  FILE "C:\\Users\\me\\x.wav"', ">"], SourceKind.AUDIO, Path("C:\\Users\\me\\x.wav")),
        (["<SOURCE EMPTY", ">"], SourceKind.EMPTY, None),
        (["<SOURCE VIDEO", '  FILE "clip.mp4"', ">"], SourceKind.VIDEO, Path("/music/song/clip.mp4")),
        (["<SOURCE RPP_PROJECT", '  FILE "sub.rpp"', ">"], SourceKind.OTHER, Path("/music/song/sub.rpp")),
        (["<SOURCE CLICK", "  BPM 120", ">"], SourceKind.CLICK, None),
    ],
)
def test_source_kinds_and_paths(source, kind, file):
    item = _item("POSITION 0", "LENGTH 1", "NAME t", "VOLPAN 1 0 1 -1", *source)
    src = _session([TrackSpec(body=item)]).tracks[0].items[0].take.source
    assert (src.kind, src.file) == (kind, file)


def test_section_source_is_flattened():
    section = ["<SOURCE SECTION", "  LENGTH 4", "  MODE 2", "  STARTPOS 1.5", "  OVERLAP 0.01",
               "  <SOURCE FLAC", '    FILE "a.flac"', "  >", ">"]
    item = _item("POSITION 0", "LENGTH 1", "NAME t", "VOLPAN 1 0 1 -1", *section)
    src = _session([TrackSpec(body=item)]).tracks[0].items[0].take.source
    assert (src.kind, src.source_type, src.file) == (SourceKind.AUDIO, "FLAC", Path("/music/song/a.flac"))
    assert (src.section_start_s, src.section_length_s, src.reversed) == (1.5, 4.0, True)
    reverse_only = [line.replace("MODE 2", "MODE 3") for line in item]
    src = _session([TrackSpec(body=reverse_only)]).tracks[0].items[0].take.source
    assert (src.section_start_s, src.section_length_s, src.reversed) == (0.0, None, True)
    plain = [line.replace("MODE 2", "MODE 0") for line in item]
    assert _session([TrackSpec(body=plain)]).tracks[0].items[0].take.source.reversed is False


def test_track_fields_and_ext():
    spec = TrackSpec("Lead", volume="0.5", pan="-0.25", body=["<EXT", "  automix_role lead", ">"])
    session = _session([spec], header=["RIPPLE 0"])
    track = session.tracks[0]
    assert (track.volume, track.pan, track.mute, track.n_channels) == (0.5, -0.25, False, 2)
    assert track.ext == {"automix_role": "lead"}
    assert session.sample_rate == 44100  # no SAMPLERATE line: the documented default
    assert _session([spec]).sample_rate == 48000


def test_bad_numbers_name_the_line():
    text = project_text([TrackSpec(body=_item("POSITION soon", "LENGTH 1"))])
    line = text.split("\n").index("      POSITION soon") + 1
    with pytest.raises(ProjectParseError) as info:
        session_from_document(parse_document(text, "song.rpp"), "song.rpp")
    assert info.value.line == line and "POSITION" in str(info.value)


def test_audio_source_without_file_is_an_error():
    item = _item("POSITION 0", "LENGTH 1", "NAME t", "VOLPAN 1 0 1 -1", "<SOURCE WAVE", ">")
    with pytest.raises(ProjectParseError, match="no FILE"):
        _session([TrackSpec(body=item)])
