# The per-card retry counter (DESIGN section 5), derived from the journal (protocol.md 8.6).
#
# Every step is one journal record: PENDING (durable before the VERIFY goes out), then the
# outcome.  RAM holds only the cards with an open failure run, a pending attempt or a lock:
# an index built by one scan of the journal and kept current by watching its appends (one
# small int per card).  When the journal reclaims sectors their states are carried forward
# as SNAPSHOT records.  Invariant: the failures recorded for a card since its last success,
# the pending attempt included, are at least those the card has counted since then.
# Only authenticated evidence lowers the count (a MACed answer checked through the PSAM, or
# the authenticated tries-left read): a plain word may raise it or leave an attempt pending.
from micropython import const

from errors import Error
from journal import JournalFull

# what outcome() reports
OK = const(1)
WRONG = const(2)
LOCKED = const(3)
NOT_DELIVERED = const(4)
ERROR = const(5)  # no usable answer: the attempt stays pending, resolve() it

LOCK_CARD = const(1)  # LOCK reason: the card's limit (tries 0, 63C0, 6983)
_LOCK_PAD = const(2)  # LOCK reason: the pad's limit, lower than the card's

# POWER_RECOVERY outcomes (data byte 0), what resolve() returns (protocol.md 8.3)
_R_FAILED = const(1)  # fewer tries than recorded: delivered, and failed
_R_NOT_DELIVERED = const(2)  # the same tries: never delivered
_R_SUCCEEDED = const(3)  # back to the maximum: succeeded (or unblocked elsewhere)
_R_UNKNOWN = const(4)  # the card cannot report: counted as a failure

# the journal's record kinds this module reads or writes (journal.py)
_J_POWER_RECOVERY = const(4)
_J_PENDING = const(5)
_J_PIN_OK = const(6)
_J_PIN_WRONG = const(7)
_J_LOCK = const(8)
_J_NOT_DELIVERED = const(9)
_J_PIN_ERROR = const(10)
_J_UNLOCK = const(12)
_J_RESET = const(13)
_J_SNAPSHOT = const(16)

_KINDS = const(0x133F0)  # bit k set: kind k bears on the counter (4-9, 12, 13, 16)
_NONE = const(31)  # packed "no pending attempt"


