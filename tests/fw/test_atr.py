# Unit tests of firmware/iso7816/atr.py under the unix-port micropython.
# Real ATRs are public ones (sources named at each); expected values are read off the
# ISO 7816-3 tables by hand, never taken from the code under test.
import mptest
from mptest import eq, raises, true

from errors import CardRemoved, Timeout
from mptest import ProtocolError
from fakeslot import D, FakeSlot, R, X
from iso7816 import atr

# Chinese social security card, Turbo COS/SS 3.1 layout (3B 6D 00 00, chip maker 0081,
# COS 543100, card maker 8660, date + serial); serial byte set to 01.
SSC = "3B 6D 00 00 00 81 54 31 00 86 60 11 08 16 00 00 01"
# Card ATR dissected on microissuer.com (Chinese COS notes): T=0 first, then T=1, T=15.
MICROISSUER = "3B DF 18 FF 80 91 FE 1F C3 00 31 38 64 47 90 EC C2 73 14 01 50 82 90 00 BB"
# Same source: T=1 in specific mode (TA2 = 11).
MICROISSUER_T1 = ("3B FF 18 35 FF B1 11 66 F1 FE 4D 00 1F C7 00 31 38 64 47 90 EC C2 73 14"
                  " 01 50 82 90 00 C1")
# pcsc-tools smartcard_list.txt: "GSM-SIM e-plus (1800MHz)", TC2 = 14 (WI 20).
EPLUS = "3B 89 40 14 47 47 32 36 4D 35 32 38 30"
# pcsc-tools: "Schlumberger Cyberflex Access Augmented Crypto", TA1 = 94.
CYBERFLEX = "3B 16 94 81 10 06 01 81 2F"
# pcsc-tools: "Resident Identity Card of People Republic of China (Second Generation
# with RF Feature)", a T=0 + T=1 ATR with TCK.
PRC_ID = "3B 88 80 01 D1 03 86 05 00 80 80 00 58"
# pcsc-tools: "Schlumberger Multiflex 3k", the shortest kind.
MULTIFLEX = "3B 02 14 50"


def h(s):
    return bytes(int(x, 16) for x in s.split())


def slot_for(s, *more):
    return FakeSlot([R(s)] + list(more))


def read(slot, **kw):
    return atr.read(slot, clock=slot.ticks_ms, **kw)


def ta(a, i):
    """TAi of a parsed ATR, None when absent."""
    return a.iface[i - 1][0] if i <= len(a.iface) else None


def test_social_security_card():
    s = slot_for(SSC)
    a = read(s)
    eq(a.raw, h(SSC))
    eq(a.protocols, (0,))
    eq(a.iface, [[None, 0x00, 0x00, None]])  # T0 6D: TB1, TC1, 13 historical bytes
    eq(a.historical, h("00 81 54 31 00 86 60 11 08 16 00 00 01"))
    eq(a.tck, None)
    eq((a.fi, a.di), (372, 1))
    eq(a.wi, 10)
    eq(a.specific, None)
    # WT = 10 * 960 * 372 / 3.57 MHz = 1000.34 ms
    eq(a.wwt_ms(), 1001)
    true(s.done())


def test_t0_and_t1_with_global_bytes_and_tck():
    a = read(slot_for(MICROISSUER))
    eq(a.protocols, (0, 1))
    eq(a.iface, [[0x18, None, 0xFF, 0x80], [None, None, None, 0x91],
                 [0xFE, None, None, 0x1F], [0xC3, None, None, None]])
    eq(a.tck, 0xBB)
    eq((a.fi, a.di), (372, 12))  # TA1 18: Fi index 1, Di index 8
    eq(a.specific, None)  # no TA2: negotiable mode, 372/1 until a PPS (the pad does none)
    eq(a.wi, 10)
    eq(len(a.historical), 15)
    eq(a.historical, h("00 31 38 64 47 90 EC C2 73 14 01 50 82 90 00"))


