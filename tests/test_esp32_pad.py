"""The whole pad on boards/esp32_pinpad (tests/fw/fakes/fakepad.py): firmware/main.py, the
ESP32 board's drivers, the fake `machine` / `esp32` and their device models, in the
simulated world of padsim.sim (virtual card and PSAM over their T=0 streams, the keypad
server, the flash image with its journal). TEST MATERIAL: keys are generated.

Bad input: the watchdog firing mid-transaction (the counter's rules hold, as for a power
cut), a display that does not answer (the pad works and beeps, the journal says why), a
key stuck down."""
import json
import subprocess
import time

import pytest

import esp32fw
from padkit import PadSim, RecordingCard

HEAP = "128k"  # the firmware's 64 KB plus the fakes and their models (about 23 KB), and
# the ESP32 board's drivers as .mpy in RAM (about 14 KB more than the unix board's)


class EspPad:
    def __init__(self, tmp_path, **env):
        self.sim = PadSim(tmp_path / "world", boot=False)
        self.dir = tmp_path
        self.config = tmp_path / "config.json"
        self.config.write_text(json.dumps(self.sim.config))
        self.env = env
        self.proc = None
        self.n = 0

    def start(self, stdin=subprocess.DEVNULL, **env):
        e = {"PAD_CARD": self.sim.card_slot.addr, "PAD_PSAM": self.sim.psam_slot.addr,
             "PAD_UI": self.sim.ui.addr, "PAD_FLASH": self.sim.flash,
             "PAD_CONFIG": self.config, "PAD_WDT_MS": 1500, "PAD_TRACE": 1}
        e.update(self.env)
        e.update(env)
        self.n += 1
        self.log_path = self.dir / ("pad%d.log" % self.n)
        self.proc = esp32fw.popen("-m fakepad", extra=e, heap=HEAP,
                                  stdin=stdin, stdout=subprocess.DEVNULL,
                                  stderr=open(self.log_path, "wb"))
        self.sim.ui.connected()

    def log(self):
        return self.log_path.read_text(errors="replace")

    def insert(self):
        self.card = RecordingCard(self.sim.card_path)
        self.sim.card_slot.insert(self.card)

    def wait(self, what, cond, timeout=20):
        end = time.monotonic() + timeout
        while not cond():
            if self.proc.poll() is not None and what != "exit":
                raise AssertionError("pad ended (%s) waiting for %s:\n%s"
                                     % (self.proc.returncode, what, self.log()[-1500:]))
            if time.monotonic() > end:
                raise AssertionError("no %s; log:\n%s" % (what, self.log()[-1500:]))
            time.sleep(0.05)

    def at_pin_entry(self):
        # the tries-left read (plain on a card at its maximum with nothing to settle, else
        # the secured VERIFY with no data), then the VERIFY's GET CHALLENGE come just before
        def ready():
            a = list(self.card.apdus)
            return a and a[-1][:2] == b"\x00\x84" and any(
                c[:4] in (b"\x00\x20\x00\x00", b"\x04\x20\x00\x00") for c in a)
        self.wait("PIN entry", ready)
        time.sleep(0.5)

    def kinds(self):
        return [k for k, _, _ in self.sim.journal()]

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def close(self):
        self.stop()
        self.sim.close()


@pytest.fixture
def pad(tmp_path):
    pads = []

    def make(**env):
        p = EspPad(tmp_path / ("p%d" % len(pads)), **env)
        pads.append(p)
        return p

    yield make
    for p in pads:
        p.close()


def test_right_pin_on_the_esp32_board(pad):
    p = pad()
    p.start()
    p.insert()
    p.at_pin_entry()
    p.sim.ui.press("123456E", gap=0.15)
    p.wait("PIN OK", lambda: "PIN_OK" in p.kinds())
    assert p.sim.card_tries() == 3
    assert "Traceback" not in p.log()


def test_watchdog_mid_verify_counts_as_a_power_cut(pad):
    """A wrong PIN: the card gets the VERIFY and spends a try, then the card's UART hangs
    (the pad writes GET RESPONSE for the answer): the main loop stalls, the watchdog
    resets the pad. Powered up again, the pad settles the pending attempt from the card's
    authenticated count: delivered and failed, one failure, as after a power cut."""
    p = pad()
    p.start(PAD_STALL_ON="04c000000a:1")  # GET RESPONSE of the PIN VERIFY's SM answer
    # (the only one: a card at its maximum that the pad holds nothing of is read plainly)
    p.insert()
    p.at_pin_entry()
    p.sim.ui.press("000000E", gap=0.15)
    p.wait("exit", lambda: p.proc.poll() is not None)
    assert p.proc.returncode == -9 and "watchdog fired" in p.log()
    assert p.sim.card_tries() == 2  # the VERIFY was delivered: the card spent a try
    kinds = p.kinds()
    assert kinds[-1] == "PENDING", kinds  # durable before the VERIFY; no outcome yet
    p.start()  # power up again, the card still in the slot
    p.wait("recovery", lambda: "POWER_RECOVERY" in p.kinds())
    recs = p.sim.journal()
    rec = [r for r in recs if r[0] == "POWER_RECOVERY"][-1]
    assert rec[2][:2] == "01" and rec[2][2:4] == "02"  # delivered and failed; 2 tries left
    assert rec[2][4:6] == "01"  # one failure in the run
    assert p.sim.card_tries() == 2


