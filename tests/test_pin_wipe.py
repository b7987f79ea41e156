"""The PIN does not linger in the pad's RAM (hardening issue, item 7; DESIGN section 10).

Each test plays one path of a PIN attempt at the simulated pad (tests/padkit.py), lets the
pad settle on its result screen (card still in), and again on the idle screen (card
taken), and each time reads the whole writable memory of the pad's process (the
micropython heap, its stacks, its data: /proc/<pid>/maps + /proc/<pid>/mem) looking for
the PIN the cardholder typed, in every form the pad ever holds it:

- the PIN block's clear first half (docs/protocol.md section 3, SM4: format 4):
  `46 73 91 48 AA AA AA AA` for PIN 739148 (the random second half is not searched);
  3DES (format 3, random fill): `36 73 91 48`;
- the digits as pin_entry stores them (one value 0-9 a byte): `07 03 09 01 04 08`;
- the digits as text: "739148";
- the PIN block's first half in hex, as text (a trace or a message): "46739148aaaaaaaa".

Unusual PINs, distinct per path, so that a hit is never an accident. The virtual card and
PSAM run in this (the test's) process and know the PIN: only the pad's process is read.
The pad's log (its TRACE lines and stderr) is searched too.
"""
import time

import pytest

from padkit import ENTER, RESULT
from test_pad_flows import PullInVerify

CARD_PIN = "739148"  # the card's PIN: the right PIN
WRONG_PIN = "582607"


def patterns(pin, suite="SM4"):
    """{name: bytes} of every form of `pin` (6 digits) the pad could hold."""
    if suite == "SM4":  # format 4: 4 | N | digits | A fill to byte 7, then 8 random bytes
        head = bytes.fromhex("46" + pin + "AA" * 4)
    else:  # format 3: 3 | N | digits, then random fill nibbles A-F
        head = bytes.fromhex("36" + pin)
    return {
        "block": head,
        "digits": bytes(int(c) for c in pin),
        "ascii": pin.encode(),
        "hex": head.hex().encode(),
        "HEX": head.hex().upper().encode(),
    }


def writable_regions(pid):
    with open("/proc/%d/maps" % pid) as f:
        for line in f:
            fields = line.split()
            lo, hi = (int(x, 16) for x in fields[0].split("-"))
            name = fields[5] if len(fields) > 5 else ""
            if "w" in fields[1] and name not in ("[vvar]", "[vsyscall]"):
                yield lo, hi, name


def count(hay, needle):
    n = i = 0
    while True:
        i = hay.find(needle, i)
        if i < 0:
            return n
        n += 1
        i += 1


def scan(pad, pin):
    """{form: hits} in the pad process's writable memory, plus "log" for its log file."""
    pid = pad.proc.pid
    pats = patterns(pin, pad.suite)
    hits = dict.fromkeys(pats, 0)
    size = 0
    with open("/proc/%d/mem" % pid, "rb", buffering=0) as mem:
        for lo, hi, _ in writable_regions(pid):
            try:
                mem.seek(lo)
                data = mem.read(hi - lo)
            except OSError:
                continue
            size += len(data)
            for k, p in pats.items():
                hits[k] += count(data, p)
    assert size > 64 * 1024, "the pad's heap was not read (%d bytes)" % size
    log = pad.log()
    hits["log"] = sum(count(log.lower(), p.decode().lower()) for k, p in pats.items()
                      if k in ("hex", "ascii"))
    return hits


@pytest.fixture
def make_pad(make_pad):
    """conftest.py's, with the card's PIN this test searches the heap for."""
    return lambda **kw: make_pad(pin=CARD_PIN, **kw)


def settle(pad, pattern=RESULT, timeout=5.0):
    screen = pad.expect(pattern, timeout=timeout)
    time.sleep(0.8)  # the pad back in its wait loop (a gc.collect() and more, every 300 ms)
    return screen


def path_right(pad):
    pad.press(CARD_PIN + "E")
    assert settle(pad) == ("PIN OK", "Please remove card")
    return CARD_PIN


def path_wrong(pad):
    pad.press(WRONG_PIN + "E")
    assert settle(pad)[0] == "Wrong PIN"
    return WRONG_PIN


def path_cancel(pad):
    pad.press(CARD_PIN)
    pad.expect(r"^\*{6}$")
    # the scan reads what it should: the digits are in the pad while they are typed
    time.sleep(0.3)
    assert scan(pad, CARD_PIN)["digits"] >= 1, "the scan does not see the pin buffer"
    pad.press("X")
    assert settle(pad) == ("Cancelled", "Please remove card")
    return CARD_PIN


