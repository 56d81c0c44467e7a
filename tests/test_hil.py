"""Hardware-in-the-loop over a real serial byte stream (pyserial): the validation firmware on
QEMU's Cortex-M7 with its UART on a loopback TCP port -- or, with --port, a real board.

    pytest tests/test_hil.py --port /dev/ttyACM0 --hil-model model.tflite
    LG_COORDINATOR=farm:20408 pytest tests/test_hil.py --place board-1 --hil-model model.tflite
"""
import re
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import FIXTURE_MODELS
from codegen.pipeline import generate
from firmware_tools.boards import get_board
from firmware_tools.build import build_firmware
from firmware_tools.qemu import QemuSerial
from runtime.hil.link import (ConnectionLost, DeviceError, DeviceReset, HilLink, MalformedReply,
                              NoAnswer, ProtocolVersionMismatch, WrongModel)
from runtime.hil.protocol import (ErrorCode, MsgType, cobs_decode, cobs_encode, decode_packet,
                                  encode_packet)
from runtime.hil.validate import validate

BOARD = "qemu-mps2-an500"
CASES = Path(__file__).parent / "fixtures" / "cases" / "models"
DEFAULT_MODEL = FIXTURE_MODELS / "mobilenet_v1_a025_96_rgb.tflite"
# 50 inputs over QEMU's UART take about a minute per model: the three MobileNet V1/V2 fixtures.
# The V3 fixtures run bit-exact on QEMU in test_firmware.py; HIL adds nothing model-specific.
FIXTURES = [FIXTURE_MODELS / f"{n}.tflite" for n in
            ("mobilenet_v1_a025_128_gray", "mobilenet_v1_a025_96_rgb", "mobilenet_v2_a035_96_rgb")]
qemu_only = pytest.mark.skipif("config.getoption('--port') or config.getoption('--place')",
                               reason="needs the QEMU board")


def build_validation(model, out, defines=None):
    board = get_board(BOARD)
    generate(model, out / "gen", board.target)
    return build_firmware(out / "gen", board, out / "fw", app="validate", defines=defines).elf


@pytest.fixture(scope="module")
def firmware(tmp_path_factory):
    """Validation firmware per fixture model, built once for the module."""
    cache = {}

    def get(model, defines=None):
        key = (model, tuple(defines or ()))
        if key not in cache:
            cache[key] = build_validation(model, tmp_path_factory.mktemp("hil"), defines)
        return cache[key]
    return get


@pytest.fixture
def device(request, firmware):
    """(pyserial URL, model) of a board running the validation firmware; QEMU is started
    for the test and stopped after it, whatever the outcome."""
    port = request.config.getoption("--port")
    if port:
        yield port, request.config.getoption("--hil-model") or DEFAULT_MODEL, None
        return
    place = request.config.getoption("--place")
    if place:       # a labgrid place: acquired for the test, its serial port used, released
        from runtime.hil.farm import acquire_place
        with acquire_place(place) as url:
            yield url, request.config.getoption("--hil-model") or DEFAULT_MODEL, None
        return
    model = getattr(request, "param", DEFAULT_MODEL)
    with QemuSerial(get_board(BOARD), firmware(model)) as q:
        yield q.url, model, q


# --- the codec, no device needed ---

def test_cobs_round_trip():
    rng = np.random.default_rng(0)
    cases = [b"", b"\x00", b"\x00\x00", bytes(range(1, 255)), bytes(range(1, 256)) * 3,
             b"\x01" * 254 + b"\x00" + b"\x02", rng.bytes(3000)]
    for data in cases:
        enc = cobs_encode(data)
        assert b"\x00" not in enc
        assert cobs_decode(enc) == data
        assert len(enc) <= len(data) + 1 + len(data) // 254


def test_packet_round_trip_and_crc():
    frame = encode_packet(MsgType.INVOKE, 7, b"\x05\x00")
    assert frame.endswith(b"\x00") and frame.count(0) == 1
    pkt = decode_packet(frame[:-1])
    assert (pkt.type, pkt.seq, pkt.payload) == (MsgType.INVOKE, 7, b"\x05\x00")
    body = bytearray(cobs_decode(frame[:-1]))
    body[6] ^= 0x10
    with pytest.raises(ValueError, match="CRC"):
        decode_packet(cobs_encode(bytes(body)))


