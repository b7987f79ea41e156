# firmware/retry.py: the per-card retry counter derived from the journal (DESIGN 5).
import retry as R  # first: the biggest compile, while the heap is emptiest
import journal as J
import jnames  # noqa: F401 (the kinds' and messages' names)
import mptest
from mptest import eq, true, raises
import jfix
from errors import Error

A = jfix.card(1)
B = jfix.card(2)
# POWER_RECOVERY outcomes, what resolve() returns; LOCK reasons (protocol.md 8.3)
R_FAILED, R_NOT_DELIVERED, R_SUCCEEDED, R_UNKNOWN = 1, 2, 3, 4
LOCK_PAD = 2


def fresh(blocks=8, pad_limit=3, max_cards=64):
    p = jfix.image(blocks)
    J.Journal.format(jfix.dev(p), 1)
    j = J.Journal(jfix.dev(p))
    return p, j, R.Retry(j, pad_limit, max_cards)


def reopen(p, pad_limit=3, max_cards=64, **kw):
    j = J.Journal(jfix.dev(p, **kw))
    return j, R.Retry(j, pad_limit, max_cards)


def pending(e):
    """Is e the refusal of begin() while an attempt is pending?"""
    return isinstance(e, Error) and str(e) == "pending"


def locked(e):
    """Is e the refusal of begin() of a locked PIN?"""
    return isinstance(e, Error) and str(e) == "PIN locked"


def kinds(j, card=None):
    return [r.kind for r in j.iter_from(0) if card is None or r.card_id == card]


def test_success_clears_the_run():
    p, j, r = fresh()
    r.begin(A, 3, True)
    eq(r.state(A), (0, 3, False))
    eq(r.outcome(A, 0x63C2, True), R.WRONG)
    eq(r.state(A), (1, None, False))
    r.begin(A, 2, True)
    eq(r.outcome(A, 0x9000, True), R.OK)
    eq(r.state(A), (0, None, False))
    eq(kinds(j, A), [J.PENDING, J.PIN_WRONG, J.PENDING, J.PIN_OK])
    eq(j.read(2).data, b"\x02\x01")  # tries left, failures in the run


def test_63C0_and_6983_both_lock():
    for sw in (0x63C0, 0x6983):
        p, j, r = fresh(pad_limit=9)
        for tries, answer in ((3, 0x63C2), (2, 0x63C1)):
            r.begin(A, tries, True)
            eq(r.outcome(A, answer, True), R.WRONG)
        r.begin(A, 1, True)
        eq(r.outcome(A, sw, True), R.LOCKED)
        eq(r.state(A), (3, None, True))
        last = j.read(j.head)
        eq((last.kind, last.data), (J.LOCK, bytes((R.LOCK_CARD, 3))))
        true(locked(raises(Error, r.begin, A, 3)))
        eq(reopen(p, 9)[1].state(A), (3, None, True))


def test_pad_limit_lower_than_the_card():
    p, j, r = fresh(pad_limit=2)
    r.begin(A, 10, True)
    eq(r.outcome(A, 0x63C9, True), R.WRONG)
    r.begin(A, 9, True)
    eq(r.outcome(A, 0x63C8, True), R.LOCKED)
    eq(j.read(j.head).data, bytes((LOCK_PAD, 2)))
    eq(r.state(A), (2, None, True))
    true(locked(raises(Error, r.begin, A, 8)))
    eq(r.state(B), (0, None, False))  # another card is not affected
    r.begin(B, 10, True)


def test_resolve_every_case():
    # one failure recorded (tries 3 -> 2), then a pending attempt with tries 2 at the cut
    cases = ((1, R_FAILED, (2, None, False)), (2, R_NOT_DELIVERED, (1, None, False)),
             (3, R_SUCCEEDED, (0, None, False)), (None, R_UNKNOWN, (2, None, False)),
             (0, R_FAILED, (3, None, True)))
    for now, outcome, after in cases:
        p, j, r = fresh(pad_limit=5)
        r.begin(A, 3, True)
        r.outcome(A, 0x63C2, True)
        r.begin(A, 2, True)
        j, r = reopen(p, 5)  # the power cut
        eq(r.state(A), (1, 2, False))
        eq(r.resolve(A, now, 3, True), outcome)
        eq(r.state(A), after)
        rec = j.read(j.head - 1 if after[2] else j.head)
        eq((rec.kind, rec.data[0]), (J.POWER_RECOVERY, outcome))
        eq(reopen(p, 5)[1].state(A), after)
        eq(r.resolve(A, now, 3, True), None)  # nothing pending any more


