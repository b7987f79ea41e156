# Unit tests of firmware/iso7816/apdu.py under the unix-port micropython.
import mptest
from mptest import eq, raises, true

from errors import ProtocolError
from iso7816 import apdu


def test_build_four_cases():
    # ISO 7816-4 short forms; values from docs/protocol.md section 4
    eq(apdu.build(0x00, 0x20, 0x00, 0x00), b"\x00\x20\x00\x00")
    eq(apdu.build(0x00, 0x84, 0x00, 0x00, le=8), b"\x00\x84\x00\x00\x08")
    eq(apdu.build(0x00, 0xA4, 0x04, 0x00, b"\xd1\x56\x00\x00\x05\x90"),
       b"\x00\xa4\x04\x00\x06\xd1\x56\x00\x00\x05\x90")
    eq(apdu.build(0x00, 0x88, 0x00, 0x00, b"\x01\x02", le=256), b"\x00\x88\x00\x00\x02\x01\x02\x00")


def test_build_le_256_is_00_and_empty_data_is_none():
    eq(apdu.build(0, 0xB0, 0x85, 0, le=256), b"\x00\xb0\x85\x00\x00")
    eq(apdu.build(0, 0x20, 0, 0, b""), b"\x00\x20\x00\x00")


def test_build_refuses_bad_input():
    raises(ValueError, apdu.build, 0, 0xB0, 0, 0, le=0)
    raises(ValueError, apdu.build, 0, 0xB0, 0, 0, le=257)
    raises(ValueError, apdu.build, 0, 0xD6, 0, 0, bytes(256))
    raises(ValueError, apdu.build, 0x100, 0xB0, 0, 0)
    raises(ValueError, apdu.build, 0, 0xB0, -1, 0)
    e = raises(ValueError, apdu.build, 0, 0x6A, 0, 0)
    true("INS 6A" in str(e), str(e))
    raises(ValueError, apdu.build, 0, 0x91, 0, 0)


def test_case_of():
    eq(apdu.case_of(0, 0x20, 0, 0), 1)
    eq(apdu.case_of(0, 0x84, 0, 0, None, 8), 2)
    eq(apdu.case_of(0, 0xA4, 4, 0, b"\x01"), 3)
    eq(apdu.case_of(0, 0x88, 0, 0, b"\x01", 256), 4)
    eq(apdu.case_of(0, 0x20, 0, 0, b"", None), 1)


def test_parse_raw():
    eq(apdu.parse(b"\x00\x20\x00\x00"), (1, 0, 0))
    eq(apdu.parse(b"\x00\xb0\x85\x00\x26"), (2, 0, 38))
    eq(apdu.parse(b"\x00\xb0\x85\x00\x00"), (2, 0, 256))
    eq(apdu.parse(b"\x00\xa4\x00\x00\x02\x10\x01"), (3, 2, 0))
    eq(apdu.parse(b"\x00\x88\x00\x00\x02\x10\x01\x10"), (4, 2, 16))
    eq(apdu.parse(memoryview(b"\x00\x88\x00\x00\x01\x10\x00")), (4, 1, 256))


def test_parse_refuses_malformed():
    for bad in (b"", b"\x00\x20\x00", b"\x00\xa4\x00\x00\x02\x10",
                b"\x00\xa4\x00\x00\x02\x10\x01\x00\x00", b"\x00\xa4\x00\x00\x00\x00\x01\x10"):
        raises(ValueError, apdu.parse, bad)
    e = raises(ValueError, apdu.parse, b"\x00\x60\x00\x00")
    true("reserved" in str(e), str(e))


def test_sw_helpers():
    true(apdu.sw_ok(0x9000))
    true(not apdu.sw_ok(0x6100))
    true(not apdu.sw_ok(0x63C3))
    eq(apdu.tries_left(0x63C2), 2)
    eq(apdu.tries_left(0x63C0), 0)
    eq(apdu.tries_left(0x6983), 0)
    eq(apdu.tries_left(0x9000), None)
    eq(apdu.tries_left(0x6A82), None)
    eq(apdu.tries_left(0x6300), None)


def test_sw_names_cover_the_common_words():
    for sw in (0x9000, 0x6700, 0x6982, 0x6983, 0x6984, 0x6985, 0x6988, 0x6A82, 0x6A86,
               0x6A88, 0x6D00, 0x6E00):
        true(not apdu.sw_name(sw).startswith("status"), "%04X" % sw)
    eq(apdu.sw_name(0x6110), "16 bytes available")
    eq(apdu.sw_name(0x6100), "256 bytes available")
    eq(apdu.sw_name(0x6C26), "wrong Le, exact length 38")
    eq(apdu.sw_name(0x63C1), "verification failed, 1 tries left")
    eq(apdu.sw_name(0x6F00), "status 6F00")


def test_malformed_status_words_are_protocol_errors():
    eq(apdu.make_sw(0x90, 0x00), 0x9000)
    eq(apdu.make_sw(0x61, 0x10), 0x6110)
    eq(apdu.make_sw(0x9F, 0xFF), 0x9FFF)
    for sw1 in (0x00, 0x60, 0x70, 0x80, 0xA0, 0xFF):
        e = raises(ProtocolError, apdu.make_sw, sw1, 0x00)
        true("status word" in str(e), str(e))


def test_split_raw_answer():
    eq(apdu.split(b"\x01\x02\x90\x00"), (b"\x01\x02", 0x9000))
    eq(apdu.split(bytearray(b"\x63\xc2")), (b"", 0x63C2))
    raises(ProtocolError, apdu.split, b"\x90")
    raises(ProtocolError, apdu.split, b"\x01\x02\x12\x34")


mptest.main(globals())
