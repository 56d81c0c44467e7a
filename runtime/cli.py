"""`runtime`: the host runtime. `runtime classify` labels camera frames live on a Raspberry Pi
(or any Linux box); `runtime hil ...` validates generated code on a board."""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path

from codegen.cli_main import input_shape, nonempty_path, positive_float, positive_int

_seconds = positive_float("seconds")   # --timeout: nan would never expire (a hang)

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
  runtime hil validate --port /dev/ttyACM0 --model model.tflite --images photos/ --labels labels.txt
  runtime classify --model model.tflite --labels labels.txt --source picamera2 --device /dev/ttyACM0

--port takes anything pyserial's serial_for_url does: /dev/ttyACM0, COM3,
socket://HOST:PORT (QEMU's UART), rfc2217://HOST:PORT. --place NAME takes a labgrid place
instead (coordinator: --coordinator or $LG_COORDINATOR); repeat --place (and --model) on
`hil validate` to validate on several boards at once.
"""


def _finite(v):
    """`v` (JSON-like) with NaN and infinities, which a device may report (a scale) and strict
    JSON (RFC 8259) has no token for, as null."""
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: _finite(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_finite(x) for x in v]
    return v


def cmd_info(args) -> int:
    from .hil.link import HilLink
    with _port(args) as url, HilLink(url, timeout=args.timeout or HIL_TIMEOUT, invoke_timeout=args.timeout) as link:
        info = link.hello()
    if args.json:
        print(json.dumps(_finite(json.loads(json.dumps(info, default=lambda o: o.__dict__))), indent=1,
                         allow_nan=False))
        return 0
    print(f"board        {info.board}, {info.cpu} at {info.clock_hz / 1e6:g} MHz (time in {info.unit})")
    print(f"protocol     {info.protocol}, max payload {info.max_payload} B")
    print(f"model        sha256 {info.model_sha256}")
    for role, ts in (("input", info.inputs), ("output", info.outputs)):
        for k, t in enumerate(ts):
            label = role if len(ts) == 1 else f"{role} {k}"
            edge = "" if t.type == "int8" else f" ({t.type} in the model: an edge)"
            print(f"{label:<12} {t.bytes:,} B, shape {list(t.shape)}, scale {t.scale:.6g}, "
                  f"zero point {t.zero_point}{edge}")
    print(f"arena        {info.arena_bytes:,} B, {info.layers} layers, {info.kernels} kernels")
    return 0


def _model_file_problem(m) -> str | None:
    """What is wrong with --model m as a TFLite file, in one line (None when it parses).
    A text file or a truncated model was reported as 'the device runs a different model'
    (its sha256 compared before anything read it)."""
    from codegen.errors import ModelFormatError
    from codegen.tflite_reader import read_model
    path = Path(m)
    if not path.exists():
        return f"{m}: no such model file"
    if path.is_dir():
        return f"{m} is a folder, not a model file: give --model the .tflite the firmware was built from"
    try:
        read_model(path)
    except ModelFormatError as e:
        return str(e)
    return None


RANDOM_INPUTS = 50   # hil validate's default count of random inputs
HIL_TIMEOUT = 10.0   # hil commands and classify --device: seconds to wait for an answer without --timeout (an inference: 60)


def cmd_validate(args, profile_only: bool = False) -> int:
    from .hil.link import HilLink
    from .hil.validate import load_images, validate
    models = _listed(args.model)
    places = _listed(args.place)
    if not models:
        print("runtime: error: --model is required (the .tflite the firmware was built from)", file=sys.stderr)
        return 2
    if getattr(args, "images", None) and getattr(args, "seed", None) is not None:
        # the seed only draws random inputs: beside --images it was silently ignored
        print("runtime: error: --seed draws the random inputs, and --images replaces them: drop --seed "
              "(or --images to validate on random inputs)", file=sys.stderr)
        return 2
    if getattr(args, "labels", None) and not getattr(args, "images", None):
        # the labels score images: without --images it was silently ignored (random inputs, no accuracy)
        print(f"runtime: error: --labels {args.labels} scores the images of --images DIR "
              "(DIR/<class>/x.png): give --images DIR with it, or drop --labels to validate on random inputs",
              file=sys.stderr)
        return 2
    for m in models:   # before connecting: a missing file is not worth a link timeout
        problem = _model_file_problem(m)
        if problem:
            print(f"runtime: error: {problem}", file=sys.stderr)
            return 2
    if len(places) > 1 or len(models) > 1:
        if len(places) < 2 or len(models) not in (1, len(places)):
            print("runtime: error: several --model need as many --place (one model per place, in order), "
                  "or give one --model for every --place", file=sys.stderr)
            return 2
        return _validate_places(args, places, models * len(places) if len(models) == 1 else models,
                                profile_only)
    if not (args.port or places):
        print("runtime: error: give --port URL or --place NAME", file=sys.stderr)
        return 2
    log = (lambda s: print(s, file=sys.stderr, flush=True)) if args.json else print
    images = None
    if getattr(args, "images", None):
        images = load_images(models[0], args.images, args.labels, limit=args.inputs)   # --inputs N: the first N
    with _port(args) as url, HilLink(url, timeout=args.timeout or HIL_TIMEOUT, invoke_timeout=args.timeout) as link:
        rep = validate(link, models[0], inputs=1 if profile_only else args.inputs or RANDOM_INPUTS,
                       seed=getattr(args, "seed", None) or 0,
                       log=log, images=images)
    print(json.dumps(rep.as_dict(), indent=1) if args.json else rep.render())
    return 0 if rep.ok else 1


def _validate_places(args, places, models, profile_only) -> int:
    """Validate models[i] on places[i], all at once: every place is acquired from the labgrid
    coordinator first, each runs on its own thread (the work is serial I/O and TFLite, both
    outside the GIL), and all are released at the end."""
    import threading
    import time
    from .hil.farm import acquire_places
    from .hil.link import HilError, HilLink
    from .hil.validate import load_images, validate
    images = ({m: load_images(m, args.images, args.labels, limit=args.inputs) for m in set(models)}
              if args.images else {})
    reports, errors, spans = {}, {}, {}

    def one(place, url, model):
        t0 = time.time()
        try:
            with HilLink(url, timeout=args.timeout or HIL_TIMEOUT, invoke_timeout=args.timeout) as link:
                reports[place] = validate(link, model, inputs=1 if profile_only else args.inputs or RANDOM_INPUTS,
                                          seed=args.seed or 0, images=images.get(model),
                                          log=lambda s: print(f"[{place}] {s}", file=sys.stderr, flush=True))
        except HilError as e:
            errors[place] = str(e)
        spans[place] = (t0, time.time())
    with acquire_places(places, args.coordinator) as urls:
        threads = [threading.Thread(target=one, args=(p, urls[p], m), name=p) for p, m in zip(places, models)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    if args.json:
        print(json.dumps({"places": {p: {"url": urls[p], "model": str(m), "started": spans[p][0],
                                         "ended": spans[p][1], "error": errors.get(p),
                                         "report": reports[p].as_dict() if p in reports else None}
                                     for p, m in zip(places, models)},
                          "ok": not errors and all(r.ok for r in reports.values())}, indent=1))
    else:
        for p in places:
            print(f"== place {p} ({urls[p]}), {spans[p][1] - spans[p][0]:.1f} s")
            print(reports[p].render() if p in reports else f"error: {errors[p]}")
    return 0 if not errors and all(r.ok for r in reports.values()) else 1


CLASSIFY_EPILOG = """\
examples:
  runtime classify --model tests/fixtures/models/mobilenet_v1_a025_96_rgb.tflite \\
      --labels tests/fixtures/models/shapes_labels.txt --source images:tests/fixtures/images/shapes
  runtime classify --model tests/fixtures/models/mobilenet_v1_a025_96_rgb.tflite --source synthetic --frames 200
  runtime classify --model model.tflite --labels labels.txt --source picamera2 --threads 4
  runtime classify --model model.tflite --labels labels.txt --source images:photos/ --device socket://127.0.0.1:4321

