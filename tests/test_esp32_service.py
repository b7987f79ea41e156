"""The ESP32 pad's service mode (issue 11 on boards/esp32_pinpad, DESIGN 8): its
service.py across hard resets and soft reboots, boot.py in both modes, service mode's
provisioning on the esp32.Partition journal, run under the unix port with the fakes of
tests/fw/fakes (one process per boot: machine.reset_cause() from PAD_RESET_CAUSE, RTC
memory in the file PAD_RTC_MEM, which a reset keeps). TEST MATERIAL."""
import json
import re
import subprocess

import pytest

import esp32fw
from padctl.mpy import ROOT, micropython

BOOT_PY = ROOT / "firmware" / "boot.py"
PAD_ID = "0011223344556677"

# one boot: the strap (STRAP=0 held, 1 released, "late" pressed 100 ms into the boot),
# the board's config path in the test's folder, then CODE
PRELUDE = """
import os, sys, time
from machine import world
import machine
_t0 = time.ticks_ms()
_s = os.getenv("STRAP") or "1"
world.inputs[0] = ((lambda: 0) if _s == "0" else (lambda: 1) if _s == "1" else
                   (lambda: 0 if time.ticks_diff(time.ticks_ms(), _t0) > 100 else 1))
import service
service.CONFIG_PATH = os.getenv("PAD_CONFIG") or "config.json"
"""


def boot(tmp_path, code, cause="PWRON_RESET", strap="1", rtc=None, timeout=60):
    env = esp32fw.env({"PAD_RTC_MEM": rtc or tmp_path / "rtc.mem", "PAD_RESET_CAUSE": cause,
                       "STRAP": strap, "PAD_FLASH": tmp_path / "flash.img",
                       "PAD_CONFIG": tmp_path / "config.json"}, tests=False)
    return subprocess.run([micropython(), "-X", "heapsize=256k", "-c", PRELUDE + code],
                          env=env, capture_output=True, text=True, timeout=timeout,
                          cwd=str(tmp_path))


STATE = "print('STATE', service.first(), service.active(), machine.RTC().memory())\n"


def state(r):
    m = re.search(r"STATE (\w+) (\w+) (b.*)", r.stdout)
    assert m, r.stdout + r.stderr
    return m.group(1) == "True", m.group(2) == "True", eval(m.group(3))


def test_strap_at_a_hard_reset_lasts_through_soft_reboots(tmp_path):
    rtc = tmp_path / "rtc.mem"
    rtc.write_bytes(b"N\x00\x02\x00\x01")  # the app's bytes (protocol.md 9.5): kept
    # power-up / EN press with the strap held: service mode, the session's first boot
    assert state(boot(tmp_path, STATE, "PWRON_RESET", "0")) == (True, True,
                                                                b"SN\x00\x02\x00\x01")
    # soft reboots (Ctrl-D, mpremote's): the strap released, still service mode
    for _ in range(2):
        assert state(boot(tmp_path, STATE, "SOFT_RESET", "1"))[:2] == (False, True)
    # the session ends with clear() (padctl's reset): the app gets its bytes back
    r = boot(tmp_path, "service.active()\nservice.clear()\n" + STATE, "SOFT_RESET")
    assert state(r)[2] == b"N\x00\x02\x00\x01"
    # machine.reset() (HARD_RESET) with the strap released: normal mode, bytes untouched
    assert state(boot(tmp_path, STATE, "HARD_RESET", "1")) == (True, False,
                                                               b"N\x00\x02\x00\x01")
    # ... and a soft reboot after it stays normal
    assert state(boot(tmp_path, STATE, "SOFT_RESET", "1"))[:2] == (False, False)


def test_a_session_ended_by_the_en_button_gives_the_app_its_bytes_back(tmp_path):
    rtc = tmp_path / "rtc.mem"
    rtc.write_bytes(b"L\x00\x00\x00\x00")
    assert state(boot(tmp_path, STATE, "PWRON_RESET", "0"))[1] is True
    assert rtc.read_bytes() == b"SL\x00\x00\x00\x00"
    # EN pressed without the strap (no clear()): normal mode, the "S" gone
    assert state(boot(tmp_path, STATE, "PWRON_RESET", "1")) == (True, False,
                                                                b"L\x00\x00\x00\x00")
    # a power cut (RTC memory lost) with the strap: a session of its own
    rtc.unlink()
    assert state(boot(tmp_path, STATE, "PWRON_RESET", "0")) == (True, True, b"S")