def test_resolve_a_plain_pending_figure_at_the_maximum():
    # the pad read the tries plainly (a card at its maximum with nothing here: app.py's
    # _resolve); after the cut the authenticated read decides: back at the maximum, not
    # delivered (no failure); fewer, failed; a plain figure, unknown: counted as failed
    cases = ((3, True, R_NOT_DELIVERED, (0, None, False)),
             (2, True, R_FAILED, (1, None, False)),
             (3, False, R_UNKNOWN, (1, None, False)),
             (None, False, R_UNKNOWN, (1, None, False)))
    for now, auth, outcome, after in cases:
        p, j, r = fresh()
        r.begin(A, 3)  # plain
        j, r = reopen(p)
        eq(r.state(A), (0, 3, False))
        eq(r.resolve(A, now, 3, auth), outcome)
        eq(r.state(A), after)
    # a plain figure below the maximum (never recorded by the pad: it reads again, but a
    # legacy card's): equal tries, authenticated, proves nothing either way: failed
    p, j, r = fresh()
    r.begin(A, 2)
    j, r = reopen(p)
    eq(r.resolve(A, 2, 3, True), R_UNKNOWN)
    eq(r.state(A), (1, None, False))


def test_resolve_locks_at_the_pad_limit():
    p, j, r = fresh(pad_limit=2)
    r.begin(A, 3, True)
    r.outcome(A, 0x63C2, True)
    r.begin(A, 2, True)
    eq(r.resolve(A, None, 3, True), R_UNKNOWN)  # counted as a failure: the second one
    eq(r.state(A), (2, None, True))
    eq(j.read(j.head).kind, J.LOCK)


def test_card_back_at_its_maximum_ends_the_run():
    p, j, r = fresh()
    r.begin(A, 3, True)
    r.outcome(A, 0x63C2, True)
    eq(r.resolve(A, 2, 3, True), None)  # not at the maximum: the run stays
    eq(r.state(A), (1, None, False))
    r.resolve(A, 3, 3, True)
    eq(r.state(A), (0, None, False))
    eq(reopen(p)[1].state(A), (0, None, False))


def test_not_delivered_spends_nothing():
    p, j, r = fresh()
    for sw in (0x6984, 0x6988):
        r.begin(A, 3, True)
        eq(r.outcome(A, sw, True), R.NOT_DELIVERED)
        eq(r.state(A), (0, None, False))
    eq(kinds(j, A)[-2:], [J.PENDING, J.NOT_DELIVERED])


def test_garbage_answer_leaves_the_attempt_pending():
    p, j, r = fresh()
    r.begin(A, 3, True)
    eq(r.outcome(A, 0x6F00, True), R.ERROR)
    eq(r.state(A), (0, 3, False))
    true(pending(raises(Error, r.begin, A, 3)))
    eq(r.resolve(A, 2, 3, True), R_FAILED)
    eq(r.state(A), (1, None, False))


def test_bad_calls_are_refused_and_change_nothing():
    p, j, r = fresh()
    raises(Error, r.outcome, A, 0x9000)  # nothing pending
    raises(ValueError, r.begin, A, 16)
    raises(ValueError, r.begin, A, -1)
    true(locked(raises(Error, r.begin, A, 0)))  # the card reports no tries left
    raises(ValueError, r.worst_case, "dance")
    eq([r.worst_case(op) for op in ("verify", "change", "unlock", "reset")], [5, 6, 6, 6])
    eq(j.head, 0)


def test_skip_pending_write_keeps_the_attempt_in_ram_only():
    # The test switch of the power-cut harness: no PENDING reaches the flash, so a cut after
    # begin() loses the attempt (the bug the harness must catch); the rest works as usual.
    p, j, r = fresh()
    r.begin(A, 3, True)
    r.outcome(A, 0x63C2, True)  # one failure, journaled
    r = R.Retry(j, 3, 64, skip_pending_write=True)
    head = j.head
    eq(r.begin(A, 2, True), None)
    eq((j.head, r.state(A)), (head, (1, 2, False)))  # pending in RAM, nothing written
    eq(reopen(p)[1].state(A), (1, None, False))  # reopened: no pending attempt
    eq(r.outcome(A, 0x63C1, True), R.WRONG)  # outcome() as usual: a failure more, journaled
    eq((r.state(A), reopen(p)[1].state(A)), ((2, None, False), (2, None, False)))
    eq(r.begin(A, 1, True), None)
    true(pending(raises(Error, r.begin, A, 1)))  # the attempt in RAM holds like a journaled one
    eq(r.outcome(A, 0x63C0, True), R.LOCKED)
    eq(reopen(p)[1].state(A), (3, None, True))
    eq(kinds(j, A), [J.PENDING, J.PIN_WRONG, J.PIN_WRONG, J.PIN_WRONG, J.LOCK])


