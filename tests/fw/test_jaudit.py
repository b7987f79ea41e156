# firmware/jscan.py + jaudit.py: opening reads only the sector headers, the head sector and
# the sectors outside the ring (its time grows with the sectors, not the records); the
# audit, run later in slices (Journal(defer=True), Journal.audit(n)), finds and journals
# what a full opening finds, and builds the retry index from the same reads.  And the
# acknowledged mark (jack.py): kept in the sector headers, an ACK record only before a
# reclaim.
import struct

import mptest
from mptest import eq, true
import jfix
from jfix import slot
import journal as J
import jnames  # noqa: F401 (the kinds' and messages' names)
import retry as R

T_CRC, T_SEQ, T_EPOCH, T_HOLE, T_HEADER, T_FOREIGN, T_MISSING = 1, 2, 3, 4, 5, 6, 7


class Counted:
    """A block device that counts the slots (64 bytes) its readers read."""

    def __init__(self, d):
        self.d, self.slots = d, 0

    def readblocks(self, n, buf, offset=0):
        self.slots += (len(buf) + 63) // 64
        self.d.readblocks(n, buf, offset)

    def writeblocks(self, n, buf, offset=0):
        self.d.writeblocks(n, buf, offset)

    def ioctl(self, op, arg):
        return self.d.ioctl(op, arg)


def copy(p):
    q = jfix.image(0)
    with open(p, "rb") as f, open(q, "wb") as g:
        while True:
            b = f.read(4096)
            if not b:
                break
            g.write(b)
    return q


def tampers(j):
    return sorted(r.data for r in j.iter_from(0) if r.kind == J.TAMPER)


def test_opening_reads_headers_and_the_head_sector_not_the_records():
    blocks = 16
    for n in (0, 30, 500, 900):  # records: none, part of one sector, 8 and 15 sectors
        p, j = jfix.filled(blocks, n)
        d = Counted(jfix.dev(p))
        j = J.Journal(d, defer=True)
        ring = j._nr
        # every header, the ring's again (ordering), the head sector, 16 reads of 4 slots
        # for each sector outside the ring (erased or not)
        bound = 2 * blocks + 63 + 16 * 4 * (blocks - ring)
        print("records %d: ring %d sectors, opening read %d slots (bound %d)"
              % (n, ring, d.slots, bound))
        true(d.slots <= bound, "%d records: %d slots read" % (n, d.slots))
        eq((j.head, j.acked, j.problems), (n, 0, []))
        d.slots = 0
        true(not j.audit(), "the audit runs to the end")
        true(d.slots >= n, "the audit reads the records")
        jfix.cleanup()


def _scenario_bad_crc(p):
    jfix.poke(p, slot(0, 4) + 35, b"\x5a")


def _scenario_forged_seq(p):
    jfix.rewrite(p, slot(0, 4), 8, struct.pack(">I", 400))


def _scenario_swapped(p):
    a, b = jfix.peek(p, slot(0, 4), 64), jfix.peek(p, slot(0, 5), 64)
    jfix.poke(p, slot(0, 4), b)
    jfix.poke(p, slot(0, 5), a)


def _scenario_epoch(p):
    jfix.rewrite(p, slot(1, 7), 4, struct.pack(">I", 99))


def _scenario_hole(p):
    jfix.poke(p, slot(1, 3), b"\xff" * 64)


def _scenario_missing(p):
    jfix.dev(p).ioctl(6, 0)


def _scenario_header(p):
    jfix.poke(p, slot(1, 0) + 7, b"\x5a")


def _scenario_ten(p):
    for i in range(10):
        jfix.poke(p, slot(1, 2 + 2 * i) + 30, b"\x5a")


def test_the_audit_in_slices_finds_what_a_whole_opening_finds():
    for name, damage in sorted((k, v) for k, v in globals().items()
                               if k.startswith("_scenario_")):
        p, j = jfix.filled(8, 150)  # sectors 0-2 in the ring
        damage(p)
        q = copy(p)
        whole = J.Journal(jfix.dev(p))  # defer=False: opening audits at once
        j = J.Journal(jfix.dev(q), defer=True)
        eq(j.head, 150, name)  # (the whole opening's TAMPER records come after 150)
        slices = 0
        while j.audit(7):  # a few slots at a time, the pad's events in between
            slices += 1
            j.event(J.BOOT)
        true(slices > 10, name)  # (in slices: the damage found across them)
        eq(tampers(j), tampers(whole), name)
        eq(sorted(x for x in j.problems if "tamper" in x),
           sorted(x for x in whole.problems if "tamper" in x), name)
        true(tampers(j), name)
        # a later whole opening finds them journaled before: none twice
        k = J.Journal(jfix.dev(q))  # (and those beyond 8 an opening journals, now)
        true(all(t in tampers(k) for t in tampers(j)), name)
        eq(sorted(set(tampers(k))), tampers(k), name)  # each place once
        jfix.cleanup()


