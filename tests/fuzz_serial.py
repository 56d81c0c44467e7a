"""Hostile device on the HIL serial link: a fake peer that answers `runtime hil info /
validate / profile` correctly for a small model, except that one reply per session (drawn from
a seed) is damaged: payload cut, lengthened, random bytes, wrong type/seq/version, an ERROR or
BOOT in its place, hostile INFO fields (0/huge sizes, NaN scales, 255 tensors, long strings),
raw garbage, silence, or a hang-up.

    python -m tests.fuzz_serial --count 200 --seed 1

(from the repository root, with the project's .venv python; real pyserial over a loopback
socket:// URL, the CLI run in-process). The rule: the command ends within its timeout with exit
code 0, 1 (outputs differ) or 2 and one line per problem on stderr, never a traceback.
"""
from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import math
import random
import socket
import struct
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MODEL = ROOT / "tests/fixtures/cases/models/c16_float_io.tflite"


_COMPILED: dict = {}


def _compiled(model: Path):
    """(compiled graph, inputs, outputs, bytes of each layer's output), once per model."""
    if model not in _COMPILED:
        from codegen.pipeline import compile_graph
        from runtime.hil.validate import _io
        g = compile_graph(model, "reference")
        ins, outs = _io(g.graph)
        _COMPILED[model] = (g, ins, outs, [g.graph.tensors[st.output].size for st in g.steps])
    return _COMPILED[model]


def _info(model: Path, mut: str | None, rng: random.Random) -> bytes:
    g, ins, outs, _ = _compiled(model)
    sha = hashlib.sha256(model.read_bytes()).digest()
    layers, arena = len(g.steps), 4096
    recs = []
    for _, _, i in ins + outs:
        n, sc, zp = i["bytes"], i["scale"], i["zero_point"]
        if mut == "info-size":
            n = rng.choice([0, 2**32 - 1, n + 1])
        if mut == "info-scale":
            sc = rng.choice([math.nan, math.inf, -1.0, 0.0])
        recs.append(struct.pack("<I4H", n, 1, 1, 1, n & 0xFFFF) + struct.pack("<fiB", sc, zp, 0))
    n_in, n_out = len(ins), len(outs)
    if mut == "info-count":
        n_in, n_out = rng.choice([(255, 255), (0, 1), (1, 0), (1, 200)])
    max_payload = rng.choice([0, 7, 9, 65535]) if mut == "info-maxpayload" else 1024
    layers = rng.choice([0, 65535]) if mut == "info-layers" else layers
    arena = rng.choice([0, 1, 2**32 - 1]) if mut == "info-arena" else arena
    board = b"fake\x1b[2J\n" * (25 if mut == "info-strings" else 1)
    body = struct.pack("<BBHIIHH", 2, rng.choice([0, 1, 7]), max_payload, 25_000_000, arena, layers, 0)
    body += sha + struct.pack("<BB", n_in, n_out) + b"".join(recs)
    body += bytes([min(255, len(board))]) + board[:255] + b"\x05cm0p+"
    return body


MUTATIONS = ("cut", "extend", "random", "type", "seq", "version", "error", "boot", "garbage", "silence",
             "hangup", "info-size", "info-scale", "info-count", "info-maxpayload", "info-layers",
             "info-arena", "info-strings", "invoke-count", "profile-count", "tensor-size")


