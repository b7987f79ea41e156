# ISO 7816-4 short APDUs and status words as firmware/iso7816/t0.py applies them (the
# layer has no separate APDU module: T0.transmit() reads the case off the length).
# Status word names for logs live in docs/protocol.md section 4a, not in the firmware.
import mptest
from mptest import eq, raises, true

from mptest import ProtocolError
from fakeslot import FakeSlot, R, W
from iso7816.t0 import T0


def h(s):
    return bytes(int(x, 16) for x in s.split())


def t0_for(script):
    s = FakeSlot(script)
    t = T0(s, 1001)
    t.clock = s.ticks_ms
    return s, t


def test_the_four_cases_from_the_length():
    # ISO 7816-3 12.1.3: CLA INS P1 P2 (case 1, P3 00), + Le (case 2), + Lc data
    # (case 3), + Lc data Le (case 4: sent as case 3, Le not sent). docs/protocol.md 4.
    x = h("D1 56 00 00 05 90")
    for apdu, script, answer in (
            (h("00 20 00 00"), [W("00 20 00 00 00"), R("63 C3")], (b"", 0x63C3)),
            (h("00 84 00 00 08"), [W("00 84 00 00 08"), R("84"), R(bytes(8)), R("90 00")],
             (bytes(8), 0x9000)),
            (h("00 A4 04 00 06") + x, [W("00 A4 04 00 06"), R("A4"), W(x), R("90 00")],
             (b"", 0x9000)),
            (h("00 88 00 00 06") + x + b"\x00", [W("00 88 00 00 06"), R("88"), W(x), R("90 00")],
             (b"", 0x9000))):
        s, t = t0_for(script)
        eq(t.transmit(apdu), answer, apdu)
        true(s.done(), apdu)


def test_le_00_is_256():
    data = bytes(range(256))
    s, t = t0_for([W("00 B0 85 00 00"), R("B0"), R(data), R("90 00")])
    eq(t.transmit(h("00 B0 85 00 00")), (data, 0x9000))
    # a case-4 APDU may come as a memoryview; its Le 00 is not sent either
    s, t = t0_for([W("00 88 00 00 01"), R("88"), W("10"), R("61 00"), W("00 C0 00 00 00"),
                   R("C0"), R(data), R("90 00")])
    eq(t.transmit(memoryview(h("00 88 00 00 01 10 00"))), (data, 0x9000))
    true(s.done())


def test_malformed_apdus_refused_before_sending():
    for bad in (b"", h("00 20 00"), h("00 A4 00 00 02 10"), h("00 A4 00 00 02 10 01 00 00"),
                h("00 A4 00 00 00 00 01 10"), h("00 A4 00 00 00 10"), bytes(5 + 256)):
        s, t = t0_for([])
        e = raises(ValueError, t.transmit, bad)
        true("short command" in str(e), str(e))
        eq(s.written, 0)
    for ins in (0x60, 0x6A, 0x91, 0x9F):  # 6X and 9X are reserved: SW1 values
        s, t = t0_for([])
        e = raises(ValueError, t.transmit, bytes((0, ins, 0, 0)))
        true("INS %02X is reserved" % ins in str(e), str(e))
        eq(s.written, 0)


def test_status_words_are_6x_or_9x():
    # SW1 is 6X (X not 0: 60 is NULL) or 9X; any other byte that is not the INS or its
    # complement is a malformed procedure byte. Case 1 (INS 20, ~INS DF): 61xx asks for
    # GET RESPONSE, every other status word comes back as it is.
    for b in range(256):
        if b in (0x20, 0xDF, 0x60, 0x61):
            continue
        s, t = t0_for([W("00 20 00 00 00"), R(bytes((b, 0xA5)))])
        if 0x61 <= b <= 0x6F or 0x90 <= b <= 0x9F:
            eq(t.transmit(h("00 20 00 00")), (b"", b << 8 | 0xA5))
        else:
            e = raises(ProtocolError, t.transmit, h("00 20 00 00"))
            true("procedure byte %02X" % b in str(e), str(e))


mptest.main(globals())
