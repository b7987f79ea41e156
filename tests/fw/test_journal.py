# firmware/journal.py: the ring of 64-byte records on the journal partition.
import struct
import binascii

import mptest
from mptest import eq, true, raises
import jfix
import journal as J
import jnames  # noqa: F401 (the kinds' and messages' names)
from errors import Error

A = jfix.card(1)
SNAP_RESERVE, EVENT_RESERVE = 64, 32  # protocol.md 8.4
FLAG_RTC = 1  # protocol.md 8.1, flags bit 0


def fields(r):
    """(epoch, seq, boot count, time) of a Record, from its raw bytes (protocol.md 8.1)."""
    ep, seq, boot, zero, t = struct.unpack_from(">IIHHI", r.raw, 4)
    return ep, seq, boot, t


def fresh(blocks=8, epoch=1):
    p = jfix.image(blocks)
    J.Journal.format(jfix.dev(p), epoch)
    return p, J.Journal(jfix.dev(p))


class Clock:
    t = None

    def now(self):
        return self.t


def test_append_read_iterate():
    p, j = fresh(epoch=0x01020304)
    eq((j.epoch, j.head, j.acked, j.problems), (0x01020304, 0, 0, []))
    c = Clock()
    j.clock = c
    eq(j.append(J.PENDING, A, b"\x03\x03"), 1)
    c.t = 1234567
    eq(j.append(J.BOOT), 2)
    j.append(J.PIN_ERROR, A, b"12345678")
    r = j.read(1)
    eq((r.seq, fields(r)[:3], r.kind, r.card_id, r.data),
       (1, (0x01020304, 1, 1), J.PENDING, A, b"\x03\x03"))
    eq((r.raw[2] & FLAG_RTC, j.read(2).raw[2], fields(j.read(2))[3]), (0, FLAG_RTC, 1234567))
    eq((j.read(2).card_id, j.read(3).data, r.mac), (bytes(16), b"12345678", bytes(16)))
    raw = r.raw  # the layout of protocol.md 8.1, byte by byte
    eq((raw[0], raw[1], raw[3], raw[14:16], raw[36:44]),
       (0x4A, J.PENDING, 2, b"\0\0", b"\x03\x03" + bytes(6)))
    eq(struct.unpack(">I", raw[60:64])[0], binascii.crc32(raw[:60]))
    eq([x.seq for x in j.iter_from(2)], [2, 3])
    eq([x.seq for x in j.iter_from(0)], [1, 2, 3])
    eq((j.read(4), j.read(0)), (None, None))
    j = J.Journal(jfix.dev(p))  # reopen: the same, and the boot count moves on
    eq((j.head, j.boot_count, j.problems), (3, 2, []))
    eq(fields(j.read(j.append(J.BOOT)))[2], 2)


def test_bad_input_is_refused_and_writes_nothing():
    p, j = fresh()
    for args in ((J.BOOT, None, b"123456789"), (J.PIN_OK, b"short"), (0,), (256,)):
        raises(ValueError, j.append, *args)
    raises(ValueError, j.ack, 1)  # beyond the head
    eq((j.head, j.bdev.counters.ops), (0, 0))
    true(issubclass(J.JournalFull, Error))


def test_mac_hook_chains_records():
    p, j = fresh()
    seen = []

    def mac(prev, body):
        seen.append((prev, body))
        return bytes(16 - len(seen)) + bytes((len(seen),)) * len(seen)

    j = J.Journal(jfix.dev(p), mac=mac)
    j.append(J.BOOT)
    j.append(J.PIN_OK, A)
    eq(seen[0][0], bytes(16))
    eq(seen[1][0], j.read(1).mac)  # the previous record's MAC
    eq(seen[1][1], bytes(j.read(2).raw[:44]))
    eq(j.read(2).mac, bytes(14) + b"\x02\x02")


