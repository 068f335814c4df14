"""ReaEQ and ReaComp states as REAPER stores them in ``<VST`` blocks of an ``.rpp`` (reaper.md section 2).

A ``<VST`` block holds base64 lines, each line encoded on its own:

* one **header** line (little-endian): 4-byte plug-in id (``qeer`` ReaEQ, ``mcer`` ReaComp), magic
  ``0xFEED5EEE`` (opaque plug-in chunk) or ``0xFEED5EEF`` (parameter list), ``u32 nIn`` then ``nIn`` u64 input
  pin masks, ``u32 nOut`` and ``nOut`` u64 output pin masks, ``u32 bodyLen``, ``u32 1|0`` (chunk or
  parameters), and an end word ``u32 0x00100000``, or ``0`` in states loaded from presets and in many
  multi-pin (sidechain) instances (about 30 % of real states);
* the **body**, 96 bytes (128 base64 characters) per line;
* the **trailer**: ``00 <program name> 00`` then ``10 00 00 00`` (``AAAQAAAA`` with no name), or
  ``00 00 00 00`` where the header's end word is 0.

That is how REAPER splits the lines (each part on its own lines). SWS snapshots inside ``<EXTENSIONS>`` store
the same bytes as one stream cut into 128-character lines; :attr:`VstChunk.layout` records which it was.

ReaEQ body (version 33; 32 lacks the per-band byte): ``int32 version, int32 nBands``, per band ``int32 type,
int32 enabled, float64 freq_hz, float64 gain_linear, float64 bandwidth_oct, uint8 1``, then a tail
(``int32 1, int32 1, float64 master gain``, and in version 33 ``int32 0, int32 w, int32 h``), copied
verbatim (REAPER 7.34 and later append ``int32 2``: a 32-byte tail). ReaComp body: sentinel ``EF BE AD DE 0D F0 AD DE`` then 19 (older) or 21 float32 parameters.

Decoding then encoding any state REAPER wrote gives the same lines byte for byte (tested on every ReaEQ and
ReaComp state in the fixtures); unknown layouts raise :class:`FxStateError` rather than guess.
"""

from __future__ import annotations

import base64
import binascii
import struct
import uuid
from dataclasses import dataclass, field, replace

from ..errors import AutomixError
from ..rpp.tokens import format_token

REAEQ_ID = b"qeer"
REACOMP_ID = b"mcer"
MAGIC_CHUNK = 0xFEED5EEE
MAGIC_PARAMS = 0xFEED5EEF
_HEADER_END = 0x00100000
_HEADER_END_ZERO = 0  # preset-loaded and many multi-pin states [decoded: ultraschall_soundboard_linux.RPP]
_TRAILER_END = b"\x10\x00\x00\x00"
_TRAILER_END_ZERO = b"\x00\x00\x00\x00"
LAYOUT_SECTIONS = "sections"  # header, body and trailer each on their own lines (REAPER)
LAYOUT_STREAM = "stream"  # one stream cut into 128-character lines (SWS snapshots)
_REACOMP_SENTINEL = bytes.fromhex("EFBEADDE0DF0ADDE")
_LINE_BYTES = 96  # REAPER writes 128 base64 characters per line

# Identity of the two plug-ins on the <VST line: display name, numeric id and 16-byte hex id [decoded].
REAEQ_VST_NAME = "VST: ReaEQ (Cockos)"
REACOMP_VST_NAME = "VST: ReaComp (Cockos)"
REAEQ_VST_UID = "1919247729<56535472656571726561657100000000>"
REACOMP_VST_UID = "1919247213<5653547265636D726561636F6D700000>"


class FxStateError(AutomixError):
    """An FX state that is not in a layout this module understands."""