def test_watchdog_before_the_verify_leaves_the_card_untouched(pad):
    """The hang comes as the VERIFY's header goes out: nothing reached the card. After
    the reset the pending attempt is settled as not delivered, no failure counted."""
    p = pad()
    p.start(PAD_STALL_ON="0420000014")  # the secured VERIFY with the PIN block (SM4)
    p.insert()
    p.at_pin_entry()
    p.sim.ui.press("000000E", gap=0.15)
    p.wait("exit", lambda: p.proc.poll() is not None)
    assert "watchdog fired" in p.log()
    assert p.kinds()[-1] == "PENDING"
    p.start()
    p.wait("recovery", lambda: "POWER_RECOVERY" in p.kinds())
    rec = [r for r in p.sim.journal() if r[0] == "POWER_RECOVERY"][-1]
    assert rec[2][:2] == "02" and rec[2][4:6] == "00", rec  # not delivered, no failure
    assert p.sim.card_tries() == 3


def test_display_not_answering_pad_works_beeps_and_journals_why(pad):
    p = pad(PAD_NO_DISPLAY=1)
    p.start()
    p.wait("DEVICE record", lambda: "21" in p.kinds() or "DEVICE" in p.kinds())
    dev = [r for r in p.sim.journal() if r[0] in ("21", "DEVICE")]
    assert dev[0][2] == "4413"  # 'D', errno 19 (ENODEV: no ACK at the address)
    assert "BEEP" in p.log()  # the clerk hears it
    p.insert()
    p.at_pin_entry()
    p.sim.ui.press("123456E", gap=0.15)
    p.wait("PIN OK", lambda: "PIN_OK" in p.kinds())
    assert len([r for r in p.sim.journal() if r[0] in ("21", "DEVICE")]) == 1  # once


def test_stuck_key_is_journaled_and_the_pin_still_goes_in(pad):
    p = pad(PAD_STUCK="5")
    p.start()
    p.wait("DEVICE record", lambda: "21" in p.kinds() or "DEVICE" in p.kinds())
    dev = [r for r in p.sim.journal() if r[0] in ("21", "DEVICE")]
    assert dev[0][2] == "4b35"  # 'K', the key "5"
    p.insert()
    p.at_pin_entry()
    p.sim.ui.press("123456E", gap=0.15)  # the 5 is stuck: masked, its press is lost
    time.sleep(2)
    assert "PIN_OK" not in p.kinds()  # five digits and Enter: refused, nothing spent
    assert p.sim.card_tries() == 3


def test_host_speaking_restarts_into_the_link_first_boot_through_rtc_memory(pad):
    """app.py's two boots on the ESP32 board (board.rtc, board.reset: machine.RTC().memory
    and machine.reset, the fake keeping RTC memory in a file over the process's resets).
    The host speaks to a normal boot: the pad answers busy and restarts (exit 75) with
    b"L" in RTC memory; that boot is the link-first one, which, the host quiet, restarts
    into a normal boot (b"N"). Counts a full journal kept in RTC memory over the restart
    (here 2 events, 1 boot) reach the journal (a FULL record) once there is room."""
    p = pad()
    rtc = p.dir / "rtc.bin"
    p.start(stdin=subprocess.PIPE, PAD_RTC_MEM=rtc)
    p.wait("idle", lambda: "mem boot" in p.log())
    p.proc.stdin.write(b"\n")  # a host's byte: busy, and the restart for the link
    p.proc.stdin.flush()
    p.wait("exit", lambda: p.proc.poll() is not None)
    assert p.proc.returncode == 75, p.log()[-1500:]
    assert rtc.read_bytes() == b"L\x00\x00\x00\x00"
    rtc.write_bytes(b"L\x00\x02\x00\x01")  # (as if the journal had counted 2 and 1)
    p.start(PAD_RTC_MEM=rtc)  # the restart: the link-first boot, its host quiet
    p.wait("exit", lambda: p.proc.poll() is not None, timeout=40)
    assert p.proc.returncode == 75, p.log()[-1500:]
    assert "Traceback" not in p.log()
    assert rtc.read_bytes()[:1] == b"N"  # back to a normal boot
    full = [d for k, _, d in p.sim.journal() if k == "FULL"]
    assert full and full[-1][:10] == "0200020001", full  # the counts over the reset
    p.start(PAD_RTC_MEM=rtc)
    p.wait("idle", lambda: "mem boot" in p.log())
    time.sleep(0.5)
    assert p.proc.poll() is None and rtc.read_bytes() == b""  # read once, then cleared
