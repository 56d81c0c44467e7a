"""A request/response link to the validation firmware over any pyserial URL
(/dev/ttyACM0, socket://127.0.0.1:PORT, rfc2217://...), with timeouts, bounded retries on
CRC errors, and exceptions that say what went wrong and what to check."""
from __future__ import annotations

import math
import numbers
import re
import struct
import time
from dataclasses import dataclass

import numpy as np
import serial

from .protocol import (MAX_FRAME_BYTES, MAX_PAYLOAD, VERSION, DeviceInfo, ErrorCode, FrameError, MsgType, Packet, decode_packet,
                       encode_packet, parse_info, printable)


OVERLONG = b"\x00"   # read_frame's stand-in for a frame over MAX_FRAME_BYTES: never decodes (COBS code 0)


# what a ConnectionLost in the middle of a session asks for (it said only pyserial's "read
# failed: socket disconnected")
LOST_HINT = ("the device closed the connection or went away (a board unplugged or reset, QEMU or "
             "`firmware serve` stopped): restart it and run again")


class HilError(RuntimeError):
    pass


class NoAnswer(HilError):
    pass


class ConnectionLost(HilError):
    pass


class DeviceReset(HilError):
    pass


class ProtocolVersionMismatch(HilError):
    pass


class WrongModel(HilError):
    pass


class MalformedReply(HilError):
    """A reply that passed the CRC but does not have the layout its type promises (too short,
    a count that disagrees with its length, no progress): a firmware/host version skew or a
    firmware bug, never a reason for an IndexError or struct.error in the caller."""


def _unpack(fmt: str, payload: bytes, offset: int, what: str) -> tuple:
    """struct.unpack_from that names the reply instead of raising struct.error."""
    need = offset + struct.calcsize(fmt)
    if len(payload) < need:
        raise MalformedReply(f"{what} reply of {len(payload)} bytes is too short (needs {need}); "
                             "is the firmware built from this mcuforge version?")
    return struct.unpack_from(fmt, payload, offset)


class DeviceError(HilError):
    def __init__(self, code: int, request: int, message: str):
        self.code, self.request = code, request
        known = code in ErrorCode._value2member_map_
        # an unknown code with no text read "device rejected INVOKE: 205: " (trial10, fuzz_serial)
        name = ErrorCode(code).name if known else f"error code {code}, which this host does not know"
        req = MsgType(request).name if request in MsgType._value2member_map_ else f"request 0x{request:02x}"
        super().__init__(f"device rejected {req}: {name}" + (f": {message}" if message else "")
                         + ("" if known else "; is the firmware built from this mcuforge version?"))


@dataclass
class InvokeResult:
    layers_run: int
    count: int
    unit: str


def _seconds(timeout, what: str = "timeout") -> float:
    """A finite timeout > 0 in seconds, else ValueError: nan never compares past a deadline (the
    link would wait forever), infinity is the same hang, 0 or less never waits for an answer."""
    if isinstance(timeout, bool) or not isinstance(timeout, numbers.Real):
        raise ValueError(f"{what} must be a number of seconds, got {timeout!r}")
    t = float(timeout)
    if not (math.isfinite(t) and t > 0):
        raise ValueError(f"{what} must be a finite number of seconds above 0, got {timeout!r}")
    return t


