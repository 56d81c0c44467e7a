"""Capture, inference and reporting overlap, each on its own thread:

  capture thread    reads the next frames and stages them for the model: crop, colour and
                    quantize in one pass into a body reused frame after frame
                    (Preprocessor.stage)
  inference thread  copies frame n+1's body into the interpreter's input buffer
                    (Classifier.load: set_tensor from the body's batch view, made once per
                    body; no tensor in between) and runs the interpreter on it
                    (TFLite's invoke releases the GIL)
  caller's thread   turns frame n's output into top-k, timings and the Result it yields

Running inference on the caller's thread instead (no hand-over, no wake-up) when the
interpreter's threads take every core measured worse (MobileNet V1 1.0 224, 2 threads on 2
cores: 396 against 340 us of the pipeline threads' CPU a frame outside invoke): the caller's
work then runs between two invokes, while XNNPACK's worker threads spin waiting for the next.

Bounded slots sit between them. For a live source (a camera) the capture slot holds only the
newest frame: a frame not yet taken when the next arrives is dropped, so results never lag the
scene, and every result is handed over at once. For files the capture slot holds four frames
and the capture thread waits for room, so every frame is classified; the result slot holds
four, and a caller slower than inference holds the pipeline back.

Every wake-up costs: a thread put to sleep and woken spends 15-20 us of CPU on it here (the
waker a few), and a woken thread wants the GIL. So:
- the inference thread loads a frame into the interpreter without waking anyone and wakes the
  caller just before invoke(), so the caller's Python runs while the interpreter does (woken at
  the hand-over, it took the GIL the moment the input copy released it and the interpreter
  waited out its work: 80 us a frame on a 0.3 ms model);
- the capture thread is woken by the caller, off the inference thread's path, and for files
  only when one frame is left, so it prepares three at a time; results from files are handed
  over three at a time. Measured on vww96 (0.3 ms a frame, benchmarks/pipeline_throughput.py):
  with no capture or reporting work at all, the hand-over alone cost 3.5-5% of the frame rate
  with a wake-up of each thread per frame, under 3% so;
- and for files the caller wakes the capture thread only as it goes to sleep itself (no result
  left), so the two do not take turns at the GIL. The caller's first result after a wake-up
  cost 95-110 us of CPU (cold caches), the next ones 20 (MobileNet V1 1.0 224, 2 threads):
  three a wake-up instead of two measured 19-25 us a frame less on the caller's thread.
"""
from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from .classifier import Classifier, Prediction
from .frames import Frame, FrameSource, Want

_END = object()


class Slot:
    """A bounded hand-over between two threads (one producer, one consumer); `latest` drops
    the oldest instead of waiting.

    put and get wake the other side unless told not to (wake=False); then wake() does it later.
    A hand-over that needs no waiting touches no lock: deque appends and pops are atomic under
    the GIL, and a side about to wait first counts itself in `waiting` under the lock, then
    re-checks, so a put or get that finds nobody waiting needs to wake nobody (in threading's
    Condition, Python code, each lock and notify measured 10-20 us of CPU a frame with the
    interpreter's threads on every core). A `latest` slot's put, which may drop the oldest, and
    every wait stay under the lock. The lock-free paths rely on the GIL ordering every step of
    both threads (a free-threaded CPython build would need them under the lock).
    """

    def __init__(self, capacity: int, latest: bool):
        self.capacity, self.latest = capacity, latest
        self.items: deque = deque()
        self.dropped = 0
        self.closed = False
        self.waiting = 0            # threads in (or about to enter) cv.wait()
        self.cv = threading.Condition()

    def __len__(self) -> int:
        return len(self.items)

    def _wait(self) -> None:
        """Under self.cv, once the caller has counted itself in self.waiting and re-checked."""
        self.cv.notify_all()            # a deferred wake must not leave the other side asleep
        self.cv.wait()

    def put(self, item, wake: bool = True) -> bool:
        """False once the slot is closed: the other side has gone."""
        items = self.items
        if not self.latest and not self.closed and len(items) < self.capacity:
            items.append(item)          # only this thread adds, so there is still room
            if wake and self.waiting:
                self.wake()
            return True
        with self.cv:
            self.waiting += 1
            try:
                while not self.latest and len(items) >= self.capacity and not self.closed:
                    self._wait()
            finally:
                self.waiting -= 1
            if self.closed:
                return False
            if self.latest and len(items) >= self.capacity and items[0] is not _END:
                items.popleft()
                self.dropped += 1
            items.append(item)
            if wake:
                self.cv.notify_all()
            return True

    def get(self, wake: bool = True):
        """The oldest item; _END once the slot is closed."""
        items = self.items
        if not self.latest and items and not self.closed:
            item = items.popleft()      # only this thread takes, so it is still there
            if wake and self.waiting:
                self.wake()
            return item
        with self.cv:
            self.waiting += 1
            try:
                while not items and not self.closed:
                    self._wait()
            finally:
                self.waiting -= 1
            if self.closed:
                return _END
            item = items.popleft()
            if wake:
                self.cv.notify_all()
            return item

    def wake(self) -> None:
        if self.waiting:
            with self.cv:
                self.cv.notify_all()

    def close(self) -> None:
        with self.cv:
            self.closed = True
            self.cv.notify_all()


