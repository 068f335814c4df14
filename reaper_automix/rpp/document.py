"""A lossless tree of an ``.rpp`` project: every byte of the input is kept, and only edited lines change.

The tree has two node types. A :class:`Line` holds one line's raw text (indentation included) and its own line
ending (``"\\r\\n"``, ``"\\n"``, or ``""`` for a last line with no newline). A :class:`Chunk` holds an opening
line (``<TAG ...``), its children and a closing ``>`` line. A line is a chunk delimiter only when its content
(after indentation) starts with ``<`` or is exactly ``>``: ``NAME <``, ``NAME >`` or ``NAME <>`` are plain
lines, and raw data lines inside chunks (base64 in ``<VST``, ``|text`` in ``<NOTES``, MIDI ``E``/``e`` events)
never start with ``<`` or consist of ``>``.

Reading, parsing and writing are iterative (no recursion) and bounded: at most :data:`MAX_DEPTH` nested chunks
and :data:`MAX_PROJECT_BYTES` per file; only regular files are read (a FIFO or device would block or never
end).

``Document.to_bytes()`` gives back the input byte for byte (UTF-8 BOM, CRLF, mixed endings and a missing final
newline included) until something is edited. :meth:`Line.set_tokens` re-serialises one line, keeping its
indentation and line ending. Nodes inserted with :meth:`Chunk.insert`/:meth:`Chunk.append` are re-indented with
two spaces per depth and given the document's dominant line ending, as REAPER writes them.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Union

from reaper_automix.errors import AutomixError, ProjectParseError
from reaper_automix.files import user_file_mode
from reaper_automix.rpp.tokens import format_token, split_tokens

_BOM = "\ufeff"
_INDENT = "  "  # REAPER indents two spaces per level
_ROOT_TAG = "REAPER_PROJECT"
_FRAGMENT = "<fragment>"
MAX_DEPTH = 512  # nested chunks; REAPER's own files nest about ten deep
MAX_PROJECT_BYTES = 1 << 30  # 1 GiB; real projects, MIDI and FX states included, stay far below


class Line:
    """One line: raw text with indentation, and its own line ending. ``tokens`` are parsed lazily."""

    __slots__ = ("_raw", "ending", "lineno", "_tokens")

    def __init__(self, raw: str, ending: str = "\n", lineno: int | None = None):
        self._raw = raw
        self.ending = ending
        self.lineno = lineno  # 1-based line in the parsed input; None for lines created later
        self._tokens: list[str] | None = None

    @property
    def raw(self) -> str:
        return self._raw

    @raw.setter
    def raw(self, value: str) -> None:
        if "\n" in value:
            raise ValueError("a line cannot contain a newline")
        self._raw = value
        self._tokens = None

    @property
    def indent(self) -> str:
        return self._raw[: len(self._raw) - len(self.content)]

    @property
    def content(self) -> str:
        """The text after the indentation."""
        return self._raw.lstrip(" \t")

    @property
    def tokens(self) -> list[str]:
        """The unquoted tokens of the line (a copy: change them with :meth:`set_tokens`)."""
        if self._tokens is None:
            self._tokens = split_tokens(self.content)
        return list(self._tokens)

    @property
    def key(self) -> str:
        """The first token (``""`` for an empty line)."""
        tokens = self.tokens
        return tokens[0] if tokens else ""

    def set_tokens(self, tokens: Sequence[str]) -> None:
        """Rewrite this line from tokens, keeping its indentation and line ending."""
        self.raw = self.indent + " ".join(format_token(str(t)) for t in tokens)

    def text(self) -> str:
        return self._raw + self.ending

    def __repr__(self) -> str:
        return f"Line({self._raw!r}, line={self.lineno})"


Node = Union[Line, "Chunk"]


class Chunk:
    """``<TAG ...`` / children / ``>``. ``tokens`` are those of the opening line, the tag first.

    Change ``children`` through :meth:`insert`, :meth:`append` and :meth:`remove` so that parents and
    indentation stay right.
    """

    __slots__ = ("open", "children", "close", "parent", "_document")

    def __init__(self, open_line: Line, children: list[Node] | None = None, close_line: Line | None = None):
        self.open = open_line
        self.children: list[Node] = []
        self.close = close_line if close_line is not None else Line(">", open_line.ending)
        self.parent: Chunk | None = None
        self._document: Document | None = None
        for child in children or []:
            if isinstance(child, Chunk):
                child.parent = self
            self.children.append(child)

    @classmethod
    def new(cls, tokens: Sequence[str], children: Sequence[Node] = ()) -> Chunk:
        """A new chunk; its indentation and line endings are set when it is inserted into a document."""
        chunk = cls(Line("<" + " ".join(format_token(str(t)) for t in tokens)), list(children))
        return chunk

    # --- the opening line ---------------------------------------------------------------------------------
    @property
    def tokens(self) -> list[str]:
        return split_tokens(self.open.content[1:])

    @property
    def tag(self) -> str:
        tokens = self.tokens
        return tokens[0] if tokens else ""

    def set_tokens(self, tokens: Sequence[str]) -> None:
        """Rewrite the opening line (tag first), keeping its indentation and line ending."""
        self.open.raw = self.open.indent + "<" + " ".join(format_token(str(t)) for t in tokens)

    # --- navigation ---------------------------------------------------------------------------------------
    def find_line(self, key: str) -> Line | None:
        """The first direct child line whose first token is ``key``."""
        for child in self.children:
            if isinstance(child, Line) and child.key == key:
                return child
        return None

    def lines(self, key: str | None = None) -> list[Line]:
        """Direct child lines, all or those whose first token is ``key``."""
        return [c for c in self.children if isinstance(c, Line) and (key is None or c.key == key)]

    def chunks(self, tag: str | None = None) -> list[Chunk]:
        """Direct child chunks, all or those with tag ``tag``."""
        return [c for c in self.children if isinstance(c, Chunk) and (tag is None or c.tag == tag)]

    def find_chunk(self, tag: str) -> Chunk | None:
        for child in self.children:
            if isinstance(child, Chunk) and child.tag == tag:
                return child
        return None

    @property
    def depth(self) -> int:
        depth, node = 0, self.parent
        while node is not None:
            depth, node = depth + 1, node.parent
        return depth

    @property
    def document(self) -> Document | None:
        node = self
        while node.parent is not None:
            node = node.parent
        return node._document

    def iter_lines(self) -> Iterator[Line]:
        """Every line of the chunk in file order, opening and closing lines included (iterative: any depth)."""
        yield self.open
        stack = [(self, iter(self.children))]
        while stack:
            chunk, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                yield chunk.close
            elif isinstance(child, Chunk):
                yield child.open
                stack.append((child, iter(child.children)))
            else:
                yield child

    def text(self) -> str:
        return "".join(line.text() for line in self.iter_lines())

    # --- editing ------------------------------------------------------------------------------------------
    def insert(self, index: int, node: Node) -> None:
        """Insert a new node among the children, indented for its depth, with the document's line ending."""
        document = self.document
        newline = document.newline if document is not None else "\n"
        _reindent(node, self.depth + 1, newline)
        if isinstance(node, Chunk):
            node.parent = self
        self.children.insert(index, node)

    def append(self, node: Node) -> None:
        self.insert(len(self.children), node)

    def remove(self, node: Node) -> None:
        """Remove a child (compared by identity)."""
        self.children.pop(self.index(node))
        if isinstance(node, Chunk):
            node.parent = None

    def index(self, node: Node) -> int:
        for i, child in enumerate(self.children):
            if child is node:
                return i
        raise ValueError(f"{node!r} is not a child of <{self.tag}")

    def __repr__(self) -> str:
        return f"Chunk(<{self.tag}, {len(self.children)} children, line={self.open.lineno})"


