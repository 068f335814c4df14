"""The differentiable mixing console: per-stem EQ, compressor, gain and pan, a stereo sum and a master bus.

Modules: ``params`` (parameter tensors, converted to and from :class:`~reaper_automix.strip.Strip` and
normalised vectors; the ranges are :mod:`reaper_automix.strip`'s), ``iir`` (exact differentiable biquad
filtering), ``eq`` (RBJ biquads), ``compressor``, ``pan`` (REAPER's pan law as data), ``mix`` (the whole console).
"""

from .compressor import compress, gain_computer_db
from .eq import apply_eq, biquad_sos, eq_response_db, eq_sos
from .mix import channel_strips, master_bus, mix
from .pan import PanLaw, apply_pan
from .params import (
    ChannelParams,
    CompressorParams,
    DetectorSettings,
    EqParams,
    MasterParams,
    channel_param_names,
    denormalise,
    master_param_names,
    normalise,
)

__all__ = [
    "ChannelParams",
    "CompressorParams",
    "DetectorSettings",
    "EqParams",
    "MasterParams",
    "PanLaw",
    "apply_eq",
    "apply_pan",
    "biquad_sos",
    "channel_param_names",
    "channel_strips",
    "compress",
    "denormalise",
    "eq_response_db",
    "eq_sos",
    "gain_computer_db",
    "master_bus",
    "master_param_names",
    "mix",
    "normalise",
]