def _field(value, bits: int, what: str) -> int:
    """An integer that fits the protocol's unsigned `bits`-bit field, else ValueError naming
    the argument (struct.pack's bare 'ubyte format requires 0 <= number <= 255' named none)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not 0 <= value < 1 << bits:
        raise ValueError(f"{what} must be an integer in 0..{(1 << bits) - 1} (the protocol's "
                         f"{bits}-bit field), got {value!r}")
    return int(value)


def _open_failure(url: str, e: Exception) -> str:
    """One line for a port pyserial could not open: what is wrong and what to do. pyserial's
    own text repeated the path and the errno twice ("could not open port X: [Errno 2] No such
    file or directory: 'X'") and said nothing of the fix."""
    text = " ".join(str(e).split())
    errno = e.errno if isinstance(getattr(e, "errno", None), int) else None
    if not url.isprintable():   # a newline in --port made two error lines of one (attack5)
        url = repr(url)
    if url.startswith(("socket://", "rfc2217://")):
        where = url.split("://", 1)[1].split("?", 1)[0]
        if "Connection refused" in text or errno == 111:
            return (f"cannot open {url}: nothing listens on {where}; start the firmware there "
                    "(`firmware serve --board BOARD fw.elf` prints its socket:// URL) or fix the port")
        if "Name or service not known" in text or "nodename nor servname" in text:
            return f"cannot open {url}: unknown host in {where}; give a host name or address that resolves"
    else:
        tcp = re.fullmatch(r"(?:([A-Za-z0-9.-]+):)?(\d{1,5})", url)
        if tcp and (errno == 2 or "No such file or directory" in text):
            # `firmware serve --port 4321` takes a number; here a URL is needed (the naming clash)
            return (f"cannot open {url}: no such serial port; a TCP port (QEMU under `firmware serve`) "
                    f"is given as a URL: --port socket://{tcp.group(1) or '127.0.0.1'}:{tcp.group(2)}")
        if errno == 2 or "No such file or directory" in text:
            return (f"cannot open {url}: no such serial port; is the board plugged in? "
                    "(`ls /dev/ttyACM* /dev/ttyUSB*` lists USB serial ports; COM3 and the like on Windows)")
        if errno == 13 or "Permission denied" in text:
            return (f"cannot open {url}: permission denied; add yourself to the port's group "
                    "(`sudo usermod -aG dialout $USER`, then log in again)")
        if "Inappropriate ioctl" in text or errno == 25:
            return f"cannot open {url}: it is not a serial port; give the board's port (/dev/ttyACM0, COM3)"
        if errno == 16 or "Device or resource busy" in text:
            return f"cannot open {url}: the port is busy; close the other program using it (a serial monitor?)"
    return f"cannot open {url}: {text}"


class HilLink:
    """A request/response link to the validation firmware over any pyserial URL.

    timeout: seconds to wait for each answer (finite, > 0); invoke_timeout: for an INVOKE's
    answer (the inference runs first; default max(timeout, 60) -- a user's explicit --timeout is
    passed here too, so that a stalled board is reported within it, not after 60 s); retries:
    resends of a request whose answer arrived damaged (an integer >= 0). Raises ValueError on
    any out of range (before the port is opened), ConnectionLost when the port cannot be opened."""

    def __init__(self, url: str, timeout: float = 10.0, retries: int = 3, baudrate: int = 115200,
                 invoke_timeout: float | None = None):
        timeout = _seconds(timeout)
        self.invoke_timeout = (max(timeout, 60.0) if invoke_timeout is None
                               else _seconds(invoke_timeout, "invoke_timeout"))
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise ValueError(f"retries must be an integer of 0 or more, got {retries!r}")
        self.url, self.timeout, self.retries = url, timeout, retries
        try:
            self.port = serial.serial_for_url(url, baudrate=baudrate, timeout=0.05)
        except (serial.SerialException, OSError, ValueError) as e:
            raise ConnectionLost(_open_failure(url, e)) from None
        except (KeyError, IndexError, TypeError) as e:   # pyserial's URL options: loop://?logging=zzz
            raise ConnectionLost(f"cannot open {url if url.isprintable() else repr(url)}: pyserial cannot "
                                 f"read its options ({type(e).__name__}: {e}); check the part after '?' "
                                 "(pyserial's URL handlers document them)") from None
        sock = getattr(self.port, "_socket", None)
        if sock is not None:
            # request/response over TCP: without this, Nagle's algorithm and the peer's
            # delayed ACK add 40 ms to every small request
            import socket
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._seq = 0
        self._buf = bytearray()
        self._overlong = False     # dropping the rest of a frame longer than MAX_FRAME_BYTES
        self.info: DeviceInfo | None = None
        self.crc_retries = 0
        self._answered = False     # a BOOT before the first answer is start-up, not a reset

    def close(self) -> None:
        self.port.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # --- framing ---

    def send_raw(self, data: bytes) -> None:
        try:
            self.port.write(data)
            self.port.flush()
        except (serial.SerialException, OSError) as e:
            raise ConnectionLost(f"writing to {self.url} failed: {e}; {LOST_HINT}") from None

    def read_frame(self, deadline: float) -> bytes | None:
        """The next complete frame (without delimiter), or None at the deadline. More than
        MAX_FRAME_BYTES without a delimiter (line noise, a wrong baud rate, a peer streaming
        garbage) is dropped up to the next delimiter and returned as OVERLONG (once for every
        MAX_FRAME_BYTES), a frame that never decodes: the request resends, and gives up after its
        retries (check the cable, the baud rate) instead of waiting out every timeout. The buffer
        holds at most MAX_FRAME_BYTES + one read (it grew without limit, and each byte read
        rescanned all of it)."""
        while True:
            i = self._buf.find(0, 0, MAX_FRAME_BYTES + 1)
            if i >= 0:
                frame = bytes(self._buf[:i])
                del self._buf[:i + 1]
                if self._overlong:
                    self._overlong = False      # the tail of a frame already reported
                    continue
                if frame:
                    return frame
                continue
            if len(self._buf) > MAX_FRAME_BYTES:
                # no delimiter where the longest frame ends: drop it up to its delimiter
                j = self._buf.find(0)
                if j >= 0:
                    del self._buf[:j + 1]
                else:
                    self._buf.clear()
                    self._overlong = True       # its delimiter is still to come
                return OVERLONG                 # each MAX_FRAME_BYTES of garbage: one damaged frame
            if time.monotonic() > deadline:
                return None
            try:
                # at least one byte (or the 50 ms timeout), then whatever else is waiting, up to
                # 4 KB: read(4096) would sit out the timeout on every short answer
                chunk = self.port.read(min(max(1, self.port.in_waiting), 4096))
            except (serial.SerialException, OSError) as e:
                raise ConnectionLost(f"reading from {self.url} failed: {e}; {LOST_HINT}") from None
            if chunk:
                self._buf += chunk

    def read_packet(self, deadline: float) -> Packet | None:
        while True:
            frame = self.read_frame(deadline)
            if frame is None:
                return None
            try:
                return decode_packet(frame)
            except FrameError:
                self.crc_retries += 1
                return Packet(VERSION, -1, 0xFFFF, b"")   # damaged on the way in: caller retries

    # --- requests ---

    def request(self, msg_type: MsgType | int, payload: bytes = b"", timeout: float | None = None,
                version: int = VERSION) -> bytes:
        timeout = self.timeout if timeout is None else _seconds(timeout)
        name = msg_type.name if isinstance(msg_type, MsgType) else f"request 0x{msg_type:02x}"
        boots = 0
        for _ in range(self.retries + 1):
            self._seq = (self._seq + 1) & 0x7FFF
            seq = self._seq
            self.send_raw(encode_packet(msg_type, seq, payload, version))
            deadline = time.monotonic() + timeout
            damaged = False   # an error we cannot attribute may be the answer to our request
            while True:
                pkt = self.read_packet(deadline)
                if pkt is None:
                    if damaged:
                        break                   # it was ours: resend
                    raise NoAnswer(f"no answer to {name} from {self.url} within {timeout:.3g} s: "
                                   "is the board powered, flashed with the validation firmware "
                                   "(`firmware build --app validate`) and on this port?")
                if pkt.type == -1:
                    break                       # our side saw a corrupt frame: resend
                if pkt.type == MsgType.BOOT:
                    if not self._answered:
                        # the device started just as we connected: our request may have gone
                        # out before it listened, so send it again
                        boots += 1
                        break
                    raise DeviceReset(f"the device on {self.url} restarted during {name} "
                                      "(power glitch, watchdog or crash); results so far are void")
                if pkt.type == MsgType.ERROR and pkt.seq == 0xFFFF:
                    # unreadable frame reached the device: ours, or leftover garbage. Wait a
                    # little longer for a real answer before resending.
                    damaged = True
                    deadline = min(deadline, time.monotonic() + 0.3)
                    continue
                if pkt.seq != seq:
                    continue                    # a stale answer to an earlier request
                if pkt.type == MsgType.ERROR:
                    code, req = _unpack("<BB", pkt.payload, 0, f"ERROR (to {name})")
                    msg = printable(pkt.payload[2:].rstrip(b"\0"))
                    if code == ErrorCode.CRC:
                        self.crc_retries += 1
                        break                   # damaged on the way out: resend
                    if code == ErrorCode.VERSION:
                        raise ProtocolVersionMismatch(
                            f"the device speaks another protocol version ({msg}); this host speaks "
                            f"{VERSION}: rebuild the firmware with this mcuforge")
                    raise DeviceError(code, req, msg)
                if pkt.type != (msg_type | 0x80):
                    continue
                if pkt.version != version:
                    # its payload is laid out for another version: parsed as ours it was
                    # "INFO payload of 0 bytes" or worse
                    raise ProtocolVersionMismatch(
                        f"the device answered {name} in protocol version {pkt.version}; this host speaks "
                        f"{version}: rebuild the firmware with this mcuforge")
                self._answered = True
                return pkt.payload
            if damaged:
                self.crc_retries += 1
        if boots == self.retries + 1:
            # every attempt was answered by a start-up announcement, not by a damaged frame
            raise DeviceReset(f"the device on {self.url} restarted {boots} times in a row instead of "
                              f"answering {name}: a boot loop (a crash, the watchdog or a brown-out "
                              "at start-up); watch its console or debugger")
        raise HilError(f"{name} failed {self.retries + 1} times with corrupted frames on "
                       f"{self.url}: check the cable, the baud rate and the ground connection")

    def hello(self) -> DeviceInfo:
        try:
            info = parse_info(self.request(MsgType.INFO))
        except FrameError as e:
            raise MalformedReply(f"INFO reply: {e}; is the firmware built from this mcuforge "
                                 "version?") from None
        if not 8 <= info.max_payload <= MAX_PAYLOAD:
            raise MalformedReply(f"INFO reply: maximum payload {info.max_payload} outside 8..{MAX_PAYLOAD}; "
                                 "is the firmware built from this mcuforge version?")
        if info.protocol != VERSION:   # the fix, as the header's own version check says it (trial7)
            raise ProtocolVersionMismatch(f"the device's INFO says protocol {info.protocol}; this host speaks "
                                          f"{VERSION}: rebuild the firmware with this mcuforge")
        self.info = info
        return info

    def write_input(self, data: np.ndarray, index: int = 0) -> None:
        """Input `index`'s int8 bytes, in chunks of at most one payload.

        data: any shape; int8 or uint8 (sent byte for byte), or another integer dtype whose
        values all lie in -128..127. Raises ValueError naming `data` for a float/bool/object
        array or an out-of-range value (numpy's cast would wrap or truncate them silently)."""
        index = _field(index, 8, "input index")
        arr = np.asarray(data)
        if arr.dtype in (np.int8, np.uint8):
            raw = np.ascontiguousarray(arr).view(np.int8).tobytes()
        elif arr.dtype.kind in "iu":
            if arr.size and (arr.min() < -128 or arr.max() > 127):
                raise ValueError(f"data must hold int8 values in -128..127, got {arr.dtype} values in "
                                 f"{arr.min()}..{arr.max()}; quantize the input first")
            raw = np.ascontiguousarray(arr, dtype=np.int8).tobytes()
        else:
            raise ValueError(f"data must be an int8 (or uint8) array, got dtype {arr.dtype}; "
                             "quantize the input to int8 first")
        chunk = (self.info.max_payload if self.info else 1024) - 5
        for off in range(0, len(raw), chunk):
            self.request(MsgType.WRITE_INPUT, struct.pack("<BI", index, off) + raw[off:off + chunk])

    def invoke(self, last_layer: int | None = None, timeout: float | None = None) -> InvokeResult:
        """Run the model (up to layer `last_layer`, all by default). timeout: seconds (finite,
        > 0; ValueError otherwise, as in the constructor), default the constructor's invoke_timeout."""
        payload = b"" if last_layer is None else struct.pack("<H", _field(last_layer, 16, "last_layer"))
        resp = self.request(MsgType.INVOKE, payload,
                            timeout=self.invoke_timeout if timeout is None else _seconds(timeout))
        status, ran, unit, count = _unpack("<BHBQ", resp, 0, "INVOKE")
        return InvokeResult(ran, count, "cycles" if unit == 1 else "instructions (QEMU)")

    def read_output(self, n: int | None = None, index: int = 0) -> np.ndarray:
        """Output `index`'s int8 bytes (the first n; all by default)."""
        index = _field(index, 8, "output index")
        if n is None and self.info is not None and index >= len(self.info.outputs):
            raise ValueError(f"output index {index}: the device's model has {len(self.info.outputs)} output(s)")
        n = self.info.outputs[index].bytes if n is None else n
        if self.info is not None and n > self.info.arena_bytes:
            # an output lives in the arena: a larger size (INFO of 2^32-1 bytes) would have us
            # ask ~4 million chunks of it
            raise MalformedReply(f"READ_OUTPUT of output {index}: {n} bytes in a "
                                 f"{self.info.arena_bytes}-byte arena")
        out = bytearray()
        while len(out) < n:
            k = min(1024, n - len(out))
            resp = self.request(MsgType.READ_OUTPUT, struct.pack("<BIH", index, len(out), k))
            if len(resp) != k:
                raise MalformedReply(f"READ_OUTPUT of output {index} asked for {k} bytes at "
                                     f"{len(out)}, got {len(resp)}")
            out += resp
        return np.frombuffer(bytes(out), np.int8)

    def read_tensor(self, layer: int) -> np.ndarray:
        layer = _field(layer, 16, "layer")
        out = bytearray()
        total = None
        while total is None or len(out) < total:
            asked = 0 if total is None else min(1020, total - len(out))   # the first asks the size
            resp = self.request(MsgType.READ_TENSOR, struct.pack("<HIH", layer, len(out), asked))
            first = _unpack("<I", resp, 0, "READ_TENSOR")[0]
            total = first if total is None else total
            if self.info is not None and total > self.info.arena_bytes:
                # a tensor lives in the arena: a larger size would have us ask for it forever
                raise MalformedReply(f"READ_TENSOR of layer {layer}: a {total}-byte tensor in a "
                                     f"{self.info.arena_bytes}-byte arena")
            if first != total or len(resp) - 4 != asked:
                raise MalformedReply(f"READ_TENSOR of layer {layer}: asked for {asked} bytes at {len(out)} "
                                     f"of a {total}-byte tensor, got {len(resp) - 4} of {first}")
            out += resp[4:]
        return np.frombuffer(bytes(out), np.int8)

    def profile(self) -> list[int]:
        n = self.info.layers
        counts: list[int] = []
        while len(counts) < n:
            k = min(200, n - len(counts))
            resp = self.request(MsgType.PROFILE, struct.pack("<HH", len(counts), k))
            first, count = _unpack("<HH", resp, 0, "PROFILE")
            if first != len(counts) or not 0 < count <= k:
                raise MalformedReply(f"PROFILE asked for {k} layers from {len(counts)}, got {count} "
                                     f"from {first}")
            counts += list(_unpack(f"<{count}I", resp, 4, "PROFILE"))
        return counts