def test_strap_window_after_power_up_only(tmp_path):
    """BOOT held while the chip leaves reset starts the ROM bootloader, so after a
    power-up / EN press the strap is watched for STRAP_MS; after the pad's own restart
    (machine.reset(), HARD_RESET) it is read once: no wait."""
    r = boot(tmp_path, STATE, "PWRON_RESET", "late")
    assert state(r)[1] is True
    (tmp_path / "rtc.mem").unlink()
    assert state(boot(tmp_path, STATE, "HARD_RESET", "late"))[1] is False
    # the same answer all through one boot (boot.py, then main.py ask)
    r = boot(tmp_path, "a = service.active()\ntime.sleep_ms(200)\n"
             "print('SAME', a, service.active())\n", "HARD_RESET", "late")
    assert "SAME False False" in r.stdout, r.stdout + r.stderr


def test_service_constants_match_pins():
    """service.py keeps its own copy (it must import without the version folder)."""
    pins = (ROOT / "boards" / "esp32_pinpad" / "pins.py").read_text()
    svc = (ROOT / "boards" / "esp32_pinpad" / "service.py").read_text()
    for name in ("SERVICE_STRAP", "JOURNAL_PARTITION", "CONFIG_PATH"):
        a = re.search(r"^%s = ([^#\n]+?)\s*(?:#|$)" % name, pins, re.M).group(1)
        b = re.search(r"^%s = ([^#\n]+?)\s*(?:#|$)" % name, svc, re.M).group(1)
        assert a == b, name
    csv = (ROOT / "boards" / "esp32_pinpad" / "partitions.csv").read_text()
    assert re.search(r"^journal,\s*data,", csv, re.M)


@pytest.fixture
def pad(tmp_path):
    """A provisioned flash image (the journal at blocks 128-295, as the fake esp32.Partition
    maps it), its config.json in the folder, and a firmware folder fw/t/ that fw.cur names."""
    from padctl.mpy import BOARD, run_mp
    cfg = {"pad_id": PAD_ID, "region": "110105"}
    r = run_mp(BOARD / "provision.py", [tmp_path / "flash.img", json.dumps(cfg)], tests=False)
    assert r.returncode == 0, r.stdout + r.stderr
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    (tmp_path / "fw" / "t").mkdir(parents=True)
    (tmp_path / "fw" / "t" / "main.mpy").write_bytes(b"")
    (tmp_path / "fw.cur").write_text("t\n")
    return tmp_path


# boot.py as the pad runs it, then a Ctrl-C (SIGINT on the unix port: kbd_intr(-1) leaves
# it to kill the process, kbd_intr(3) makes it a KeyboardInterrupt)
BOOT = """
exec(open(%r).read())
print("PATH", sys.path[0])
print("MODE", "service" if service.active() else "normal")
try:
    os.system("(sleep 0.1; kill -INT $PPID) &")  # (system() itself ignores SIGINT)
    time.sleep_ms(500)
    print("NO INTERRUPT")
except KeyboardInterrupt:
    print("CTRL-C INTERRUPTS")
""" % str(BOOT_PY)

BOOTS = """
import journal as J
j = J.Journal(service.journal_dev())
print("BOOTS", [r.data.hex() for r in j.iter_from(1) if r.kind == 1])  # BOOT
"""


def service_boots(tmp_path):
    r = boot(tmp_path, BOOTS, "SOFT_RESET")
    m = re.search(r"BOOTS (\[.*\])", r.stdout)
    assert m, r.stdout + r.stderr
    return [d for d in eval(m.group(1)) if d[2:4] == "01"]


def test_boot_py_normal_mode(pad):
    r = boot(pad, BOOT, "PWRON_RESET", "1")
    assert "MODE normal" in r.stdout and r.stdout.count("PATH %s/fw/t" % pad) == 1, r.stdout
    assert r.returncode == -2 and "CTRL-C" not in r.stdout, (r.returncode, r.stdout)
    assert "service mode" not in r.stdout
    assert service_boots(pad) == []


