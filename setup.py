"""The wheel carries the firmware and the boards (padctl/_fw: what `padctl flash` builds
and the simulator runs); everything else is in pyproject.toml."""
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
FW_DIRS = ("firmware", "boards")


class build_py_with_firmware(build_py):
    def run(self):
        editable = getattr(self, "editable_mode", False)
        lib = Path(self.build_lib).resolve()
        if not editable and HERE / "build" in lib.parents:
            shutil.rmtree(lib, ignore_errors=True)  # no module of an earlier build left over
        super().run()
        if editable:
            return  # an editable install runs from the checkout: padctl.mpy finds it there
        dest = Path(self.build_lib) / "padctl" / "_fw"
        for name in FW_DIRS:
            if (dest / name).exists():
                shutil.rmtree(dest / name)
            shutil.copytree(HERE / name, dest / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.mpy"))


setup(cmdclass={"build_py": build_py_with_firmware})