@dataclass(frozen=True)
class VstHeader:
    """The header line: plug-in id, kind of state and pin masks (kept so REAPER-written states round-trip)."""

    plugin_id: bytes
    magic: int
    input_pins: tuple[int, ...]
    output_pins: tuple[int, ...]
    is_chunk: bool  # True: opaque plug-in chunk (ReaEQ); False: parameter list (ReaComp)
    end_word: int = _HEADER_END  # 0x00100000, or 0 (then the trailer also ends in four zero bytes)

    @property
    def trailer_end(self) -> bytes:
        """The trailer's last four bytes, which follow the header's end word."""
        return _TRAILER_END if self.end_word == _HEADER_END else _TRAILER_END_ZERO

    def to_bytes(self, body_length: int) -> bytes:
        out = [self.plugin_id, struct.pack("<II", self.magic, len(self.input_pins))]
        out += [struct.pack("<Q", m) for m in self.input_pins]
        out.append(struct.pack("<I", len(self.output_pins)))
        out += [struct.pack("<Q", m) for m in self.output_pins]
        out.append(struct.pack("<III", body_length, int(self.is_chunk), self.end_word))
        return b"".join(out)


# Pin masks REAPER writes for a default stereo instance [decoded from the fixtures].
REAEQ_HEADER = VstHeader(REAEQ_ID, MAGIC_CHUNK, (1, 2), (1, 2), True)
REACOMP_HEADER = VstHeader(REACOMP_ID, MAGIC_PARAMS, (1, 2, 4, 8), (1, 2), False)


@dataclass(frozen=True)
class VstChunk:
    """A decoded ``<VST`` state: header, body bytes, program name and how the base64 was cut into lines."""

    header: VstHeader
    body: bytes
    program: str = ""
    layout: str = LAYOUT_SECTIONS  # LAYOUT_SECTIONS (REAPER) or LAYOUT_STREAM (SWS snapshots)

    @classmethod
    def from_lines(cls, lines: list[str]) -> VstChunk:
        """Decode the base64 lines of a ``<VST`` block (without the ``<VST`` line and the closing ``>``)."""
        try:
            parts = [base64.b64decode(line.strip(), validate=True) for line in lines]
        except (binascii.Error, ValueError) as exc:
            raise FxStateError(f"VST state: invalid base64 ({exc})") from None
        chunk = cls.from_bytes(b"".join(parts))
        stripped = [line.strip() for line in lines]
        if chunk.to_lines() == stripped:
            return chunk
        stream = replace(chunk, layout=LAYOUT_STREAM)
        # Lines cut some other way decode the same; they are written back in REAPER's own layout.
        return stream if stream.to_lines() == stripped else chunk

    @classmethod
    def from_bytes(cls, data: bytes) -> VstChunk:
        try:
            plugin_id = data[:4]
            magic, n_in = struct.unpack_from("<II", data, 4)
            pos = 12
            inputs = struct.unpack_from(f"<{n_in}Q", data, pos)
            pos += 8 * n_in
            (n_out,) = struct.unpack_from("<I", data, pos)
            outputs = struct.unpack_from(f"<{n_out}Q", data, pos + 4)
            pos += 4 + 8 * n_out
            body_length, is_chunk, end = struct.unpack_from("<III", data, pos)
            pos += 12
        except struct.error:
            raise FxStateError("VST state: header truncated") from None
        if (
            magic not in (MAGIC_CHUNK, MAGIC_PARAMS)
            or end not in (_HEADER_END, _HEADER_END_ZERO)
            or is_chunk not in (0, 1)
        ):
            raise FxStateError(f"VST state: unknown header (magic {magic:#x}, end word {end:#x})")
        header = VstHeader(plugin_id, magic, tuple(inputs), tuple(outputs), bool(is_chunk), end)
        body = data[pos : pos + body_length]
        trailer = data[pos + body_length :]
        if len(body) != body_length:
            raise FxStateError(f"VST state: body has {len(body)} bytes, header says {body_length}")
        if not (trailer.startswith(b"\x00") and trailer.endswith(b"\x00" + header.trailer_end)) or len(trailer) < 6:
            raise FxStateError(f"VST state: unknown trailer {trailer.hex()} (header end word {end:#x})")
        try:
            program = trailer[1:-5].decode("utf-8")
        except UnicodeDecodeError:
            raise FxStateError("VST state: program name is not UTF-8") from None
        if "\x00" in program:
            raise FxStateError(f"VST state: unknown trailer {trailer.hex()}")
        return cls(header, body, program)

    def to_bytes(self) -> bytes:
        """Header, body and trailer as one byte string."""
        return self.header.to_bytes(len(self.body)) + self.body + self._trailer()

    def _trailer(self) -> bytes:
        return b"\x00" + self.program.encode("utf-8") + b"\x00" + self.header.trailer_end

    def to_lines(self) -> list[str]:
        """Base64 lines as they were read: REAPER's (header, body in 128-character lines, trailer) or, for
        :data:`LAYOUT_STREAM`, the whole state cut into 128-character lines."""
        if self.layout == LAYOUT_STREAM:
            return _b64_lines(self.to_bytes())
        return [_b64(self.header.to_bytes(len(self.body))), *_b64_lines(self.body), *_b64_lines(self._trailer())]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _b64_lines(data: bytes) -> list[str]:
    return [_b64(data[i : i + _LINE_BYTES]) for i in range(0, len(data), _LINE_BYTES)]