@dataclass
class Result:
    frame: Frame
    top: list[Prediction]
    infer_ms: float               # input copy (Classifier.load) + invoke + get_tensor
    latency_ms: float             # frame captured -> result in the caller's hands
    fps: float | None             # results per second, moving average over the last frames;
                                  # None until two results give a rate (the first frame)
    dropped: int                  # frames dropped so far (live sources only)
    tensor: np.ndarray | None = None   # the exact input tensor, when asked to keep it
    raw: np.ndarray | None = None      # the raw output (quantized scores), when asked to keep tensors


@dataclass
class Summary:
    frames: int = 0
    seconds: float = 0.0
    dropped: int = 0
    infer_ms: list[float] = field(default_factory=list)
    latency_ms: list[float] = field(default_factory=list)
    correct: int = 0
    labelled: int = 0
    skipped: list = field(default_factory=list)   # (file name, reason): unreadable files

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds else 0.0

    @property
    def accuracy(self) -> float | None:
        return self.correct / self.labelled if self.labelled else None

    def add(self, r: Result, known_labels: set[str]) -> None:
        self.frames += 1
        self.dropped = r.dropped
        self.infer_ms.append(r.infer_ms)
        self.latency_ms.append(r.latency_ms)
        if r.frame.truth in known_labels:     # a truth the model can name
            self.labelled += 1
            self.correct += r.top[0].label == r.frame.truth

    def as_dict(self) -> dict:
        pct = (lambda v, q: round(float(np.percentile(v, q)), 3) if v else None)
        return {"frames": self.frames, "seconds": round(self.seconds, 3), "fps": round(self.fps, 2),
                "dropped": self.dropped,
                "infer_ms_mean": round(float(np.mean(self.infer_ms)), 3) if self.infer_ms else None,
                "latency_ms_p50": pct(self.latency_ms, 50), "latency_ms_p95": pct(self.latency_ms, 95),
                "accuracy": self.accuracy, "labelled": self.labelled,
                "skipped": [{"name": n, "reason": why} for n, why in self.skipped]}


class Timeline:
    """Per-stage timestamps of every frame, for finding where per-frame time goes
    (benchmarks/pipeline_throughput.py --timeline). marks[stage] is a list of
    (frame index, wall seconds from time.perf_counter, the marking thread's CPU seconds from
    time.thread_time), appended by the thread that runs the stage; list.append is atomic under
    the GIL, so the three threads need no lock.

    Stages, in order: capture thread: read (source.read starts; marked with the index the
    frame will have, so for sources that number their frames 0, 1, 2, ...), read_done, pre_done
    (preprocessed), put_done (handed to the inference slot); inference thread: got (frame
    taken), set_done (input copied into the interpreter), invoke_done, out_done (output
    copied), put_done; caller's thread: got, top_done (top-k and Result made).
    """

    def __init__(self):
        self.marks: dict[str, list] = {}
        self._now, self._cpu = time.perf_counter, time.thread_time

    def mark(self, thread: str, stage: str, index: int) -> None:
        self.marks.setdefault(f"{thread}.{stage}", []).append((index, self._now(), self._cpu()))


