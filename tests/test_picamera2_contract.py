"""The picamera2 adapter (runtime/picamera.py) and its test double (tests/fake_picamera2.py)
held to the real picamera2: its source (PyPI `picamera2`, installed with --no-deps by
scripts/setup.sh: its libcamera bindings cannot be installed here) is parsed, not imported.
The checker is in tests/picamera2_contract.py; the last tests show that it catches drift.
"""
import ast
import types
from pathlib import Path

import pytest

import fake_picamera2
import picamera2_contract as contract
from conftest import ROOT

ADAPTER = ROOT / "runtime" / "picamera.py"
FAKE = Path(fake_picamera2.__file__)


@pytest.fixture(scope="module")
def real_src():
    return contract.real_source().read_text()


def fake_class(source: str | None = None):
    """The fake's Picamera2 class, from the fake's file or from a (mutated) copy of it."""
    if source is None:
        return fake_picamera2.make_module().Picamera2
    mod = types.ModuleType("fake_picamera2_mutant")
    exec(compile(source, "fake_picamera2_mutant.py", "exec"), mod.__dict__)
    return mod.make_module().Picamera2


def check(real_src, fake_src=None, adapter_src=None):
    cls = fake_class(fake_src)
    return contract.check(real_src, cls, sorted(cls.ALLOWED), adapter_src or ADAPTER.read_text())


def test_the_real_picamera2_source_is_the_installed_package(real_src):
    import importlib.metadata
    assert importlib.metadata.version("picamera2")
    real = contract.real_methods(real_src)
    # what the adapter's docstring names as its whole contract, all present in the real class
    for name in ("global_camera_info", "__init__", "create_preview_configuration", "configure", "start",
                 "capture_array", "set_overlay", "stop", "close"):
        assert name in real, name
    assert real["global_camera_info"].static


def test_fake_and_adapter_match_the_real_picamera2(real_src):
    assert check(real_src) == []
    # and the checker looked at everything: every method the fake allows, every call the adapter makes
    calls = {c.method for c in contract.adapter_calls(ADAPTER.read_text())}
    assert calls == fake_class().ALLOWED


def mutate(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, old
    return text.replace(old, new)


@pytest.mark.parametrize("old,new,expected", [
    ("def start(self, config=None, show_preview=False)", "def start(self, config=None, preview=False)",
     "fake Picamera2.start: parameters differ"),
    ("buffer_count=4, controls={}", "buffer_count=6, controls={}",
     "'buffer_count' defaults to 6, the real one to 4"),
    ("def capture_array(self, name=\"main\", wait=None, signal_function=None)",
     "def capture_array(self, stream=\"main\", wait=None, signal_function=None)",
     "fake Picamera2.capture_array: parameters differ"),
    ("        def global_camera_info() -> list:", "        def global_camera_info(verbose=False) -> list:",
     "fake Picamera2.global_camera_info: parameters differ"),
    ("        def stop(self) -> None:", "        def stop_camera(self) -> None:",
     "fake Picamera2.stop: picamera2's Picamera2 has no such method"),
])
def test_a_drifted_fake_is_reported(real_src, old, new, expected):
    source = FAKE.read_text()
    if "stop_camera" in new:                  # renamed: the fake allows the new name instead
        source = mutate(source, '"set_overlay", "stop", "close"', '"set_overlay", "stop_camera", "close"')
        expected = "fake Picamera2.stop_camera: picamera2's Picamera2 has no such method"
    problems = check(real_src, fake_src=mutate(source, old, new))
    assert len(problems) == 1 and expected in problems[0], problems


def test_a_drifted_adapter_call_is_reported(real_src):
    src = mutate(ADAPTER.read_text(), "cam.start(show_preview=self.preview)", "cam.start(preview=self.preview)")
    problems = check(real_src, adapter_src=src)
    assert len(problems) == 1 and "start: picamera2 takes no keyword 'preview'" in problems[0], problems
    src = mutate(ADAPTER.read_text(), "self._cam.capture_array(self.stream)", "self._cam.capture_frame(self.stream)")
    assert any("has no method capture_frame" in p for p in check(real_src, adapter_src=src))
    ast.parse(src)                                           # the mutant is valid Python


def test_the_fake_still_refuses_to_be_configured_with_nothing():
    cam = fake_class()(0)
    with pytest.raises(AssertionError, match="without a configuration"):
        cam.configure()
