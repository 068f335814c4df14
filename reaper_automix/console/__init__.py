"""The differentiable mixing console: per-stem EQ, compressor, gain and pan, a stereo sum and a master bus.

Modules: ``params`` (parameter dataclasses and ranges), ``iir`` (exact differentiable biquad filtering),
``eq`` (RBJ biquads), ``compressor``, ``pan`` (REAPER's pan law as data), ``mix`` (the whole console).
"""

from .compressor import compress, gain_computer_db
from .eq import apply_eq, biquad_sos, eq_response_db, eq_sos
from .mix import channel_strips, master_bus, mix
from .pan import PanLaw, apply_pan
from .params import (
    EQ_LAYOUT_DEFAULT,
    EQ_LAYOUT_DIFF_MST,
    BandKind,
    ChannelParams,
    CompressorParams,
    DetectorSettings,
    EqBandSpec,
    EqParams,
    MasterParams,
    ParamRange,
    channel_param_names,
    master_param_names,
)

__all__ = [
    "EQ_LAYOUT_DEFAULT",
    "EQ_LAYOUT_DIFF_MST",
    "BandKind",
    "ChannelParams",
    "CompressorParams",
    "DetectorSettings",
    "EqBandSpec",
    "EqParams",
    "MasterParams",
    "PanLaw",
    "ParamRange",
    "apply_eq",
    "apply_pan",
    "biquad_sos",
    "channel_param_names",
    "channel_strips",
    "compress",
    "eq_response_db",
    "eq_sos",
    "gain_computer_db",
    "master_bus",
    "master_param_names",
    "mix",
]
