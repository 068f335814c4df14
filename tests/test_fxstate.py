"""ReaEQ / ReaComp states: byte-identical round trips on every REAPER-written state in the fixtures, the
reaper.md test vector, the FX block text, and the console <-> REAPER value mappings."""

from __future__ import annotations

import base64
import math
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from reaper_automix.console.params import ChannelParams, CompressorParams, EqParams
from reaper_automix.reaper.fxstate import (
    DEFAULT_REACOMP_PARAMS,
    LAYOUT_SECTIONS,
    LAYOUT_STREAM,
    REACOMP_HEADER,
    VstHeader,
    FxStateError,
    ReaCompState,
    ReaEqBand,
    ReaEqState,
    VstChunk,
    decode_fx_state,
    fx_block_lines,
)
from reaper_automix.reaper.mappings import (
    compressor_setting,
    eq_bands,
    pan_to_d_pan,
    plugin_file,
    reacomp_state,
    reaeq_state,
)
from reaper_automix.rpp.tokens import split_tokens

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "rpp"


def vst_blocks(plugin: str) -> list[tuple[str, int, list[str]]]:
    """(file, line, base64 lines) of every ``<VST`` block of ``plugin`` in the fixtures (simple local scan)."""
    found = []
    for path in sorted(FIXTURES.iterdir()):
        if path.suffix.lower() != ".rpp":
            continue
        lines = path.read_text(encoding="utf-8").splitlines()
        for i, line in enumerate(lines):
            if line.strip().startswith("<VST") and f"{plugin} (Cockos)" in line:
                j, body = i + 1, []
                while lines[j].strip() != ">":
                    body.append(lines[j].strip())
                    j += 1
                found.append((path.name, i + 1, body))
    return found


REAEQ_BLOCKS = vst_blocks("ReaEQ")
REACOMP_BLOCKS = vst_blocks("ReaComp")


def test_fixtures_hold_the_expected_states():
    assert len(REAEQ_BLOCKS) >= 1 and len(REACOMP_BLOCKS) >= 5


@pytest.mark.parametrize("where", REAEQ_BLOCKS + REACOMP_BLOCKS, ids=lambda w: f"{w[0]}:{w[1]}")
def test_decode_encode_is_byte_identical(where):
    _, _, lines = where
    state = decode_fx_state(lines)
    assert isinstance(state, (ReaEqState, ReaCompState))
    assert state.to_chunk().to_lines() == lines
    assert all(len(line) <= 128 for line in lines)


def test_reaper_md_test_vector_default_reaeq():
    (_, _, lines), = [b for b in REAEQ_BLOCKS if b[0] == "vst-chunk-inspector_simple.RPP"]
    header = base64.b64decode(lines[0])
    assert int.from_bytes(header[-12:-8], "little") == 168  # bodyLen
    state = decode_fx_state(lines)
    assert state.version == 33
    assert [(b.type, b.enabled, b.freq_hz, b.gain_linear, b.bandwidth_oct) for b in state.bands] == [
        (0, True, 100.0, 1.0, 2.0),
        (8, True, 300.0, 1.0, 2.0),
        (8, True, 1000.0, 1.0, 2.0),
        (1, True, 5000.0, 1.0, 2.0),
    ]
    ints = lambda data: [int.from_bytes(data[i : i + 4], "little") for i in range(0, len(data), 4)]  # noqa: E731
    assert ints(state.tail[:8]) == [1, 1] and state.master_gain_linear == 1.0
    assert ints(state.tail[16:]) == [0, 596, 368]


def test_default_reacomp_decodes_to_reaper_md_values():
    (_, _, lines), = [b for b in REACOMP_BLOCKS if b[0] == "vst-chunk-inspector_simple.RPP"][:1]
    state = decode_fx_state(lines)
    expected = [1.0, 0.0, 0.006, 0.02, 0, 0, 1.0, 0, 0, 0, 3.16e-8, 1.0, 0, 0.05, 0, 0, 0, 0.25, 0]
    assert state.params == pytest.approx(expected, rel=1e-3, abs=1e-9)
    assert list(DEFAULT_REACOMP_PARAMS) == state.params