class Pipeline:
    def __init__(self, source: FrameSource, classifier: Classifier, top_k: int = 5,
                 max_frames: int | None = None, keep_tensors: bool = False, window: int = 30,
                 timeline: Timeline | None = None):
        """timeline: record per-stage timestamps there (see Timeline); None, the default,
        records nothing."""
        self.tl = timeline
        self.source, self.clf = source, classifier
        self.top_k = max(1, min(top_k, classifier.classes))
        self.max_frames, self.keep_tensors = max_frames, keep_tensors
        self.window = window
        self.summary = Summary()
        self.known_labels = set(classifier.labels)
        self._free: deque = deque()     # preprocessed bodies to reuse (Preprocessor.stage(out=))

    def _produce(self, ready: Slot) -> None:
        tl, n, stage, new_body = self.tl, 0, self.clf.preprocess.stage_frame, self.clf.preprocess.new_body
        free = self._free       # bodies the inference thread has loaded, for stage(out=) to reuse
        try:
            while True:
                if tl:      # the index the frame will have: sources number frames 0, 1, 2, ...
                    tl.mark("capture", "read", n)
                    n += 1
                frame = self.source.read()
                if frame is None:
                    break
                if free:
                    body, batch = free.pop()
                else:       # a body and its batch view (Classifier.load), made once
                    body = new_body()
                    batch = body[None]
                if tl:
                    tl.mark("capture", "read_done", frame.index)
                    stage(frame, body)
                    tl.mark("capture", "pre_done", frame.index)
                    ok = ready.put((frame, body, batch))
                    tl.mark("capture", "put_done", frame.index)
                else:
                    stage(frame, body)
                    ok = ready.put((frame, body, batch))
                if not ok:
                    return
        except BaseException as e:     # handed on to the caller, which raises it
            ready.put(e)
            return
        ready.put(_END)

    def _infer(self, ready: Slot, results: Slot) -> None:
        clf, n, live, tl = self.clf, 0, ready.latest, self.tl
        keep, free = self.keep_tensors, self._free
        try:
            while self.max_frames is None or n < self.max_frames:
                if not len(ready):      # about to wait for a frame: let the caller have the last result
                    results.wake()
                item = ready.get(wake=False)
                if item is _END or isinstance(item, BaseException):
                    results.put(item)
                    return
                frame, body, batch = item
                t0 = time.perf_counter()
                if tl:
                    tl.mark("inference", "got", frame.index)
                clf.load(batch)
                free.append((body, batch))
                tensor = clf.input_tensor() if keep else None
                if tl:
                    tl.mark("inference", "set_done", frame.index)
                if live or len(results) >= 3:
                    results.wake()
                clf.run()
                if tl:
                    tl.mark("inference", "invoke_done", frame.index)
                raw = clf.output(flat=False)     # reshaped on the caller's thread
                if tl:
                    tl.mark("inference", "out_done", frame.index)
                if not results.put((frame, tensor, raw, (time.perf_counter() - t0) * 1e3), wake=False):
                    return
                if tl:
                    tl.mark("inference", "put_done", frame.index)
                n += 1
        except BaseException as e:
            results.put(e)
            return
        results.put(_END)

    def run(self):
        """Yield one Result per classified frame. The source is opened and closed here."""
        spec = self.clf.input
        self.source.open(Want(spec.width, spec.height, gray=spec.channels == 1))
        live = self.source.live
        ready = Slot(1 if live else 4, latest=live)
        results = Slot(2 if live else 4, latest=False)
        threads = [threading.Thread(target=self._produce, args=(ready,), name="capture", daemon=True),
                   threading.Thread(target=self._infer, args=(ready, results), name="inference", daemon=True)]
        done: deque[float] = deque(maxlen=self.window)
        t_start = time.perf_counter()
        for t in threads:
            t.start()
        try:
            while True:
                if not live and len(ready) <= 1 and not len(results):
                    ready.wake()        # about to wait: the capture thread runs while this one sleeps
                item = results.get()
                if item is _END:
                    break
                if isinstance(item, BaseException):
                    raise item
                frame, tensor, raw, infer_ms = item
                raw = raw.reshape(-1)
                if self.tl:
                    self.tl.mark("caller", "got", frame.index)
                now = time.perf_counter()
                done.append(now)
                fps = (len(done) - 1) / (done[-1] - done[0]) if len(done) > 1 and done[-1] > done[0] else None
                r = Result(frame, self.clf.top(raw, self.top_k), infer_ms, (now - frame.timestamp) * 1e3,
                           fps, ready.dropped, tensor, raw if self.keep_tensors else None)
                self.summary.add(r, self.known_labels)
                self.summary.seconds = now - t_start
                if self.tl:
                    self.tl.mark("caller", "top_done", frame.index)
                yield r
        finally:
            ready.close()
            results.close()
            for t in threads:
                t.join(timeout=5)
            self.summary.skipped = list(getattr(self.source, "skipped", ()))
            self.source.close()
