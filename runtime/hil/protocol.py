"""mcuforge HIL wire protocol v2, host side: COBS framing, CRC-32, packets (docs/protocol.md)."""
from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from enum import IntEnum

VERSION = 2
MAX_PAYLOAD = 1024
HEADER = struct.Struct("<BBHH")      # version, type, seq, length
# the longest frame on the wire, delimiter excluded: COBS of header + MAX_PAYLOAD + CRC-32
# (cobs_encode adds 1 + floor(n / 254) bytes)
MAX_FRAME_BYTES = HEADER.size + MAX_PAYLOAD + 4 + 1 + (HEADER.size + MAX_PAYLOAD + 4) // 254


class MsgType(IntEnum):
    INFO = 0x01
    WRITE_INPUT = 0x02
    INVOKE = 0x03
    READ_OUTPUT = 0x04
    PROFILE = 0x05
    READ_TENSOR = 0x06
    BOOT = 0xFE
    ERROR = 0xFF


class ErrorCode(IntEnum):
    CRC = 1
    TRUNCATED = 2
    TOO_LONG = 3
    VERSION = 4
    UNKNOWN_TYPE = 5
    BAD_ARGS = 6
    STALE_TENSOR = 7
    COBS = 8


class FrameError(ValueError):
    """A frame that cannot be decoded (bad COBS, short, bad CRC)."""


def cobs_encode(data: bytes) -> bytes:
    """Consistent Overhead Byte Stuffing (Cheshire and Baker, IEEE/ACM Trans. Networking 1999):
    data with no 0x00 left in it, 1 + floor(len(data) / 254) bytes longer; the 0x00 frame
    delimiter is not appended (encode_packet does that). Raises nothing."""
    out = bytearray()
    block = bytearray()
    for b in data:
        if b == 0:
            out += bytes([len(block) + 1]) + block
            block.clear()
        else:
            block.append(b)
            if len(block) == 254:
                out += b"\xff" + block
                block.clear()
    out += bytes([len(block) + 1]) + block
    return bytes(out)


def cobs_decode(data: bytes) -> bytes:
    """The inverse of cobs_encode, for one frame without its 0x00 delimiter. Raises FrameError for
    a zero byte or a block length running past the end (a damaged frame)."""
    out = bytearray()
    i = 0
    while i < len(data):
        code = data[i]
        i += 1
        if code == 0 or i + code - 1 > len(data):
            raise FrameError("invalid COBS encoding")
        out += data[i:i + code - 1]
        i += code - 1
        if code != 0xFF and i < len(data):
            out.append(0)
    return bytes(out)


def encode_packet(msg_type: int, seq: int, payload: bytes = b"", version: int = VERSION) -> bytes:
    """The bytes on the wire: COBS(packet) + 0x00."""
    body = HEADER.pack(version, msg_type, seq & 0xFFFF, len(payload)) + payload
    body += struct.pack("<I", zlib.crc32(body))
    return cobs_encode(body) + b"\x00"


@dataclass
class Packet:
    version: int
    type: int
    seq: int
    payload: bytes


def decode_packet(frame: bytes) -> Packet:
    """One frame without its 0x00 delimiter."""
    body = cobs_decode(frame)
    if len(body) < HEADER.size + 4:
        raise FrameError(f"packet of {len(body)} bytes is shorter than a header")
    version, msg_type, seq, length = HEADER.unpack_from(body)
    if zlib.crc32(body[:-4]) != struct.unpack_from("<I", body, len(body) - 4)[0]:
        raise FrameError("CRC mismatch")
    if HEADER.size + length + 4 != len(body):
        raise FrameError("payload length does not match the packet")
    return Packet(version, msg_type, seq, body[HEADER.size:HEADER.size + length])


def printable(raw: bytes) -> str:
    """Device text (ERROR message, board and CPU names) as printable ASCII: any other byte
    becomes '?'. A device's newline split its one-line error in two, an ESC sequence reached
    the user's terminal (b"\\x1b[2J" cleared it)."""
    return "".join(chr(b) if 0x20 <= b < 0x7F else "?" for b in raw)


IO_TYPES = {0: "int8", 1: "float32", 2: "uint8"}


@dataclass
class TensorInfo:
    bytes: int
    shape: tuple[int, ...]
    scale: float
    zero_point: int
    type: str = "int8"          # the source model's type there (float32/uint8: an edge)


@dataclass
class DeviceInfo:
    protocol: int
    unit: str
    max_payload: int
    clock_hz: int
    arena_bytes: int
    layers: int
    kernels: str
    model_sha256: str
    input: TensorInfo           # inputs[0]
    output: TensorInfo          # outputs[0]
    board: str
    cpu: str
    inputs: list[TensorInfo]
    outputs: list[TensorInfo]


UNITS = {0: "instructions (QEMU)", 1: "cycles"}


INFO_FIXED_BYTES = struct.calcsize("<BBHIIHH") + 32 + 2   # header, SHA-256, input and output counts
TENSOR_RECORD_BYTES = struct.calcsize("<I4HfiB")


def parse_info(payload: bytes) -> DeviceInfo:
    """INFO/BOOT payload (protocol v2, docs/protocol.md): the header fields, every input and
    output, the board. Raises FrameError if it is shorter than its fixed part, lists no input
    or output, or a tensor record or a string runs past its end."""
    if len(payload) < INFO_FIXED_BYTES:
        raise FrameError(f"INFO payload of {len(payload)} bytes, the fixed part alone is "
                         f"{INFO_FIXED_BYTES}")
    proto, unit, max_payload, clock, arena, layers, flags = struct.unpack_from("<BBHIIHH", payload)
    off = struct.calcsize("<BBHIIHH")
    sha = payload[off:off + 32].hex()
    off += 32
    n_in, n_out = struct.unpack_from("<BB", payload, off)
    off += 2
    if n_in == 0 or n_out == 0 or off + (n_in + n_out) * TENSOR_RECORD_BYTES > len(payload):
        raise FrameError(f"INFO lists {n_in} input(s) and {n_out} output(s), which do not fit "
                         f"its {len(payload)}-byte payload")
    tensors = []
    for _ in range(n_in + n_out):
        n, *shape = struct.unpack_from("<I4H", payload, off)
        off += struct.calcsize("<I4H")
        scale, zp, kind = struct.unpack_from("<fiB", payload, off)
        off += 9
        tensors.append(TensorInfo(n, tuple(shape), scale, zp, IO_TYPES.get(kind, "?")))
    strings = []
    for _ in range(2):          # board name, CPU
        n = payload[off] if off < len(payload) else 0
        if off + 1 + n > len(payload) and off < len(payload):
            raise FrameError(f"INFO string of {n} bytes at {off} runs past the {len(payload)}-byte payload")
        strings.append(printable(payload[off + 1:off + 1 + n]) or "?")
        off += 1 + n
    ins, outs = tensors[:n_in], tensors[n_in:]
    return DeviceInfo(proto, UNITS.get(unit, "?"), max_payload, clock, arena, layers,
                      "mve" if flags & 2 else "dsp" if flags & 1 else "reference", sha,
                      ins[0], outs[0], strings[0], strings[1], ins, outs)