def _reindent(node: Node, depth: int, newline: str) -> None:
    pending = [(node, depth)]
    while pending:
        node, depth = pending.pop()
        lines = [node] if isinstance(node, Line) else [node.open, node.close]
        for line in lines:
            line.raw = _INDENT * depth + line.content
            line.ending = newline
        if isinstance(node, Chunk):
            pending.extend((child, depth + 1) for child in node.children)


class Document:
    """A parsed project: the root ``<REAPER_PROJECT`` chunk plus any blank lines around it.

    ``newline`` is the dominant line ending of the input (``"\\n"`` when there is none), used for new lines.
    """

    def __init__(
        self,
        root: Chunk,
        *,
        path: Path | str | None = None,
        bom: bool = False,
        leading: list[Line] | None = None,
        trailing: list[Line] | None = None,
        newline: str = "\n",
    ):
        self.root = root
        self.path = Path(path) if path is not None else None
        self.bom = bom
        self.leading = leading or []
        self.trailing = trailing or []
        self.newline = newline
        root.parent = None
        root._document = self

    def iter_lines(self) -> Iterator[Line]:
        yield from self.leading
        yield from self.root.iter_lines()
        yield from self.trailing

    def to_text(self) -> str:
        return (_BOM if self.bom else "") + "".join(line.text() for line in self.iter_lines())

    def to_bytes(self) -> bytes:
        return self.to_text().encode("utf-8")


