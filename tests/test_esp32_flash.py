"""`padctl flash` for the ESP32 board (issue 11): the build padctl flashes to an ESP32 pad
(mpy-cross -march=xtensawin; service.mpy at the root) holds every module its firmware
imports; the board is the device's (sys.platform) or --board, refused when the device is
not one; the .mpy version and sub-version checked. TEST MATERIAL."""
import ast

import pytest

from padctl import flash as F
from padctl.mpy import ARCH, FIRMWARE, ROOT

BOARD_DIR = ROOT / "boards" / "esp32_pinpad"
# the ESP32 port's built-in modules (C, in every ESP32_GENERIC image; MicroPython 1.2x)
ESP32_BUILTINS = {
    "array", "binascii", "builtins", "cmath", "collections", "cryptolib", "deflate",
    "errno", "esp", "esp32", "framebuf", "gc", "hashlib", "heapq", "io", "json", "machine",
    "math", "micropython", "network", "os", "platform", "random", "re", "select",
    "socket", "ssl", "struct", "sys", "time", "uctypes", "vfs", "_thread",
}


def imports(src, path=""):
    """Module names a source imports: import / from-import / __import__("name"), and the
    names of a tuple of module names fed to __import__ (app.py's _SESSION)."""
    tree = ast.parse(src, path)
    names = set()
    tuples = {}
    for n in ast.walk(tree):
        if isinstance(n, ast.Import):
            names.update(a.name for a in n.names)
        elif isinstance(n, ast.ImportFrom):
            assert n.level == 0, path
            names.add(n.module)
            for a in n.names:  # from pkg import sub: sub may be a module of the package
                names.add("%s.%s?" % (n.module, a.name))
        elif isinstance(n, ast.Assign) and isinstance(n.value, ast.Tuple):
            vals = [e.value for e in n.value.elts if isinstance(e, ast.Constant)]
            if vals and all(isinstance(v, str) for v in vals):
                tuples[getattr(n.targets[0], "id", None)] = vals
        elif isinstance(n, ast.Call) and getattr(n.func, "id", None) == "__import__":
            a = n.args[0]
            if isinstance(a, ast.Constant):
                names.add(a.value)
            else:  # __import__(m) over a tuple of names
                for t in tuples.values():
                    if "card" in t or "secure" in t:
                        names.update(t)
    return names


def sources(pkg, tag):
    """{module name: source text} of what the package puts on the pad."""
    out = {"boot": (FIRMWARE / "boot.py").read_text(), "main@root": F.MAIN_PY.decode(),
           "service": (BOARD_DIR / "service.py").read_text()}
    prefix = "fw/%s/" % tag
    for p in pkg:
        if p.startswith(prefix) and p.endswith(".mpy"):
            rel = p[len(prefix):-4]
            src = FIRMWARE / (rel + ".py")
            if not src.exists():
                src = BOARD_DIR / (rel + ".py")
            out[rel.replace("/", ".").replace(".__init__", "")] = src.read_text()
    return out


def test_esp32_build_holds_every_module_its_firmware_imports():
    tag, pkg = F.package("esp32_pinpad")
    assert "service.mpy" in pkg and "boot.py" in pkg and "main.py" in pkg
    prefix = "fw/%s/" % tag
    for need in ("board", "pins", "keypad", "display", "ssd1306", "st7789", "buzzer",
                 "iso7816uart", "svcmode", "main", "app"):
        assert prefix + need + ".mpy" in pkg, need
    assert prefix + "font.bin" in pkg
    # the simulator's modules, and boot.py (a source at the root; winboot.mpy is firmware)
    assert not any(p.rsplit("/", 1)[-1] in ("flash.mpy", "blockdev.mpy", "provision.mpy",
                                            "boot.mpy") for p in pkg)
    # .mpy v6, bytecode only: mpy-cross -march=xtensawin names no arch in files without
    # native code, so they load on any MicroPython of .mpy v6 (its sub-version unchecked)
    for p, d in pkg.items():
        if p.endswith(".mpy"):
            assert d[:3] == b"M\x06\x00", (p, d[:4])
    have = set(sources(pkg, tag))
    have.discard("main@root")
    have.add("main")
    missing = {}
    for mod, src in sources(pkg, tag).items():
        for name in imports(src, mod):
            if name.endswith("?"):  # from x import y: a module only if x is a package
                name = name[:-1]
                if name.rsplit(".", 1)[0] not in have or name in have:
                    continue
                if not (FIRMWARE / name.replace(".", "/")).with_suffix(".py").exists():
                    continue
            if name in have or name.split(".")[0] in ESP32_BUILTINS:
                continue
            missing.setdefault(name, []).append(mod)
    assert not missing, "imported but not in the ESP32 build: %s" % missing
    # the root service.mpy works with no firmware version: it imports only built-ins
    root = {n for n in imports((BOARD_DIR / "service.py").read_text()) if "?" not in n}
    assert root <= ESP32_BUILTINS, root
    # (the check sees a gap: the simulator's service.py would need its flash module)
    sim = imports((ROOT / "boards" / "unix_sim" / "service.py").read_text())
    assert "flash" in sim and "flash" not in have