class Peer(threading.Thread):
    """A fake device on a loopback TCP port; `victim` (the index of the reply to damage) and
    `mut` (how) come from the seed."""

    def __init__(self, seed: int, model: Path):
        super().__init__(daemon=True)
        self.rng = random.Random(f"mcuforge-fuzz-serial:{seed}")
        self.mut = self.rng.choice(MUTATIONS)
        self.victim = 0 if self.mut.startswith("info") else self.rng.randrange(0, 12)
        self.model = model
        self.srv = socket.socket()
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(1)
        self.port = self.srv.getsockname()[1]
        self.stop = False

    def reply(self, n: int, pkt) -> bytes | None:
        from runtime.hil.protocol import MsgType, encode_packet
        rng, mut, hit = self.rng, self.mut, n == self.victim
        t = pkt.type
        if t == MsgType.INFO:
            payload = _info(self.model, mut if hit else None, rng)
        elif t == MsgType.WRITE_INPUT:
            payload = b""
        elif t == MsgType.INVOKE:
            layers = len(_compiled(self.model)[3])      # PROFILE answers 7 per layer: they add up
            payload = struct.pack("<BHBQ", 0, layers if not (hit and mut == "invoke-count") else 65535, 0,
                                  7 * layers if not (hit and mut == "invoke-count") else 2**64 - 1)
        elif t == MsgType.READ_OUTPUT:
            idx, off, k = struct.unpack_from("<BIH", pkt.payload)
            payload = bytes(k)
        elif t == MsgType.PROFILE:
            first, k = struct.unpack_from("<HH", pkt.payload)
            k2 = rng.choice([0, k + 1, 65535]) if hit and mut == "profile-count" else k
            payload = struct.pack("<HH", first, k2) + struct.pack(f"<{k}I", *([7] * k))
        elif t == MsgType.READ_TENSOR:
            layer, off, k = struct.unpack_from("<HIH", pkt.payload)
            sizes = _compiled(self.model)[3]
            total = rng.choice([0, 2**32 - 1, 5]) if hit and mut == "tensor-size" else \
                (sizes[layer] if layer < len(sizes) else 0)
            payload = struct.pack("<I", total) + bytes(k)
        else:
            payload = b""
        typ, seq, ver = t | 0x80, pkt.seq, 2
        if hit:
            if mut == "cut":
                payload = payload[:rng.randrange(len(payload) + 1)]
            elif mut == "extend":
                payload += bytes(rng.randrange(1, 900))
            elif mut == "random":
                payload = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 1024)))
            elif mut == "type":
                typ = rng.choice([0x00, 0x7F, 0x81, 0x86, 0xFD])
            elif mut == "seq":
                seq = rng.choice([0, 0xFFFF, pkt.seq + 1])
            elif mut == "version":
                ver = rng.choice([0, 1, 3, 255])
            elif mut == "error":
                typ = MsgType.ERROR
                payload = bytes([rng.randrange(256), t]) + rng.choice([b"", b"x" * 1000, b"\x1b[2J\nboom\x00"])
            elif mut == "boot":
                typ, payload = MsgType.BOOT, _info(self.model, None, rng)
            elif mut == "garbage":
                return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 4000)))
            elif mut == "silence":
                return b""
            elif mut == "hangup":
                return None
        return encode_packet(typ, seq, payload, ver)

    def run(self):
        try:
            self._serve()
        except Exception as e:          # the harness's own failure: reported, not on stderr
            self.failure = repr(e)

    failure = ""

    def _serve(self):
        from runtime.hil.protocol import FrameError, decode_packet
        self.srv.settimeout(30)
        try:
            conn, _ = self.srv.accept()
        except OSError:
            return
        conn.settimeout(0.2)
        buf, n = b"", 0
        with conn:
            while not self.stop:
                try:
                    chunk = conn.recv(4096)
                except socket.timeout:
                    continue
                except OSError:
                    return
                if not chunk:
                    return
                buf += chunk
                while b"\x00" in buf:
                    frame, buf = buf.split(b"\x00", 1)
                    try:
                        pkt = decode_packet(frame)
                    except FrameError:
                        continue
                    out = self.reply(n, pkt)
                    n += 1
                    if out is None:
                        return
                    try:
                        conn.sendall(out)
                    except OSError:
                        return


def run_one(seed: int, command: str, timeout: float = 60) -> tuple[str, int, str, str]:
    """(outcome, exit code, mutation, first stderr line) of one session."""
    from runtime.cli import main
    _compiled(MODEL)
    peer = Peer(seed, MODEL)
    peer.start()
    url = f"socket://127.0.0.1:{peer.port}"
    argv = {"info": ["hil", "info", "--port", url, "--timeout", "1"],
            "validate": ["hil", "validate", "--port", url, "--model", str(MODEL), "--inputs", "2", "--timeout", "1"],
            "profile": ["hil", "profile", "--port", url, "--model", str(MODEL), "--timeout", "1"]}[command]
    err, out = io.StringIO(), io.StringIO()
    result: dict = {}

    def target():
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            try:
                result["code"] = main(argv)
            except SystemExit as e:
                result["code"] = e.code if isinstance(e.code, int) else 1
            except BaseException:
                import traceback
                traceback.print_exc()
                result["code"] = "traceback"
    th = threading.Thread(target=target, daemon=True)
    t0 = time.monotonic()
    th.start()
    th.join(timeout)
    peer.stop = True
    lines = [l for l in err.getvalue().splitlines() if l.strip()]
    if peer.failure:
        return "harness", -1, peer.mut, peer.failure
    if th.is_alive():
        return "hang", -1, peer.mut, f"no exit within {timeout} s"
    code = result.get("code")
    if code == "traceback" or "Traceback" in err.getvalue():
        return "traceback", -1, peer.mut, (lines[-1] if lines else "")
    if code not in (0, 1, 2):
        return "bad-exit", code, peer.mut, (lines[0] if lines else "")
    if code == 2 and len(lines) != 1:
        return "bad-message", code, peer.mut, " | ".join(lines[:3])
    return ("ok" if code == 0 else "refused"), code, peer.mut, (lines[0][:200] if lines else f"{time.monotonic() - t0:.1f} s")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--count", type=int, default=30)
    ap.add_argument("--commands", default="info,validate,profile")
    a = ap.parse_args(argv)
    counts: dict[str, int] = {}
    for i in range(a.seed * 100000, a.seed * 100000 + a.count):
        for c in a.commands.split(","):
            outcome, code, mut, msg = run_one(i, c)
            counts[outcome] = counts.get(outcome, 0) + 1
            flag = "!!" if outcome not in ("ok", "refused") else "  "
            print(f"{flag} {i} {c:<9} {mut:<16} {outcome:<12} {code} {msg}", flush=True)
    print(", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    return 1 if set(counts) - {"ok", "refused"} else 0


if __name__ == "__main__":
    sys.exit(main())