def test_device_reset_is_reported():
    """A BOOT packet in the middle of a session means the device restarted."""
    with HilLink("loop://", timeout=1) as link:
        # loop:// echoes what is sent: an answer to INFO (seq 1) starts the session ...
        link.send_raw(encode_packet(MsgType.INFO | 0x80, 1, b"\x01" * 60))
        assert link.request(MsgType.INFO) == b"\x01" * 60
        link.send_raw(encode_packet(MsgType.BOOT, 0, b"\x01" * 60))   # ... then the device restarts
        with pytest.raises(DeviceReset, match="restarted"):
            link.request(MsgType.INFO)


def test_boot_announcement_at_connect_is_not_a_reset():
    """QEMU's firmware may start just as the host connects: its BOOT arrives before any answer.
    That is the start of the session; the request is sent again and answered."""
    with HilLink("loop://", timeout=1) as link:
        link.send_raw(encode_packet(MsgType.BOOT, 0, b"\x01" * 60))
        link.send_raw(encode_packet(MsgType.INFO | 0x80, 2, b"\x02" * 60))   # the answer to the resend
        assert link.request(MsgType.INFO) == b"\x02" * 60


def test_no_device_is_a_clear_error():
    with HilLink("loop://", timeout=0.3) as link:   # echoes requests, never answers
        t0 = time.monotonic()
        with pytest.raises(NoAnswer, match="flashed with the validation firmware"):
            link.request(MsgType.INFO)
        assert time.monotonic() - t0 < 5


@pytest.mark.parametrize("timeout", [float("nan"), float("inf"), 0, -1, "10", None])
def test_a_timeout_that_never_expires_or_never_waits_is_refused(timeout):
    """HilLink used as a library: timeout=nan never passed a deadline (a hang, found in review);
    a ValueError names it before the port is opened, as does a per-request timeout."""
    t0 = time.monotonic()
    with pytest.raises(ValueError, match="timeout must be"):
        HilLink("loop://", timeout=timeout)
    with HilLink("loop://", timeout=0.3) as link, pytest.raises(ValueError, match="timeout must be"):
        link.request(MsgType.INFO, timeout=float("nan") if timeout is None else timeout)
    with pytest.raises(ValueError, match="retries must be"):
        HilLink("loop://", retries=-1)
    assert time.monotonic() - t0 < 2


@pytest.mark.parametrize("reply_type, payload, call", [
    (MsgType.ERROR, b"", lambda link: link.request(MsgType.INFO)),
    (MsgType.ERROR, b"\x06", lambda link: link.request(MsgType.INFO)),
    (MsgType.INFO | 0x80, b"\x01" * 10, lambda link: link.hello()),
    (MsgType.INFO | 0x80, b"", lambda link: link.hello()),
    (MsgType.INVOKE | 0x80, b"\x00\x05\x00", lambda link: link.invoke()),
    (MsgType.READ_OUTPUT | 0x80, b"", lambda link: link.read_output(4)),
    (MsgType.READ_TENSOR | 0x80, b"\x01", lambda link: link.read_tensor(0)),
    (MsgType.READ_TENSOR | 0x80, [struct.pack("<I", 8), struct.pack("<I", 8) + b"\x01\x02"],
     lambda link: link.read_tensor(0)),
    (MsgType.PROFILE | 0x80, struct.pack("<HH", 0, 0), lambda link: link.profile()),
    (MsgType.PROFILE | 0x80, struct.pack("<HH", 0, 2) + b"\x01\x00", lambda link: link.profile()),
], ids=["error-empty", "error-1-byte", "info-short", "info-empty", "invoke-short", "output-empty",
        "tensor-short", "tensor-short-chunk", "profile-zero", "profile-short"])
def test_malformed_reply_is_its_own_error(reply_type, payload, call):
    """A CRC-valid reply too short for its type is a MalformedReply, never an IndexError,
    struct.error or an endless loop."""
    from types import SimpleNamespace
    with HilLink("loop://", timeout=1, retries=0) as link:
        link.info = SimpleNamespace(layers=2, output=SimpleNamespace(bytes=4), max_payload=1024,
                                    arena_bytes=1024)
        for seq, p in enumerate(payload if isinstance(payload, list) else [payload], 1):
            link.send_raw(encode_packet(reply_type, seq, p))   # loop:// echoes them back as answers
        with pytest.raises(MalformedReply, match="reply|asked|got"):
            call(link)