def test_board_from_the_device_or_refused():
    assert F.pick_board("esp32", "Generic ESP32 module with ESP32") == "esp32_pinpad"
    assert F.pick_board("linux") == "unix_sim"
    assert F.pick_board("esp32", "", "esp32_pinpad") == "esp32_pinpad"
    with pytest.raises(F.FlashError) as e:
        F.pick_board("linux", "linux [GCC 14]", "esp32_pinpad")
    assert str(e.value) == ("--board esp32_pinpad is firmware for a device whose "
                            "sys.platform is esp32, but this device runs MicroPython for "
                            "linux (linux [GCC 14]) (its board is unix_sim); nothing was "
                            "written")
    with pytest.raises(F.FlashError, match="no board for a device of platform rp2"):
        F.pick_board("rp2", "Raspberry Pi Pico with RP2040")
    with pytest.raises(F.FlashError, match="no such board"):
        F.pick_board("esp32", "", "esp8266_pad")


def test_mpy_versions():
    (major, sub), _ = F.mpy_cross_version(sub=True)
    assert "esp32_pinpad" in ARCH
    F.check_mpy(major | (sub << 8) | (10 << 10), (1, 29, 0))  # an ESP32 of our MicroPython
    older = major | ((sub - 1) << 8) | (10 << 10)
    F.check_mpy(older, (1, 22, 2))  # bytecode: any sub-version of .mpy v6 loads it
    with pytest.raises(F.FlashError) as e:  # native code would need the same sub-version
        F.check_mpy(older, (1, 22, 2), native=True)
    assert "MicroPython 1.22.2 (.mpy v%d.%d)" % (major, sub - 1) in str(e.value)
    assert "too old" in str(e.value)
    with pytest.raises(F.FlashError, match="too old"):
        F.check_mpy(5 | (10 << 10), (1, 18, 0))


def test_flash_refuses_a_board_the_device_is_not(tmp_path):
    """--board esp32_pinpad against the emulated pad (the unix port: sys.platform linux):
    refused with one sentence, nothing written."""
    from test_flash import mpremote, padctl
    from padsim.emulate import Emulator
    import time
    e = Emulator(tmp_path / "pad", service=True, link=tmp_path / "pty").start()
    try:
        time.sleep(0.5)
        r = padctl("flash", "--port", e.link, "--board", "esp32_pinpad", "--keystore",
                   e.dir / "keystore.json", "--region", "110105", "--pad-id",
                   "0102030405060708")
        assert r.returncode == 1, r.stdout + r.stderr
        assert "--board esp32_pinpad is firmware for a device whose sys.platform is esp32, " \
               "but this device runs MicroPython for linux" in r.stderr, r.stderr
        assert "Traceback" not in r.stderr
        assert "fw" not in mpremote(e.link, "fs", "ls").stdout  # nothing was written
        r = padctl("flash", "--port", e.link, "--board", "nosuch")
        assert r.returncode == 2 and "invalid choice" in r.stderr
    finally:
        e.stop()
