"""Flashing and service mode (issue 11, DESIGN 8) against the emulated pad
(padsim.emulate), with the real mpremote CLI and `make flash`."""
import os
import pty
import re
import subprocess
import sys
import time
import tty
from pathlib import Path

import pytest

from padsim.emulate import Emulator

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PAD = "0102030405060708"
REGION = "110105"


def run(*cmd, timeout=120):
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True,
                          timeout=timeout, cwd=str(ROOT))


def mpremote(port, *args):
    return run(BIN / "mpremote", "connect", port, *args, timeout=60)


def padctl(*args, timeout=180):
    return run(BIN / "padctl", *args, timeout=timeout)


@pytest.fixture
def emu(tmp_path):
    emus = []

    def make(service=True, env=None, d=None):
        e = Emulator(d or tmp_path / "pad", service=service, env=env,
                     link=tmp_path / ("pty%d" % len(emus))).start()
        emus.append(e)
        time.sleep(0.5)
        return e

    yield make
    for e in emus:
        e.stop()


def flash(e, *extra, make=False):
    ks = e.dir / "keystore.json"
    if make:
        return run("make", "-s", "flash", "PORT=%s" % e.link, "KEYSTORE=%s" % ks,
                   "REGION=" + REGION, "PAD=" + PAD, "ARGS=" + " ".join(extra), timeout=300)
    return padctl("flash", "--port", e.link, "--keystore", ks, "--region", REGION,
                  "--pad-id", PAD, *extra)


def test_stock_mpremote_drives_the_emulator(emu, tmp_path):
    e = emu()
    src = tmp_path / "hello.txt"
    src.write_bytes(b"hello pad\n" * 50)
    r = mpremote(e.link, "exec", "print(6 * 7)")
    assert r.returncode == 0 and r.stdout.strip() == "42", r.stdout + r.stderr
    r = mpremote(e.link, "fs", "cp", src, ":hello.txt", "+", "fs", "ls", "+",
                 "fs", "sha256sum", ":hello.txt")
    assert r.returncode == 0, r.stderr
    import hashlib
    assert hashlib.sha256(src.read_bytes()).hexdigest() in r.stdout
    assert "500 hello.txt" in r.stdout
    r = mpremote(e.link, "exec", "import sys; x = 5; print(len(sys.argv))", "+", "soft-reset",
                 "+", "exec", "print('x' in globals())")
    assert r.returncode == 0 and r.stdout.split()[-1] == "False", r.stdout + r.stderr
    # a program left running is interrupted by the next connection's Ctrl-C
    r = mpremote(e.link, "exec", "--no-follow", "while True:\n    pass")
    assert r.returncode == 0, r.stderr
    r = mpremote(e.link, "exec", "print('interrupted')")
    assert r.returncode == 0 and r.stdout.strip() == "interrupted", r.stdout + r.stderr
    boots = e.boots
    r = mpremote(e.link, "reset")
    assert r.returncode == 0, r.stderr
    time.sleep(0.5)
    assert e.boots > boots
    # the flash survives a restart: the file is still there
    e.stop()
    e = emu(d=e.dir)
    r = mpremote(e.link, "fs", "cat", ":hello.txt")
    assert r.returncode == 0 and r.stdout.count("hello pad") == 50


