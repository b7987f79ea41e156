"""Run real firmware files under the unix-port MicroPython (`micropython`)."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIRMWARE = ROOT / "firmware"
BOARD = ROOT / "boards" / "unix_sim"
FWTESTS = ROOT / "tests" / "fw"
HEAP = "64k"  # the ESP32-without-PSRAM budget the issues name


def micropython():
    """The `micropython` command of this project's venv (or PATH)."""
    here = Path(sys.executable).parent / "micropython"
    if here.exists():
        return str(here)
    found = shutil.which("micropython")
    if not found:
        raise RuntimeError("micropython not found: run `make setup`")
    return found


def mp_env(extra=None):
    env = dict(os.environ)
    env["MICROPYPATH"] = ":".join(str(p) for p in (FWTESTS, FIRMWARE, BOARD, ".frozen"))
    if extra:
        env.update({k: str(v) for k, v in extra.items()})
    return env


def mp_cmd(script, heap=HEAP, args=()):
    return [micropython(), "-X", "heapsize=" + heap, str(script), *map(str, args)]


def run_mp(script, args=(), env=None, heap=HEAP, timeout=120, input=None):
    """Run a firmware-side script; returns CompletedProcess (text)."""
    return subprocess.run(mp_cmd(script, heap, args), env=mp_env(env), input=input,
                          capture_output=True, text=True, timeout=timeout, cwd=str(ROOT))


def run_code(code, env=None, heap=HEAP, timeout=60, input=None):
    """Run a snippet of MicroPython code with the firmware on the path."""
    return subprocess.run([micropython(), "-X", "heapsize=" + heap, "-c", code],
                          env=mp_env(env), input=input, capture_output=True, text=True,
                          timeout=timeout, cwd=str(ROOT))


def popen_mp(script, args=(), env=None, heap=HEAP, **kw):
    return subprocess.Popen(mp_cmd(script, heap, args), env=mp_env(env), cwd=str(ROOT), **kw)