def test_a_forged_high_seq_is_never_reused_after_the_audit():
    p, j = jfix.filled(8, 150)
    jfix.rewrite(p, slot(0, 4), 8, struct.pack(">I", 4000))
    j = J.Journal(jfix.dev(p), defer=True)
    eq(j.head, 150)  # opening knows only the head sector
    j.audit()
    true(j.head > 4000, j.head)  # the TAMPER records go on after the forged seq
    true(j.append(J.BOOT) > 4000)


def _cards(j, r, rounds):
    """Cards with runs, pending attempts and locks: rounds of begin / outcome."""
    seed = 7
    for i in range(rounds):
        seed = (seed * 1103515245 + 12345) & 0x7FFFFFFF
        c = jfix.card(seed % 9 + 1)
        f, pend, lk = r.state(c)
        if lk:
            continue
        if pend is not None:
            r.resolve(c, pend - (seed >> 8) % 2, 3, True)
            continue
        r.begin(c, 3 - f, True)
        if seed >> 12 & 3:
            r.outcome(c, 0x63C0 | (2 - f), True)
        if seed >> 14 & 7 == 0:
            j.append(J.PIN_OK, c)  # (a success elsewhere in the history)
        j.append(J.BOOT)


def test_the_retry_index_from_the_audit_equals_a_scan():
    p, j = jfix.filled(16, 0)
    r = R.Retry(j, 3, 8)
    _cards(j, r, 400)
    q = copy(p)
    scanned = R.Retry(J.Journal(jfix.dev(p)), 3, 8)  # built by one scan at start
    j = J.Journal(jfix.dev(q), defer=True)
    r = R.Retry(j, 3, 8)
    true(r._at, "the audit builds the index")
    while j.audit(5):
        j.event(J.BOOT)  # appends meanwhile: read in their turn
    eq(r._at, None)
    eq(sorted(r._idx.items()), sorted(scanned._idx.items()))
    true(len(r._idx) > 2, r._idx)
    # state() before the audit is done finishes it first
    j = J.Journal(jfix.dev(q), defer=True)
    r = R.Retry(j, 3, 8)
    c = sorted(scanned._idx)[0]
    eq(r.state(c), scanned.state(c))
    eq((j._aud, r._at), (None, None))
    jfix.cleanup()


def test_an_ack_costs_a_record_only_before_a_reclaim():
    p, j = jfix.filled(4, 0)
    A = jfix.card(1)
    for i in range(40):
        j.append(J.PIN_OK, A)
        eq(j.ack(j.head), 0)  # the host acknowledges every record: no record for that
    eq((j.head, j.acked), (40, 40))
    eq([r.kind for r in j.iter_from(0)], [J.PIN_OK] * 40)
    for i in range(40):
        j.append(J.PIN_OK, A)
    eq(J.Journal(jfix.dev(p)).acked, 40)  # the second sector's header holds the mark
    head = j.head
    eq(j.ack(head), 1)  # a reclaim: one ACK record, durable before the erase
    eq(j.head, head + 1)
    eq((j.read(j.head).kind, j.read(j.head).data), (J.ACK, struct.pack(">I", head)))
    k = J.Journal(jfix.dev(p))
    eq((k.acked, k.problems), (head, []))
    eq(j.ack(j.head), 0)  # only the ring's head sector left: nothing to reclaim
    eq(j.head, head + 1)


def test_a_power_cut_loses_only_a_mark_the_host_can_give_again():
    p, j = jfix.filled(4, 0)
    A = jfix.card(1)
    for i in range(70):  # sector 0 full, sector 1 opened with acked 0
        j.append(J.PIN_OK, A)
    j.ack(30)  # nothing to reclaim: the mark is in RAM only
    j = J.Journal(jfix.dev(p))  # the power cut
    eq((j.acked, j.problems), (0, []))  # no TAMPER (nothing missing): the host acks again
    eq(j.ack(70), 1)
    eq(J.Journal(jfix.dev(p)).problems, [])


try:
    mptest.main(globals())
finally:
    jfix.cleanup()
