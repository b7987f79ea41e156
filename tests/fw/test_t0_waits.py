# Unit tests of firmware/iso7816/t0.py, part 2: waiting (NULLs, timeouts, removal),
# malformed answers and commands, memory. Part 1 (the four cases) is test_t0.py; the
# split keeps each file compilable within the 64 KB heap.
import gc

import mptest
from mptest import eq, raises, true

from errors import CardRemoved, Timeout
from mptest import ProtocolError
from fakeslot import WWT, D, FakeSlot, R, W, X, h, t0_for  # noqa: F401
from iso7816.t0 import T0

DATA38 = bytes(range(0x40, 0x40 + 38))


# --- waiting: NULLs, timeouts, removal ------------------------------------------------

def test_null_waits_each_within_wwt():
    script = [W("00 20 00 00 00")]
    for _ in range(5):
        script += [D(WWT - 1), R("60")]
    script += [D(WWT - 1), R("90 00")]
    s, t = t0_for(script)
    eq(t.transmit(h("00 20 00 00")), (b"", 0x9000))
    eq(s.now, 6 * (WWT - 1))


def test_null_flood_bounded_in_time():
    script = [W("00 20 00 00 00")]
    for _ in range(100):
        script += [D(900), R("60")]
    s, t = t0_for(script, busy_ms=10000)
    e = raises(Timeout, t.transmit, h("00 20 00 00"))
    true("10000 ms" in str(e), str(e))
    true(9000 <= s.now <= 10000, "stopped after %d ms" % s.now)


def test_null_flood_default_bound_is_30_wwt():
    s, t = t0_for([W("00 20 00 00 00")] + [D(WWT - 1), R("60")] * 40)
    raises(Timeout, t.transmit, h("00 20 00 00"))
    true(s.now <= 30 * WWT, "stopped after %d ms" % s.now)


def test_null_count_bounded():
    s, t = t0_for([W("00 20 00 00 00"), R(b"\x60" * 60)], max_nulls=50)
    e = raises(Timeout, t.transmit, h("00 20 00 00"))
    true("50 NULL" in str(e), str(e))
    eq(s.k, 1, "script at the NULL run")
    eq(s.j, 51, "stopped at the 51st NULL")
    # 1000 by default: the 1000th NULL is still a wait, the 1001st is not
    s, t = t0_for([W("00 20 00 00 00"), R(b"\x60" * 1000), R("90 00")])
    eq(t.transmit(h("00 20 00 00")), (b"", 0x9000))
    s, t = t0_for([W("00 20 00 00 00"), R(b"\x60" * 1001), R("90 00")])
    e = raises(Timeout, t.transmit, h("00 20 00 00"))
    true("1000 NULL" in str(e), str(e))


def test_spare_acks_count_as_waits():
    # ACKs with nothing left to move are only waits: bounded like NULLs
    s, t = t0_for([W("00 20 00 00 00"), R(b"\x20" * 60)], max_nulls=50)
    e = raises(Timeout, t.transmit, h("00 20 00 00"))
    true("50 NULL" in str(e), str(e))


def test_silence_after_header():
    s, t = t0_for([W("00 B0 85 00 26")])
    raises(Timeout, t.transmit, h("00 B0 85 00 26"))
    eq(s.now, WWT)


def test_late_procedure_byte():
    s, t = t0_for([W("00 B0 85 00 26"), D(WWT), R("B0")])
    raises(Timeout, t.transmit, h("00 B0 85 00 26"))


def test_silence_in_the_middle_of_data():
    s, t = t0_for([W("00 B0 85 00 26"), R("B0"), R(DATA38[:20])])
    raises(Timeout, t.transmit, h("00 B0 85 00 26"))
    eq(s.now, WWT)


def test_silence_between_status_bytes():
    s, t = t0_for([W("00 20 00 00 00"), R("90")])
    raises(Timeout, t.transmit, h("00 20 00 00"))


def test_card_pulled_during_data():
    s, t = t0_for([W("00 B0 85 00 26"), R("B0"), R(DATA38[:5]), X])
    raises(CardRemoved, t.transmit, h("00 B0 85 00 26"))
    raises(CardRemoved, t.transmit, h("00 B0 85 00 26"))  # and it stays gone


def test_card_pulled_before_the_command():
    s, t = t0_for([])
    s.deactivate()
    raises(CardRemoved, t.transmit, h("00 20 00 00"))


# --- malformed answers and commands ---------------------------------------------------

def test_unexpected_procedure_bytes():
    for pb in ("00", "12", "80", "C0", "FF", "A0"):
        s, t = t0_for([W("00 B0 85 00 26"), R(pb)])
        e = raises(ProtocolError, t.transmit, h("00 B0 85 00 26"))
        true("procedure byte" in str(e), str(e))


def test_card_asks_for_too_many_bytes():
    s, t = t0_for([W("00 84 00 00 01"), R("7B 01 7B")])
    e = raises(ProtocolError, t.transmit, h("00 84 00 00 01"))
    true("byte 2 of 1" in str(e), str(e))
    s, t = t0_for([W("00 A4 00 00 01"), R("5B"), W("3F"), R("5B")])
    raises(ProtocolError, t.transmit, h("00 A4 00 00 01 3F"))


def test_malformed_apdus_are_value_errors():
    s, t = t0_for([])
    for bad in (b"", h("00 B0 00"), h("00 6A 00 00"), h("00 A4 00 00 03 01")):
        raises(ValueError, t.transmit, bad)
    eq(s.written, 0)
    raises(ValueError, T0, s, 0)


# --- memory ---------------------------------------------------------------------------

def test_case2_256_bytes_allocates_little():
    # An exchange may allocate only per command, never per byte. On the 64-bit unix port:
    # the answer's bytes copy (32-byte object + 257 bytes in 16-byte blocks = 320), the
    # memoryview slice it is copied from (32) and the (data, sw) tuple (32): 384 bytes.
    # One allocation per received byte would cost at least 16 bytes each (4096 for this
    # exchange), so the bound of 512 catches it.
    data = bytes((i * 7) & 0xFF for i in range(256))
    cmd = h("00 B0 00 00 00")
    s, t = t0_for([W(cmd), R("B0"), R(data), R("90 00")])
    gc.collect()
    before = gc.mem_alloc()
    resp = t.transmit(cmd)
    used = gc.mem_alloc() - before
    print("case-2 256-byte exchange: mem_alloc %d -> %d (+%d bytes)" % (before, before + used, used))
    eq(resp, (data, 0x9000))
    true(used < 512, "exchange allocated %d bytes" % used)


mptest.main(globals())
