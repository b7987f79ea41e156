# The per-card retry counter (DESIGN section 5), derived from the journal.
#
# Every step is one journal record: PENDING (durable before the VERIFY goes out), then the
# outcome.  RAM holds only the cards with an open failure run, a pending attempt or a lock:
# an index built by one scan of the journal and kept current by watching its appends (one
# small int per card).  When the journal reclaims sectors their states are carried forward
# as SNAPSHOT records.  Invariant: the failures recorded for a card since its last success,
# the pending attempt included, are at least those the card has counted since then.
import struct
from micropython import const

import journal as J
from errors import Error

# what outcome() reports
OK = "ok"
WRONG = "wrong"
LOCKED = "locked"
NOT_DELIVERED = "not delivered"
ERROR = "error"  # no usable answer: the attempt stays pending, resolve() it

# POWER_RECOVERY outcomes (data byte 0), what resolve() returns
R_FAILED = const(1)  # fewer tries than recorded: delivered, and failed
R_NOT_DELIVERED = const(2)  # the same tries: never delivered
R_SUCCEEDED = const(3)  # back to the maximum: succeeded (or unblocked elsewhere)
R_UNKNOWN = const(4)  # the card cannot report: counted as a failure

LOCK_CARD = const(1)  # LOCK reason: the card's limit (tries 0, 63C0, 6983)
LOCK_PAD = const(2)  # LOCK reason: the pad's limit, lower than the card's
S_LOCKED = const(1)  # SNAPSHOT flags
S_CLEARED = const(2)  # the card reported its maximum: its run ended elsewhere

_NONE = const(31)  # packed "no pending attempt"
_ZERO = bytes(16)
_KINDS = bytes((J.PENDING, J.PIN_OK, J.PIN_WRONG, J.LOCK, J.NOT_DELIVERED, J.POWER_RECOVERY,
                J.UNLOCK, J.RESET, J.SNAPSHOT))
_WORST = {"verify": 5, "change": 6, "unlock": 4, "reset": 4}


class PendingOpen(Error):
    """An earlier attempt on this card is still pending: resolve() it first."""


class Locked(Error):
    """The pad holds this card's PIN locked (its limit or the card's was reached)."""


