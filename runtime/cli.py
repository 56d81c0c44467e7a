"""`runtime`: the host runtime. `runtime classify` labels camera frames live on a Raspberry Pi
(or any Linux box); `runtime hil ...` validates generated code on a board."""
from __future__ import annotations

import argparse
import json
import os
import sys

EPILOG = """\
examples:
  runtime classify --model mobilenet_v1_1.0_224_quant.tflite \\
      --labels labels_mobilenet_quant_v1_224.txt --source picamera2 --threads 4
  runtime classify --model tests/fixtures/models/mobilenet_v1_a025_96_rgb.tflite \\
      --labels tests/fixtures/models/shapes_labels.txt --source synthetic --frames 200

hardware in the loop (the board runs firmware built with `firmware build --app validate`):
  runtime hil info --port /dev/ttyACM0
  runtime hil validate --port /dev/ttyACM0 --model model.tflite --inputs 50
  runtime hil profile --port socket://127.0.0.1:4321 --model model.tflite --json

--port takes anything pyserial's serial_for_url does: /dev/ttyACM0, COM3,
socket://HOST:PORT (QEMU's UART), rfc2217://HOST:PORT.
"""


def cmd_info(args) -> int:
    from .hil.link import HilLink
    with HilLink(args.port, timeout=args.timeout) as link:
        info = link.hello()
    if args.json:
        print(json.dumps(info, default=lambda o: o.__dict__, indent=1))
        return 0
    print(f"board        {info.board}, {info.cpu} at {info.clock_hz / 1e6:g} MHz (time in {info.unit})")
    print(f"protocol     {info.protocol}, max payload {info.max_payload} B")
    print(f"model        sha256 {info.model_sha256}")
    for role, ts in (("input", info.inputs), ("output", info.outputs)):
        for k, t in enumerate(ts):
            label = role if len(ts) == 1 else f"{role} {k}"
            edge = "" if t.type == "int8" else f" ({t.type} in the model: an edge)"
            print(f"{label:<12} {t.bytes} B, shape {list(t.shape)}, scale {t.scale:.6g}, "
                  f"zero point {t.zero_point}{edge}")
    print(f"arena        {info.arena_bytes:,} B, {info.layers} layers, {info.kernels} kernels")
    return 0


def cmd_validate(args, profile_only: bool = False) -> int:
    from .hil.link import HilLink
    from .hil.validate import validate
    if not args.model:
        print("runtime: error: --model is required (the .tflite the firmware was built from)", file=sys.stderr)
        return 2
    log = (lambda s: print(s, file=sys.stderr, flush=True)) if args.json else print
    with HilLink(args.port, timeout=args.timeout) as link:
        rep = validate(link, args.model, inputs=1 if profile_only else args.inputs, seed=args.seed, log=log)
    print(json.dumps(rep.as_dict(), indent=1) if args.json else rep.render())
    return 0 if rep.ok else 1


CLASSIFY_EPILOG = """\
sources:
{sources}

Output: a live line on a terminal (one line per frame otherwise), JSON lines with --json
(one {{"type": "result", ...}} per frame, then one {{"type": "summary", ...}}), annotated
frames with --save DIR, and with picamera2 the label drawn over the camera preview.
Frames from a camera are never queued: when inference is slower than the camera, the
newest frame is classified and the others are dropped (counted in the summary).
"""


def result_dict(r) -> dict:
    return {"type": "result", "frame": r.frame.index, "name": r.frame.name,
            "top": [{"index": p.index, "label": p.label, "score": round(p.score, 6)} for p in r.top],
            "infer_ms": round(r.infer_ms, 3), "latency_ms": round(r.latency_ms, 3),
            "fps": round(r.fps, 2), "dropped": r.dropped, "truth": r.frame.truth}


def result_line(r) -> str:
    top = " | ".join(f"{p.label} {p.score:.2f}" for p in r.top)
    return (f"#{r.frame.index:<5} {top}   {r.fps:6.1f} FPS  {r.infer_ms:6.2f} ms"
            f"  (latency {r.latency_ms:.1f} ms)")