def test_program_names_survive():
    names = {decode_fx_state(lines).program for _, _, lines in REACOMP_BLOCKS}
    assert "Program 1" in names and "" in names


finite = st.floats(-1e6, 1e6, allow_nan=False)


@settings(max_examples=60, deadline=None)
@given(
    bands=st.lists(
        st.builds(ReaEqBand, st.integers(0, 10), st.booleans(), finite, finite, finite, st.integers(0, 255)),
        max_size=12,
    ),
    program=st.text(alphabet=st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=40),
)
def test_reaeq_state_round_trip(bands, program):
    state = ReaEqState(bands, program=program)
    lines = state.to_chunk().to_lines()
    assert all(len(line) <= 128 for line in lines)
    assert decode_fx_state(lines) == state


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(-1e3, 1e3, width=32), min_size=19, max_size=21),
    st.sampled_from([0x00100000, 0]),
    st.sampled_from([LAYOUT_SECTIONS, LAYOUT_STREAM]),
    st.text(alphabet="abc -", max_size=200),
)
def test_reacomp_state_round_trip(params, end_word, layout, program):
    header = VstHeader(b"mcer", REACOMP_HEADER.magic, (1, 2, 4, 8), (1, 2, 4, 8), False, end_word)
    state = ReaCompState(params, header, program, layout)
    lines = state.to_chunk().to_lines()
    assert all(len(line) <= 128 for line in lines)
    decoded = decode_fx_state(lines)
    assert decoded.to_chunk().to_lines() == lines
    # A stream whose cut happens to fall on REAPER's section boundaries reads as REAPER's layout: same lines.
    assert decoded.params == state.params and decoded.header == header and decoded.program == program


def ultraschall(line: int) -> list[str]:
    (_, _, lines), = [b for b in REAEQ_BLOCKS + REACOMP_BLOCKS if b[:2] == ("ultraschall_soundboard_linux.RPP", line)]
    return lines


def test_end_word_zero_states_keep_their_form():
    """REAPER 6.27's 4-in/4-out ReaComp (a preset-loaded state): header end word 0, trailer ending 00 00 00 00."""
    state = decode_fx_state(ultraschall(336))
    assert state.header.end_word == 0 and len(state.header.output_pins) == 4
    assert state.program == "Ultraschall - Ducking" and len(state.params) == 19
    assert base64.b64decode(state.to_chunk().to_lines()[-1]).endswith(b"Ducking\x00\x00\x00\x00\x00")
    assert state.layout == LAYOUT_SECTIONS
    # An edit through the mapping keeps header, end word, trailer form and program name.
    comp = CompressorParams(*[torch.tensor([v], dtype=torch.float64) for v in (-20.0, 4.0, 5.0, 80.0, 0.0, 1.0)])
    edited = decode_fx_state(reacomp_state(comp.to_compressor(), template=state).to_chunk().to_lines())
    assert edited.header == state.header and edited.program == state.program
    assert compressor_setting(edited)[0].threshold_db == pytest.approx(-20.0, abs=1e-5)


def test_sws_snapshot_states_are_one_stream():
    """The same ReaComp stored by SWS snapshots in <EXTENSIONS>: one base64 stream cut every 128 characters."""
    lines = ultraschall(444)
    state = decode_fx_state(lines)
    assert state.layout == LAYOUT_STREAM and state.header.end_word == 0
    assert state.params == decode_fx_state(ultraschall(336)).params
    assert state.to_chunk().to_lines() == lines


def test_reaper7_reaeq_tail_is_kept():
    blocks = [b for b in REAEQ_BLOCKS if b[0] == "tenthpres_livestream-only-mixing.RPP"]
    assert len(blocks) == 9
    for _, _, lines in blocks:
        state = decode_fx_state(lines)
        assert len(state.tail) == 32 and state.tail[-4:] == b"\x02\x00\x00\x00"
        assert state.master_gain_linear > 0
    state = decode_fx_state(blocks[1][2])  # LS / band / band / HS
    eq = ChannelParams.neutral(1).eq
    rewritten = reaeq_state(eq.to_bands(), template=state)
    assert rewritten.tail == state.tail and rewritten.header == state.header and rewritten.program == "Program 1"
    assert decode_fx_state(rewritten.to_chunk().to_lines()) == rewritten