def test_begin_refused_when_the_journal_is_full():
    p, j, r = fresh(blocks=4)
    while j.fits(3):
        j.append(J.BOOT)
    head = j.head
    raises(J.JournalFull, r.begin, A, 3)
    eq((j.head, r.state(A)), (head, (0, None, False)))


def test_run_and_pending_survive_reclaim():
    p, j, r = fresh()
    r.begin(A, 3, True)
    r.outcome(A, 0x63C2, True)  # A: an open run
    r.begin(B, 3, True)  # B: pending
    for i in range(100):  # others, spread over four sectors
        c = jfix.card(100 + i)
        r.begin(c, 3, True)
        r.outcome(c, 0x9000, True)
    eq(j.read(1).kind, J.PENDING)
    true(j.ack(j.head) >= 2)
    eq(j.read(1), None)  # reclaimed
    snaps = [x.card_id for x in j.iter_from(0) if x.kind == J.SNAPSHOT]
    eq(sorted(snaps), [A, B])
    eq(r.state(A), (1, None, False))
    eq(r.state(B), (0, 3, False))
    j, r = reopen(p)
    eq((r.state(A), r.state(B)), ((1, None, False), (0, 3, False)))
    for i in range(120):
        j.append(J.BOOT)
    j.ack(j.head)  # reclaims the sector holding the snapshots: carried again, once each
    eq(sorted(x.card_id for x in j.iter_from(0) if x.kind == J.SNAPSHOT), [A, B])
    eq(r.resolve(B, 2, 3, True), R_FAILED)
    eq(reopen(p)[1].state(B), (1, None, False))


def test_more_open_cards_than_the_index_holds():
    p, j, r = fresh(blocks=4, max_cards=2)
    cards = [jfix.card(i) for i in range(1, 6)]
    for c in cards:
        r.begin(c, 3, True)
        r.outcome(c, 0x63C2, True)
    true(r.overflow)
    for c in cards:
        eq(r.state(c), (1, None, False))
    r.begin(cards[4], 2, True)
    eq(r.outcome(cards[4], 0x9000, True), R.OK)
    j, r = reopen(p, max_cards=2)
    eq([r.state(c)[0] for c in cards], [1, 1, 1, 1, 0])
    for i in range(100):
        j.append(J.BOOT)
    j.ack(j.head)  # overflowed reclaim: every open run carried forward
    eq(j.read(1), None)
    j, r = reopen(p, max_cards=8)
    eq(r.overflow, False)
    eq([r.state(c)[0] for c in cards], [1, 1, 1, 1, 0])


def test_invariant_after_a_cut_anywhere():
    # A card model: the authority.  After a cut at any flash operation, the failures the pad
    # recorded since the last success, the pending one included, are at least the card's.
    pins = (0, 0, 1, 0, 0, 0)  # 1: the right PIN
    for keep in (0, 32, 64):
        n = 0
        while True:
            n += 1
            p = jfix.image(4)
            J.Journal.format(jfix.dev(p), 1)
            j = J.Journal(jfix.dev(p, tear_at=n, keep=keep))
            r = R.Retry(j, 3)
            tries, done = 3, True
            try:
                for ok in pins:
                    r.resolve(A, tries, 3, True)
                    if r.state(A)[2] or tries == 0:
                        break
                    r.begin(A, tries, True)
                    tries = 3 if ok else tries - 1  # the card decides
                    r.outcome(A, 0x9000 if ok else 0x63C0 | tries, True)
            except jfix.PowerCut:
                done = False
            j, r = reopen(p)
            f, pend, lk = r.state(A)
            true(f + (pend is not None) >= 3 - tries, "cut %d/%d" % (n, keep))
            r.resolve(A, tries, 3, True)
            f, pend, lk = r.state(A)
            true(f >= 3 - tries and pend is None and lk == (tries == 0), "after %d" % n)
            jfix.cleanup()
            if done:
                break
        true(n > 10)



# --- only authenticated evidence lowers the count (DESIGN 5) ---------------------------

def last(j):
    r = j.read(j.head)
    return r.kind, r.data