def test_wi_from_tc2():
    a = read(slot_for(EPLUS))
    eq(a.wi, 0x14)
    eq(a.protocols, (0,))
    eq(a.tck, None)
    # WT = 20 * 960 * 372 / 3.57 MHz = 2000.67 ms
    eq(a.wwt_ms(), 2001)
    eq(a.historical, b"GG26M5280")


def test_fi_di_from_ta1_and_clock_scaling():
    a = read(slot_for(CYBERFLEX))
    eq((a.fi, a.di), (512, 8))
    # WT = 10 * 960 * 512 / f: 1376.8 ms at 3.57 MHz, 983.04 ms at 5 MHz
    eq(a.wwt_ms(), 1377)
    eq(a.wwt_ms(5000000), 984)
    eq(a.protocols, (0,))


def test_more_real_atrs():
    a = read(slot_for(PRC_ID))
    eq(a.protocols, (0, 1))
    eq(a.tck, 0x58)
    eq(len(a.historical), 8)
    a = read(slot_for(MULTIFLEX))
    eq(a.historical, b"\x14\x50")
    eq(a.protocols, (0,))


def test_every_fi_and_di():
    # ISO 7816-3 tables 7 and 8; indexes 7, 8, E, F of Fi and 0, A-F of Di are RFU
    fi = (372, 372, 558, 744, 1116, 1488, 1860, 0, 0, 512, 768, 1024, 1536, 2048, 0, 0)
    di = (0, 1, 2, 4, 8, 16, 32, 64, 12, 20, 0, 0, 0, 0, 0, 0)
    for ta1 in range(256):
        s = slot_for(bytes((0x3B, 0x10, ta1)))
        a = read(s)  # negotiable mode: a reserved one leaves the default rate, 372 / 1
        if fi[ta1 >> 4] and di[ta1 & 15]:
            eq((a.fi, a.di), (fi[ta1 >> 4], di[ta1 & 15]), "TA1 %02X" % ta1)
        else:
            eq((a.fi, a.di), (372, 1), "TA1 %02X" % ta1)
        # specific mode (TA2 00: T=0 at TA1's rate): a reserved TA1 is refused
        s = slot_for(bytes((0x3B, 0x90, ta1, 0x10, 0x00)))
        if fi[ta1 >> 4] and di[ta1 & 15]:
            a = read(s, need_t0=False)
            eq((a.fi, a.di, a.specific), (fi[ta1 >> 4], di[ta1 & 15], 0), "TA1 %02X" % ta1)
        else:
            e = raises(ProtocolError, read, s)
            true("TA1 %02X" % ta1 in str(e), str(e))


def test_reading_stops_at_the_atr_end():
    s = slot_for(h(SSC) + b"\x90\x00")
    eq(read(s).raw, h(SSC))
    eq((s.k, s.j), (0, len(h(SSC))))  # what follows stays in the slot


def test_t1_card_refused_when_t0_needed():
    e = raises(ProtocolError, read, slot_for(MICROISSUER_T1))
    true("T=1" in str(e), str(e))
    a = read(slot_for(MICROISSUER_T1), need_t0=False)
    eq(a.specific, 1)
    eq(a.protocols, (1,))
    eq(ta(a, 2), 0x11)
    eq(ta(a, 4), 0xC7)
    eq(a.tck, 0xC1)


def test_specific_mode_t0_at_other_speed():
    # T0 90: TA1, TD1; TA1 94 (Fi 512, Di 8); TD1 10: TA2, T=0; TA2 00: specific mode,
    # T=0, Fi/Di of TA1. Only T=0 is indicated, so there is no TCK. read() parses it;
    # whether the slot can speak at that rate is run()'s (tests/fw/test_pps.py).
    a = read(slot_for(h("3B 90 94 10 00")))
    eq((a.specific, a.fi, a.di), (0, 512, 8))
    a = read(slot_for(h("3B 90 11 10 00")))  # specific mode at the default 372/1
    eq(a.specific, 0)
    eq((a.fi, a.di), (372, 1))
    # TA2 b5 set: implicit Fi/Di, unknown to the pad
    e = raises(ProtocolError, read, slot_for(h("3B 90 11 10 10")))
    true("specific mode" in str(e), str(e))
    eq(e.code, 3)


