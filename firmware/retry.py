# The per-card retry counter (DESIGN section 5), derived from the journal (protocol.md 8.6).
#
# Every step is one journal record: PENDING (durable before the VERIFY goes out), then the
# outcome.  RAM holds only the cards with an open failure run, a pending attempt or a lock:
# an index built by one scan of the journal and kept current by watching its appends (one
# small int per card).  When the journal reclaims sectors their states are carried forward
# as SNAPSHOT records.  Invariant: the failures recorded for a card since its last success,
# the pending attempt included, are at least those the card has counted since then.
import struct
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
_POWER_RECOVERY = const(4)
_PENDING = const(5)
_PIN_OK = const(6)
_PIN_WRONG = const(7)
_LOCK = const(8)
_NOT_DELIVERED = const(9)
_PIN_ERROR = const(10)
_UNLOCK = const(12)
_RESET = const(13)
_SNAPSHOT = const(16)

_S_CLEARED = const(2)  # SNAPSHOT flags: bit 0 locked; bit 1 the card reported its maximum
_NONE = const(31)  # packed "no pending attempt"


class PendingOpen(Error):
    """An earlier attempt on this card is still pending: resolve() it first."""


class Locked(Error):
    """The pad holds this card's PIN locked (its limit or the card's was reached)."""