@dataclass
class ReaEqBand:
    """One ReaEQ band. ``type``: 0 low shelf, 1 high shelf, 8 band (see reaper.md for all codes)."""

    type: int
    enabled: bool
    freq_hz: float
    gain_linear: float
    bandwidth_oct: float
    flag: int = 1  # the trailing byte of a version-33 band; REAPER writes 1


# Tail of REAPER's default ReaEQ (version 33): 1, 1, master gain 1.0, 0, window 596 x 368 [decoded].
DEFAULT_REAEQ_TAIL = struct.pack("<iid", 1, 1, 1.0) + struct.pack("<iii", 0, 596, 368)


@dataclass
class ReaEqState:
    """A ReaEQ instance's state. ``tail`` (master gain, window size) is copied verbatim."""

    bands: list[ReaEqBand]
    version: int = 33
    tail: bytes = DEFAULT_REAEQ_TAIL
    header: VstHeader = REAEQ_HEADER
    program: str = ""
    layout: str = LAYOUT_SECTIONS

    @property
    def master_gain_linear(self) -> float:
        if len(self.tail) < 16:
            raise FxStateError(f"ReaEQ state: tail of {len(self.tail)} bytes has no master gain")
        return struct.unpack_from("<d", self.tail, 8)[0]

    @classmethod
    def from_chunk(cls, chunk: VstChunk) -> ReaEqState:
        if chunk.header.plugin_id != REAEQ_ID or not chunk.header.is_chunk:
            raise FxStateError("not a ReaEQ state")
        body = chunk.body
        try:
            version, n_bands = struct.unpack_from("<ii", body, 0)
            if version not in (32, 33):
                raise FxStateError(f"ReaEQ state version {version} is not supported (32 or 33)")
            band_size = 33 if version == 33 else 32
            if not 0 <= n_bands <= (len(body) - 8) // band_size:
                raise FxStateError(f"ReaEQ state: {n_bands} bands do not fit its {len(body)} bytes")
            bands = []
            pos = 8
            for _ in range(n_bands):
                kind, enabled, freq, gain, bw = struct.unpack_from("<iiddd", body, pos)
                flag = body[pos + 32] if version == 33 else 1
                if enabled not in (0, 1):
                    raise FxStateError(f"ReaEQ band enabled flag {enabled} is not 0 or 1")
                bands.append(ReaEqBand(kind, bool(enabled), freq, gain, bw, flag))
                pos += band_size
        except struct.error:
            raise FxStateError("ReaEQ state truncated") from None
        return cls(bands, version, body[pos:], chunk.header, chunk.program, chunk.layout)

    def to_chunk(self) -> VstChunk:
        parts = [struct.pack("<ii", self.version, len(self.bands))]
        for band in self.bands:
            parts.append(
                struct.pack(
                    "<iiddd", band.type, int(band.enabled), band.freq_hz, band.gain_linear, band.bandwidth_oct
                )
            )
            if self.version == 33:
                parts.append(bytes([band.flag]))
        parts.append(self.tail)
        return VstChunk(self.header, b"".join(parts), self.program, self.layout)


