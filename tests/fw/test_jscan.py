# firmware/jscan.py, power cuts: torn records are cut (and the cut journaled, once), torn
# sector headers and torn erases are finished, nothing reported durable is lost.
import struct

import mptest
from mptest import eq, true, raises
import jfix
from jfix import slot
import journal as J
import jnames  # noqa: F401 (the kinds' and messages' names)

A = jfix.card(1)


def fresh(blocks=4, n=5):
    p = jfix.image(blocks)
    J.Journal.format(jfix.dev(p), 1)
    j = J.Journal(jfix.dev(p))
    for i in range(n):
        j.append(J.PIN_OK, A)
    return p, j


def torn(p, tear_at=1, keep=20, kind=J.PIN_WRONG):
    """Appends one record through a flash that cuts at its tear_at-th operation."""
    j = J.Journal(jfix.dev(p, tear_at=tear_at, keep=keep))
    raises(jfix.PowerCut, j.append, kind, A, b"\x01\x01")
    return j.head


def seqs(j):
    return [r.seq for r in j.iter_from(0)]


def test_torn_final_record_is_cut_and_the_cut_journaled_once():
    p, j = fresh()
    torn(p)
    eq(jfix.peek(p, slot(0, 6), 21)[:20], jfix.peek(p, slot(0, 6), 20))
    j = J.Journal(jfix.dev(p))
    eq(len(j.problems), 1)
    true(j.problems[0].startswith("torn record cut: seq 6"), j.problems)
    cut = j.read(6)
    eq((cut.kind, cut.data), (J.CUT, struct.pack(">IHBB", 6, 0, 6, 1)))  # the slot it names
    eq(seqs(j), [1, 2, 3, 4, 5, 6])
    j = J.Journal(jfix.dev(p))  # the bad slot is accounted for: nothing new
    eq((j.problems, j.head), ([], 6))
    eq(j.append(J.BOOT), 7)


def test_a_cut_just_before_or_after_leaves_no_torn_record():
    p, j = fresh()
    torn(p, keep=0)
    j = J.Journal(jfix.dev(p))
    eq((j.problems, j.head), ([], 5))
    torn(p, keep=64)  # complete, though append never returned: it is simply there
    j = J.Journal(jfix.dev(p))
    eq((j.problems, j.head, j.read(6).kind), ([], 6, J.PIN_WRONG))


def test_a_cut_while_cutting():
    p, j = fresh()
    torn(p)
    raises(jfix.PowerCut, J.Journal, jfix.dev(p, tear_at=1, keep=30))  # the CUT torn too
    j = J.Journal(jfix.dev(p))
    eq(j.read(6).data, struct.pack(">IHBB", 6, 0, 6, 2))  # both slots, one CUT
    eq(seqs(j), [1, 2, 3, 4, 5, 6])
    eq(J.Journal(jfix.dev(p)).problems, [])


def test_torn_record_or_header_at_a_sector_start():
    p, j = fresh(n=63)  # sector 0 full: the next append opens sector 1
    torn(p, tear_at=2)  # its header went in, the record is torn
    j = J.Journal(jfix.dev(p))
    eq((j.read(64).kind, j.read(64).data[4:7]), (J.CUT, b"\x00\x01\x01"))
    p, j = fresh(n=63)
    torn(p, tear_at=1, keep=30)  # the header torn
    j = J.Journal(jfix.dev(p))
    eq(j.problems, ["torn sector header (sector 1): erased"])
    eq((j.head, j.append(J.BOOT), J.Journal(jfix.dev(p)).problems), (63, 64, []))


def test_torn_erase_of_a_reclaimed_sector_is_finished():
    for keep in (0, 40, 100, 2048, 4096):
        p, j = fresh(n=150)
        j = J.Journal(jfix.dev(p, tear_at=2, keep=keep))  # 1: the ACK record, 2: the erase
        raises(jfix.PowerCut, j.ack, 100)
        j = J.Journal(jfix.dev(p))
        eq((j.acked, j.head), (100, 151))
        eq([x for x in j.problems if "tamper" in x], [])
        true(j.read(64) is not None and j.read(150) is not None, "unacknowledged records kept")
        if 0 < keep < 4096:
            eq(j.problems, ["torn sector erase (sector 0), acknowledged records only: erased"])
        j.ack(100)  # finishes an erase cut just before it began
        true(jfix.blank(p, 0, 4096), "sector 0 erased, keep %d" % keep)
        eq(J.Journal(jfix.dev(p)).problems, [])


def test_every_cut_point_of_a_busy_run_loses_nothing_durable():
    # A cut at each flash operation of appends that cross sectors and reclaim them.
    n = 0
    while True:
        n += 1
        p = jfix.image(3)
        J.Journal.format(jfix.dev(p), 1)
        j = J.Journal(jfix.dev(p, tear_at=n))
        durable = []
        try:
            for i in range(140):
                durable.append(j.append(J.PIN_OK, jfix.card(i)))
                if i in (70, 139):
                    j.ack(j.head)
        except jfix.PowerCut:
            pass
        done = len(durable) == 140
        j = J.Journal(jfix.dev(p))
        seen = bytearray(140)
        for r in j.iter_from(0):
            if r.kind == J.PIN_OK and r.raw[35] < len(durable):
                i = struct.unpack(">Q", r.raw[28:36])[0]  # jfix.card(i): the serial is i
                seen[i] = durable[i] == r.seq
        for i in range(len(durable)):
            true(seen[i] or durable[i] <= j.acked, "cut %d: record %d lost" % (n, durable[i]))
        true(not [x for x in j.problems if "tamper" in x], "cut %d: %s" % (n, j.problems))
        eq(J.Journal(jfix.dev(p)).problems, [])
        jfix.cleanup()
        if done:
            break
    true(n > 140, n)


try:
    mptest.main(globals())
finally:
    jfix.cleanup()