def test_disabled_band_of_unmodelled_type_is_left_out():
    """ReaEQ "Gain" of REAPER 7.41: one disabled band of type 4 (high pass) and master gain only."""
    (_, _, lines), = [b for b in REAEQ_BLOCKS if b[:2] == ("tenthpres_livestream-only-mixing.RPP", 179)]
    state = decode_fx_state(lines)
    assert [(b.type, b.enabled) for b in state.bands] == [(4, False)]
    assert eq_bands(state) == ()
    four_band = decode_fx_state([b for b in REAEQ_BLOCKS if b[0] == "tenthpres_livestream-only-mixing.RPP"][1][2])
    assert [b.kind for b in eq_bands(four_band)] == ["low_shelf", "peak", "peak", "high_shelf"]


def test_enabled_band_of_unmodelled_type_is_refused_by_name():
    state = ReaEqState([ReaEqBand(4, True, 80.0, 1.0, 1.0)])
    with pytest.raises(FxStateError, match=r"band 1 is type 4 \(high pass\).*does not model"):
        eq_bands(state)


@pytest.mark.parametrize("band", [
    ReaEqBand(8, True, 1000.0, 0.0, 1.0),
    ReaEqBand(8, True, float("nan"), 1.0, 1.0),
    ReaEqBand(8, True, 1000.0, 1.0, 0.0),
])
def test_meaningless_band_values_are_refused(band):
    with pytest.raises(FxStateError, match="band 1"):
        eq_bands(ReaEqState([band]))


def test_reacomp_states_the_console_cannot_reproduce_are_refused():
    params = list(DEFAULT_REACOMP_PARAMS)
    params[0] = 0.0  # threshold -inf dB
    with pytest.raises(FxStateError, match="parameter 0"):
        compressor_setting(ReaCompState(params))
    with pytest.raises(FxStateError, match="7 parameters"):
        compressor_setting(ReaCompState(params[:7]))


@pytest.mark.parametrize("lines, message", [
    (["not base64!"], "base64"),
    ([base64.b64encode(b"qeer\xee\x5e\xed\xfe").decode()], "truncated"),
])
def test_bad_states_raise(lines, message):
    with pytest.raises(FxStateError, match=message):
        VstChunk.from_lines(lines)


def test_wrong_plugin_is_refused():
    chunk = ReaCompState().to_chunk()
    with pytest.raises(FxStateError):
        ReaEqState.from_chunk(chunk)


def test_fx_block_lines_match_reaper_layout():
    lines = fx_block_lines(ReaCompState(), "reacomp.dll", fxid="{00000000-0000-0000-0000-000000000001}")
    assert lines[0] == "BYPASS 0 0 0"
    assert split_tokens(lines[1]) == [
        "<VST", "VST: ReaComp (Cockos)", "reacomp.dll", "0", "", "1919247213<5653547265636D726561636F6D700000>", "",
    ]
    assert lines[-4:] == [">", "FLOATPOS 0 0 0 0", "FXID {00000000-0000-0000-0000-000000000001}", "WAK 0 0"]
    # The base64 lines are REAPER's default ReaComp, byte for byte.
    default = [b for b in REACOMP_BLOCKS if b[0] == "vst-chunk-inspector_simple.RPP"][0][2]
    assert [line.strip() for line in lines[2:-4]] == default
    assert all(line.startswith("  ") for line in lines[2:-4])


def test_plugin_files():
    assert plugin_file("reaeq", "win32") == "reaeq.dll"
    assert plugin_file("reacomp", "darwin") == "reacomp.vst.dylib"