# --- parsing ----------------------------------------------------------------------------------------------
def _split_lines(text: str) -> list[Line]:
    """Split on ``\\n`` only (``str.splitlines`` would also split on form feeds and U+2028 inside names)."""
    parts = text.split("\n")
    lines: list[Line] = []
    for number, part in enumerate(parts[:-1], start=1):
        if part.endswith("\r"):
            lines.append(Line(part[:-1], "\r\n", number))
        else:
            lines.append(Line(part, "\n", number))
    if parts[-1]:
        lines.append(Line(parts[-1], "", len(parts)))
    return lines


def _decode(data: bytes | str, path: Path | str) -> tuple[str, bool]:
    if isinstance(data, str):
        text = data
    else:
        nul = data.find(b"\x00")
        if nul != -1:
            line = data.count(b"\n", 0, nul) + 1
            raise ProjectParseError(path, line, "binary content (a NUL byte): this is not a REAPER project file")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = data.count(b"\n", 0, exc.start) + 1
            raise ProjectParseError(
                path, line, f"not valid UTF-8 (byte 0x{data[exc.start]:02x}); REAPER writes projects as UTF-8"
            ) from None
    if "\x00" in text:
        raise ProjectParseError(path, text.count("\n", 0, text.index("\x00")) + 1, "binary content (a NUL character)")
    bom = text.startswith(_BOM)
    return (text[1:] if bom else text), bom


def _is_open(line: Line) -> bool:
    return line.content.startswith("<")


def _is_close(line: Line) -> bool:
    return line.content.rstrip(" \t") == ">"


class _Builder:
    """Assembles lines into chunks, remembering the first ``>`` whose indentation disagrees with its chunk's
    opening line: when the structure turns out broken, that is where a ``>`` is most likely missing or extra
    (REAPER indents consistently; the hint is only used to place an error, never to reject a file)."""

    def __init__(self, path: Path | str):
        self.path = path
        self.stack: list[Chunk] = []
        self.suspect: tuple[Line, Chunk] | None = None

    def open(self, line: Line) -> Chunk:
        if not split_tokens(line.content[1:]):
            raise ProjectParseError(self.path, line.lineno or 0, "a chunk opening '<' with no name")
        if len(self.stack) >= MAX_DEPTH:
            raise ProjectParseError(
                self.path, line.lineno or 0, f"chunks nested more than {MAX_DEPTH} deep: not a project REAPER writes"
            )
        chunk = Chunk(line)
        if self.stack:
            chunk.parent = self.stack[-1]
            self.stack[-1].children.append(chunk)
        self.stack.append(chunk)
        return chunk

    def close(self, line: Line) -> Chunk:
        chunk = self.stack.pop()
        chunk.close = line
        if self.suspect is None and line.indent != chunk.open.indent:
            self.suspect = (line, chunk)
        return chunk

    def hint(self) -> tuple[int | None, str]:
        if self.suspect is None:
            return None, ""
        line, chunk = self.suspect
        return line.lineno, (
            f" The '>' at line {line.lineno} closes <{chunk.tag} (opened at line {chunk.open.lineno}) but is "
            "indented differently: a '>' is probably missing or extra near there."
        )

    def unclosed(self, last_line: int) -> ProjectParseError:
        inner = self.stack[-1]
        opened = ", ".join(f"<{c.tag} (line {c.open.lineno})" for c in reversed(self.stack))
        hint_line, hint = self.hint()
        return ProjectParseError(
            self.path,
            hint_line or last_line,
            f"the file ends at line {last_line} while <{inner.tag} opened at line {inner.open.lineno} is "
            f"never closed (still open: {opened}); the file is cut short or a '>' is missing.{hint}",
        )


def _parse_lines(lines: list[Line], path: Path | str) -> tuple[list[Line], Chunk, list[Line]]:
    leading: list[Line] = []
    i = 0
    while i < len(lines) and not lines[i].content.strip():
        leading.append(lines[i])
        i += 1
    if i == len(lines):
        raise ProjectParseError(path, 1, "the file is empty: not a REAPER project")
    first = lines[i]
    if not (_is_open(first) and split_tokens(first.content[1:])[:1] == [_ROOT_TAG]):
        raise ProjectParseError(
            path, first.lineno or 1, f"not a REAPER project: expected '<{_ROOT_TAG}', found {first.content[:40]!r}"
        )
    builder = _Builder(path)
    root = builder.open(first)
    i += 1
    while i < len(lines) and builder.stack:
        line = lines[i]
        if _is_open(line):
            builder.open(line)
        elif _is_close(line):
            builder.close(line)
        else:
            builder.stack[-1].children.append(line)
        i += 1
    if builder.stack:
        raise builder.unclosed(lines[-1].lineno or len(lines))
    trailing = lines[i:]
    for line in trailing:
        if line.content.strip():
            hint_line, hint = builder.hint()
            what = "a stray '>'" if _is_close(line) else f"{line.content[:40]!r}"
            raise ProjectParseError(
                path,
                hint_line or line.lineno or 0,
                f"{what} at line {line.lineno}, after <{_ROOT_TAG} was closed at line {root.close.lineno}.{hint}",
            )
    return leading, root, trailing


