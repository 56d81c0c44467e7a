"""The board beside the Pi: each classified frame's input tensor runs again on the MCU over the
HIL link (docs/protocol.md), and the two outputs are compared byte for byte.

`runtime classify --device URL` builds the Pi's classifier on TFLite's reference kernels
(BUILTIN_REF), the oracle mcuforge's generated C is bit-exact with, so any differing byte is a
real discrepancy, not optimized-kernel rounding. The board is driven from the pipeline's caller
thread, one frame at a time: while it works, the pipeline's bounded slots fill and a live
source (a camera) drops its stale frames -- nothing queues without limit.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .link import HilError, HilLink, MalformedReply
from .validate import check_model, first_differing_layer


@dataclass
class DeviceResult:
    raw: np.ndarray            # int8 (classes,): the board's output
    count: int                 # device time of the inference, in `unit`
    unit: str                  # "cycles" on boards, "instructions (QEMU)" on QEMU
    link_ms: float             # wall time writing the input and reading the output
    round_trip_ms: float       # write + invoke + read, wall time
    differing: int             # output bytes that differ from the Pi's reference result
    first_bad_layer: dict | None = None   # set on the first differing frame (layer-by-layer re-run)

    @property
    def exact(self) -> bool:
        return self.differing == 0


class DeviceRunner:
    """One board on a pyserial URL running the validation firmware built from `model`.

    Raises WrongModel when the board runs another model, HilError (NoAnswer, ConnectionLost,
    ...) when the link fails, ModelInputError when the model's input is not int8 (the
    generated C takes int8 only).
    """

    def __init__(self, link: HilLink, model: str | Path, locate: bool = True, output: int = 0):
        """output: the position of the model output compared (the classifier's class scores),
        in the model's output order, which the generated C keeps."""
        self.link, self.model, self.locate = link, Path(model), locate
        self.info = link.hello()
        check_model(link, model)
        if not 0 <= output < len(self.info.outputs):
            raise MalformedReply(f"the board's model has {len(self.info.outputs)} output(s), not an output {output}: "
                                 "is the firmware built from this model?")
        self.output = output
        self.located = False
        self._ref = None
        self._steps = None

    def run(self, tensor: np.ndarray, pi_raw: np.ndarray, frame_index: int = 0) -> DeviceResult:
        """tensor: the exact input the Pi ran (any shape, int8, info.input.bytes elements);
        pi_raw: the Pi's raw output for it. On the first differing frame (when `locate`),
        the input is re-run layer by layer on both sides to name the first differing layer."""
        x = np.ascontiguousarray(tensor).reshape(-1)
        if x.dtype != np.int8 or x.size != self.info.input.bytes:
            raise HilError(f"the input tensor is {x.dtype} x {x.size}; the board takes int8 x "
                           f"{self.info.input.bytes}")
        want = np.asarray(pi_raw).reshape(-1)
        if self.info.outputs[self.output].bytes != want.size:
            # before asking for it: an INFO of 2^32-1 output bytes was ~4 million READ_OUTPUTs
            raise MalformedReply(f"the board gives {self.info.outputs[self.output].bytes} bytes of output "
                                 f"{self.output}, the model "
                                 f"{want.size}: is the firmware built from this mcuforge version?")
        t0 = time.perf_counter()
        self.link.write_input(x)
        t1 = time.perf_counter()
        res = self.link.invoke()
        t2 = time.perf_counter()
        got = self.link.read_output(index=self.output)
        t3 = time.perf_counter()
        differing = int(np.count_nonzero(got != want)) if got.size == want.size else max(got.size, want.size)
        r = DeviceResult(got.copy(), res.count, res.unit, (t1 - t0 + t3 - t2) * 1e3, (t3 - t0) * 1e3, differing)
        if differing and self.locate and not self.located:
            self.located = True
            r.first_bad_layer = self.first_bad_layer(x, frame_index)
        return r

    def first_bad_layer(self, x: np.ndarray, frame_index: int) -> dict | None:
        from codegen.pipeline import compile_graph
        from runtime.interpreter import ReferenceModel
        if self._ref is None:
            self._ref = ReferenceModel(self.model)
            self._steps = compile_graph(self.model, self.info.kernels).steps
        return first_differing_layer(self.link, self._ref, self._steps, [x], frame_index,
                                     {self._ref.input["index"]: x})
