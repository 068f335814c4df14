# @noindex
# @description Automix: Start safe reapy server (127.0.0.1, allow-listed)
# @about
#   Keeps reapy's protocol (so `import reapy` outside REAPER works) but binds 127.0.0.1 only and runs only
#   reapy's API and reaper-automix's REAPER operations; any other function a client names is refused.
#   `reaper-automix reaper install` registers this action and makes reapy start it instead of reapy's own
#   server (which binds 0.0.0.0 and runs any importable function).
"""REAPER action: serve reapy clients safely from REAPER's defer loop (about 30 requests per second)."""

import os
import sys

import reaper_python as _rpr


def _package_on_path():
    """REAPER's embedded Python does not see the environment reaper-automix was installed into: add the folder
    ``reaper-automix reaper install`` recorded (or, inside the package's own data, the folder above it)."""
    try:
        import reaper_automix  # noqa: F401
    except ImportError:
        here = os.path.dirname(os.path.abspath(__file__))
        extra = [_rpr.RPR_GetExtState("reaper_automix", "package_path"), os.path.dirname(os.path.dirname(here))]
        for folder in extra:
            if folder and os.path.isdir(os.path.join(folder, "reaper_automix")) and folder not in sys.path:
                sys.path.insert(0, folder)
                break


def _port():
    for value in (os.environ.get("REAPER_AUTOMIX_SERVER_PORT"), _rpr.RPR_GetExtState("reaper_automix", "server_port")):
        if value and value.strip().isdigit():
            return int(value)
    return 2306  # reapy.config.REAPY_SERVER_PORT; clients find the real port through the ExtState below


def automix_server_tick():
    AUTOMIX_SERVER.poll()
    _rpr_defer("automix_server_tick()")


def automix_server_stop():
    AUTOMIX_SERVER.close()
    _rpr.RPR_DeleteExtState("reapy", "server_port", False)
    _rpr.RPR_ShowConsoleMsg("reaper-automix server stopped\n")


def _rpr_defer(code):
    sys.modules["__main__"].RPR_defer(code)


if __name__ == "__main__":
    _package_on_path()
    from reaper_automix.live.ops import Api
    from reaper_automix.live.server import TOKEN_EXT, SafeServer, load_or_create_token, token_path

    _token_file = token_path(_rpr.RPR_GetResourcePath())
    try:
        AUTOMIX_SERVER = SafeServer(_port(), "127.0.0.1", token=load_or_create_token(_token_file), api=Api(_rpr))
    except OSError as exc:
        _rpr.RPR_ShowMessageBox(f"reaper-automix server could not start: {exc}", "reaper-automix", 0)
        raise SystemExit
    # Clients read the install's secret from this file (only this user can): its path is not a secret.
    _rpr.RPR_SetExtState(*TOKEN_EXT, str(_token_file), False)
    # reapy's client discovers the port through the web interface: GET /_/GET/EXTSTATE/reapy/server_port
    _rpr.RPR_SetExtState("reapy", "server_port", str(AUTOMIX_SERVER.port), False)
    _rpr.RPR_ShowConsoleMsg(f"reaper-automix server on 127.0.0.1:{AUTOMIX_SERVER.port}\n")
    sys.modules["__main__"].RPR_atexit("automix_server_stop()")
    automix_server_tick()