def _dominant_newline(lines: list[Line]) -> str:
    crlf = sum(1 for line in lines if line.ending == "\r\n")
    lf = sum(1 for line in lines if line.ending == "\n")
    return "\r\n" if crlf > lf else "\n"


def parse_document(data: bytes | str, path: Path | str | None = None) -> Document:
    """Parse a project from bytes (UTF-8, optional BOM) or text. ``path`` names the file in error messages.

    Raises :class:`ProjectParseError` for an empty file, binary or non-UTF-8 content, a file that does not start
    with ``<REAPER_PROJECT``, a chunk that is never closed (a file cut short), or content after the project's
    closing ``>`` (a stray ``>``).
    """
    name = path if path is not None else "<project>"
    text, bom = _decode(data, name)
    lines = _split_lines(text)
    leading, root, trailing = _parse_lines(lines, name)
    return Document(
        root, path=path, bom=bom, leading=leading, trailing=trailing, newline=_dominant_newline(lines)
    )


def parse_fragment(text: str, path: Path | str = _FRAGMENT) -> list[Node]:
    """Parse a piece of a project (lines and complete chunks), e.g. an FX block, into detached nodes."""
    builder = _Builder(path)
    nodes: list[Node] = []
    lines = _split_lines(text)
    for line in lines:
        if _is_open(line):
            chunk = builder.open(line)
            if len(builder.stack) == 1:
                nodes.append(chunk)
        elif _is_close(line):
            if not builder.stack:
                raise ProjectParseError(path, line.lineno or 0, "a stray '>' with no open chunk")
            builder.close(line)
        elif builder.stack:
            builder.stack[-1].children.append(line)
        elif line.content.strip():
            nodes.append(line)
    if builder.stack:
        raise builder.unclosed(lines[-1].lineno or len(lines))
    return nodes


# --- files ------------------------------------------------------------------------------------------------
def read_document(path: Path | str) -> Document:
    """Read and parse a project file: a regular file of at most :data:`MAX_PROJECT_BYTES`."""
    path = Path(path)
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            raise AutomixError(f"{path}: not a regular file (a folder, device or pipe): not a REAPER project")
        # O_NONBLOCK: should the path be swapped for a FIFO after the check, opening it does not hang.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as handle:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise AutomixError(f"{path}: not a regular file: not a REAPER project")
            if info.st_size > MAX_PROJECT_BYTES:
                raise AutomixError(f"{path}: {info.st_size / 2**20:.0f} MiB is more than a REAPER project holds "
                                   f"(limit {MAX_PROJECT_BYTES >> 20} MiB)")
            data = handle.read(MAX_PROJECT_BYTES + 1)
    except OSError as exc:
        raise AutomixError(f"{path}: cannot read the project: {exc.strerror or exc}") from None
    if len(data) > MAX_PROJECT_BYTES:
        raise AutomixError(f"{path}: more than {MAX_PROJECT_BYTES >> 20} MiB: not a REAPER project")
    return parse_document(data, path)


def write_document(document: Document, path: Path | str, *, overwrite: bool = False) -> None:
    """Write a project atomically: a temporary file in the same folder, then a rename over ``path``.

    Refuses to replace an existing file unless ``overwrite`` is true; a reader never sees a half-written file.
    """
    path = Path(path)
    data = document.to_bytes()
    folder = path.parent
    try:
        mode = path.stat().st_mode & 0o777
        exists = True
    except FileNotFoundError:
        mode, exists = user_file_mode(), False
    except OSError as exc:
        raise AutomixError(f"{path}: cannot write the project: {exc.strerror or exc}") from None
    if exists and not overwrite:
        raise AutomixError(f"{path} exists; refusing to overwrite it (choose another output or allow overwriting)")
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise AutomixError(f"{path}: cannot write the project: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp_name, mode)
        if overwrite:
            os.replace(tmp_name, path)
        else:
            # link() fails if the target appeared meanwhile, so a concurrent file is never clobbered
            try:
                os.link(tmp_name, path)
            except FileExistsError:
                raise AutomixError(f"{path} exists; refusing to overwrite it") from None
            except OSError:  # file systems without hard links
                if path.exists():
                    raise AutomixError(f"{path} exists; refusing to overwrite it") from None
                os.replace(tmp_name, path)
    except OSError as exc:
        raise AutomixError(f"{path}: cannot write the project: {exc.strerror or exc}") from None
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