# --- on the device ---

def test_info(device):
    url, model, _ = device
    from codegen.tflite_reader import model_sha256
    with HilLink(url) as link:
        info = link.hello()
    assert info.protocol == 2 and info.model_sha256 == model_sha256(model)
    assert len(info.inputs) == len(info.outputs) == 1 and info.output.type == "int8"
    assert info.input.bytes == int(np.prod(info.input.shape)) and info.layers > 10
    assert info.unit in ("instructions (QEMU)", "cycles") and info.kernels in ("dsp", "reference")
    assert info.cpu.startswith("cortex-m") and info.board


@pytest.mark.parametrize("device", FIXTURES, indirect=True, ids=lambda p: p.stem)
def test_validate_50_inputs_bit_exact(device, capsys):
    url, model, qemu = device
    if qemu is None and model != FIXTURES[0]:
        pytest.skip("a real board runs one model")
    with HilLink(url) as link:
        rep = validate(link, model, inputs=50, log=print)
    assert rep.inputs == 50 and rep.bytes_differing == 0, rep.render()
    assert len(rep.layers) == link.info.layers
    assert sum(l.count for l in rep.layers) == rep.counts[0] or rep.layers   # checked in validate()
    text = rep.render()
    assert "BIT-EXACT" in text and "per layer" in text
    print(text)


@qemu_only
@pytest.mark.parametrize("model", ["c11_two_outputs", "c16_float_io", "mobilenet_v1_a025_96_two_heads"])
def test_validate_every_output_and_edge_models(model, firmware):
    """Several outputs (c11, and the trained two-heads fixture) and float32 edges (c16) over
    the v2 protocol: INFO lists every input and output with its type; every output byte equals
    TFLite's."""
    path = CASES / f"{model}.tflite" if model.startswith("c") else FIXTURE_MODELS / f"{model}.tflite"
    with QemuSerial(get_board(BOARD), firmware(path)) as q, HilLink(q.url) as link:
        rep = validate(link, path, inputs=20)
        info = link.info
    assert rep.ok and rep.inputs == 20, rep.render()
    if model == "c11_two_outputs":
        assert [o.bytes for o in info.outputs] == [4, 3] and rep.bytes_compared == 20 * 7
    elif model == "mobilenet_v1_a025_96_two_heads":
        assert sorted(o.bytes for o in info.outputs) == [3, 4] and rep.bytes_compared == 20 * 7
    else:
        assert info.input.type == info.output.type == "float32" and rep.bytes_compared == 20 * 4


@qemu_only
def test_corrupted_kernel_is_caught_and_named(tmp_path, firmware):
    """A test-only build flag flips one bit of layer 5's output: the report names layer 5."""
    elf = firmware(DEFAULT_MODEL, ["HIL_PERTURB_LAYER=5"])
    with QemuSerial(get_board(BOARD), elf) as q, HilLink(q.url) as link:
        rep = validate(link, DEFAULT_MODEL, inputs=2, profile=False)
    assert not rep.ok or rep.first_bad_layer is not None
    assert rep.first_bad_layer is not None and rep.first_bad_layer["layer"] == 5, rep.render()
    assert "first differing layer: 5" in rep.render()


@qemu_only
def test_wrong_model(device):
    url, _, _ = device
    with HilLink(url) as link, pytest.raises(WrongModel, match="different model"):
        validate(link, FIXTURE_MODELS / "mobilenet_v2_a035_96_rgb.tflite", inputs=1)


def test_protocol_version_mismatch(device):
    url, _, _ = device
    with HilLink(url) as link:
        with pytest.raises(ProtocolVersionMismatch, match="another protocol version"):
            link.request(MsgType.INFO, version=1)
        assert link.hello().protocol == 2   # and the link still works


def test_unknown_message_type(device):
    url, _, _ = device
    with HilLink(url) as link:
        with pytest.raises(DeviceError) as e:
            link.request(0x3A)
        assert e.value.code == ErrorCode.UNKNOWN_TYPE
        assert link.hello()


