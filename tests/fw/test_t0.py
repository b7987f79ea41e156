# Unit tests of firmware/iso7816/t0.py under the unix-port micropython, against a
# scripted card (fakeslot): what the pad writes is checked byte by byte, time simulated.
import mptest
from mptest import eq, raises, true

from mptest import ProtocolError
from fakeslot import WWT, FakeSlot, R, W, h, t0_for  # noqa: F401
from iso7816.t0 import T0

DATA38 = bytes(range(0x40, 0x40 + 38))
SELECT_DF01 = h("00 A4 04 00 06 D1 56 00 00 05 90")


# --- the four cases -----------------------------------------------------------------

def test_case1_tries_left():
    s, t = t0_for([W("00 20 00 00 00"), R("63 C3")])
    eq(t.transmit(h("00 20 00 00")), (b"", 0x63C3))
    true(s.done())


def test_case2_ack_then_all_data():
    s, t = t0_for([W("00 B0 85 00 26"), R("B0"), R(DATA38), R("90 00")])
    eq(t.transmit(h("00 B0 85 00 26")), (DATA38, 0x9000))
    true(s.done())


def test_case2_byte_by_byte_with_nulls():
    script = [W("00 84 00 00 08")]
    for i in range(8):  # ~INS (84 -> 7B) before each byte, NULLs in between
        script += [R("60"), R("7B"), R(bytes((0xA0 + i,)))]
    script += [R("60 90 00")]
    s, t = t0_for(script)
    eq(t.transmit(h("00 84 00 00 08")), (bytes(range(0xA0, 0xA8)), 0x9000))
    true(s.done())


def test_case2_mixed_single_then_rest():
    s, t = t0_for([W("00 B0 85 00 26"), R("4F"), R(DATA38[:1]), R("4F"), R(DATA38[1:2]),
                   R("B0"), R(DATA38[2:]), R("90 00")])
    eq(t.transmit(h("00 B0 85 00 26")), (DATA38, 0x9000))
    true(s.done())


def test_case2_6cxx_reissues_with_exact_le():
    # docs/protocol.md: READ BINARY EF05 with Le 00 gets 6C26
    s, t = t0_for([W("00 B0 85 00 00"), R("6C 26"), W("00 B0 85 00 26"), R("B0"), R(DATA38),
                   R("90 00")])
    eq(t.transmit(h("00 B0 85 00 00")), (DATA38, 0x9000))
    true(s.done())


def test_case2_status_without_data():
    s, t = t0_for([W("00 B0 86 00 12"), R("6A 82")])
    eq(t.transmit(h("00 B0 86 00 12")), (b"", 0x6A82))


def test_case3_ack_sends_all_data():
    s, t = t0_for([W(SELECT_DF01[:5]), R("A4"), W(SELECT_DF01[5:]), R("90 00")])
    eq(t.transmit(SELECT_DF01), (b"", 0x9000))
    true(s.done())


def test_case3_byte_by_byte():
    script = [W(SELECT_DF01[:5])]
    for b in SELECT_DF01[5:]:
        script += [R("5B"), W(bytes((b,)))]  # ~A4 = 5B
    script += [R("60"), R("90 00")]
    s, t = t0_for(script)
    eq(t.transmit(SELECT_DF01), (b"", 0x9000))
    true(s.done())


def test_case3_one_byte_then_the_rest_then_spare_ack():
    s, t = t0_for([W(SELECT_DF01[:5]), R("5B"), W(SELECT_DF01[5:6]), R("A4"),
                   W(SELECT_DF01[6:]), R("A4"), R("90 00")])
    eq(t.transmit(SELECT_DF01), (b"", 0x9000))
    true(s.done())


def test_case4_sent_as_case3_then_get_response():
    x = h("01 02 03 04 05 06 07 08")
    answer = bytes(range(16))
    s, t = t0_for([W("00 88 00 00 08"), R("88"), W(x), R("61 10"),
                   W("00 C0 00 00 10"), R("C0"), R(answer), R("90 00")])
    eq(t.transmit(h("00 88 00 00 08") + x + b"\x00"), (answer, 0x9000))
    true(s.done())


def test_get_response_uses_the_command_cla():
    body = bytes(range(20))
    sm = bytes(range(10))
    s, t = t0_for([W("04 20 00 00 14"), R("20"), W(body), R("61 0A"),
                   W("04 C0 00 00 0A"), R("C0"), R(sm), R("90 00")])
    eq(t.transmit(h("04 20 00 00 14") + body), (sm, 0x9000))
    true(s.done())


