# The weak-PIN rules (firmware/weakpin.py, issue 9): each rule, its boundaries, the
# birth date and the ID's last six from EF06, no holder ID, and nothing allocated.
# The ID numbers below are made up for the test (GB 11643 layout, test material).
import micropython

import mptest
from mptest import eq, true
import weakpin

# region 110105, born 1985-07-14, sequence 123, check digit 2 / X
HOLDER = b"110105198507141232"
HOLDER_X = b"11010519850714361X"
SAME, RUN, PATTERN, BIRTH, ID = 1, 2, 3, 4, 5


def ascii(s):
    return bytearray(s.encode())


def digits(s):
    """As pin_entry leaves them in the pad's buffer: digit values 0-9, 12 bytes."""
    b = bytearray(12)
    for i, c in enumerate(s):
        b[i] = ord(c) - 48
    return b


def why(s, holder=None):
    """The code for PIN s, the same for its ASCII and its digit-value forms."""
    a = weakpin.reason(ascii(s), len(s), holder)
    d = weakpin.reason(digits(s), len(s), holder)
    eq(a, d, "ASCII and digit values disagree on %s" % s)
    return a


def test_one_digit_repeated():
    for d in "0123456789":
        eq(why(d * 6), SAME, d * 6)
    eq(why("111112"), 0)
    eq(why("211111"), 0)


def test_runs_up_and_down():
    for s in ("012345", "123456", "456789", "987654", "654321", "543210"):
        eq(why(s), RUN, s)
    # boundaries: one step off, no wrap-around past 9 or 0
    for s in ("123457", "023456", "654320", "890123", "109876", "123454"):
        eq(why(s), 0, s)


def test_repeated_pairs_and_triples():
    for s in ("121212", "909090", "123123", "908908", "001001"):
        eq(why(s), PATTERN, s)
    # pairs of equal digits are not a repeated pair; nearly repeated is fine
    for s in ("112233", "121213", "123124", "122123", "120121", "111222"):
        eq(why(s), 0, s)


def test_first_rule_broken_is_named():
    eq(why("111111", HOLDER), SAME)  # also a repeated pair: rule 1 comes first
    eq(why("123456", b"110105201234561232"), RUN)  # also the birth date 123456


def test_birth_date_yymmdd_and_mmddyy():
    eq(why("850714", HOLDER), BIRTH)  # YYMMDD
    eq(why("071485", HOLDER), BIRTH)  # MMDDYY
    for s in ("198507", "140785", "850715", "071484", "850741"):  # other orders, off by one
        eq(why(s, HOLDER), 0, s)
    eq(why("850714"), 0)  # no holder ID: not checked


def test_last_six_of_the_id():
    eq(why("141232", HOLDER), ID)
    eq(why("141233", HOLDER), 0)
    eq(why("041232", HOLDER), 0)
    # an ID ending in X: no PIN of digits is its last six (X's low bits are 8 and 0)
    for s in ("143618", "143610"):
        eq(why(s, HOLDER_X), 0, s)
    eq(why("850714", HOLDER_X), BIRTH)  # its birth date still counts


def test_no_holder_id_and_odd_holder_ids():
    eq(why("141232", None), 0)
    eq(why("141232", HOLDER[:17]), 0)  # not an EF06: rules 4 and 5 skipped
    eq(why("850714", b"1101051985071412"), 0)


def test_other_lengths():
    eq(why("1111"), SAME)
    eq(why("1234"), RUN)
    eq(why("1212"), PATTERN)
    eq(why("12121"), PATTERN)  # pairs to the end
    eq(why("123"), RUN)
    eq(why("121"), 0)  # pairs need four digits
    eq(why("12312"), 0)  # triples need six
    eq(why("123412341234"), 0)  # a period of 4 is not a rule
    eq(why("12312312"), PATTERN)
    eq(why("1232", HOLDER), 0)
    eq(why("50714", HOLDER), 0)  # the six-digit rules only on six digits
    eq(why("7"), 0)


def test_acceptable_pins():
    for s in ("123457", "112233", "835027", "000123", "246801", "135790"):
        eq(why(s, HOLDER), 0, s)


def test_nothing_is_allocated():
    pin = digits("141232")
    for holder in (HOLDER, HOLDER_X, None):
        micropython.heap_lock()
        try:
            r = weakpin.reason(pin, 6, holder)
        finally:
            micropython.heap_unlock()
        true(r in (0, ID), "reason %r" % r)
    pins = (b"111111", b"654321", b"123123", b"850714", b"835027")
    micropython.heap_lock()
    try:
        for s in pins:
            weakpin.reason(s, 6, HOLDER)
    finally:
        micropython.heap_unlock()


mptest.main(globals())