def test_console_eq_round_trips_through_reaeq_bytes():
    gen = torch.Generator().manual_seed(5)
    eq = ChannelParams.from_normalised(torch.rand(2, 26, generator=gen, dtype=torch.float64)).eq
    state = reaeq_state(eq.to_bands(1))
    decoded = decode_fx_state(state.to_chunk().to_lines())
    assert [b.type for b in decoded.bands] == [0, 8, 8, 8, 8, 1]
    back = EqParams.from_bands([eq_bands(decoded)])
    for name in ("freq_hz", "gain_db", "q"):
        assert torch.allclose(getattr(back, name)[0], getattr(eq, name)[1], rtol=1e-12, atol=1e-12)


def test_eq_value_mappings():
    eq = ChannelParams.neutral(1).eq
    eq.gain_db[0, 1] = -6.0
    eq.q[0, 2] = math.sqrt(2)  # exactly one octave: 1/(2 sinh(ln2/2)) = sqrt(2)
    band = reaeq_state(eq.to_bands()).bands
    assert band[1].gain_linear == pytest.approx(10 ** (-6 / 20))
    assert band[2].bandwidth_oct == pytest.approx(1.0)


def test_q_outside_reaeq_range_is_refused():
    eq = ChannelParams.neutral(1).eq
    eq.q[0, 0] = 0.1
    with pytest.raises(ValueError, match="octaves"):
        reaeq_state(eq.to_bands())


def test_layout_mismatch_is_refused():
    (_, _, lines), = [b for b in REAEQ_BLOCKS if b[0] == "vst-chunk-inspector_simple.RPP"]
    default = decode_fx_state(lines)
    with pytest.raises(ValueError, match="layout"):
        EqParams.from_bands([eq_bands(default)])  # REAPER's default has 4 bands, we use 6


def test_comp_value_mappings_match_reaper_defaults():
    # REAPER's default ReaComp shows 0 dB threshold, 3 ms attack, 100 ms release: its stored 1.0, 0.006, 0.02.
    comp = CompressorParams(*[torch.tensor([v], dtype=torch.float64) for v in (0.0, 4.0, 3.0, 100.0, 6.0, 0.0)])
    state = reacomp_state(comp.to_compressor())
    assert state.params[:4] == pytest.approx([1.0, 3 / 99, 0.006, 0.02])
    assert state.params[11] == pytest.approx(1.0)  # makeup 0 dB -> Wet unity
    comp.threshold_db[0] = -10.0
    assert reacomp_state(comp.to_compressor()).params[0] == pytest.approx(10 ** (-10 / 20))


def test_console_comp_round_trips_through_reacomp_bytes():
    comp = CompressorParams(*[torch.tensor([v], dtype=torch.float64) for v in (-23.5, 3.2, 12.0, 180.0, 4.5, 2.5)])
    template = decode_fx_state(REACOMP_BLOCKS[0][2])  # keep whatever else a user's ReaComp had
    state = reacomp_state(comp.to_compressor(), rms_ms=10.0, template=template)
    decoded = decode_fx_state(state.to_chunk().to_lines())
    assert decoded.program == template.program and len(decoded.params) == len(template.params)
    setting, rms_ms = compressor_setting(decoded)
    back = CompressorParams.from_compressors([setting])
    for name in ("threshold_db", "ratio", "attack_ms", "release_ms", "knee_db", "makeup_db"):
        assert float(getattr(back, name)) == pytest.approx(float(getattr(comp, name)), rel=1e-5, abs=1e-5)
    assert rms_ms == pytest.approx(10.0, rel=1e-5)
    assert decoded.params[15] == 0.0 and decoded.params[16] == 0.0  # auto makeup / auto release off


def test_peak_detector_maps_to_rms_size_zero():
    comp = ChannelParams.neutral(1).comp
    state = reacomp_state(comp.to_compressor(), rms_ms=0.0)
    assert state.params[13] == 0.0
    assert compressor_setting(state)[1] == 0.0


def test_pan_is_d_pan():
    assert [pan_to_d_pan(p) for p in (-1.0, 0.0, 0.25, 1.0)] == [-1.0, 0.0, 0.25, 1.0]