def test_answer_before_the_data_byte_is_asked_for():
    # the card answers before asking for the data byte: the byte is never sent
    s, t = t0_for([W("84 24 00 00 01"), R("61 02"), W("84 C0 00 00 02"), R("C0 99 02"),
                   R("90 00")])
    eq(t.transmit(h("84 24 00 00 01 AA")), (b"\x99\x02", 0x9000))
    true(s.done())


def test_61xx_chain():
    s, t = t0_for([W("80 FA 00 00 02"), R("FA"), W("11 22"), R("61 04"),
                   W("80 C0 00 00 04"), R("C0"), R("01 02 03 04"), R("61 02"),
                   W("80 C0 00 00 02"), R("3F"), R("05"), R("3F"), R("06"), R("90 00")])
    eq(t.transmit(h("80 FA 00 00 02 11 22")), (h("01 02 03 04 05 06"), 0x9000))
    true(s.done())


def test_61xx_chain_bounded():
    for bound, kw in ((3, {"max_get_response": 3}), (16, {})):  # 16 by default
        script = [W("00 84 00 00 01"), R("84 01 61 01")]
        for _ in range(bound):
            script += [W("00 C0 00 00 01"), R("C0 01 61 01")]
        s, t = t0_for(script, **kw)
        e = raises(ProtocolError, t.transmit, h("00 84 00 00 01"))
        true("after %d GET RESPONSE" % bound in str(e), str(e))
        true(s.done(), "one more GET RESPONSE than the bound")


def test_get_response_6cxx():
    s, t = t0_for([W("00 88 00 00 01"), R("61 00"), W("00 C0 00 00 00"), R("6C 08"),
                   W("00 C0 00 00 08"), R("C0"), R(bytes(8)), R("90 00")])
    eq(t.transmit(h("00 88 00 00 01 55 00")), (bytes(8), 0x9000))


def test_6cxx_voids_the_data_of_its_command():
    # bytes moved by ~INS before a 6Cxx are not part of the answer
    s, t = t0_for([W("00 B0 85 00 05"), R("4F 01"), R("6C 02"), W("00 B0 85 00 02"),
                   R("B0 AA BB 90 00")])
    eq(t.transmit(h("00 B0 85 00 05")), (h("AA BB"), 0x9000))
    true(s.done())
    # nor are a GET RESPONSE's; the rounds before it keep theirs
    s, t = t0_for([W("00 88 00 00 01"), R("88"), W("55"), R("61 04"), W("00 C0 00 00 04"),
                   R("3F 01 6C 02"), W("00 C0 00 00 02"), R("C0 07 08 61 01"),
                   W("00 C0 00 00 01"), R("C0 09 90 00")])
    eq(t.transmit(h("00 88 00 00 01 55 00")), (h("07 08 09"), 0x9000))
    true(s.done())


def test_6cxx_to_case_1_or_3_is_returned():
    s, t = t0_for([W("00 20 00 00 00"), R("6C 10")])
    eq(t.transmit(h("00 20 00 00")), (b"", 0x6C10))
    s, t = t0_for([W("00 A4 00 00 02"), R("A4"), W("3F 00"), R("6C 10")])
    eq(t.transmit(h("00 A4 00 00 02 3F 00")), (b"", 0x6C10))
    true(s.done())


def test_6cxx_twice_is_an_error():
    s, t = t0_for([W("00 B0 85 00 00"), R("6C 26"), W("00 B0 85 00 26"), R("6C 10")])
    e = raises(ProtocolError, t.transmit, h("00 B0 85 00 00"))
    true("twice" in str(e), str(e))


def test_answer_longer_than_256_refused():
    s, t = t0_for([W("00 B0 00 00 00"), R("B0"), R(bytes(256)), R("61 01")])
    e = raises(ProtocolError, t.transmit, h("00 B0 00 00 00"))
    true("longer than 256" in str(e), str(e))


def test_answer_is_a_copy():
    s, t = t0_for([W("00 84 00 00 02"), R("84 AA BB 90 00"), W("00 84 00 00 02"),
                   R("84 CC DD 90 00")])
    first, _ = t.transmit(h("00 84 00 00 02"))
    second, _ = t.transmit(h("00 84 00 00 02"))
    eq((first, second), (h("AA BB"), h("CC DD")))


mptest.main(globals())
