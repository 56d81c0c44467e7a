"""Build hook: ship the top-level `boards/` folder inside the wheel.

The repository keeps boards/ at the top level (one folder per board, beside codegen/ and
firmware_tools/). A wheel installs packages only, so the build copies boards/ into the built
package as `firmware_tools/board_files/`; firmware_tools.boards looks there first and falls
back to the checkout's boards/ (editable installs, running from the repository). Everything
else is in pyproject.toml.
"""
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent


class build_py_with_boards(build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return                      # an editable install reads the checkout's boards/
        dst = Path(self.build_lib) / "firmware_tools" / "board_files"
        if dst.exists():
            shutil.rmtree(dst)
        shutil.copytree(ROOT / "boards", dst, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


setup(cmdclass={"build_py": build_py_with_boards})