def test_fits_free_and_the_reserve():
    p, j = fresh(blocks=4)
    room = 4 * 63
    eq(j.free(), room - SNAP_RESERVE - EVENT_RESERVE)
    while j.fits(1):
        j.append(J.PIN_OK, A)
    eq((j.free(), j.fits(1), j.head), (0, False, room - SNAP_RESERVE - EVENT_RESERVE))
    for i in range(EVENT_RESERVE):  # events still go in, until the snapshot reserve
        j.append(J.TAMPER)
    raises(J.JournalFull, j.append, J.BOOT)
    head = j.head
    j.append(J.SNAPSHOT, A)  # the reclaim's own records may use the last slots
    j.append(J.CUT)
    eq(j.head, head + 2)
    j = J.Journal(jfix.dev(p))
    eq((j.head, j.free()), (head + 2, 0))  # full survives reopening, nothing dropped
    raises(J.JournalFull, j.append, J.BOOT)


def test_ack_reclaims_whole_sectors_durably():
    p, j = fresh(blocks=4)
    for i in range(150):
        j.append(J.PIN_OK, A)
    eq(j.ack(100), 1)  # sector 0 (records 1-63) only: 64-126 holds 101..126
    eq((j.acked, j.read(63), j.read(64).seq), (100, None, 64))
    eq(j.read(j.head).kind, J.ACK)
    eq(j.read(j.head).data, struct.pack(">I", 100))
    true(jfix.blank(p, 0, 4096), "reclaimed sector erased")
    j = J.Journal(jfix.dev(p))
    eq((j.acked, j.head, j.problems), (100, 151, []))
    eq(j.ack(100), 0)  # again: nothing new, no record
    eq(j.head, 151)
    eq(j.ack(151), 1)
    eq((j.head, j.acked), (152, 151))
    eq(j.ack(152), 0)  # only the newest ACK record left: that ack is not journaled again
    eq((j.head, j.acked), (152, 152))
    eq([r.seq for r in j.iter_from(0)], list(range(127, 153)))


def test_wear_goes_round_the_ring():
    p = jfix.image(6)
    J.Journal.format(jfix.dev(p), 1)
    d, wear = jfix.dev(p), [0] * 6  # erases per sector

    def note(op):
        if op[0] == "E":
            wear[int(op[2:])] += 1

    j = J.Journal(jfix.Traced(d, note))
    for cycle in range(30):
        for i in range(100):
            j.append(J.PIN_OK, A)
        j.ack(j.head)
    true(max(wear) - min(wear) <= 1 and min(wear) >= 8, wear)
    eq(d.counters.overprograms, 0)  # NOR: no program ever tried to set a bit
    j = J.Journal(jfix.dev(p))
    eq((j.head, j.acked, j.problems), (3030, 3029, []))  # 3000 records, 30 ACK records
    eq(j.append(J.BOOT), 3031)


def test_seqs_past_65536_over_a_pads_life():
    # The ring keeps the low 16 bits of each sector's first seq (a ring spans fewer than
    # 65,536 records): records, reads, reclaims and reopening stay right when seqs pass
    # 65,536 and 131,072, in a ring that wraps round the partition many times.
    p, j = fresh(blocks=4)
    head = 0
    while head < 140000:
        for i in range(120):
            head = j.append(J.PIN_OK, A)
        eq([r.seq for r in j.iter_from(head - 70)], list(range(head - 70, head + 1)))
        eq(j.read(head - 65).seq, head - 65)  # (in the sector before the head sector)
        j.ack(head)
        head = j.head
        if head % 7 == 3 or 65400 < head < 65900:  # reopened now and then, across 65,536
            j = J.Journal(jfix.dev(p))
            eq((j.head, j.problems), (head, []))
    eq([r.seq for r in j.iter_from(head - 5)], list(range(head - 5, head + 1)))
    eq(j.read(head - 2).seq, head - 2)
    nxt = j.append(J.BOOT)
    j = J.Journal(jfix.dev(p))
    eq((j.head, j.read(nxt).kind, j.problems), (nxt, J.BOOT, []))
    buf = memoryview(bytearray(64 * 4))
    eq(j.copy_from(nxt - 1, buf, 0, len(buf)), 128)  # the PULL's reader: 2 slots
    eq(struct.unpack_from(">I", buf, 64 + 8)[0], nxt)


try:
    mptest.main(globals())
finally:
    jfix.cleanup()
