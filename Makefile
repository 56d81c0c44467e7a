# The two commands (see README):
#   make demo   set up what is missing, then run the main job on the bundled default model
#   make test   set up what is missing, then run the test suite
VENV ?= .venv
PY := $(VENV)/bin/python
MODEL ?= tests/fixtures/models/mobilenet_v1_a025_96_rgb.tflite

.PHONY: setup demo test clean
setup:
	@bash scripts/setup.sh

demo: setup
	$(PY) -m firmware_tools.demo $(MODEL)

test: setup
	$(PY) -m pytest -q -n auto --dist loadfile

clean:
	rm -rf $(VENV) out build .pytest_cache