def cmd_classify(args) -> int:
    from .annotate import caption, overlay, save_annotated
    from .classifier import Classifier
    from .frames import open_source
    from .pipeline import Pipeline
    clf = Classifier(args.model, args.labels, args.threads, args.input_range)
    preview = args.preview
    if preview is None:      # a desktop session shows the preview, a headless one does not
        preview = bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    source = open_source(args.source, clf.labels, args.frames, preview)
    err = sys.stderr
    lo, hi = clf.preprocess.range
    print(f"model   {args.model}: input {clf.input.describe()}, pixels 0..255 -> [{lo:g}, {hi:g}]; "
          f"{clf.classes} classes; {clf.threads} thread{'s' * (clf.threads > 1)}", file=err)
    pipe = Pipeline(source, clf, args.top_k, args.frames)
    tty = sys.stdout.isatty() and not args.json
    last_draw = 0.0
    try:
        for i, r in enumerate(pipe.run()):
            if i == 0:
                print(f"source  {source.description}", file=err)
            if args.json:
                print(json.dumps(result_dict(r)), flush=True)
            elif tty:
                if r.frame.timestamp - last_draw > 0.1:     # ~10 updates a second
                    last_draw = r.frame.timestamp
                    print("\r\033[K" + result_line(r), end="", flush=True)
            else:
                print(result_line(r), flush=True)
            if args.save:
                save_annotated(r, args.save)
            if preview and hasattr(source, "show"):
                source.show(overlay(source.main_size, caption(r)))
    except KeyboardInterrupt:
        pass
    if tty:
        print()
    s = pipe.summary
    if args.json:
        print(json.dumps({"type": "summary", **s.as_dict()}), flush=True)
    else:
        acc = f", top-1 accuracy {s.accuracy:.1%} of {s.labelled} labelled" if s.accuracy is not None else ""
        lat = s.as_dict()
        print(f"{s.frames} frames in {s.seconds:.2f} s: {s.fps:.1f} FPS, inference {lat['infer_ms_mean'] or 0:.2f} ms, "
              f"latency p50 {lat['latency_ms_p50'] or 0:.1f} ms / p95 {lat['latency_ms_p95'] or 0:.1f} ms, "
              f"{s.dropped} dropped{acc}" + (f"; annotated frames in {args.save}" if args.save else ""))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="runtime", description="mcuforge host runtime.", epilog=EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    from .frames import SOURCE_HELP
    c = sub.add_parser("classify", help="classify camera frames, videos or images live",
                       description="Classify frames with a .tflite image classifier, live.",
                       epilog=CLASSIFY_EPILOG.format(sources=SOURCE_HELP),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    c.add_argument("--model", required=True, help="the .tflite classifier (int8, uint8 or float)")
    c.add_argument("--labels", help="labels file, one per line (default: class numbers)")
    c.add_argument("--source", default="picamera2", help="picamera2 (default), synthetic[:SEED], images:DIR, "
                   "video:FILE, usb:N")
    c.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                   help="interpreter threads (default: all cores, %(default)s here)")
    c.add_argument("--top-k", type=int, default=3, help="classes to report per frame (default: 3)")
    c.add_argument("--frames", type=int, help="stop after N frames (default: until the source ends or Ctrl-C)")
    c.add_argument("--json", action="store_true", help="JSON lines on stdout, for other programs")
    c.add_argument("--save", type=_path, metavar="DIR", help="save every frame, annotated, as PNG in DIR")
    c.add_argument("--input-range", default="auto", metavar="auto|0:1|-1:1|0:255",
                   help="the float range pixels map to before quantization (default: auto, read off "
                   "the input's quantization; float models: -1:1)")
    pv = c.add_mutually_exclusive_group()
    pv.add_argument("--preview", dest="preview", action="store_true", default=None,
                    help="picamera2: show the camera preview with the label (default: when a display is set)")
    pv.add_argument("--no-preview", dest="preview", action="store_false")
    c.set_defaults(fn=cmd_classify)
    hil = sub.add_parser("hil", help="hardware-in-the-loop validation over a serial link")
    hs = hil.add_subparsers(dest="hil_command", metavar="ACTION")
    for name, fn, help_ in (("info", cmd_info, "what the device runs"),
                            ("validate", cmd_validate, "N inputs on the device vs the TFLite reference"),
                            ("profile", lambda a: cmd_validate(a, True), "time per layer")):
        c = hs.add_parser(name, help=help_)
        c.add_argument("--port", required=True, help="/dev/ttyACM0, socket://127.0.0.1:PORT, rfc2217://...")
        c.add_argument("--model", help="the .tflite the firmware was generated from")
        c.add_argument("--inputs", type=int, default=50, help="inputs to compare (default: 50)")
        c.add_argument("--seed", type=int, default=0)
        c.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for an answer")
        c.add_argument("--json", action="store_true", help="machine-readable report")
        c.set_defaults(fn=fn)
    return p


def _path(s: str):
    from pathlib import Path
    return Path(s)


def main(argv: list[str] | None = None) -> int:
    from codegen.cli_main import run
    from .classifier import LabelsError, ModelLoadError
    from .frames import SourceError
    from .hil.link import HilError
    from .preprocess import ModelInputError
    return run(build_parser(), argv, (HilError, SourceError, ModelLoadError, LabelsError, ModelInputError))


if __name__ == "__main__":
    sys.exit(main())
