"""Lossless reading and editing of REAPER ``.rpp`` projects, and the ``.rpp`` -> Session reader."""

from reaper_automix.rpp.document import (
    Chunk,
    Document,
    Line,
    parse_document,
    parse_fragment,
    read_document,
    write_document,
)
from reaper_automix.rpp.reader import load_session, session_from_document

__all__ = [
    "Chunk",
    "Document",
    "Line",
    "load_session",
    "parse_document",
    "parse_fragment",
    "read_document",
    "session_from_document",
    "write_document",
]
