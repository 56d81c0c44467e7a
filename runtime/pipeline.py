"""Capture and preprocessing overlap inference: a producer thread reads and prepares frame n+1
while the caller's thread runs the interpreter on frame n (TFLite's invoke releases the GIL).

Between them sits one bounded slot. For a live source (a camera) it holds only the newest
frame: a frame not yet taken when the next arrives is dropped, so results never lag the scene.
For files it holds two frames and the producer waits, so every frame is classified.
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
    """A bounded hand-over between two threads; `latest` drops the oldest instead of waiting."""

    def __init__(self, capacity: int, latest: bool):
        self.capacity, self.latest = capacity, latest
        self.items: deque = deque()
        self.dropped = 0
        self.closed = False
        self.cv = threading.Condition()

    def put(self, item) -> bool:
        with self.cv:
            while not self.latest and len(self.items) >= self.capacity and not self.closed:
                self.cv.wait()
            if self.closed:
                return False
            if self.latest and len(self.items) >= self.capacity and self.items[0] is not _END:
                self.items.popleft()
                self.dropped += 1
            self.items.append(item)
            self.cv.notify_all()
            return True

    def get(self):
        with self.cv:
            while not self.items:
                self.cv.wait()
            item = self.items.popleft()
            self.cv.notify_all()
            return item

    def close(self) -> None:
        with self.cv:
            self.closed = True
            self.cv.notify_all()


@dataclass
class Result:
    frame: Frame
    top: list[Prediction]
    infer_ms: float               # set_tensor + invoke + get_tensor
    latency_ms: float             # frame captured -> result ready
    fps: float                    # results per second, moving average over the last frames
    dropped: int                  # frames dropped so far (live sources only)
    tensor: np.ndarray | None = None   # the exact input tensor, when asked to keep it


@dataclass
class Summary:
    frames: int = 0
    seconds: float = 0.0
    dropped: int = 0
    infer_ms: list[float] = field(default_factory=list)
    latency_ms: list[float] = field(default_factory=list)
    correct: int = 0
    labelled: int = 0

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
                "accuracy": self.accuracy, "labelled": self.labelled}


class Pipeline:
    def __init__(self, source: FrameSource, classifier: Classifier, top_k: int = 5,
                 max_frames: int | None = None, keep_tensors: bool = False, window: int = 30):
        self.source, self.clf = source, classifier
        self.top_k = max(1, min(top_k, classifier.classes))
        self.max_frames, self.keep_tensors = max_frames, keep_tensors
        self.window = window
        self.summary = Summary()
        self.known_labels = set(classifier.labels)

    def _produce(self, slot: Slot, stop: threading.Event) -> None:
        try:
            while not stop.is_set():
                frame = self.source.read()
                if frame is None:
                    break
                if not slot.put((frame, self.clf.preprocess(frame.pixels))):
                    return
        except BaseException as e:     # handed to the consumer, which raises it
            slot.put(e)
            return
        slot.put(_END)

    def run(self):
        """Yield one Result per classified frame. The source is opened and closed here."""
        spec = self.clf.input
        self.source.open(Want(spec.width, spec.height, gray=spec.channels == 1))
        live = self.source.live
        slot = Slot(1 if live else 2, latest=live)
        stop = threading.Event()
        producer = threading.Thread(target=self._produce, args=(slot, stop), name="capture", daemon=True)
        done: deque[float] = deque(maxlen=self.window)
        t_start = time.perf_counter()
        producer.start()
        try:
            while self.max_frames is None or self.summary.frames < self.max_frames:
                item = slot.get()
                if item is _END:
                    break
                if isinstance(item, BaseException):
                    raise item
                frame, tensor = item
                t0 = time.perf_counter()
                raw = self.clf.invoke(tensor)
                t1 = time.perf_counter()
                done.append(t1)
                fps = (len(done) - 1) / (done[-1] - done[0]) if len(done) > 1 and done[-1] > done[0] else 0.0
                r = Result(frame, self.clf.top(raw, self.top_k), (t1 - t0) * 1e3,
                           (t1 - frame.timestamp) * 1e3, fps, slot.dropped,
                           tensor if self.keep_tensors else None)
                self.summary.add(r, self.known_labels)
                self.summary.seconds = t1 - t_start
                yield r
        finally:
            stop.set()
            slot.close()
            producer.join(timeout=5)
            self.source.close()