class Retry:
    """Retry counters of every card, from `journal`; pad_limit: the pad's own limit;
    max_cards: the index size (more open cards than that: the others are found by a scan).

    skip_pending_write: a TEST SWITCH, never set on a pad (the app sets it from
    PAD_TEST_SKIP_PENDING=1): begin() keeps the pending attempt in RAM only and journals no
    PENDING, so a power cut after it loses the attempt.  It plants the bug "the durable write
    before the VERIFY was removed", which the power-cut harness must catch.
    """

    def __init__(self, journal, pad_limit=3, max_cards=64, skip_pending_write=False):
        if journal.capacity >= 0x10000:
            raise ValueError("journal too big for 16-bit seq offsets")
        self.j = journal
        self.pad_limit = pad_limit
        self.max_cards = max_cards
        self.skip_pending_write = skip_pending_write
        self.overflow = True
        self._reclaimed()
        journal.keeper = self

    # index value: failures (5 bits, capped) | pending tries (5) | locked (1) | since (16):
    # since is the low 16 bits of the oldest record the state needs (SNAPSHOT before reclaim)

    def _seen(self, raw, idx=None, only=None):
        """Applies the record raw (64 bytes) to idx (the index by default); only: the card
        ids to follow (a scan), else every card while the index has room."""
        k = raw[1]
        if not (_POWER_RECOVERY <= k <= _NOT_DELIVERED or k == _UNLOCK or k == _RESET
                or k == _SNAPSHOT):
            return
        cid = bytes(raw[20:36])
        if only is not None and cid not in only:
            return
        if idx is None:
            idx = self._idx
        seq = struct.unpack_from(">I", raw, 8)[0]
        v = idx.get(cid)
        if v is None:
            f, p, lk, since = 0, _NONE, 0, seq
        else:
            f, p, lk, since = v & 31, v >> 5 & 31, v >> 10 & 1, v >> 11
        if k == _PENDING:
            p = raw[36] & 15
        elif k == _PIN_WRONG:
            f, p = raw[37], _NONE
        elif k == _LOCK:
            lk = 1
        elif k == _NOT_DELIVERED:
            p = _NONE
        elif k == _POWER_RECOVERY:
            f, p = raw[38], _NONE
            if raw[36] == _R_SUCCEEDED:
                lk = 0
        elif k == _SNAPSHOT:
            f, p, lk, since = raw[36], min(raw[37], _NONE), raw[39] & 1, seq
        else:  # PIN_OK, UNLOCK, RESET: the run is over
            f, p, lk = 0, _NONE, 0
        if f == 0 and p == _NONE and not lk:
            if v is not None:
                del idx[cid]
        elif v is not None or only is not None or not self.overflow and len(idx) < self.max_cards:
            idx[cid] = min(f, 31) | p << 5 | lk << 10 | (since & 0xFFFF) << 11
        else:
            self.overflow = True  # never start an entry mid-history: this card is scanned for

    def _scan(self, cids):
        """{card id: packed state} of the cards in cids, by a scan of the whole journal."""
        tmp = {}
        for r in self.j.iter_from(0):
            self._seen(r.raw, tmp, cids)
        return tmp

    def _carry(self, lo, hi):
        """The journal's reclaim hook: [(card id, SNAPSHOT data)] for every card whose state
        needs a record in lo..hi."""
        idx, h = self._idx, self.j.head
        cards = [(c, v) for c, v in idx.items() if h - ((h - (v >> 11)) & 0xFFFF) <= hi]
        if self.overflow:  # and the cards of lo..hi the index does not hold
            ids = []
            for r in self.j.iter_from(lo):
                if r.seq > hi:
                    break
                c = r.card_id
                if c not in idx and c not in ids:
                    ids.append(c)
            cards += self._scan(ids).items()
        out = []
        for c, v in cards:
            p = v >> 5 & 31
            out.append((c, bytes((v & 31, 0xFF if p == _NONE else p,
                                  0 if p == _NONE else self.pad_limit, v >> 10 & 1))))
        return out

    def _reclaimed(self):
        """(Re)builds the index by one scan: at start, and after a reclaim if it overflowed."""
        if self.overflow:
            self._idx = {}
            self.overflow = False
            for r in self.j.iter_from(0):
                self._seen(r.raw)

    def state(self, card_id):
        """(failures since the last success, tries left recorded by the pending attempt or
        None, locked: a LOCK is journaled or the failures reached the pad's limit)."""
        cid = bytes(card_id)
        v = self._idx.get(cid)
        if v is None and self.overflow:
            v = self._scan((cid,)).get(cid)
        if v is None:
            return 0, None, False
        f, p = v & 31, v >> 5 & 31
        return f, None if p == _NONE else p, bool(v >> 10 & 1) or f >= self.pad_limit

    def begin(self, card_id, tries_left):
        """Journals PENDING with the tries the card just reported, before the VERIFY goes
        out.  Returns its seq (None with skip_pending_write)."""
        if not 0 <= tries_left <= 15:
            raise ValueError("tries left %r" % tries_left)
        f, p, lk = self.state(card_id)
        if p is not None:
            raise PendingOpen("an earlier attempt is pending")
        if lk or tries_left == 0:
            raise Locked("PIN locked")
        if not self.j.fits(3):  # PENDING, PIN_WRONG, LOCK
            raise JournalFull("journal full: sync before a new attempt")
        data = bytes((tries_left, self.pad_limit))
        if not self.skip_pending_write:
            return self.j.append(_PENDING, card_id, data)
        r = bytearray(38)  # the test switch: the PENDING record, in the index only
        struct.pack_into(">BBxxxxxxI8x16s2s", r, 0, 0, _PENDING, self.j.head + 1, card_id, data)
        self._seen(r, None, (bytes(card_id),))

    def outcome(self, card_id, sw):
        """Journals the card's answer to the pending VERIFY: OK, WRONG, LOCKED,
        NOT_DELIVERED (6984 / 6988) or ERROR (the attempt stays pending)."""
        f, p, _ = self.state(card_id)
        if p is None:
            raise Error("no pending attempt for this card")
        if sw == 0x9000:
            self.j.append(_PIN_OK, card_id)
            return OK
        if sw == 0x6984 or sw == 0x6988:
            return self.not_delivered(card_id, sw)
        if sw == 0x6983 or sw & 0xFFF0 == 0x63C0:
            tries = 0 if sw == 0x6983 else sw & 0xF
            run = f + max(1, p - tries)  # a drop of more than one: failures elsewhere too
            self.j.append(_PIN_WRONG, card_id, bytes((tries, min(run, 255))))
            return LOCKED if self._lock(card_id, tries, run) else WRONG
        self.j.append(_PIN_ERROR, card_id, struct.pack(">H", sw & 0xFFFF))
        return ERROR

    def not_delivered(self, card_id, sw=None):
        """The card refused before spending (6984 / 6988): no try spent."""
        if self.state(card_id)[1] is None:
            raise Error("no pending attempt for this card")
        self.j.append(_NOT_DELIVERED, card_id, b"" if sw is None else struct.pack(">H", sw))
        return NOT_DELIVERED

    def resolve(self, card_id, tries_left_now, max_tries):
        """At insertion or boot: settles a pending attempt against the tries the card reports
        now (None: it cannot report).  Returns the POWER_RECOVERY outcome journaled (1
        failed, 2 not delivered, 3 succeeded, 4 unknown: protocol.md 8.3), or None if nothing
        was pending; then a card back at max_tries ends a run or lock held here, and a
        blocked card (0) gets the LOCK it lacks."""
        f, p, lk = self.state(card_id)
        now = tries_left_now
        if p is None:
            if now is not None and now >= max_tries and (f or lk):
                self.j.append(_SNAPSHOT, card_id, bytes((0, 0xFF, 0, _S_CLEARED)))
            elif now == 0 and not lk:  # blocked, the LOCK lost to a cut: journal it now
                self._lock(card_id, 0, f)
            return None
        if now is None:
            out, run = _R_UNKNOWN, f + 1
        elif now < p:
            out, run = _R_FAILED, f + p - now
        elif now == p:
            out, run = _R_NOT_DELIVERED, f
        else:  # more than recorded: succeeded, or unblocked elsewhere (and failures since)
            out, run = _R_SUCCEEDED, max(0, max_tries - now)
        self.j.append(_POWER_RECOVERY, card_id,
                      bytes((out, 0xFF if now is None else now, min(run, 255))))
        if out != _R_NOT_DELIVERED:
            self._lock(card_id, now, run)
        return out

    def _lock(self, card_id, tries, run):
        """Journals LOCK if this failure reached the card's limit or the pad's."""
        if tries != 0 and run < self.pad_limit:
            return False
        self.j.append(_LOCK, card_id, bytes((LOCK_CARD if tries == 0 else _LOCK_PAD,
                                             min(run, 255))))
        return True

    def worst_case(self, op):
        """Records one transaction of op ("verify", "change", "unlock", "reset") may append,
        resolving an earlier pending attempt included (for journal.fits)."""
        if op == "verify":
            return 5
        if op == "change":
            return 6
        if op == "unlock" or op == "reset":
            return 4
        raise ValueError("unknown operation %r" % op)
