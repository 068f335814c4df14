"""Tokens of an ``.rpp`` line: space-separated, optionally quoted with ``"``, ``'`` or a backtick.

REAPER has no escapes: a token is quoted with whichever quote character does not occur in it. A quote only
opens a quoted token at the start of a token (``hey"`` is a plain token).
"""

from __future__ import annotations

_QUOTES = "\"'`"


def split_tokens(text: str) -> list[str]:
    """Split the content of one line (no indentation, no line ending) into unquoted tokens."""
    tokens: list[str] = []
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i] in " \t":
            i += 1
        if i >= n:
            break
        quote = text[i]
        if quote in _QUOTES:
            end = text.find(quote, i + 1)
            if end == -1:  # REAPER reads an unterminated quote to the end of the line
                tokens.append(text[i + 1 :])
                break
            tokens.append(text[i + 1 : end])
            i = end + 1
        else:
            end = i
            while end < n and text[end] not in " \t":
                end += 1
            tokens.append(text[i:end])
            i = end
    return tokens


def format_token(value: str, *, force_quotes: bool = False) -> str:
    """Write one token as REAPER does: bare when it can be, else in a quote character it does not contain.

    A string holding all three quote characters cannot be written exactly; like REAPER, backticks in it are
    replaced by single quotes.
    """
    needs_quotes = (
        force_quotes or value == "" or any(c in value for c in " \t") or value[0] in _QUOTES
    )
    if not needs_quotes:
        return value
    for quote in _QUOTES:
        if quote not in value:
            return f"{quote}{value}{quote}"
    return "`" + value.replace("`", "'") + "`"


def format_number(value: float) -> str:
    """A number as REAPER writes it: integers bare, others with up to 14 significant digits."""
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.14g}"
