"""Audio files and the offline track renderer. Arrays are float32 shaped ``(channels, samples)``."""

from reaper_automix.audio.io import (
    AudioInfo,
    StemFile,
    audio_info,
    read_audio,
    resample,
    resample_by,
    resample_factors,
    write_audio,
)
from reaper_automix.audio.render import (
    FADE_CURVES,
    Exclusion,
    RenderWarning,
    TrackRenders,
    check_media,
    fade_in_gain,
    fade_out_gain,
    render_track,
    render_tracks,
)

__all__ = [
    "FADE_CURVES",
    "AudioInfo",
    "Exclusion",
    "RenderWarning",
    "StemFile",
    "TrackRenders",
    "audio_info",
    "check_media",
    "fade_in_gain",
    "fade_out_gain",
    "read_audio",
    "render_track",
    "render_tracks",
    "resample",
    "resample_by",
    "resample_factors",
    "write_audio",
]