def test_boot_py_service_mode_journaled_once_per_session(pad):
    r = boot(pad, BOOT, "PWRON_RESET", "0")
    assert "PIN pad service mode: firmware t" in r.stdout, r.stdout + r.stderr
    assert "MODE service" in r.stdout and "CTRL-C INTERRUPTS" in r.stdout, r.stdout
    assert len(service_boots(pad)) == 1
    for _ in range(2):  # soft reboots of the session: the REPL again, not journaled again
        r = boot(pad, BOOT, "SOFT_RESET", "1")
        assert "MODE service" in r.stdout and "CTRL-C INTERRUPTS" in r.stdout, r.stdout
        assert "PIN pad service mode" not in r.stdout  # (the banner: the first boot's)
    assert len(service_boots(pad)) == 1
    # a new session (reset with the strap held again): journaled again
    r = boot(pad, BOOT, "PWRON_RESET", "0")
    assert "MODE service" in r.stdout
    assert len(service_boots(pad)) == 2


def test_boot_py_without_firmware_still_gives_service_mode(pad):
    (pad / "fw.cur").unlink()
    r = boot(pad, BOOT, "PWRON_RESET", "0")
    assert "PIN pad service mode: firmware none" in r.stdout, r.stdout + r.stderr
    assert "CTRL-C INTERRUPTS" in r.stdout


PROVISION = """
service.active()
import svcmode
svcmode.provision({"pad_id": "%s", "region": "110106", "lang": "zh"}, 5, False, 0)
import json
print("INFO", json.dumps(svcmode.info()))
""" % PAD_ID


def test_provisioning_on_the_esp32_partition(pad):
    """padctl flash's provisioning (svcmode.provision through the raw REPL) on the ESP32
    board: config.json where the board reads it, a new epoch on the esp32.Partition. The
    pad as MicroPython's image leaves it: the journal partition erased (esptool)."""
    (pad / "flash.img").write_bytes(b"\xff" * (296 * 4096))
    (pad / "config.json").unlink()
    r = boot(pad, PROVISION, "SOFT_RESET")
    assert r.returncode == 0, r.stdout + r.stderr
    assert '{"epoch": 5, "before": 0}' in r.stdout, r.stdout
    info = json.loads(r.stdout.split("INFO ", 1)[1])
    assert info["pad_id"] == PAD_ID and info["region"] == "110106"
    assert info["epoch"] == 5 and info["head"] == 1, info
    assert json.loads((pad / "config.json").read_text())["lang"] == "zh"
    # the board reads it: Board() with the same config path
    r = boot(pad, "import pins\npins.CONFIG_PATH = service.CONFIG_PATH\npins.WDT_MS = 60000\n"
             "import board\nb = board.Board()\nprint('CFG', b.cfg['region'], b.cfg_problem,"
             " b.journal_dev.ioctl(4, 0))\n", "HARD_RESET")
    assert "CFG 110106 None 168" in r.stdout, r.stdout + r.stderr


# the root main.py padctl flash writes, after boot.py: in normal mode the firmware's main
# (here a stand-in in fw/t/ that reports what is resident) and service.py dropped; in
# service mode it returns (the REPL)
ROOT_MAIN = """
exec(open(%r).read())
service = None
exec(%r)
print("RETURNED: the REPL")
"""
FW_MAIN = """
import sys
print("FW MAIN, service resident:", "service" in sys.modules)
sys.exit(0)
"""


@pytest.mark.parametrize("strap", ["0", "1"])
def test_root_main_runs_the_firmware_only_in_normal_mode(pad, strap):
    from padctl.flash import MAIN_PY
    from padctl.mpy import mpy_cross
    src = pad / "fwmain.py"
    src.write_text(FW_MAIN)
    subprocess.run([mpy_cross(), "-o", str(pad / "fw" / "t" / "main.mpy"), str(src)],
                   check=True)
    r = boot(pad, ROOT_MAIN % (str(BOOT_PY), MAIN_PY.decode()), "PWRON_RESET", strap)
    if strap == "1":
        assert "FW MAIN, service resident: False" in r.stdout, r.stdout + r.stderr
        assert r.returncode == 0 and "RETURNED" not in r.stdout
    else:
        assert "RETURNED: the REPL" in r.stdout and "FW MAIN" not in r.stdout, r.stdout
