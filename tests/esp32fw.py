"""Running boards/esp32_pinpad's drivers and the firmware under the unix port with the fake
`machine` and `esp32` of tests/fw/fakes (TEST MATERIAL): the ESP32 build (mpy-cross with
the ESP32's arch flag, padctl.mpy.build("esp32_pinpad")) on the path behind the fakes."""
import os
import subprocess

from padctl.mpy import BUILD, FWTESTS, ROOT, build, micropython, mpy_cross

FAKES = FWTESTS / "fakes"
TESTS = FWTESTS / "esp32"


def build_fakes():
    """The fakes compiled like the firmware (so that they cost the heap no compiler run,
    and the firmware's RAM can be told from theirs); build/esp32_fakes."""
    out = BUILD / "esp32_fakes"
    out.mkdir(parents=True, exist_ok=True)
    for src in FAKES.glob("*.py"):
        dst = out / (src.stem + ".mpy")
        if not dst.exists() or dst.stat().st_mtime < src.stat().st_mtime:
            tmp = dst.with_name(dst.name + ".%d.tmp" % os.getpid())
            subprocess.run([mpy_cross(), "-O3", "-s", src.stem, "-o", str(tmp), str(src)],
                           check=True, capture_output=True)
            os.replace(tmp, dst)
    return out


def env(extra=None, tests=True):
    e = dict(os.environ)
    path = [build_fakes()] + ([TESTS, FWTESTS] if tests else []) + [build("esp32_pinpad")]
    e["MICROPYPATH"] = ":".join(str(p) for p in path)
    e.update({k: str(v) for k, v in (extra or {}).items()})
    return e


def run(script, args=(), extra=None, heap="256k", timeout=120, tests=True):
    """script: a path, or "-c" with the code as args[0]."""
    return subprocess.run([micropython(), "-X", "heapsize=" + heap, str(script), *map(str, args)],
                          env=env(extra, tests), capture_output=True, text=True,
                          timeout=timeout, cwd=str(ROOT))


def popen(script, args=(), extra=None, heap="256k", **kw):
    """script: a path, or "-m name" (a compiled module: the fakes' fakepad)."""
    target = script.split(" ", 1) if str(script).startswith("-m ") else [str(script)]
    return subprocess.Popen([micropython(), "-X", "heapsize=" + heap, *target,
                             *map(str, args)], env=env(extra, tests=False), cwd=str(ROOT), **kw)
