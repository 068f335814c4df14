"""The client side of the live bridge: reach REAPER through reapy's own client, count round-trips, and turn
connection problems into clear :class:`~reaper_automix.errors.AutomixError` messages.

Discovery is reapy's: REAPER's web interface answers ``GET /_/GET/EXTSTATE/reapy/server_port`` with the port
the server action (``reascripts/automix_server.py``) listens on. The web interface port is reapy's default
(2307) unless ``REAPER_AUTOMIX_WEB_PORT`` or ``web_port`` says otherwise. The server then wants the install's
token: its file's path is in the ExtState ``reaper_automix/token_file`` (the file itself only this user can
read), and the first request of the connection presents it (``AUTH``).
"""

from __future__ import annotations

import importlib
import os
import re
import urllib.parse
import urllib.request
import warnings
from dataclasses import dataclass, field

from ..errors import AutomixError

DEFAULT_WEB_PORT = 2307  # reapy.config.WEB_INTERFACE_PORT
NOT_REACHABLE = (
    "REAPER is not reachable on {host}:{port} ({why}). Start REAPER, run `reaper-automix reaper install` once "
    "(then restart REAPER), and make sure the action 'Automix: Start safe reapy server' is running."
)


class LiveError(AutomixError):
    """A problem reported by REAPER while running an operation."""


@dataclass
class Bridge:
    """A connection to one REAPER: reapy's client plus a round-trip counter."""

    client: object
    host: str
    web_port: int
    round_trips: int = 0
    log: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        # Count every round-trip on this connection, reapy's own (reapy.Project(), ...) included.
        send = self.client.request

        def counted(function, input=None):
            self.round_trips += 1
            return send(function, input)

        self.client.request = counted

    def request(self, function, args=(), kwargs=None, what: str = ""):
        """One round-trip: run ``function`` inside REAPER (it must be in the server's allow-list)."""
        from reapy.errors import DistError

        try:
            return self.client.request(function, {"args": list(args), "kwargs": kwargs or {}})
        except DistError as exc:
            raise translate_remote_error(str(exc), what) from None
        except (ConnectionError, OSError) as exc:
            raise AutomixError(
                f"lost the connection to REAPER{' while ' + what if what else ''} ({type(exc).__name__}). "
                "REAPER's server action stopped or REAPER closed; see REAPER's undo history (Edit > Undo "
                "History) for what was applied before it stopped."
            ) from None

    def call(self, function, *args, **kwargs):
        """Run one of :mod:`reaper_automix.live.ops` (or any allow-listed callable) in REAPER."""
        return self.request(function, args, kwargs, what=getattr(function, "__name__", str(function)))

    def close(self) -> None:
        try:
            self.client._socket.close()
        except OSError:
            pass


class RemoteApi:
    """REAPER's API from outside: ``api.GetTrack(0, 1)`` is one round-trip to ``reapy.reascript_api.GetTrack``.

    Passing it to a :mod:`~reaper_automix.live.ops` function runs that function here, unbatched.
    """

    def __init__(self, bridge: Bridge):
        self._bridge = bridge

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        target = {"__callable__": True, "module_name": "reapy.reascript_api", "name": name}
        return lambda *args: self._bridge.request(target, args, what=name)


def translate_remote_error(text: str, what: str) -> AutomixError:
    """An error reply from REAPER's side as an AutomixError with the useful line, not a remote traceback."""
    if "refused:" in text:
        line = text[text.index("refused:") :].splitlines()[0]
        return AutomixError(f"REAPER's automix server {line}")
    last = [ln for ln in text.strip().splitlines() if ln.strip()][-1:] or [text]
    message = re.sub(r"^[\w.]+(Error|Exception|Gone): ", "", last[0].strip())
    return LiveError(f"REAPER reported a problem{' in ' + what if what else ''}: {message}")


def _import_reapy():
    """Import reapy without its import-time attempt to reach REAPER on the default port printing a warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import reapy  # noqa: F401 (reapy connects on import; failure there is handled below)
        from reapy.tools.network import machines
    return machines


def connect(host: str = "127.0.0.1", web_port: int | None = None) -> Bridge:
    """Connect reapy to REAPER (and select the connection for reapy's own API), or raise AutomixError."""
    web_port = web_port or int(os.environ.get("REAPER_AUTOMIX_WEB_PORT") or DEFAULT_WEB_PORT)
    machines = _import_reapy()
    from reapy.errors import DisabledDistAPIError
    from reapy.tools.network import Client, WebInterface

    try:
        server_port = WebInterface(web_port, host).get_reapy_server_port()
        client = Client(int(server_port), host)
    except DisabledDistAPIError:
        raise AutomixError(NOT_REACHABLE.format(host=host, port=web_port, why="no web interface answered")) from None
    except (OSError, ValueError) as exc:
        why = f"{type(exc).__name__}: {exc}"
        raise AutomixError(NOT_REACHABLE.format(host=host, port=web_port, why=why)) from None
    client._socket.settimeout(None)
    _authenticate(client, host, web_port)
    machines.CLIENTS[host] = client
    machines.CLIENT = client
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import reapy.reascript_api

        importlib.reload(reapy.reascript_api)  # defines reapy's RPR functions for this connection
    return Bridge(client=client, host=host, web_port=web_port)


def _ext_state(host: str, web_port: int, section: str, key: str) -> str:
    """An ExtState value through REAPER's web interface (``EXTSTATE\\tsection\\tkey\\tvalue``), "" when unset."""
    url = f"http://{host}:{web_port}/_/GET/EXTSTATE/{urllib.parse.quote(section)}/{urllib.parse.quote(key)}"
    with urllib.request.urlopen(url, timeout=2.0) as reply:
        text = reply.read(1 << 16).decode("utf-8", errors="replace")
    fields = text.rstrip("\r\n").split("\t")
    return fields[3] if len(fields) >= 4 and fields[0] == "EXTSTATE" else ""


def _authenticate(client, host: str, web_port: int) -> None:
    """Present the install's token as the connection's first request."""
    from reapy.errors import DistError

    from .server import TOKEN_EXT, TOKEN_FILE_ENV, TokenError, read_token

    try:
        path = _ext_state(host, web_port, *TOKEN_EXT) or os.environ.get(TOKEN_FILE_ENV, "")
    except OSError as exc:
        raise AutomixError(NOT_REACHABLE.format(host=host, port=web_port, why=f"web interface: {exc}")) from None
    if not path:
        client._socket.close()
        raise AutomixError("REAPER's automix server did not publish its token file (ExtState reaper_automix/"
                           "token_file): restart the action 'Automix: Start safe reapy server'")
    try:
        client.request("AUTH", {"token": read_token(path)})
    except TokenError as exc:
        client._socket.close()
        raise AutomixError(f"cannot authenticate to REAPER's automix server: {exc}") from None
    except DistError as exc:
        client._socket.close()
        raise AutomixError(f"REAPER's automix server {str(exc).removeprefix('refused: ')}") from None


def current_project(bridge: Bridge):
    """``reapy.Project()`` for the connected REAPER, with reapy's AttributeError (no connection) translated."""
    import reapy

    try:
        return reapy.Project()
    except AttributeError:
        raise AutomixError(NOT_REACHABLE.format(host=bridge.host, port=bridge.web_port,
                                                why="reapy has no connection")) from None