def test_make_flash_sync_and_reflash(emu, tmp_path):
    e = emu()
    r = flash(e, make=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "verified: " in r.stdout and "reset into normal mode" in r.stdout
    assert "provisioned: pad %s, region %s, epoch 1" % (PAD, REGION) in r.stdout
    assert re.search(r"\[ 1/\d+\] app.mpy .* sent", r.stdout)
    time.sleep(1.5)
    # normal mode: the host protocol only; a sync pulls the journal
    db = tmp_path / "events.db"
    r = padctl("sync", "--port", e.link, "--keystore", e.dir / "keystore.json", "--region",
               REGION, "--db", db, "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    r = padctl("events", "--db", db, "--json")
    kinds = [x["kind"] for x in __import__("json").loads(r.stdout)]
    assert kinds[:2] == ["PROVISION", "BOOT"], kinds  # (not provisioned yet at the strap)
    # normal mode: no REPL; the tools say to hold the strap
    r = padctl("info", "--port", e.link)
    assert r.returncode == 1 and "hold the service strap" in r.stderr, r.stderr
    # its Ctrl-C, Ctrl-A and Ctrl-D did nothing: the pad still syncs
    r = padctl("sync", "--port", e.link, "--keystore", e.dir / "keystore.json", "--region",
               REGION, "--db", db)
    assert r.returncode == 0, r.stdout + r.stderr
    # power off, on with the strap: the flash persisted; a re-flash sends nothing
    e.stop()
    e = emu(d=e.dir)
    r = padctl("info", "--port", e.link, "--db", db, "--json")
    assert r.returncode == 0, r.stderr
    info = __import__("json").loads(r.stdout)
    assert info["pad_id"] == PAD and info["epoch"] == 1 and info["firmware"].startswith("0.")
    assert info["unsynced"] == 0
    r = flash(e)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "(0 file(s) sent)" in r.stdout and "provisioned:" not in r.stdout
    # re-provisioning with an unsynced event: refused, nothing changed
    e.stop()
    e = emu(d=e.dir)
    # (10: PIN_ERROR, journal.py's private kind)
    r = mpremote(e.link, "exec", "import svcmode, journal\nsvcmode._journal(svcmode._config())"
                 ".append(10, None, b'\\x05')")
    assert r.returncode == 0, r.stderr
    r = flash(e, "--reprovision", "--db", db)
    assert r.returncode == 1 and "1 unsynced journal records" in r.stderr, r.stderr
    r = padctl("info", "--port", e.link, "--json")
    assert __import__("json").loads(r.stdout)["epoch"] == 1
    # synced (normal mode), then re-provisioned: the epoch grows
    e.reset(service=False)
    time.sleep(1.5)
    r = padctl("sync", "--port", e.link, "--keystore", e.dir / "keystore.json", "--region",
               REGION, "--db", db)
    assert r.returncode == 0, r.stdout + r.stderr
    e.reset(service=True)
    time.sleep(1)
    r = flash(e, "--reprovision", "--db", db)  # the store holds what the pad holds
    assert r.returncode == 0, r.stdout + r.stderr
    assert "epoch 2 (after 1)" in r.stdout
    time.sleep(1.5)
    r = padctl("sync", "--port", e.link, "--keystore", e.dir / "keystore.json", "--region",
               REGION, "--db", db)
    assert r.returncode == 0, r.stdout + r.stderr
    r = padctl("alerts", "--db", db)
    assert "re-provisioned: epoch 2 after 1" in r.stdout
    r = padctl("events", "--db", db, "--kind", "BOOT")
    # each service session of a provisioned pad is journaled, a BOOT record flagged service
    # (the last one, housekeeping after the sync, went with the old epoch)
    assert r.stdout.count("boot in service mode") == 2, r.stdout


def test_device_that_does_not_answer(tmp_path):
    master, slave = pty.openpty()
    tty.setraw(slave)
    try:
        r = padctl("flash", "--port", os.ttyname(slave))
        assert r.returncode == 1 and "no answer from the device" in r.stderr, r.stderr
        assert "Traceback" not in r.stderr
    finally:
        os.close(master)
        os.close(slave)
    r = padctl("info", "--port", tmp_path / "nothing")
    assert r.returncode == 1 and "cannot open" in r.stderr


@pytest.mark.parametrize("mpy,word", [(5, "too old"), (7, "too new")])
def test_wrong_mpy_version(emu, mpy, word):
    e = emu(env={"PAD_EMU_MPY": mpy})
    r = flash(e)
    assert r.returncode == 1 and word in r.stderr, r.stderr
    assert ".mpy v%d" % mpy in r.stderr and ".mpy v6" in r.stderr
    r = mpremote(e.link, "fs", "ls")
    assert "fw" not in r.stdout  # nothing was written


def test_corrupted_file_fails_verification(emu):
    e = emu(env={"PAD_EMU_CORRUPT": "journal.mpy"})
    r = flash(e)
    assert r.returncode == 1, r.stdout
    assert "verification failed: fw/" in r.stderr and "journal.mpy" in r.stderr, r.stderr
    r = mpremote(e.link, "fs", "ls")
    assert "fw.cur" not in r.stdout and "boot.py" not in r.stdout  # nothing switched


def test_copy_cut_half_way(emu):
    e = emu()
    ks = e.dir / "keystore.json"
    p = subprocess.Popen([str(BIN / "padctl"), "flash", "--port", str(e.link), "--keystore",
                          str(ks), "--region", REGION, "--pad-id", PAD],
                         stdout=subprocess.PIPE, text=True, cwd=str(ROOT))
    for line in p.stdout:
        if line.startswith("[ 8/"):
            p.kill()  # the cable pulled half way through the copy
            break
    p.wait()
    e.reset(service=False)  # and the pad reset: it is not half-updated in normal mode
    time.sleep(1)
    r = mpremote(e.link, "fs", "ls")
    assert r.returncode == 0 and "fw.cur" not in r.stdout and "boot.py" not in r.stdout
    e.reset(service=True)
    time.sleep(0.5)
    r = flash(e)
    assert r.returncode == 0, r.stdout + r.stderr
    sent = int(re.search(r"\((\d+) file\(s\) sent\)", r.stdout).group(1))
    total = int(re.search(r"\[ 1/(\d+)\]", r.stdout).group(1))
    assert 0 < sent < total and "on the pad" in r.stdout


def test_damaged_live_firmware_is_repaired_beside_it(emu, tmp_path):
    e = emu()
    r = flash(e)
    assert r.returncode == 0, r.stdout + r.stderr
    tag = re.search(r"flashing (\S+)", r.stdout).group(1)
    e.reset(service=True)
    time.sleep(0.5)
    bad = tmp_path / "bad"
    bad.write_bytes(b"not an mpy file")
    r = mpremote(e.link, "fs", "cp", bad, ":fw/%s/retry.mpy" % tag)
    assert r.returncode == 0, r.stderr
    r = flash(e)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "flashing %s-r" % tag in r.stdout and "(1 file(s) sent)" in r.stdout
    assert "removed old firmware fw/%s" % tag in r.stdout
    time.sleep(1.5)  # normal mode, on the repaired copy
    r = padctl("sync", "--port", e.link, "--keystore", e.dir / "keystore.json", "--region",
               REGION, "--db", tmp_path / "ev.db")
    assert r.returncode == 0, r.stdout + r.stderr


def test_reprovision_sync_first(emu, tmp_path):
    e = emu()
    r = flash(e)
    assert r.returncode == 0, r.stdout + r.stderr
    e.reset(service=True)
    time.sleep(0.5)
    # (10: PIN_ERROR, journal.py's private kind)
    r = mpremote(e.link, "exec", "import svcmode, journal\nsvcmode._journal(svcmode._config())"
                 ".append(10, None, b'\\x05')")
    assert r.returncode == 0, r.stderr
    db = tmp_path / "ev.db"
    p = subprocess.Popen([str(BIN / "padctl"), "flash", "--port", str(e.link), "--keystore",
                          str(e.dir / "keystore.json"), "--reprovision", "--sync-first",
                          "--db", str(db), "--wait", "60"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         cwd=str(ROOT))
    lines = []
    for line in p.stdout:
        lines.append(line)
        if "hold the service strap" in line:
            e.reset(service=True)  # the technician
            break
    out, err = p.communicate(timeout=120)
    out = "".join(lines) + out
    assert p.returncode == 0, out + err
    assert "synced: " in out and "epoch 2 (after 1)" in out
    r = padctl("events", "--db", db, "--kind", "PIN_ERROR")
    assert r.stdout.count("PIN_ERROR") == 1  # the event reached the host before the format


def _console(e, data, wait=1.0):
    """Writes to the emulator's console as a terminal would; returns what came back."""
    import select
    fd = os.open(str(e.link), os.O_RDWR | os.O_NOCTTY)
    try:
        tty.setraw(fd)
        os.write(fd, data)
        got, end = b"", time.monotonic() + wait
        while time.monotonic() < end:
            if select.select([fd], [], [], 0.05)[0]:
                got += os.read(fd, 4096)
        return got
    finally:
        os.close(fd)


def test_friendly_repl_and_paste_mode(emu):
    e = emu()
    got = _console(e, b"\x02")
    assert b"MicroPython v" in got and got.endswith(b">>> ")
    got = _console(e, b"6 * 7\r")
    assert b"6 * 7\r\n42\r\n>>> " in got.replace(b"42\n", b"42\r\n")
    got = _console(e, b"for i in range(2):\r    print('x%d' % i)\r\r")
    assert b"... " in got and b"x0" in got and b"x1" in got
    got = _console(e, b"\x05a = 5\rprint(a * 2)\r\x04")
    assert b"paste mode; Ctrl-C to cancel, Ctrl-D to finish" in got and b"10" in got
    got = _console(e, b"\x04", wait=2.0)  # Ctrl-D: soft reboot, then the friendly REPL
    assert b"MPY: soft reboot" in got and b"MicroPython v" in got


def test_pad_that_will_not_boot_recovers_with_the_strap(emu):
    e = emu()
    r = flash(e)
    assert r.returncode == 0, r.stdout + r.stderr
    e.reset(service=True)
    time.sleep(0.5)
    r = mpremote(e.link, "exec", "f = open('fw.cur', 'w'); f.write('gone'); f.close()")
    assert r.returncode == 0, r.stderr
    e.reset(service=False)  # no firmware to run: no REPL either, it waits and resets
    time.sleep(1)
    r = padctl("info", "--port", e.link)
    assert r.returncode == 1 and "no answer" in r.stderr, r.stderr
    e.reset(service=True)  # the strap gives the REPL whatever the firmware's state
    time.sleep(0.5)
    r = padctl("info", "--port", e.link, "--json")
    assert r.returncode == 0 and '"firmware": "gone"' in r.stdout, r.stdout + r.stderr
    r = flash(e)
    assert r.returncode == 0 and "(0 file(s) sent)" in r.stdout, r.stdout + r.stderr
