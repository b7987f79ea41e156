# The PIN does not linger (DESIGN section 10, docs/protocol.md section 6): every buffer
# that held PIN digits or the clear PIN block is zero once its holder is done, on every
# path. Under micropython, with fakes in place of the PSAM, the keypad and the card.
import mptest
from mptest import eq, raises, true

import pin_entry
import psam
from errors import CardRemoved, Error, Timeout
from fakeslot import FakeSlot, R, W, h  # noqa: F401
from iso7816.t0 import T0

BLOCK = bytes((0x46, 0x73, 0x91, 0x48, 0xAA, 0xAA, 0xAA, 0xAA, 1, 2, 3, 4, 5, 6, 7, 8))


class FakeT0:
    """Answers the PSAM's set-up commands; keeps each APDU buffer it was given (the very
    object) and a copy of its bytes as sent; `fail` makes later commands raise."""

    def __init__(self):
        self.apdus = []
        self.sent = []
        self.fail = None

    def transmit(self, apdu):
        if apdu[1] == 0xB0:  # READ BINARY: terminal number, issuer info (level 3)
            return (bytes(6) if apdu[2] == 0x96 else b"\x11\x01\x05\x03\x01\x01\x01\x01",
                    0x9000)
        self.apdus.append(apdu)
        self.sent.append(bytes(apdu))
        if self.fail:
            raise self.fail
        if apdu[1] == 0xFA:
            return bytes(apdu[4]), 0x9000
        return b"", 0x9000


def sam():
    t = FakeT0()
    s = psam.Psam(t)
    t.apdus, t.sent = [], []
    return s, t


def zero(b, start=0):
    return all(x == 0 for x in b[start:])


def test_cipher_sends_the_block_then_wipes_the_command():
    s, t = sam()
    eq(s.cipher(0, BLOCK, 16), bytes(16))
    eq(t.sent, [b"\x80\xfa\x00\x00\x10" + BLOCK + b"\x00"])  # case 4: Le 00 last
    cmd = t.apdus[0]
    eq(len(cmd), 22)
    true(zero(cmd, 5), "the clear PIN block stays in the CIPHER DATA command: %r" % cmd)


def test_cipher_wipes_the_command_when_the_psam_fails():
    for exc in (Timeout("PSAM silent"), CardRemoved("PSAM removed")):
        s, t = sam()
        t.fail = exc
        eq(raises(Error, s.cipher, 0, BLOCK, 16).code, 10)  # the PSAM's fault (errors.py)
        true(zero(t.apdus[0], 5), "PIN block left after %r" % exc)


def test_cipher_wipes_the_command_on_any_exception():
    s, t = sam()
    t.fail = MemoryError()
    raises(MemoryError, s.cipher, 0, BLOCK, 16)
    true(zero(t.apdus[0], 5))


def test_t0_wipes_the_one_byte_buffer_of_a_byte_by_byte_send():
    apdu = h("80 FA 00 00 10") + BLOCK
    script = [W(apdu[:5])]
    for b in BLOCK:
        script += [R("05"), W(bytes((b,)))]  # ~FA = 05: one byte
    script += [R("90 00")]
    s = FakeSlot(script)
    t = T0(s, 1000)
    t.clock = s.ticks_ms
    eq(t.transmit(apdu + b"\x00"), (b"", 0x9000))
    eq(t._one[0], 0)


# --- the keypad entry ------------------------------------------------------------------

class Pad:
    """What enter_pin uses of the app: show, events.wait_key, board.card, board.ui."""

    def __init__(self, keys, present=True):
        self.keys = list(keys)
        self.inserted = present
        self.events = self
        self.board = self
        self.card = self
        self.ui = self

    def show(self, *a):
        pass

    def beep(self, n=1):
        pass

    def present(self):
        return self.inserted

    def wait_key(self, ms):
        if not self.keys:
            return None
        k = self.keys.pop(0)
        if isinstance(k, BaseException):
            raise k
        return k


def entered(keys, present=True, timeout_ms=60000):
    buf = bytearray(12)
    pad = Pad(keys, present)
    try:
        return pin_entry.enter_pin(pad, buf, timeout_ms), buf
    except BaseException as e:
        return e, buf


def test_enter_keeps_the_digits_for_the_caller():
    n, buf = entered("739148E")
    eq(n, 6)
    eq(buf[:6], bytearray((7, 3, 9, 1, 4, 8)))


def test_every_other_way_out_wipes_the_digits():
    for keys, present, want in (("739148X", True, pin_entry.CANCELLED),
                                ("739148", True, pin_entry.TIMED_OUT),
                                ("739148", False, CardRemoved),
                                (list("739148") + [OSError("ui gone")], True, OSError),
                                (list("739") + [KeyboardInterrupt()], True, KeyboardInterrupt)):
        e, buf = entered(keys, present, timeout_ms=1000)
        if isinstance(want, int):  # Cancel, the time-out: results
            eq(e, want, "%r" % keys)
        else:
            true(isinstance(e, want), "%r: %r" % (keys, e))
        eq(buf, bytearray(12), "digits left after %r" % want)


def test_clear_wipes_the_digits_typed():
    n, buf = entered("7391C482915E")
    eq(n, 6)
    eq(buf[:7], bytearray((4, 8, 2, 9, 1, 5, 0)))


class Keypad:
    """The keypad connection: one key byte at each readinto."""

    def __init__(self, keys):
        self.keys = keys

    def readinto(self, b):
        b[0] = self.keys.pop(0)
        return 1


def test_the_keypad_buffer_does_not_keep_the_last_digit():
    import board
    ui = object.__new__(board.Ui)  # no connection: its keypad is a fake
    ui.pollable = Keypad(list(b"73Z"))
    ui.key = bytearray(1)
    eq(ui.read_key(), "7")
    eq(ui.key, bytearray(1))
    eq(ui.read_key(), "3")
    eq(ui.key, bytearray(1))
    eq(ui.read_key(), None)  # not a key


mptest.main(globals())