def test_bad_arguments(device):
    url, _, _ = device
    with HilLink(url) as link:
        info = link.hello()
        with pytest.raises(DeviceError) as e:
            link.request(MsgType.WRITE_INPUT, struct.pack("<BI", 0, info.input.bytes) + b"\x01")
        assert e.value.code == ErrorCode.BAD_ARGS
        for request in (struct.pack("<BI", 1, 0) + b"\x01",      # no input 1
                        struct.pack("<I", 0)):                    # too short for v2
            with pytest.raises(DeviceError) as e:
                link.request(MsgType.WRITE_INPUT, request)
            assert e.value.code == ErrorCode.BAD_ARGS
        with pytest.raises(DeviceError) as e:                     # no output 1
            link.request(MsgType.READ_OUTPUT, struct.pack("<BIH", 1, 0, 1))
        assert e.value.code == ErrorCode.BAD_ARGS
        link.invoke()
        with pytest.raises(DeviceError) as e:   # only the last layer run is still in the arena
            link.request(MsgType.READ_TENSOR, struct.pack("<HIH", 0, 0, 4))
        assert e.value.code == ErrorCode.STALE_TENSOR


def test_payload_over_the_documented_maximum(device):
    """docs/protocol.md: at most 1024 payload bytes. 1024 is taken, 1025 refused (TOO_LONG)."""
    url, _, _ = device
    with HilLink(url) as link:
        info = link.hello()
        assert info.max_payload == 1024 and info.input.bytes >= 1021
        link.request(MsgType.WRITE_INPUT, struct.pack("<I", 0) + bytes(1020))
        with pytest.raises(DeviceError) as e:
            link.request(MsgType.WRITE_INPUT, struct.pack("<I", 0) + bytes(1021))
        assert e.value.code == ErrorCode.TOO_LONG and "1024" in str(e.value)
        assert link.hello()


def _raw_exchange(link, data: bytes, timeout=3.0):
    """Send raw bytes; collect whatever packets come back within `timeout`."""
    link.send_raw(data)
    deadline = time.monotonic() + timeout
    got = []
    while True:
        pkt = link.read_packet(deadline)
        if pkt is None:
            return got
        got.append(pkt)
        if pkt.type == MsgType.ERROR:
            return got


def test_random_garbage_then_recovery(device):
    url, _, _ = device
    rng = np.random.default_rng(1)
    with HilLink(url) as link:
        t0 = time.monotonic()
        for _ in range(5):
            link.send_raw(rng.bytes(700))
        link.send_raw(b"\x00")
        time.sleep(0.2)
        link._buf.clear()
        assert link.hello().protocol == 2
        assert time.monotonic() - t0 < 15


def test_flipped_bit_is_rejected_and_retried(device):
    url, _, _ = device
    with HilLink(url) as link:
        frame = bytearray(encode_packet(MsgType.INFO, 99))
        frame[-3] ^= 0x04 if frame[-3] ^ 0x04 else 0x08       # inside the CRC, never a 0x00
        errors = [p for p in _raw_exchange(link, bytes(frame)) if p.type == MsgType.ERROR]
        assert errors and errors[0].payload[0] in (ErrorCode.CRC, ErrorCode.COBS)
        # the link resends by itself when a frame is damaged on the way
        real_send = link.send_raw
        sent = []

        def flaky_send(data):
            if not sent:
                data = bytearray(data)
                data[-3] ^= 0x04 if data[-3] ^ 0x04 else 0x08
            sent.append(1)
            real_send(bytes(data))
        link.send_raw = flaky_send
        before = link.crc_retries
        assert link.hello().protocol == 2
        assert link.crc_retries == before + 1 and len(sent) == 2