sources:
{sources}

Output: a live line on a terminal (one line per frame otherwise), JSON lines with --json
(one {{"type": "result", ...}} per frame, then one {{"type": "summary", ...}}), annotated
frames with --save DIR, and with picamera2 the label drawn over the camera preview.
Frames from a camera are never queued: when inference is slower than the camera, the
newest frame is classified and the others are dropped (counted in the summary).
"""


HIL_PORTS = """
--port takes anything pyserial's serial_for_url does: /dev/ttyACM0, COM3, socket://HOST:PORT
(QEMU's UART: `firmware serve` prints it), rfc2217://HOST:PORT; --place NAME takes
a labgrid place instead (coordinator: --coordinator or $LG_COORDINATOR).
"""

HIL_EXAMPLES = {
    "info": """\
examples:
  runtime hil info --port /dev/ttyACM0
  runtime hil info --port socket://127.0.0.1:4321 --json
""",
    "validate": """\
examples:
  runtime hil validate --port /dev/ttyACM0 --model model.tflite --inputs 50
  runtime hil validate --port /dev/ttyACM0 --model model.tflite --images photos/ --labels labels.txt
  runtime hil validate --place board-a --model a.tflite --place board-b --model b.tflite
""",
    "profile": """\
examples:
  runtime hil profile --port /dev/ttyACM0 --model model.tflite
  runtime hil profile --port socket://127.0.0.1:4321 --model model.tflite --json
""",
}

HIL_DESCRIPTIONS = {
    "info": "Ask the device what it runs: board, CPU and clock, the model's sha256, its input and "
            "output tensors, arena size and kernels.",
    "validate": "Run inputs (random, or --images) on the device and compare its output, and on a "
                "difference every layer's, byte for byte with TFLite's reference kernels.",
    "profile": "Time every layer on the device (cycles on a board, instructions under QEMU): "
               "each layer's operator, kernel, count and share of the inference.",
}

HIL_EPILOG = """\
examples:
  runtime hil info --port /dev/ttyACM0
  runtime hil validate --port /dev/ttyACM0 --model model.tflite --inputs 50
  runtime hil profile --port socket://127.0.0.1:4321 --model model.tflite --json
""" + HIL_PORTS


def result_dict(r, dev=None, clf=None, k=3, saved=None) -> dict:
    d = {"type": "result", "frame": r.frame.index, "name": r.frame.name,
         "top": [{"index": p.index, "label": p.label, "score": round(p.score, 6)} for p in r.top],
         "infer_ms": round(r.infer_ms, 3), "latency_ms": round(r.latency_ms, 3),
         "fps": round(r.fps, 2) if r.fps is not None else None, "dropped": r.dropped, "truth": r.frame.truth}
    if dev is not None:
        d["device"] = {"top": [{"index": p.index, "label": p.label, "score": round(p.score, 6)}
                               for p in clf.top(dev.raw, k)],
                       "bit_exact": dev.exact, "differing_bytes": dev.differing, "count": dev.count,
                       "unit": dev.unit, "link_ms": round(dev.link_ms, 3),
                       "round_trip_ms": round(dev.round_trip_ms, 3),
                       "first_bad_layer": dev.first_bad_layer, "saved": str(saved) if saved else None}
    return d


def _tops(top) -> str:
    return " | ".join(f"{p.label} {p.score:.2f}" for p in top)


def _fps(fps: float | None) -> str:
    """The frame rate in a 6-wide field; "-" until a rate is measurable (the first frame)."""
    return f"{fps:6.1f}" if fps is not None else f"{'-':>6}"


def result_line(r, dev=None, clf=None, k=3, saved=None) -> str:
    """One frame: index, file name and true label when known, top-k, speed; with a device,
    its top-k beside the Pi's, its time per inference and the link's time. clf: the Classifier;
    the true label is marked ok/MISS only when clf's labels name it."""
    f = r.frame
    who = ""
    if f.name and not f.name.startswith(("synthetic #", "camera #", "#")):
        who = f"{f.name}  "
    if f.truth is not None:
        # ok/MISS only when the labels name the truth (as the summary's accuracy): without
        # --labels the classes are "class N" and "square" is no verdict on "class 1"
        named = clf is not None and f.truth in clf.labels
        who += f"[truth {f.truth}{(' ok' if r.top[0].label == f.truth else ' MISS') if named else ''}]  "
    if dev is None:
        return (f"#{f.index:<5} {who}{_tops(r.top)}   {_fps(r.fps)} FPS  {r.infer_ms:6.2f} ms"
                f"  (latency {r.latency_ms:.1f} ms)")
    verdict = "same" if dev.exact else f"DIFFERS ({dev.differing} output bytes)"
    if dev.first_bad_layer:
        b = dev.first_bad_layer
        verdict += f", first differing layer {b['layer']} ({b['op']}, {b['kernel']})"
    if saved:
        verdict += f", frame saved to {saved}"
    return (f"#{f.index:<5} {who}pi: {_tops(r.top)}   device: {_tops(clf.top(dev.raw, k))}   {verdict}   "
            f"device {dev.count:,} {dev.unit}, link {dev.link_ms:.1f} ms")


def save_mismatch(r, dev, clf, k, folder, crop):
    """The frame (crop box drawn, both top-k in the caption) as PNG, and the exact input tensor
    as .npy beside it, so the case can be replayed."""
    from .annotate import save_annotated
    lines = [f"pi     {_tops(r.top[:2])}", f"device {_tops(clf.top(dev.raw, 2))}",
             f"{dev.differing} output bytes differ"]
    path = save_annotated(r, folder, crop, lines, prefix="mismatch_")
    import numpy as np
    np.save(path.with_suffix(".npy"), r.tensor)
    return path


class SaveFolderError(RuntimeError):
    """--save DIR cannot hold the annotated frames (a file in its place, a read-only folder)."""


def _check_save_folder(folder: Path) -> None:
    """--save DIR: created and probed with a temporary file before the model loads, so that a
    file in its place or a folder it cannot write is refused before any frame is classified
    (it was refused after the first). Raises SaveFolderError (one line)."""
    import tempfile
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as e:
        try:   # exists() itself raises for a name over NAME_MAX (was: 'File name too long: ...' alone)
            other = folder.exists() and not folder.is_dir()
        except OSError:
            other = False
        why = "is a file, not a folder" if other else f"cannot be written ({e.strerror or e})"
        raise SaveFolderError(f"--save {folder}: {why}; give a folder it can write (created if missing)") from None


def _say_which_output(clf, chosen: bool, err) -> None:
    """With several outputs, say which holds the class scores: a model whose first output is
    a regression head (the bundled two-heads fixture lists its colour [1, 3] first) had it
    shown as '3 classes' without a word."""
    outs = clf.interpreter.get_output_details()
    if len(outs) < 2:
        return
    o = outs[clf.output_pos]
    how = (f"chosen by --output {clf.output_pos}" if chosen else "the one quantized like probabilities (a SOFTMAX's 1/256 scale)"
           if clf.output_pos else "the first")
    print(f"output  {clf.output_pos} '{o['name']}' {[int(d) for d in o['shape']]} of {len(outs)}: "
          f"{how}; --output N reads another", file=err, flush=True)


def _synthetic_labels(clf, err) -> None:
    """--source synthetic without --labels: the frames' true labels are the shapes' class names
    (runtime/shapes.LABELS, the order the bundled shapes models were trained in), so a model
    with that many classes is named with them and the summary reports accuracy (it printed
    "class 1" beside "[truth square]" and no accuracy); any other model: one warning line."""
    from .shapes import LABELS
    if clf.classes == len(LABELS):
        clf.labels = list(LABELS)
        print(f"labels  {', '.join(LABELS)} (the synthetic shapes' classes; --labels FILE overrides)", file=err)
    else:
        print(f"warning: the synthetic shapes are {len(LABELS)} classes ({', '.join(LABELS)}) but the model has "
              f"{clf.classes}: no accuracy; give --labels FILE naming them", file=err)


def _warn_duplicate_labels(labels: list[str], path) -> None:
    """One warning line when a label names several classes: results print the same name for
    them and a DIR/<label>/ image counts as right for any of them (ImageNet's own list has two
    'crane' and two 'maillot', so it is not refused)."""
    from collections import Counter
    twice = [(name, n) for name, n in Counter(labels).items() if n > 1 and name]
    if twice:
        shown = ", ".join(f"{name!r} x{n}" for name, n in twice[:5]) + (" ..." if len(twice) > 5 else "")
        print(f"warning: labels file {path} names several classes alike ({shown}): results cannot tell "
              "them apart and an image in DIR/<label>/ counts as right for any of them", file=sys.stderr)




def cmd_classify(args) -> int:
    from .classifier import Classifier, read_labels
    from .frames import ImageFolderSource, SyntheticSource, open_source
    on_device = bool(args.device or args.place)
    if args.timeout is not None and not on_device:
        # it was silently accepted: only the --device link waits for anything
        print(f"runtime: error: --timeout {args.timeout:g} is the wait for --device's answers; without "
              "--device URL or --place NAME nothing waits: drop --timeout", file=sys.stderr)
        return 2
    # what can be checked without the model first: the interpreter's XNNPACK banner
    # ("INFO: Created TensorFlow Lite XNNPACK delegate") no longer precedes these errors
    if args.device:
        _check_port_url(args.device, "--device")
    if args.labels:
        _warn_duplicate_labels(read_labels(args.labels), args.labels)
    if args.save:
        _check_save_folder(args.save)
    preview = args.preview
    if preview is None:      # a desktop session shows the preview, a headless one does not
        preview = bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    err = sys.stderr
    source = open_source(args.source, None, args.frames, preview)   # the spec checked before the model
    clf = Classifier(args.model, args.labels, args.threads, args.input_range, reference=on_device,
                     output=args.output, input_shape=args.input_shape)
    if isinstance(source, ImageFolderSource):
        source.labels = set(clf.labels)       # DIR/<label>/ is labelled when the labels name it
    if isinstance(source, SyntheticSource) and not args.labels:
        _synthetic_labels(clf, err)
    if hasattr(source, "warn"):
        source.warn = lambda s: print(f"warning: {s}", file=err, flush=True)
    lo, hi = clf.preprocess.range
    print(f"model   {args.model}: input {clf.input.describe()}, pixels 0..255 -> [{lo:g}, {hi:g}]; "
          f"{clf.classes} classes; " + ("TFLite reference kernels (compared with the device)" if on_device
                                        else f"{clf.threads} thread{'s' * (clf.threads > 1)}"), file=err)
    _say_which_output(clf, args.output is not None, err)
    with _device(args, clf.output_pos) as runner:
        if runner is not None:
            i = runner.info
            print(f"device  {i.board}, {i.cpu} at {i.clock_hz / 1e6:g} MHz on {args.device or args.place}, "
                  f"{i.kernels} kernels; every frame runs on it too", file=err)
        return _classify_loop(args, clf, source, preview, runner)


def _classify_loop(args, clf, source, preview, runner) -> int:
    from .annotate import caption, overlay, save_annotated
    from .pipeline import Pipeline
    err = sys.stderr
    pipe = Pipeline(source, clf, args.top_k, args.frames, keep_tensors=runner is not None)
    tty = sys.stdout.isatty() and not args.json
    last_draw = 0.0
    k = pipe.top_k
    dev_stats = {"frames": 0, "differing": 0, "count": [], "link_ms": [], "unit": None, "saved": []}
    mismatch_dir = args.save or Path("hil-mismatches")
    try:
        for i, r in enumerate(pipe.run()):
            if i == 0:
                print(f"source  {source.description}", file=err)
            crop = clf.preprocess.crop_of(*r.frame.shape[:2])
            dev = saved = None
            if runner is not None:
                dev = runner.run(r.tensor, r.raw, r.frame.index)
                dev_stats["frames"] += 1
                dev_stats["count"].append(dev.count)
                dev_stats["link_ms"].append(dev.link_ms)
                dev_stats["unit"] = dev.unit
                if not dev.exact:
                    dev_stats["differing"] += 1
                    saved = save_mismatch(r, dev, clf, k, mismatch_dir, crop)
                    dev_stats["saved"].append(str(saved))
            if args.json:
                print(json.dumps(result_dict(r, dev, clf, k, saved)), flush=True)
            elif tty and dev is None:
                if r.frame.timestamp - last_draw > 0.1:     # ~10 updates a second
                    last_draw = r.frame.timestamp
                    print("\r\033[K" + result_line(r, clf=clf), end="", flush=True)
            else:
                print(result_line(r, dev, clf, k, saved), flush=True)
            if args.save:
                try:
                    save_annotated(r, args.save, crop)
                except OSError as e:
                    # a full disk mid-run was "No space left on device; check the path"
                    raise SaveFolderError(f"--save {args.save}: saving frame {r.frame.index} failed "
                                          f"({e.strerror or e}); free some space or give another folder") from None
            if preview and hasattr(source, "show"):
                source.show(overlay(source.main_size, caption(r)))
    except KeyboardInterrupt:
        interrupted = True
    else:
        interrupted = False
    if tty and runner is None:
        print()
    s = pipe.summary
    d = s.as_dict()
    if runner is not None:
        import numpy as np
        d["device"] = {"frames": dev_stats["frames"], "differing_frames": dev_stats["differing"],
                       "unit": dev_stats["unit"],
                       "count_mean": float(np.mean(dev_stats["count"])) if dev_stats["count"] else None,
                       "link_ms_mean": float(np.mean(dev_stats["link_ms"])) if dev_stats["link_ms"] else None,
                       "saved": dev_stats["saved"]}
    if args.json:
        print(json.dumps({"type": "summary", **d}), flush=True)
    else:
        acc = f", top-1 accuracy {s.accuracy:.1%} of {s.labelled} labelled" if s.accuracy is not None else ""
        print(f"{s.frames} frames in {s.seconds:.2f} s: {s.fps:.1f} FPS, inference {d['infer_ms_mean'] or 0:.2f} ms, "
              f"latency p50 {d['latency_ms_p50'] or 0:.1f} ms / p95 {d['latency_ms_p95'] or 0:.1f} ms, "
              f"{s.dropped} dropped{acc}" + (f"; annotated frames in {args.save}" if args.save else ""))
        if s.skipped:
            # each was a warning line as it happened
            from .frames import skipped_names
            names, more = skipped_names(s.skipped)
            print(f"{len(s.skipped)} unreadable file{'s' * (len(s.skipped) > 1)} skipped: {names}"
                  + (f" and {more:,} more (each in a warning above)" if more > 0 else ""))
        if runner is not None:
            dd = d["device"]
            print(f"device: {dd['frames']} frames, {dd['differing_frames']} differ from the Pi's TFLite "
                  f"reference" + (f" (saved in {mismatch_dir})" if dd["differing_frames"] else ", all bit-exact")
                  + (f"; {dd['count_mean']:,.0f} {dd['unit']} per inference, link {dd['link_ms_mean']:.1f} ms per frame"
                     if dd["frames"] else ""))
    if s.frames == 0 and not interrupted:
        # every file unreadable, or a video without one whole frame: was '0 frames ... 0.0 FPS', exit 0
        from .frames import ImageFolderSource
        why = ("every image is unreadable (skipped above)" if isinstance(source, ImageFolderSource)
               else "it gave no whole frame")
        print(f"runtime: error: no frame classified from {args.source} ({source.description}): {why}; "
              "give a source with at least one readable frame", file=err)
        return 2
    return 1 if runner is not None and dev_stats["differing"] else 0


def _device(args, output: int = 0):
    """A context manager yielding a DeviceRunner on --device URL (or the --place's serial
    port) comparing the model's output `output` (its position), or None without either."""
    from contextlib import contextmanager, nullcontext
    if not (args.device or getattr(args, "place", None)):
        return nullcontext(None)

    @contextmanager
    def cm():
        from .hil.device import DeviceRunner
        from .hil.link import HilLink
        with _port(args) as url, HilLink(url, timeout=args.timeout or HIL_TIMEOUT,
                                         invoke_timeout=args.timeout) as link:
            yield DeviceRunner(link, args.model, output=output)
    return cm()


def _port(args):
    """The pyserial URL of --port/--device, or of the labgrid place's NetworkSerialPort
    (acquired here, released on exit)."""
    from contextlib import nullcontext
    places = _listed(getattr(args, "place", None))
    if places:
        from .hil.farm import acquire_place
        return acquire_place(places[0], args.coordinator)
    url = getattr(args, "port", None) or getattr(args, "device", None)
    if not url:
        from .hil.link import HilError
        raise HilError("give --port URL (/dev/ttyACM0, socket://HOST:PORT) or --place NAME (a labgrid place)")
    _check_port_url(url, "--port" if getattr(args, "port", None) else "--device")
    return nullcontext(url)


PORT_FORMS = ("a device path (/dev/ttyACM0, COM3), socket://HOST:PORT or rfc2217://HOST:PORT "
              "(PORT 1..65535), or another pyserial URL (loop://, spy://..., hwgrep://...)")


def _check_port_url(url: str, option: str) -> None:
    """HilError (one line naming `option` and the valid forms) for a pyserial URL that cannot
    name a port: an unknown protocol, or a socket:// / rfc2217:// address without a host or with
    a port outside 1..65535 (pyserial's own messages there were "'debug|info|warning|error'" or a
    TypeError's text). Query options (?logging=...) are left to pyserial."""
    import importlib.util
    from urllib.parse import urlsplit
    from .hil.link import HilError
    if "://" not in url:
        return                                     # a device path: opening it names any problem
    scheme = url.split("://", 1)[0].lower()
    bad = None
    if not scheme.isidentifier() or importlib.util.find_spec(f"serial.urlhandler.protocol_{scheme}") is None:
        bad = f"protocol {scheme!r} is not one pyserial knows"
    elif scheme in ("socket", "rfc2217"):
        try:
            parts = urlsplit(url)      # socket://[::1 (an unclosed IPv6 bracket): a ValueError traceback
            host, port = parts.hostname, parts.port
        except ValueError:
            host = port = None
        if not host or port is None or not 1 <= port <= 65535:
            bad = f"{scheme}:// needs HOST:PORT with PORT in 1..65535"
    if bad:
        raise HilError(f"{option} {url}: {bad}; give {PORT_FORMS}")


def _listed(v) -> list:
    return v if isinstance(v, list) else [v] if v else []


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="runtime", description="mcuforge host runtime.", epilog=EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    from codegen import __version__   # one version for the three commands (codegen --version had it alone)
    p.add_argument("--version", action="version", version=f"mcuforge runtime {__version__}")
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
    c.add_argument("--threads", type=positive_int, default=os.cpu_count() or 1,
                   help="interpreter threads (default: all cores, %(default)s here)")
    c.add_argument("--top-k", type=positive_int, default=3, help="classes to report per frame (default: 3)")
    c.add_argument("--frames", type=positive_int, help="stop after N frames (default: until the source ends or Ctrl-C)")
    c.add_argument("--json", action="store_true", help="JSON lines on stdout, for other programs")
    c.add_argument("--output", type=_output_position, metavar="N",
                   help="which output holds the class scores, counted from 0 in the model's output "
                   "order (default: 0, or the only one quantized like SOFTMAX probabilities when "
                   "output 0 is not)")
    c.add_argument("--save", type=_path, metavar="DIR", help="save every frame, annotated, as PNG in DIR")
    c.add_argument("--input-range", default="auto", metavar="auto|0:1|-1:1|0:255",
                   help="the float range pixels map to before quantization (default: auto, read off "
                   "the input's quantization; float models: -1:1)")
    c.add_argument("--input-shape", type=input_shape, metavar="1,224,224,3",
                   help="run a model whose input has dynamic dimensions (-1) at this size, as "
                   "`codegen emit --input-shape` compiles it (such a model is refused without it)")
    c.add_argument("--device", "--port", dest="device", metavar="URL",   # --port: as `runtime hil` spells it
                   help="also run every frame on a board running the validation firmware built from "
                   "--model (a pyserial URL: /dev/ttyACM0, socket://HOST:PORT): its top-k beside the Pi's, "
                   "differences flagged and the frame saved, device and link time per frame")
    c.add_argument("--place", help="like --device, on a labgrid place's serial port (coordinator from "
                   "--coordinator or LG_COORDINATOR)")
    c.add_argument("--coordinator", metavar="HOST:PORT", help="labgrid coordinator (default: $LG_COORDINATOR, "
                   "else 127.0.0.1:20408)")
    c.add_argument("--timeout", type=_seconds,
                   help="with --device or --place: seconds to wait for each answer, an inference's included "
                   "(default: 10, and 60 for an inference)")
    pv = c.add_mutually_exclusive_group()
    pv.add_argument("--preview", dest="preview", action="store_true", default=None,
                    help="picamera2: show the camera preview with the label (default: when a display is set)")
    pv.add_argument("--no-preview", dest="preview", action="store_false")
    c.set_defaults(fn=cmd_classify)
    hil = sub.add_parser("hil", help="hardware-in-the-loop validation over a serial link",
                         description="Talk to a board running the validation firmware (`firmware build "
                                     "--app validate`) over a serial link.",
                         epilog=HIL_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    hs = hil.add_subparsers(dest="hil_command", metavar="ACTION")
    for name, fn, help_ in (("info", cmd_info, "what the device runs"),
                            ("validate", cmd_validate, "inputs on the device vs the TFLite reference"),
                            ("profile", lambda a: cmd_validate(a, True), "time per layer")):
        c = hs.add_parser(name, help=help_, description=HIL_DESCRIPTIONS[name], epilog=HIL_EXAMPLES[name]
                          + HIL_PORTS, formatter_class=argparse.RawDescriptionHelpFormatter)
        where = c.add_mutually_exclusive_group()
        where.add_argument("--port", help="/dev/ttyACM0, socket://127.0.0.1:PORT, rfc2217://...")
        many = name == "validate"
        where.add_argument("--place", action="append" if many else None,
                           help="a labgrid place: acquired, its NetworkSerialPort used, released"
                           + ("; repeat to validate on several places at once" if many else ""))
        c.add_argument("--coordinator", metavar="HOST:PORT",
                       help="labgrid coordinator (default: $LG_COORDINATOR, else 127.0.0.1:20408)")
        if name != "info":
            c.add_argument("--model", action="append" if many else None,
                           help="the .tflite the firmware was generated from"
                           + ("; with several --place, one per place in order" if many else ""))
        if many:
            c.add_argument("--inputs", type=positive_int,
                           help=f"random inputs to compare (default: {RANDOM_INPUTS}); with --images, the first N "
                                "images (default: all)")
            c.add_argument("--seed", type=int, help="seed of the random inputs (default: 0); not with --images")
            c.add_argument("--images", metavar="DIR", help="compare on every image under DIR instead, "
                           "through the model's own preprocessing (centre crop, resize, quantize)")
            c.add_argument("--labels", help="with --images: the labels file (one class per line); images in "
                           "DIR/<label>/ are labelled, and top-1 accuracy is reported for device and reference")
        c.add_argument("--timeout", type=_seconds, help="seconds to wait for each answer, an inference's "
                       "included (default: 10, and 60 for an inference)")
        c.add_argument("--json", action="store_true", help="machine-readable report")
        c.set_defaults(fn=fn)
    return p


def _output_position(s: str) -> int:
    """--output N: an output's position, 0 or more (range checked against the model by
    Classifier). Raises argparse.ArgumentTypeError."""
    import argparse
    try:
        v = int(s)
    except ValueError:
        v = -1
    if v < 0:
        raise argparse.ArgumentTypeError(f"expected an output's position (0, 1, ...), got {s!r}")
    return v


def _path(s: str):
    """--save DIR: a Path; refuses "" (the current folder) as codegen's -o does."""
    from pathlib import Path
    return Path(nonempty_path(s))


def main(argv: list[str] | None = None) -> int:
    from codegen.cli_main import run
    from .classifier import LabelsError, ModelLoadError
    from .frames import SourceError
    from .hil.link import HilError
    from .interpreter import DamagedModel      # hil validate's reference (load_images, ReferenceModel)
    from .preprocess import ModelInputError
    return run(build_parser(), argv, (HilError, SourceError, ModelLoadError, LabelsError, ModelInputError,
                                      SaveFolderError, DamagedModel))


if __name__ == "__main__":
    sys.exit(main())