class Retry:
    """Retry counters of every card, from `journal`; pad_limit: the pad's own limit;
    max_cards: the index size (more open cards than that: the others are found by a scan).

    skip_pending_write: a TEST SWITCH, never set on a pad (the app sets it from
    PAD_TEST_SKIP_PENDING=1): begin() then keeps the pending attempt in RAM only and
    journals no PENDING, so a power cut after it loses the attempt.  It plants the bug "the
    durable write before the VERIFY was removed", which the power-cut harness must catch.
    """

    def __init__(self, journal, pad_limit=3, max_cards=64, skip_pending_write=False):
        if len(journal._state) * journal._spb >= 0x10000:
            raise ValueError("journal too big")  # since (below) holds 16 bits of a seq
        self.j = journal
        self.pad_limit = pad_limit
        self.max_cards = max_cards
        self.skip_pending_write = skip_pending_write
        self.overflow = True
        self._at = None
        journal.keeper = self
        self._reclaimed()

    # index value: failures (5 bits, capped) | pending tries (5) | locked (1) | the pending
    # tries were read authenticated (1) | since (16): since is the low 16 bits of the oldest
    # record the state needs (SNAPSHOT before reclaim)

    def _seen(self, raw, idx=None, keys=None):
        """The journal's append hook: applies the record raw (64 bytes) to idx (the index by
        default); keys: the card ids to follow (a scan), else every card while there is room."""
        k = raw[1]
        if not _KINDS >> k & 1:
            return
        cid = bytes(raw[20:36])
        if keys is not None and cid not in keys:
            return
        if idx is None:  # the hook: records the audit has yet to read wait for it
            if self._at:
                return
            idx = self._idx
        v = old = idx.get(cid)
        if v is None:  # a new state, since this record
            v = _NONE << 5 | (raw[10] << 8 | raw[11]) << 12
        f, p, lk, pa = v & 31, v >> 5 & 31, v >> 10 & 1, v >> 11 & 1
        since = v >> 12
        if k == _J_PENDING:
            p, pa = raw[36] & 15, raw[38] & 1
        elif k == _J_PIN_WRONG:
            f, p = raw[37], _NONE
        elif k == _J_LOCK:
            lk = 1
        elif k == _J_NOT_DELIVERED:
            p = _NONE
        elif k == _J_POWER_RECOVERY:
            f, p = raw[38], _NONE
            if raw[36] == _R_SUCCEEDED:
                lk = 0
        elif k == _J_SNAPSHOT:
            f, p, lk, pa = raw[36], min(raw[37], _NONE), raw[39] & 1, raw[39] >> 2 & 1
            since = raw[10] << 8 | raw[11]
        else:  # PIN_OK, UNLOCK, RESET: the run is over
            f, p, lk = 0, _NONE, 0
        if f == 0 and p == _NONE and not lk:
            if old is not None:
                del idx[cid]
        elif (old is not None or keys is not None
              or not self.overflow and len(idx) < self.max_cards):
            idx[cid] = min(f, 31) | p << 5 | lk << 10 | pa << 11 | since << 12
        else:
            self.overflow = True  # never start an entry mid-history: this card is scanned for

    def _carry(self, start, end):
        """The journal's reclaim hook: before records start..end are erased, journals a
        SNAPSHOT for every card whose state needs a record there."""
        if self._at:
            self.j.audit()
        idx, h = self._idx, self.j.head
        cards = {}
        if self.overflow:  # the cards there the index does not hold: one scan for them
            ids = []
            for r in self.j.iter_from(start):
                if r.seq > end:
                    break
                if r.card_id not in idx:
                    ids.append(r.card_id)
            for r in self.j.iter_from(0):
                self._seen(r.raw, cards, ids)
        for c, v in idx.items():
            if h - ((h - (v >> 12)) & 0xFFFF) <= end:
                cards[c] = v
        for c, v in cards.items():  # the appends change values in idx, never cards
            p = v >> 5 & 31
            self.j.append(_J_SNAPSHOT, c, bytes((v & 31, 0xFF if p == _NONE else p,
                                               0 if p == _NONE else self.pad_limit,
                                               v >> 10 & 1 | v >> 9 & 4)))

    def _reclaimed(self):
        """(Re)builds the index by one scan: at start, and after a reclaim if it overflowed.
        A journal whose audit is still to run (opened by the pad: Journal.audit) builds it
        as it goes: until then appends wait for it (it reads them in their turn), and
        state() and _carry() have it finish first."""
        if self.overflow:
            self._idx = {}
            self.overflow = False
            if self.j._aud is not None and self.j._aud[:2] == [0, 1]:
                self._at = True  # the audit feeds the index
                return
            for r in self.j.iter_from(0):
                self._seen(r.raw)

    def state(self, card_id):
        """(failures since the last success, tries left recorded by the pending attempt or
        None, locked: a LOCK is journaled or the failures reached the pad's limit).  Sets
        self.authentic: the pending tries were read authenticated (for resolve)."""
        if self._at:
            self.j.audit()
        cid = bytes(card_id)
        v = self._idx.get(cid)
        if v is None and self.overflow:  # not in the index: one scan for it
            tmp = {}
            for r in self.j.iter_from(0):
                self._seen(r.raw, tmp, (cid,))
            v = tmp.get(cid)
        self.authentic = v is not None and v >> 11 & 1
        if v is None:
            return 0, None, False
        f, p = v & 31, v >> 5 & 31
        return f, None if p == _NONE else p, bool(v >> 10 & 1) or f >= self.pad_limit

    def begin(self, card_id, tries_left, authentic=False):
        """Journals PENDING with the tries the card just reported (authentic: read through
        the PSAM-checked MAC, protocol.md 4), before the VERIFY goes out; returns its seq.
        an Error while an attempt is pending (resolve() it) or the PIN is locked,
        JournalFull without room for the attempt's records."""
        if not 0 <= tries_left <= 15:
            raise ValueError("tries left")
        f, p, lk = self.state(card_id)
        if p is not None:
            raise Error("pending")
        if lk or tries_left == 0:
            raise Error("PIN locked")
        if not self.j.fits(3):  # PENDING, PIN_WRONG, LOCK
            raise JournalFull("sync first")
        a = 1 if authentic else 0
        if self.skip_pending_write:  # the test switch: the attempt in RAM only
            self._idx[bytes(card_id)] = (f | tries_left << 5 | a << 11
                                         | (self.j.head + 1 & 0xFFFF) << 12)
            return None
        return self.j.append(_J_PENDING, card_id, bytes((tries_left, self.pad_limit, a)))

    def outcome(self, card_id, sw, authentic=False):
        """Journals the card's answer to the pending VERIFY (sw None: no answer).  Only an
        authentic answer (its MAC checked through the PSAM) lowers the count: OK (9000),
        NOT_DELIVERED (6984 / 6988).  WRONG or LOCKED (63Cx, 6983): authentic, or plain
        with fewer tries than recorded (a plain word may only raise the count).  Anything
        else is ERROR: PIN_ERROR journaled, the attempt stays pending (resolve() it)."""
        f, p, _ = self.state(card_id)
        if p is None:
            raise Error("no pending")
        if authentic and sw == 0x9000:
            self.j.append(_J_PIN_OK, card_id)
            return OK
        if authentic and (sw == 0x6984 or sw == 0x6988):  # refused before spending
            self.j.append(_J_NOT_DELIVERED, card_id, sw.to_bytes(2, "big"))
            return NOT_DELIVERED
        tries = (16 if sw is None else 0 if sw == 0x6983
                 else sw & 15 if sw & 0xFFF0 == 0x63C0 else 16)  # 16: none
        if tries >= (16 if authentic else p):  # no evidence: a plain word may only raise
            self.j.append(_J_PIN_ERROR, card_id,
                          b"" if sw is None else (sw & 0xFFFF).to_bytes(2, "big"))
            return ERROR
        run = f + max(1, p - tries)  # a drop of more than one: failures elsewhere too
        self.j.append(_J_PIN_WRONG, card_id, bytes((tries, min(run, 255))))
        return LOCKED if self._lock(card_id, tries, run) else WRONG

    def resolve(self, card_id, tries_left_now, max_tries, authentic=False):
        """At insertion or boot: settles a pending attempt against the tries the card reports
        now (None: it cannot report; authentic: read through the PSAM-checked MAC).
        Returns the POWER_RECOVERY outcome journaled (1 failed, 2 not delivered, 3
        succeeded, 4 unknown: protocol.md 8.3), or None if nothing was pending; then a card
        authentically back at max_tries ends a run or lock held here, and a blocked card (0)
        gets the LOCK it lacks.  Only authenticated evidence lowers the count: "not
        delivered" needs this figure authenticated and equal to the PENDING's, which was
        authenticated too or the card's maximum; a plain figure settles the attempt as
        failed (delivered if fewer, else unknown)."""
        f, p, lk = self.state(card_id)
        now = tries_left_now
        if p is None:
            if authentic and now is not None and now >= max_tries and (f or lk):
                self.j.append(_J_SNAPSHOT, card_id, b"\0\xff\0\2")  # flags bit 1: run ended
            elif now == 0 and not lk:  # blocked, the LOCK lost to a cut: journal it now
                self._lock(card_id, 0, f)
            return None
        # this figure and the PENDING's authenticated (or that one plain at the maximum:
        both = authentic and (self.authentic or p >= max_tries)  # protocol.md 6)
        if now is None:
            out, run = _R_UNKNOWN, f + 1
        elif now < p:
            out, run = _R_FAILED, f + p - now
        elif both and now == p:
            out, run = _R_NOT_DELIVERED, f
        elif both or authentic and now >= max_tries:
            # more than recorded: succeeded, or unblocked elsewhere (and failures since)
            out, run = _R_SUCCEEDED, max(0, max_tries - now)
        else:  # a plain figure, or the PENDING's was: the attempt counts as a failure
            out, run = _R_UNKNOWN, f + 1
        self.j.append(_J_POWER_RECOVERY, card_id,
                      bytes((out, 0xFF if now is None else now, min(run, 255))))
        if out != _R_NOT_DELIVERED:
            self._lock(card_id, now, run)
        return out

    def _lock(self, card_id, now, run):
        """Journals LOCK if this failure (the card reports `now` tries left, the run is `run`
        failures) reached the card's limit or the pad's."""
        if now != 0 and run < self.pad_limit:
            return False
        self.j.append(_J_LOCK, card_id, bytes((LOCK_CARD if now == 0 else _LOCK_PAD,
                                             min(run, 255))))
        return True

    def worst_case(self, op):
        """Records one transaction of op ("verify", "change", "unlock", "reset") may append,
        resolving an earlier pending attempt included (for journal.fits)."""
        if op == "verify":
            return 5
        if op == "change":
            return 6
        if op == "unlock" or op == "reset":  # (window.py: WINDOW and PENDING, the outcome
            return 6  # or its settling, after an earlier attempt's settling)
        raise ValueError(op)