def test_truncated_frame(device):
    url, _, _ = device
    with HilLink(url) as link:
        frame = encode_packet(MsgType.WRITE_INPUT, 5, struct.pack("<BI", 0, 0) + bytes(range(1, 200)))
        errors = _raw_exchange(link, frame[: len(frame) // 2] + b"\x00")
        assert errors and errors[-1].type == MsgType.ERROR
        assert errors[-1].payload[0] in (ErrorCode.TRUNCATED, ErrorCode.CRC, ErrorCode.COBS)
        assert link.hello()


def test_oversized_frame(device):
    url, _, _ = device
    with HilLink(url) as link:
        errors = _raw_exchange(link, b"\x55" * 3000 + b"\x00")
        assert errors and errors[-1].payload[0] == ErrorCode.TOO_LONG
        assert link.hello()


@qemu_only
def test_device_stops_answering(device):
    """QEMU is killed in the middle of a transfer: a clear error within the timeout, no hang."""
    url, _, qemu = device
    with HilLink(url, timeout=2) as link:
        link.hello()
        threading.Timer(0.3, qemu.stop).start()
        t0 = time.monotonic()
        with pytest.raises((ConnectionLost, NoAnswer)):
            for _ in range(100):
                link.write_input(np.zeros(link.info.input.bytes, np.int8))
        assert time.monotonic() - t0 < 10
    assert qemu.proc.poll() is not None


@qemu_only
def test_cli(device):
    url, model, _ = device

    def run(*args):
        return subprocess.run([sys.executable, "-m", "runtime.cli", "hil", *map(str, args)],
                              capture_output=True, text=True, timeout=300)
    r = run("info", "--port", url)
    assert r.returncode == 0 and "qemu-mps2-an500, cortex-m7" in r.stdout and "sha256" in r.stdout
    # sizes with thousands separators, as the arena's line (trial7: "input        27648 B")
    assert re.search(r"^input +\d{1,3}(,\d{3})* B, shape", r.stdout, re.M), r.stdout
    r = run("validate", "--port", url, "--model", model, "--inputs", "3", "--json")
    assert r.returncode == 0, r.stderr
    import json
    rep = json.loads(r.stdout)
    assert rep["ok"] and rep["inputs"] == 3 and len(rep["layers"]) > 10
    r = run("info", "--port", "socket://127.0.0.1:1")
    assert r.returncode == 2 and "cannot open" in r.stderr and "Traceback" not in r.stderr


def test_well_formed_chunked_replies_are_read():
    """The checks above accept what a correct device sends: a size-only first READ_TENSOR
    chunk, then the bytes; PROFILE in slices."""
    from types import SimpleNamespace
    with HilLink("loop://", timeout=1, retries=0) as link:
        link.info = SimpleNamespace(layers=2, output=SimpleNamespace(bytes=4), max_payload=1024,
                                    arena_bytes=4096)
        link.send_raw(encode_packet(MsgType.READ_TENSOR | 0x80, 1, struct.pack("<I", 3)))
        link.send_raw(encode_packet(MsgType.READ_TENSOR | 0x80, 2, struct.pack("<I", 3) + b"\x01\x02\x03"))
        assert link.read_tensor(5).tolist() == [1, 2, 3]
        link.send_raw(encode_packet(MsgType.PROFILE | 0x80, 3, struct.pack("<HH2I", 0, 2, 7, 9)))
        assert link.profile() == [7, 9]


def test_hostile_requests_are_each_refused_and_the_firmware_keeps_serving(device):
    """attack8: requests whose fields point outside the input, output, tensor or profile --
    offsets near 2^32 (where offset + length wraps), lengths of 65535, payloads one byte short,
    reply/BOOT/ERROR types sent to the device, a header length that disagrees with the packet,
    runs of empty frames and garbage glued to a frame -- each answered with the documented
    error (docs/protocol.md), and the device still answers correctly afterwards."""
    import zlib
    from runtime.hil.protocol import HEADER
    url, model, _ = device
    with HilLink(url, timeout=5, retries=0) as link:
        info = link.hello()
        n_in, n_out = info.input.bytes, info.output.bytes
        link.invoke(last_layer=0)          # layer 0 is the last run: READ_TENSOR's stale check passes
        bad = ErrorCode.BAD_ARGS
        cases = [
            (MsgType.WRITE_INPUT, struct.pack("<BI", 0, 0xFFFFFFFF) + b"\x01", bad),
            (MsgType.WRITE_INPUT, struct.pack("<BI", 0, 0xFFFFFFFC) + b"\x01" * 8, bad),   # wraps
            (MsgType.WRITE_INPUT, struct.pack("<BI", 0, n_in - 1) + b"\x01\x02", bad),
            (MsgType.WRITE_INPUT, struct.pack("<BI", 255, 0) + b"\x01", bad),
            (MsgType.WRITE_INPUT, b"\x00\x00\x00\x00", bad),                              # 4 of 5 bytes
            (MsgType.READ_OUTPUT, struct.pack("<BIH", 0, 0xFFFFFFFF, 0xFFFF), bad),
            (MsgType.READ_OUTPUT, struct.pack("<BIH", 0, 0xFFFFFFFF, 2), bad),           # wraps
            (MsgType.READ_OUTPUT, struct.pack("<BIH", 0, 1, n_out), bad),
            (MsgType.READ_OUTPUT, struct.pack("<BIH", 0, 0, 0xFFFF), bad),
            (MsgType.READ_OUTPUT, struct.pack("<BIH", 200, 0, 1), bad),
            (MsgType.READ_OUTPUT, struct.pack("<BI", 0, 0) + b"\x01", bad),             # 6 of 7 bytes
            (MsgType.PROFILE, struct.pack("<HH", 0xFFFF, 1), bad),
            (MsgType.PROFILE, struct.pack("<HH", 0, 0xFFFF), bad),
            (MsgType.PROFILE, struct.pack("<HH", info.layers, 1), bad),
            (MsgType.PROFILE, b"\x00\x00\x01", bad),
            (MsgType.READ_TENSOR, struct.pack("<HIH", 0xFFFF, 0, 1), bad),
            (MsgType.READ_TENSOR, struct.pack("<HIH", info.layers, 0, 1), bad),
            (MsgType.READ_TENSOR, struct.pack("<HIH", 0, 0xFFFFFFFF, 2), bad),
            (MsgType.READ_TENSOR, struct.pack("<HIH", 0, 0, 0xFFFF), bad),
            (MsgType.READ_TENSOR, struct.pack("<HI", 0, 0) + b"\x01", bad),
            (MsgType.INVOKE, b"\x05", bad),                # was: ran the whole model
            (MsgType.INVOKE, b"\x05\x00\x00", bad),
            (MsgType.INFO, b"\x01", bad),
            (MsgType.READ_OUTPUT, struct.pack("<BIHB", 0, 0, 1, 0), bad),
            (MsgType.PROFILE, struct.pack("<HHB", 0, 1, 0), bad),
            (MsgType.READ_TENSOR, struct.pack("<HIHB", 0, 0, 1, 0), bad),
            (0x81, b"", ErrorCode.UNKNOWN_TYPE),           # a reply type sent to the device
            (MsgType.BOOT, b"", ErrorCode.UNKNOWN_TYPE),
            (MsgType.ERROR, b"\x01\x01", ErrorCode.UNKNOWN_TYPE),
            (0x00, b"", ErrorCode.UNKNOWN_TYPE),
        ]
        for msg_type, payload, code in cases:
            with pytest.raises(DeviceError) as e:
                link.request(msg_type, payload)
            assert e.value.code == code, (msg_type, payload.hex(), str(e.value))
        # edges that are legal: an empty write at the end of the input, 0 bytes at the end of the output
        link.request(MsgType.WRITE_INPUT, struct.pack("<BI", 0, n_in))
        assert link.request(MsgType.READ_OUTPUT, struct.pack("<BIH", 0, n_out, 0)) == b""

        def raw(version, msg_type, seq, payload, length):
            body = HEADER.pack(version, msg_type, seq, length) + payload
            return cobs_encode(body + struct.pack("<I", zlib.crc32(body))) + b"\x00"
        # a CRC-valid packet whose header length says more (or less) than it carries
        for length in (0xFFFF, 1025, 3):
            errors = _raw_exchange(link, raw(2, MsgType.INFO, 77, b"\x01\x02", length))
            assert [p.payload[0] for p in errors if p.type == MsgType.ERROR] == [ErrorCode.TRUNCATED]
        # empty frames are skipped silently; garbage glued in front of a frame spoils that frame only
        assert _raw_exchange(link, b"\x00" * 500, timeout=1.0) == []
        errors = _raw_exchange(link, b"\x07garbage" + encode_packet(MsgType.INFO, 78))
        assert errors and errors[-1].type == MsgType.ERROR
        assert errors[-1].payload[0] in (ErrorCode.CRC, ErrorCode.COBS, ErrorCode.TRUNCATED)
        # still serving, and still right: bit-exact with the reference after all of it
        assert link.hello().model_sha256 == info.model_sha256
        rep = validate(link, model, inputs=2, profile=False)
        assert rep.inputs == 2 and rep.bytes_differing == 0, rep.render()