# REAPER's default ReaComp parameters (19-value layout) [decoded: vst-chunk-inspector_simple.RPP].
DEFAULT_REACOMP_PARAMS: tuple[float, ...] = tuple(
    struct.unpack(
        "<19f",
        base64.b64decode(
            "AACAPwAAAACmm8Q7CtejPAAAAAAAAAAAAACAPwAAAAAAAAAAAAAAAJzRBzMAAIA/AAAAAM3MTD0AAAAAAAAAAAAAAAAAAIA+AAAAAA=="
        ),
    )
)


@dataclass
class ReaCompState:
    """A ReaComp instance's parameters in parameter order (float32 values, see reaper.md section 3)."""

    params: list[float] = field(default_factory=lambda: list(DEFAULT_REACOMP_PARAMS))
    header: VstHeader = REACOMP_HEADER
    program: str = ""
    layout: str = LAYOUT_SECTIONS

    @classmethod
    def from_chunk(cls, chunk: VstChunk) -> ReaCompState:
        if chunk.header.plugin_id != REACOMP_ID or chunk.header.is_chunk:
            raise FxStateError("not a ReaComp state")
        body = chunk.body
        if not body.startswith(_REACOMP_SENTINEL) or (len(body) - 8) % 4:
            raise FxStateError(f"ReaComp state: unexpected body layout ({len(body)} bytes)")
        n = (len(body) - 8) // 4
        return cls(list(struct.unpack_from(f"<{n}f", body, 8)), chunk.header, chunk.program, chunk.layout)

    def to_chunk(self) -> VstChunk:
        body = _REACOMP_SENTINEL + struct.pack(f"<{len(self.params)}f", *self.params)
        return VstChunk(self.header, body, self.program, self.layout)


def decode_fx_state(lines: list[str]) -> ReaEqState | ReaCompState | VstChunk:
    """Decode a ``<VST`` block's base64 lines: ReaEQ and ReaComp states parsed, other plug-ins as raw chunks."""
    chunk = VstChunk.from_lines(lines)
    if chunk.header.plugin_id == REAEQ_ID:
        return ReaEqState.from_chunk(chunk)
    if chunk.header.plugin_id == REACOMP_ID:
        return ReaCompState.from_chunk(chunk)
    return chunk


def vst_block_lines(state: ReaEqState | ReaCompState, plugin_file: str, custom_name: str = "") -> list[str]:
    """The ``<VST ...`` block for a state, unindented: the ``<VST`` line, base64 lines, ``>``.

    ``plugin_file`` is the plug-in's file name on the user's system (``reaeq.dll``, ``reaeq.vst.dylib``...;
    see ``data/reaper_fx_mappings.yaml``).
    """
    if isinstance(state, ReaEqState):
        name, uid = REAEQ_VST_NAME, REAEQ_VST_UID
    elif isinstance(state, ReaCompState):
        name, uid = REACOMP_VST_NAME, REACOMP_VST_UID
    else:
        raise TypeError(f"vst_block_lines: expected ReaEqState or ReaCompState, got {type(state).__name__}")
    head = (
        f"<VST {format_token(name)} {format_token(plugin_file)} 0 "
        f"{format_token(custom_name)} {uid} {format_token('')}"
    )
    return [head, *state.to_chunk().to_lines(), ">"]


def fx_block_lines(
    state: ReaEqState | ReaCompState,
    plugin_file: str,
    *,
    fxid: str | None = None,
    bypass: bool = False,
    custom_name: str = "",
    indent: str = "  ",
) -> list[str]:
    """One FX of an ``<FXCHAIN``, as REAPER writes it: ``BYPASS``, the ``<VST`` block (its base64 lines one
    level deeper), ``FLOATPOS 0 0 0 0``, ``FXID {GUID}`` (new random GUID unless given), ``WAK 0 0``.
    Lines are unindented at this FX's level; ``indent`` is one nesting step."""
    vst = vst_block_lines(state, plugin_file, custom_name)
    guid = fxid if fxid is not None else "{" + str(uuid.uuid4()).upper() + "}"
    return [
        f"BYPASS {int(bypass)} 0 0",
        vst[0],
        *(indent + line for line in vst[1:-1]),
        vst[-1],
        "FLOATPOS 0 0 0 0",
        f"FXID {guid}",
        "WAK 0 0",
    ]