def test_plain_refusal_leaves_the_attempt_pending():
    # a plain 6984 / 6988 (or no answer) to the secure VERIFY proves nothing: PIN_ERROR
    # with the SW, the attempt stays pending; the authenticated read then settles it
    for sw in (0x6984, 0x6988, None):
        p, j, r = fresh()
        r.begin(A, 3, True)
        eq(r.outcome(A, sw), R.ERROR)
        eq(last(j), (J.PIN_ERROR, b"" if sw is None else sw.to_bytes(2, "big")))
        eq(r.state(A), (0, 3, False))
        true(pending(raises(Error, r.begin, A, 3)))
        eq(reopen(p)[1].state(A), (0, 3, False))
        eq(r.resolve(A, 2, 3, True), R_FAILED)  # the card had spent it
        eq(r.state(A), (1, None, False))


def test_plain_answer_may_only_raise_the_count():
    p, j, r = fresh()
    r.begin(A, 3, True)
    eq(r.outcome(A, 0x9000), R.ERROR)  # a plain 9000: no success
    eq(r.outcome(A, 0x63C3), R.ERROR)  # plain, not fewer tries: no evidence
    eq(r.state(A), (0, 3, False))
    eq(r.outcome(A, 0x63C1), R.WRONG)  # plain, fewer: counted (two tries gone)
    eq(r.state(A), (2, None, False))
    r.begin(A, 1, True)
    eq(r.outcome(A, 0x6983), R.LOCKED)  # plain blocked: counted, locks
    eq(r.state(A), (3, None, True))


def test_resolve_with_a_plain_figure_never_lowers():
    # one failure recorded (3 -> 2), then a pending attempt (tries 2, read authenticated):
    # a plain figure settles it as failed whatever it says; an authenticated one as usual
    cases = ((1, False, R_FAILED, 2), (2, False, R_UNKNOWN, 2), (3, False, R_UNKNOWN, 2),
             (None, False, R_UNKNOWN, 2), (1, True, R_FAILED, 2),
             (2, True, R_NOT_DELIVERED, 1), (3, True, R_SUCCEEDED, 0))
    for now, auth, outcome, failures in cases:
        p, j, r = fresh(pad_limit=5)
        r.begin(A, 3, True)
        r.outcome(A, 0x63C2, True)
        r.begin(A, 2, True)
        j, r = reopen(p, 5)  # the power cut: the baseline's flag is read back
        eq(r.resolve(A, now, 3, auth), outcome, "%r %r" % (now, auth))
        eq(r.state(A), (failures, None, False))


def test_not_delivered_needs_an_authenticated_baseline():
    # the PENDING's own figure was plain: an authenticated "same" proves nothing
    for now, outcome, failures in ((2, R_UNKNOWN, 2), (1, R_FAILED, 2), (3, R_SUCCEEDED, 0)):
        p, j, r = fresh(pad_limit=5)
        r.begin(A, 3, True)
        r.outcome(A, 0x63C2, True)
        r.begin(A, 2)  # a plain baseline (a legacy card, or a shim refused the read)
        eq(j.read(j.head).data[:3], b"\x02\x05\x00")
        eq(r.resolve(A, now, 3, True), outcome)
        eq(r.state(A), (failures, None, False))


def test_only_an_authenticated_maximum_ends_the_run():
    p, j, r = fresh(pad_limit=2)
    for tries in (3, 2):
        r.begin(A, tries, True)
        r.outcome(A, 0x63C0 | tries - 1, True)
    eq(r.state(A), (2, None, True))  # locked here by the pad's limit
    eq(r.resolve(A, 3, 3), None)  # a plain maximum: nothing ends
    eq(r.state(A), (2, None, True))
    eq(r.resolve(A, 3, 3, True), None)  # authenticated: it succeeded elsewhere
    eq(last(j), (J.SNAPSHOT, b"\0\xff\0\2"))
    eq(r.state(A), (0, None, False))
    eq(reopen(p, 2)[1].state(A), (0, None, False))


def test_baseline_flag_survives_reclaim():
    for auth, outcome in ((True, R_NOT_DELIVERED), (False, R_UNKNOWN)):
        p, j, r = fresh()
        r.begin(B, 2, auth)
        for i in range(70):  # past the first sector
            c = jfix.card(100 + i)
            r.begin(c, 3, True)
            r.outcome(c, 0x9000, True)
        true(j.ack(j.head) >= 1)
        eq(j.read(1), None)  # B's PENDING reclaimed: a SNAPSHOT carries it
        snap = [x for x in j.iter_from(0) if x.kind == J.SNAPSHOT and x.card_id == B]
        eq(len(snap), 1)
        eq(snap[0].data[3] >> 2 & 1, 1 if auth else 0)
        j, r = reopen(p)
        eq(r.resolve(B, 2, 3, True), outcome)
        jfix.cleanup()

try:
    mptest.main(globals())
finally:
    jfix.cleanup()
