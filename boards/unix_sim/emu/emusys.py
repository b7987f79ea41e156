# Test switch of the emulator (PAD_EMU_MPY=N): the chip presents itself as a MicroPython
# whose .mpy version is N (5: MicroPython 1.12 to 1.18; 7: a future one), so the flashing
# tool's version check meets a device it must refuse. `import sys` then gives this proxy.
import sys

_REAL = sys
_VERSIONS = {5: (1, 18, 0), 6: (1, 29, 0), 7: (2, 0, 0)}


class _Impl:
    def __init__(self, mpy):
        self._mpy = mpy
        self.version = _VERSIONS.get(mpy, (0, 0, 0))
        self.name = "micropython"

    def __getattr__(self, name):
        return getattr(_REAL.implementation, name)


class _Sys:
    def __init__(self, mpy):
        self.implementation = _Impl(mpy)

    def __getattr__(self, name):
        return getattr(_REAL, name)


def install(mpy):
    sys.modules["sys"] = _Sys(mpy)
