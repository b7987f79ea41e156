"""Running boards/esp32_pinpad's drivers and the firmware under the unix port with the fake
`machine` and `esp32` of tests/fw/fakes (TEST MATERIAL): the ESP32 build (mpy-cross with
the ESP32's arch flag, padctl.mpy.build("esp32_pinpad")) on the path behind the fakes."""
import os
import subprocess

from padctl.mpy import FWTESTS, ROOT, build, micropython

FAKES = FWTESTS / "fakes"
TESTS = FWTESTS / "esp32"


def env(extra=None, tests=True):
    e = dict(os.environ)
    path = [FAKES] + ([TESTS, FWTESTS] if tests else []) + [build("esp32_pinpad")]
    e["MICROPYPATH"] = ":".join(str(p) for p in path)
    e.update({k: str(v) for k, v in (extra or {}).items()})
    return e


def run(script, args=(), extra=None, heap="256k", timeout=120, tests=True):
    return subprocess.run([micropython(), "-X", "heapsize=" + heap, str(script), *map(str, args)],
                          env=env(extra, tests), capture_output=True, text=True,
                          timeout=timeout, cwd=str(ROOT))


def popen(script, args=(), extra=None, heap="256k", **kw):
    return subprocess.Popen([micropython(), "-X", "heapsize=" + heap, str(script),
                             *map(str, args)], env=env(extra), cwd=str(ROOT), **kw)