class Retry:
    """Retry counters of every card, from `journal`; pad_limit: the pad's own limit;
    max_cards: the index size (more open cards than that: the others are found by a scan)."""

    def __init__(self, journal, pad_limit=3, max_cards=64):
        if journal.capacity >= 0x10000:
            raise ValueError("journal too big for 16-bit seq offsets")
        self.j = journal
        self.pad_limit = pad_limit
        self.max_cards = max_cards
        self._reclaimed()
        journal.watch(self)

    # index value: failures (5 bits, capped) | pending tries (5) | locked (1) | since (16):
    # since is the low 16 bits of the oldest record the state needs (SNAPSHOT before reclaim)

    def _unpack(self, v):
        h = self.j.head
        return v & 31, (v >> 5) & 31, (v >> 10) & 1, h - ((h - (v >> 11)) & 0xFFFF)

    def _apply(self, idx, rec, only=None):
        raw = rec.raw
        k = raw[1]
        if k not in _KINDS:
            return
        cid = bytes(raw[20:36])
        if cid == _ZERO or (only is not None and cid not in only):
            return
        v = idx.get(cid)
        f, p, lk, since = (0, _NONE, 0, rec.seq) if v is None else self._unpack(v)
        if k == J.PENDING:
            p = raw[36]
        elif k == J.PIN_WRONG:
            f, p = raw[37], _NONE
        elif k == J.LOCK:
            lk = 1
        elif k == J.NOT_DELIVERED:
            p = _NONE
        elif k == J.POWER_RECOVERY:
            f, p = raw[38], _NONE
            if raw[36] == R_SUCCEEDED:
                lk = 0
        elif k == J.SNAPSHOT:
            f, p, lk, since = raw[36], min(raw[37], _NONE), raw[39] & S_LOCKED, rec.seq
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
        for rec in self.j.iter_from(0):
            self._apply(tmp, rec, cids)
        return tmp

    # ---- the journal's keeper hooks --------------------------------------------------------

    def _seen(self, rec):
        self._apply(self._idx, rec)

    def _carry(self, lo, hi):
        """[(card id, SNAPSHOT data)] for every card whose state needs a record in lo..hi."""
        found = [(c, v) for c, v in self._idx.items() if self._unpack(v)[3] <= hi]
        if self.overflow:
            ids = []
            for rec in self.j.iter_from(lo):
                c = rec.card_id
                if rec.seq > hi:
                    break
                if c != _ZERO and c not in self._idx and c not in ids:
                    ids.append(c)
            found += list(self._scan(ids).items())
        out = []
        for c, v in found:
            f, p, lk, _ = self._unpack(v)
            out.append((c, bytes((f, p if p < _NONE else 0xFF, self.pad_limit if p < _NONE else 0,
                                  lk))))
        return out

    def _reclaimed(self):
        """(Re)builds the index by one scan: at start, and after a reclaim if it overflowed."""
        if getattr(self, "overflow", True):
            self._idx = {}
            self.overflow = False
            for rec in self.j.iter_from(0):
                self._apply(self._idx, rec)

    # ---- the API ---------------------------------------------------------------------------

    def state(self, card_id):
        """(failures since the last success, tries left recorded by the pending attempt or
        None, locked: a LOCK is journaled or the failures reached the pad's limit)."""
        cid = bytes(card_id)
        v = self._idx.get(cid)
        if v is None and self.overflow:
            v = self._scan((cid,)).get(cid)
        if v is None:
            return 0, None, False
        f, p, lk, _ = self._unpack(v)
        return f, None if p == _NONE else p, bool(lk) or f >= self.pad_limit

    def begin(self, card_id, tries_left):
        """Journals PENDING with the tries the card just reported, before the VERIFY goes
        out.  Returns its seq."""
        if not 0 <= tries_left <= 15:
            raise ValueError("tries left %r" % tries_left)
        f, p, lk = self.state(card_id)
        if p is not None:
            raise PendingOpen("an earlier attempt is pending")
        if lk or tries_left == 0:
            raise Locked("PIN locked")
        if not self.j.fits(3):  # PENDING, PIN_WRONG, LOCK
            raise J.JournalFull("journal full: sync before a new attempt")
        return self.j.append(J.PENDING, card_id, bytes((tries_left, self.pad_limit)))

    def outcome(self, card_id, sw):
        """Journals the card's answer to the pending VERIFY: OK, WRONG, LOCKED,
        NOT_DELIVERED (6984 / 6988) or ERROR (the attempt stays pending)."""
        f, p, _ = self.state(card_id)
        if p is None:
            raise Error("no pending attempt for this card")
        if sw == 0x9000:
            self.j.append(J.PIN_OK, card_id)
            return OK
        if sw == 0x6984 or sw == 0x6988:
            return self.not_delivered(card_id, sw)
        if sw == 0x6983 or sw & 0xFFF0 == 0x63C0:
            tries = 0 if sw == 0x6983 else sw & 0xF
            run = f + max(1, p - tries)  # a drop of more than one: failures elsewhere too
            self.j.append(J.PIN_WRONG, card_id, bytes((tries, min(run, 255))))
            return LOCKED if self._lock(card_id, tries, run) else WRONG
        self.j.append(J.PIN_ERROR, card_id, struct.pack(">H", sw & 0xFFFF))
        return ERROR

    def not_delivered(self, card_id, sw=None):
        """The card refused before spending (6984 / 6988): no try spent."""
        if self.state(card_id)[1] is None:
            raise Error("no pending attempt for this card")
        self.j.append(J.NOT_DELIVERED, card_id, b"" if sw is None else struct.pack(">H", sw))
        return NOT_DELIVERED

    def resolve(self, card_id, tries_left_now, max_tries):
        """At insertion or boot: settles a pending attempt against the tries the card reports
        now (None: it cannot report).  Returns the R_ outcome journaled, or None if nothing
        was pending; then a card back at max_tries ends a run or lock held here, and a
        blocked card (0) gets the LOCK it lacks."""
        f, p, lk = self.state(card_id)
        now = tries_left_now
        if p is None:
            if now is not None and now >= max_tries and (f or lk):
                self.j.append(J.SNAPSHOT, card_id, bytes((0, 0xFF, 0, S_CLEARED)))
            elif now == 0 and not lk:  # blocked, the LOCK lost to a cut: journal it now
                self._lock(card_id, 0, f)
            return None
        if now is None:
            out, run = R_UNKNOWN, f + 1
        elif now < p:
            out, run = R_FAILED, f + p - now
        elif now == p:
            out, run = R_NOT_DELIVERED, f
        else:  # more than recorded: succeeded, or unblocked elsewhere (and failures since)
            out, run = R_SUCCEEDED, max(0, max_tries - now)
        self.j.append(J.POWER_RECOVERY, card_id,
                      bytes((out, 0xFF if now is None else now, min(run, 255))))
        if out != R_NOT_DELIVERED:
            self._lock(card_id, now, run)
        return out

    def _lock(self, card_id, tries, run):
        """Journals LOCK if this failure reached the card's limit or the pad's."""
        if tries != 0 and run < self.pad_limit:
            return False
        self.j.append(J.LOCK, card_id, bytes((LOCK_CARD if tries == 0 else LOCK_PAD, min(run, 255))))
        return True

    def worst_case(self, op):
        """Records one transaction of op ("verify", "change", "unlock", "reset") may append,
        resolving an earlier pending attempt included (for journal.fits)."""
        if op not in _WORST:
            raise ValueError("unknown operation %r" % op)
        return _WORST[op]
