"""Boards in a labgrid farm: acquire a place, use its serial port, release it.

labgrid (https://labgrid.readthedocs.io, PyPI `labgrid`, the `farm` extra here) has a
coordinator that knows every place and who holds it, and exporters on the hosts the boards are
plugged into, which publish each board's resources. mcuforge needs one resource per place: a
`NetworkSerialPort` (host, port, protocol `raw` or `rfc2217`) -- what an exporter publishes for
a `USBSerialPort`/`RawSerialPort` (through ser2net) or declares directly for a port that is
already on the network (QEMU's UART, a terminal server).

The coordinator's address is labgrid's own: `--coordinator HOST:PORT`, else the environment
variable LG_COORDINATOR, else 127.0.0.1:20408 (labgrid >= 24 speaks gRPC; the older crossbar
coordinator is not supported).
"""
from __future__ import annotations

import argparse
import contextlib
import io
import os
import socket
from contextlib import contextmanager

from .link import HilError

DEFAULT_COORDINATOR = "127.0.0.1:20408"


class PlaceError(HilError):
    """A labgrid place cannot be used: no coordinator, no such place, held by someone else,
    no serial port."""


def coordinator_address(given: str | None = None) -> str:
    """HOST:PORT of the coordinator: `given`, else $LG_COORDINATOR, else 127.0.0.1:20408
    (labgrid-client's own order)."""
    return given or os.environ.get("LG_COORDINATOR") or DEFAULT_COORDINATOR


def serial_url(cls: str, args: dict) -> str:
    """The pyserial URL of an exported resource's arguments ({"host", "port", "protocol"}):
    socket://HOST:PORT for protocol raw, rfc2217://HOST:PORT for rfc2217 (labgrid's default).
    Raises PlaceError for another class or protocol."""
    if cls != "NetworkSerialPort":
        raise PlaceError(f"{cls} is not a network serial port")
    host, port = args.get("host"), args.get("port")
    proto = args.get("protocol", "rfc2217")
    if proto == "raw":
        return f"socket://{host}:{port}"
    if proto == "rfc2217":
        return f"rfc2217://{host}:{port}"
    raise PlaceError(f"NetworkSerialPort protocol {proto!r}: expected raw or rfc2217")


def _reachable(address: str, timeout: float = 3.0) -> None:
    host, _, port = address.rpartition(":")
    if not host:
        host, port = address, "20408"
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            pass
    except (OSError, ValueError) as e:
        raise PlaceError(f"no labgrid coordinator at {address} ({e}): start `labgrid-coordinator`, or set "
                         "LG_COORDINATOR / --coordinator to its HOST:PORT") from None


def _message(e: Exception) -> str:
    return str(e.args[0]) if e.args else type(e).__name__


@contextmanager
def acquire_places(names: list[str], coordinator: str | None = None):
    """Acquire every place in `names` on the coordinator, yield {place: pyserial URL of its
    NetworkSerialPort}, and release them all on exit, whatever happened.

    Raises PlaceError (a one-line message) when the coordinator cannot be reached, a place does
    not exist, is held by someone else, or has no serial port. Needs the `labgrid` package.
    """
    try:
        from labgrid.remote.client import Error as LabgridError
        from labgrid.remote.client import start_session
    except ImportError:
        raise PlaceError("--place needs labgrid: pip install 'mcuforge[farm]' (or pip install labgrid)") from None
    address = coordinator_address(coordinator)
    _reachable(address)
    quiet = io.StringIO()         # labgrid's client prints "acquired place X" on stdout
    try:
        with contextlib.redirect_stdout(quiet):
            session = start_session(address, extra={"args": argparse.Namespace(
                place=None, allow_unmatched=False, kick=False)})
    except (LabgridError, ConnectionError, OSError) as e:
        raise PlaceError(f"labgrid coordinator {address}: {_message(e)}") from None
    loop = session.loop
    held: list[str] = []
    try:
        urls = {}
        for name in names:
            session.args.place = name
            try:
                with contextlib.redirect_stdout(quiet):
                    loop.run_until_complete(session.acquire())
            except LabgridError as e:
                raise PlaceError(f"labgrid place {name}: {_message(e)}") from None
            held.append(name)
            place = session.get_place(name)
            ports = [(n, r) for (n, cls), r in session.get_target_resources(place).items()
                     if cls == "NetworkSerialPort"]
            if not ports:
                raise PlaceError(f"labgrid place {name} has no NetworkSerialPort: add the board's serial "
                                 "port to the exporter's configuration and match it to the place")
            urls[name] = serial_url("NetworkSerialPort", dict(ports[0][1].args))
        yield urls
    finally:
        for name in held:
            session.args.place = name
            try:
                with contextlib.redirect_stdout(quiet):
                    loop.run_until_complete(session.release())
            except Exception:      # noqa: BLE001 -- release the others; the coordinator can be told by hand
                pass
        with contextlib.suppress(Exception):
            loop.run_until_complete(session.stop())
            loop.run_until_complete(session.close())


@contextmanager
def acquire_place(name: str, coordinator: str | None = None):
    """acquire_places for one place: yields its pyserial URL."""
    with acquire_places([name], coordinator) as urls:
        yield urls[name]