def path_timeout(pad):
    pad.press(CARD_PIN)
    assert settle(pad, timeout=6) == ("Timed out", "Please remove card")
    return CARD_PIN


def path_pulled_in_entry(pad):
    pad.press(CARD_PIN)
    pad.expect(r"^\*{6}$")
    pad.pull(idle=False)
    assert settle(pad) == ("Card removed", "Please insert it again")
    return CARD_PIN


def _pulled_in_verify(n):
    def path(pad):
        hook = pad.card_slot.on_byte = PullInVerify(pad, n)
        pad.press(WRONG_PIN + "E")
        assert settle(pad)[0] in ("Card removed", "Card error")
        assert hook.fired
        pad.card_slot.on_byte = None
        return WRONG_PIN
    return path


def path_psam_error(pad):
    # the PSAM takes the CIPHER DATA of the PIN block, then never answers it
    pad.psam_slot.truncate, pad.psam_slot.truncate_ins = 2, (0xFA,)
    pad.press(CARD_PIN + "E")
    assert settle(pad, timeout=10) == ("Security module error", "Please call a technician")
    pad.psam_slot.truncate = None
    return CARD_PIN


def path_card_error(pad):
    # the card takes the secure VERIFY (the PIN block enciphered), then never answers it
    pad.card_slot.truncate, pad.card_slot.truncate_ins = 2, (0x20,)
    pad.press(WRONG_PIN + "E")
    assert settle(pad, timeout=10)[0] == "Card error"
    pad.card_slot.truncate = None
    return WRONG_PIN


PATHS = {
    "right": (path_right, {}),
    "wrong": (path_wrong, {}),
    "cancel": (path_cancel, {}),
    "timeout": (path_timeout, {"pin_timeout_s": 1}),
    "pulled-in-entry": (path_pulled_in_entry, {}),
    "pulled-before-block": (_pulled_in_verify(0), {}),
    "pulled-after-count": (_pulled_in_verify(1), {}),
    "psam-error": (path_psam_error, {}),
    "card-error": (path_card_error, {}),
    "3des-right": (path_right, {"suite": "3DES"}),
    "3des-psam-error": (path_psam_error, {"suite": "3DES"}),
}


class ScanInVerify:
    """PSAM slot hook: when the header of the first CIPHER DATA MAC (80 FA 05 00) came in,
    the PIN block was just enciphered: scan the pad there, its answer held back."""

    def __init__(self, pad, pin):
        self.pad, self.pin = pad, pin
        self.window = b""
        self.hits = None

    def __call__(self, direction, index, byte):
        if direction == "rx" and self.hits is None:
            self.window = (self.window + bytes((byte,)))[-4:]
            if self.window == b"\x80\xfa\x05\x00":
                self.hits = scan(self.pad, self.pin)
        return False


@pytest.mark.parametrize("suite", ["SM4", "3DES"])
def test_mid_verify_only_the_live_pin_block(make_pad, suite):
    """Between the CIPHER DATA of the PIN block and its MAC: the digits are gone, and the
    block is held once (the live `block` of verify.run), no dropped copy of it."""
    pad = make_pad(suite=suite)
    hook = pad.psam_slot.on_byte = ScanInVerify(pad, CARD_PIN)
    pad.insert()
    pad.expect(ENTER)
    pad.press(CARD_PIN + "E")
    assert settle(pad) == ("PIN OK", "Please remove card")
    print("PINWIPE mid-verify %s %r" % (suite, hook.hits))
    assert hook.hits is not None
    assert hook.hits["block"] <= 1 and hook.hits["digits"] == 0, hook.hits
    assert not any(hook.hits[k] for k in ("ascii", "hex", "HEX", "log")), hook.hits


@pytest.mark.parametrize("name", list(PATHS))
def test_no_pin_left_in_pad_memory(make_pad, name):
    play, kw = PATHS[name]
    pad = make_pad(**kw)
    pad.insert()
    pad.expect(ENTER)
    pin = play(pad)
    found = {}
    if pad.card_slot.present:  # the result screen, the card still in
        found["result"] = scan(pad, pin)
        pad.pull()
    else:
        pad.expect(pad.idle)
    time.sleep(0.8)
    found["idle"] = scan(pad, pin)
    print("PINWIPE %s %r" % (name, found))
    assert pad.alive()
    assert not any(n for hits in found.values() for n in hits.values()), \
        "PIN material left in the pad after %s: %r" % (name, found)