def test_inverse_convention_refused():
    for ts in ("3F", "03"):
        e = raises(ProtocolError, read, slot_for(ts + " 00"))
        true("inverse" in str(e), str(e))


def test_garbage_ts():
    for ts in ("00", "FF", "3A", "60"):
        e = raises(ProtocolError, read, slot_for(ts + " 00 00"))
        true("TS" in str(e), str(e))


def test_bad_tck():
    raw = bytearray(h(MICROISSUER))
    raw[-1] ^= 0x01
    e = raises(ProtocolError, read, slot_for(bytes(raw)))
    true("TCK" in str(e), str(e))


def test_reserved_values():
    # a reserved Fi or Di in TA1: negotiable mode carries on at the default rate (EMV
    # Book 1), specific mode (TA2) is refused
    eq((read(slot_for("3B 10 71")).fi, read(slot_for("3B 10 1A")).di), (372, 1))
    e = raises(ProtocolError, read, slot_for("3B 90 71 10 00"))  # Fi index 7 is RFU
    true("TA1" in str(e), str(e))
    raises(ProtocolError, read, slot_for("3B 90 1A 10 00"))  # Di index A is RFU
    e = raises(ProtocolError, read, slot_for("3B 80 40 00"))  # TC2 = 0
    true("TC2" in str(e), str(e))


def test_longest_atr_accepted_and_34_bytes_refused():
    # 33 bytes: TS, T0 8F (TD1, K = 15), TD1..TD14 = 80 (T=0, TD follows),
    # TD15 = 01 (T=1, last), 15 historical bytes, TCK.
    body = bytearray(b"\x8f" + b"\x80" * 14 + b"\x01" + bytes(range(15)))
    tck = 0
    for b in body:
        tck ^= b
    raw = b"\x3b" + bytes(body) + bytes((tck,))
    eq(len(raw), 33)
    a = read(slot_for(raw))
    eq(a.protocols, (0, 1))
    eq(len(a.iface), 16)
    # one more TD makes 34
    body = bytearray(b"\x8f" + b"\x80" * 15 + b"\x01" + bytes(range(15)))
    s = slot_for(b"\x3b" + bytes(body) + b"\x00")
    e = raises(ProtocolError, read, s)
    true("longer than 33" in str(e), str(e))
    true(s.k == 0 and s.j == 33, "stopped reading at byte 34")


def test_endless_td_chain_stops_at_33():
    s = slot_for(b"\x3b\x80" + b"\x80" * 100)
    raises(ProtocolError, read, s)


def test_silent_card_times_out_within_the_initial_wait():
    s = FakeSlot([])
    e = raises(Timeout, read, s)
    true("ATR: 0 bytes in 1001 ms" in str(e), str(e))
    eq(s.now, 1001)  # 9600 etu * 372 / 3.57 MHz = 1000.34 ms


def test_truncated_atr_times_out():
    s = FakeSlot([R(h(SSC)[:9])])
    e = raises(Timeout, read, s)
    true("9 bytes in 1001 ms" in str(e), str(e))


def test_slow_character_times_out():
    s = FakeSlot([R("3B 6D 00"), D(1001), R(h(SSC)[3:])])
    raises(Timeout, read, s)
    s = FakeSlot([R("3B 6D 00"), D(1000), R(h(SSC)[3:])])
    eq(read(s).raw, h(SSC))


def test_whole_atr_bounded():
    # every character just inside the per-character wait: the total bound stops it
    steps = []
    for b in h(SSC):
        steps.append(D(900))
        steps.append(R(bytes((b,))))
    s = FakeSlot(steps)
    e = raises(Timeout, read, s)
    true("2 bytes in 2101 ms" in str(e), str(e))
    eq(s.now, 2101)  # 20160 etu * 372 / 3.57 MHz = 2100.71 ms


def test_card_pulled_during_atr():
    s = FakeSlot([R("3B 6D 00"), X])
    raises(CardRemoved, read, s)


mptest.main(globals())
