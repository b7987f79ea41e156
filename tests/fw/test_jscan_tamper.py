# firmware/jscan.py, tampering: any damage but a torn final record is journaled as TAMPER
# (once), reported, never cut or erased, and nothing after it is lost.  Never refuses to open.
import os
import struct

import mptest
from mptest import eq, true
import jfix
from jfix import slot
import journal as J
import jnames  # noqa: F401 (the kinds' and messages' names)

A = jfix.card(1)
# TAMPER reasons, data byte 4 (protocol.md 8.5)
T_CRC, T_SEQ, T_EPOCH, T_HOLE, T_HEADER, T_FOREIGN, T_MISSING = 1, 2, 3, 4, 5, 6, 7


def fresh(blocks=4, n=10):
    return jfix.filled(blocks, n)


def tampers(j):
    return [r.data for r in j.iter_from(0) if r.kind == J.TAMPER]


def once(p, reasons, head):
    """Opens twice: TAMPER records with these reasons the first time, none the second."""
    j = J.Journal(jfix.dev(p))
    eq(sorted(d[4] for d in tampers(j)), sorted(reasons))
    true(all("tamper" in x for x in j.problems) and j.problems, j.problems)
    eq(j.head, head + len(reasons))
    k = J.Journal(jfix.dev(p))
    eq((k.head, len(k.problems)), (j.head, len(j.problems)))  # reported again, not journaled
    true(all("journaled before" in x for x in k.problems), k.problems)
    return j


def kept(j, seqs):
    have = [r.seq for r in j.iter_from(0) if r.kind == J.PIN_OK]
    eq([s for s in seqs if s not in have], [])


def test_a_bad_crc_in_the_middle_is_tamper_not_a_cut():
    p, j = fresh()
    jfix.poke(p, slot(0, 4) + 35, b"\x5a")  # record 4: one byte changed
    j = once(p, [T_CRC], 10)
    eq(tampers(j)[0], struct.pack(">IBHB", 4, T_CRC, 0, 4))
    eq(j.read(4), None)
    kept(j, [1, 2, 3, 5, 6, 7, 8, 9, 10])
    true(jfix.peek(p, slot(0, 4), 64) != b"\xff" * 64, "the evidence stays")


def test_a_forged_record_with_a_wrong_seq():
    p, j = fresh()
    jfix.rewrite(p, slot(0, 4), 8, struct.pack(">I", 40))
    j = once(p, [T_SEQ, T_SEQ], 40)  # the jump, and the return after it
    kept(j, [1, 2, 3, 5, 6, 7, 8, 9, 10, 40])
    eq(j.append(J.BOOT), 43)  # no seq is ever reused
    eq([j.read(s).seq for s in (5, 40, 43)], [5, 40, 43])  # read() finds them off their slot
    eq(j.read(4), None)


def test_swapped_records():
    p, j = fresh()
    a, b = jfix.peek(p, slot(0, 4), 64), jfix.peek(p, slot(0, 5), 64)
    jfix.poke(p, slot(0, 4), b)
    jfix.poke(p, slot(0, 5), a)
    j = once(p, [T_SEQ, T_SEQ], 10)
    kept(j, range(1, 11))


def test_a_record_of_another_epoch():
    p, j = fresh()
    jfix.rewrite(p, slot(0, 7), 4, struct.pack(">I", 99))
    j = once(p, [T_EPOCH], 10)
    kept(j, [1, 2, 3, 4, 5, 6, 8, 9, 10])


def test_an_erased_slot_between_records():
    p, j = fresh()
    jfix.poke(p, slot(0, 3), b"\xff" * 64)
    j = once(p, [T_HOLE, T_SEQ], 10)
    kept(j, [1, 2, 4, 5, 6, 7, 8, 9, 10])


def test_unacknowledged_records_erased_from_the_tail():
    p, j = fresh(n=150)
    jfix.dev(p).ioctl(6, 0)  # sector 0 (records 1-63) erased, never acknowledged
    j = once(p, [T_MISSING], 150)
    kept(j, range(64, 151))


def test_a_damaged_header_over_unacknowledged_records_keeps_them():
    p, j = fresh(n=150)
    jfix.poke(p, slot(1, 0) + 7, b"\x5a")  # sector 1's header (records 64-126)
    j = once(p, [T_HEADER, T_SEQ], 150)
    kept(j, list(range(1, 64)) + list(range(127, 151)))
    before = jfix.peek(p, slot(1, 1), 64) + jfix.peek(p, slot(1, 63), 64)
    for i in range(200):  # round the ring and reclaim: sector 1 is never erased or reused
        j.append(J.BOOT)
        j.ack(j.head)
    eq(jfix.peek(p, slot(1, 1), 64) + jfix.peek(p, slot(1, 63), 64), before)
    # once the host has acknowledged past them (it holds the TAMPER naming them), they go
    j = J.Journal(jfix.dev(p))
    eq(j.problems, ["torn sector erase (sector 1), acknowledged records only: erased"])
    true(jfix.blank(p, slot(1, 0), 4096), "reclaimed")


def test_a_sector_of_another_epoch_is_kept():
    p, j = fresh()
    hdr = bytearray(jfix.peek(p, 0, 64))
    jfix.poke(p, slot(2, 0), hdr)
    jfix.rewrite(p, slot(2, 0), 4, struct.pack(">I", 77))
    j = once(p, [T_FOREIGN], 10)
    for i in range(300):
        j.append(J.BOOT)
        j.ack(j.head)
    eq(jfix.peek(p, slot(2, 0), 8)[4:], struct.pack(">I", 77))


def test_at_most_8_tamper_records_per_opening():
    p, j = fresh(n=25)
    for i in range(10):  # records 2, 4, .. 20 damaged: ten places, good records after each
        jfix.poke(p, slot(0, 2 + 2 * i) + 30, b"\x5a")
    j = J.Journal(jfix.dev(p))
    eq((len(tampers(j)), j.head), (8, 33))
    eq(len([x for x in j.problems if "next opening" in x]), 2)
    j = J.Journal(jfix.dev(p))  # the other two now, the first eight not again
    eq((len(tampers(j)), j.head), (10, 35))
    eq(len([x for x in j.problems if "journaled before" in x]), 8)
    j = J.Journal(jfix.dev(p))
    eq((j.head, len(j.problems)), (35, 10))
    kept(j, [i for i in range(1, 26) if i % 2 or i > 20])


def test_an_empty_or_garbage_partition_still_opens():
    p = jfix.image(3)
    j = J.Journal(jfix.dev(p))
    eq((j.epoch, j.head), (0, 0))
    true(j.problems[0].startswith("journal empty"), j.problems)
    j.append(J.BOOT)
    eq(J.Journal(jfix.dev(p)).head, 1)
    for s in range(3):
        for k in range(0, 4096, 256):
            jfix.poke(p, s * 4096 + k, os.urandom(256))
    j = J.Journal(jfix.dev(p))  # never refuses, never formats: it goes on
    j.append(J.BOOT)
    eq(J.Journal(jfix.dev(p)).read(j.head).kind, J.BOOT)


try:
    mptest.main(globals())
finally:
    jfix.cleanup()
