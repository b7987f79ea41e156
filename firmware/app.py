# The pad application: idle, card insertion, the PIN verification flow, the result.
# Built by main.py from the board's peripherals; never touches `machine`.
import gc
import sys

from micropython import const

import journal as J
import messages as M
import rand
import retry as R
from errors import CardRemoved, Error, NoCard, PsamError, Refused, SecurityError, StatusError
from events import Events

_IDLE_MS = const(300)
_SLICE = const(252)  # slots the audit and the retry index read per turn of the idle loop
# reasons (data byte 0) of CARD_REFUSED and PIN_ERROR records; after _R_CARD_IO, data
# byte 1 is the error's code (errors.py: timeout or wait cap, bad TCK, no T=0, ...)
_R_NOT_SSC = const(1)
_R_REGION = const(2)
_R_NOT_GENUINE = const(3)
_R_CARD_IO = const(4)
_R_PSAM = const(5)
_R_FORGED = const(6)


_LINK_BUF = const(1094)  # link.py's frame buffer (PULL answers of up to 12 records)
VERSION = "0.1.0"
# the card session's code: loaded at boot while the heap is whole, dropped between cards
# when the host link needs the room, loaded again by the next card
_LINK_ROOM = const(8192)  # free heap a sync needs beside the loaded link
_SESSION = ("secure", "pin_entry", "pinblock", "psam", "card", "iso7816.t0")


def _keys(cfg):
    """The link keys from the provisioned link key (None: not provisioned, no link)."""
    try:
        from binascii import unhexlify
        from cmac import Keys
        return Keys(unhexlify(cfg["link_key"]), unhexlify(cfg["pad_id"]))
    except (KeyError, ValueError):
        return None


def _drop(name):
    """Unload a module used only in one phase (reading an ATR): frees its RAM. A
    submodule is also an attribute of its package, which would keep it alive."""
    sys.modules.pop(name, None)
    i = name.rfind(".")
    if i > 0:
        pkg = sys.modules.get(name[:i])
        if pkg is not None and hasattr(pkg, name[i + 1:]):
            delattr(pkg, name[i + 1:])


class Pad:
    def __init__(self, board):
        self.board = board
        self.cfg = board.cfg  # read by the board from its flash (config.py)
        self.tab = M.table(self.cfg["lang"])
        self.keys = _keys(self.cfg)
        # Long-lived allocations first, while the heap is whole: the link's buffer (the
        # link itself is loaded only when the host speaks; a card session borrows the
        # buffer's room: run()), the journal (its recovery code is dropped after opening),
        # then the session's code (loaded per card it would be scattered through a
        # fragmented heap).
        self.linkbuf = None
        self._linkbuf()
        self.journal = J.Journal(board.journal_dev, clock=board, defer=True,
                                 mac=self.keys.journal_mac if self.keys else None)
        gc.collect()
        import iso7816.t0  # noqa: F401
        import card  # noqa: F401
        import psam  # noqa: F401
        import secure  # noqa: F401
        import pin_entry  # noqa: F401
        import pinblock  # noqa: F401
        self.events = Events(board.ui, board.host if self.keys else None, self._link,
                             board.card)
        # board.skip_pending: the simulator's test switch that removes the durable write
        # before the VERIFY, to prove the power-cut test catches that bug
        kw = {"skip_pending_write": True} if board.skip_pending else {}
        # RAM holds at most 8 cards with an open run; the others are found by a scan
        # (its index is built by the journal's audit: _settle)
        self.retry = R.Retry(self.journal, pad_limit=self.cfg["pad_limit"], max_cards=8, **kw)
        gc.collect()
        self.sam = None
        self.in_session = False  # a card is being served: its RAM comes first
        self.restart = False  # the session's code gave way to the link: restart to serve
        self.pin = bytearray(12)
        self.trace = board.trace  # simulator test hook (None on a real pad)

    def _link(self):
        """The host link's server, loaded when the host first speaks. Between cards the
        card session's code gives way to it when the heap has no room for both (_give_way);
        during a card session a MemoryError tells the host to ask again (events.py)."""
        for _ in range(2):
            gc.collect()
            try:
                import link
                ls = link.LinkServer(self.journal, self.keys, {"version": VERSION},
                                     buf=self.linkbuf)
                gc.collect()
                if not self.in_session and gc.mem_free() < _LINK_ROOM:
                    self._give_way()  # room for the answers' MACs and the reclaim
                return ls
            except MemoryError:
                _drop("link")
                if self.in_session:
                    raise
                # between cards the link comes first: the PSAM's session and the card
                # session's code give way (loaded again at the next card)
                self._give_way()
        raise MemoryError("link")

    def _linkbuf(self):
        """The link's frame buffer, unless it is there or the pad has no link key (a heap
        without room for it: the link allocates its own when it loads)."""
        if self.linkbuf is None and self.keys:
            try:
                self.linkbuf = bytearray(_LINK_BUF)
            except MemoryError:
                pass

    def _give_way(self):
        """Between cards the link comes first: the PSAM's session and the card session's
        code give way. Loaded again into a heap the sync has fragmented they might not fit,
        so the pad restarts (a clean heap, as at boot) once the host is quiet, or before it
        serves the next card (the card stays in its slot)."""
        self.sam = None
        self.board.psam.deactivate()
        for m in _SESSION:
            _drop(m)
        gc.collect()
        self.restart = True

    def _settle(self, n=0):
        """The work opening left (it reads only the sector headers and the head sector):
        the journal's audit (TAMPER notes) and the retry index, n slots at a time while
        the pad idles (0: all of it, before a card is served). Done, or no room for it
        beside a sync just now (the next turn tries again)?"""
        try:
            return not self.journal.audit(n)
        except MemoryError:
            if not n:
                raise
            return True

    def show(self, msg, arg=""):
        self.board.ui.show(*M.lines(self.tab, msg, arg))

    def _state(self, what, cid):
        if self.trace:
            f, p, lk = self.retry.state(cid)
            self.trace("%s %s %d %s %d" % (what, bytes(cid).hex(), f, "-" if p is None else p, lk))
            gc.collect()
            self.trace("mem %s %d %d" % (what, gc.mem_alloc(), gc.mem_free()))

    # --- devices ----------------------------------------------------------------
    def _t0(self, slot):
        gc.collect()  # the ATR parser is loaded for each card: into a heap just collected
        from iso7816 import atr
        from iso7816.t0 import T0
        try:
            wwt = atr.read(slot).wwt_ms()
        finally:  # a refused ATR too: atr must not stay resident
            _drop("iso7816.atr")
        return T0(slot, wwt * self.board.wwt_scale, self.cfg["cmd_cap_s"] * 1000)

    def _psam(self):
        b = self.board
        if self.sam is None or not b.psam.present():
            self.sam = None
            from psam import Psam
            try:
                b.psam.activate()
                self.sam = Psam(self._t0(b.psam))
            except Error:
                b.psam.deactivate()
        return self.sam

    # --- main loop --------------------------------------------------------------
    def run(self):
        j = self.journal
        j.event(J.BOOT, data=bytes((len(j.problems),)))  # never refused: reserve, or counted
        if self.trace:
            self.trace("boot %d %r" % (j.head, j.problems))
            gc.collect()
            self.trace("mem boot %d %d" % (gc.mem_alloc(), gc.mem_free()))
        import pwrup  # power-up only: the PSAM's GET CHALLENGE for the DRBG
        pwrup.run(self)
        _drop("pwrup")
        card = self.board.card
        while True:
            f = getattr(self.board, "faults", None)  # failing devices (none on unix)
            while f:
                self.journal.event(J.DEVICE, data=f.pop(0))
            self.show(M.IDLE)
            gc.collect()
            if rand.n < 64:  # a full pool for the next card, made while the heap is idle
                try:
                    rand.fill(b"", 64)
                except MemoryError:  # a sync holds the RAM: the next turn
                    pass
            self.events.wait_key(_IDLE_MS if self._settle(_SLICE) else 1)
            if self.restart and self.events.link is None:  # the host is quiet: restart
                self.board.reset()
            if not getattr(card, "inserted", True):  # the card-detect switch: empty slot
                continue
            try:
                card.activate()
            except NoCard:
                continue
            if self.restart:  # a card, and the session's code gave way: restart first
                self.board.reset()
            self.events.drop_link()  # the session's RAM first: the host re-runs its sync,
            self.linkbuf = None  # and the session borrows the link buffer's room
            gc.collect()
            self.in_session = True
            try:
                self.session()
            except CardRemoved:
                self.show(M.CARD_PULLED)
            finally:
                self.in_session = False
            gc.collect()  # the session's garbage gone: the link buffer again
            self._linkbuf()
            while card.present():  # the result stays until the card is taken (the
                self.events.wait_key(_IDLE_MS)  # card-detect switch wakes it at once)
            card.deactivate()

    # --- one card ---------------------------------------------------------------
    def session(self):
        import time
        j = self.journal
        if not j.fits(self.retry.worst_case("verify")):  # full: nothing is spent or asked of
            j.event(J.FULL)  # the card; the host link is served as ever, a sync makes room
            return self.show(M.LOG_FULL)
        self.show(M.READING)
        self._settle()  # (pad work, not the card's: before its session cap starts)
        start = time.ticks_ms()  # the card was activated just now: its session cap runs
        sam = self._psam()
        if sam is None:
            j.event(J.PIN_ERROR, data=bytes((_R_PSAM,)))
            return self.show(M.PSAM_ERROR)
        from card import Card
        try:
            t0 = self._t0(self.board.card)
            t0.until = time.ticks_add(start, self.cfg["session_cap_s"] * 1000)
            c = Card(t0)
            c.identify()
        except Refused:
            j.event(J.CARD_REFUSED, data=bytes((_R_NOT_SSC,)))
            return self.show(M.NOT_SSC)
        except CardRemoved:
            raise
        except Error as e:  # the card's fault, with its code (errors.py); nothing spent
            j.event(J.PIN_ERROR, data=bytes((_R_CARD_IO, e.code)))
            return self.show(M.CARD_ERROR)
        try:
            sam.check(c)
        except Refused:
            j.event(J.CARD_REFUSED, c.card_id, bytes((_R_REGION,)))
            return self.show(M.OTHER_REGION)
        try:
            self.verify(c, sam)
        except CardRemoved:
            raise
        except PsamError:
            self.sam = None  # cold-reset it before the next card
            self.board.psam.deactivate()
            j.event(J.PIN_ERROR, c.card_id, bytes((_R_PSAM,)))
            self.show(M.PSAM_ERROR)
        except Error as e:
            j.event(J.PIN_ERROR, c.card_id, bytes((_R_CARD_IO, e.code)))
            self.show(M.CARD_ERROR)

    def _resolve(self, c, sam):
        """The card's tries left: (tries, authentic).  Read authenticated (protocol.md 4)
        when the card offers it, else by the plain no-data VERIFY.  With them a pending
        attempt (a power cut, a pulled card, an answer that settled nothing) is settled and
        a card authentically back at its maximum ends the run held here: only authenticated
        evidence lowers the count (DESIGN 5).  A forged answer (journaled TAMPER) or a card
        that cannot report settles a pending attempt as a failure, then raises."""
        import secure
        cid, lim = c.card_id, self.cfg["card_limit"]
        pending = self.retry.state(cid)[1] is not None
        auth = True
        try:
            try:
                now = secure.tries_left(c, sam)
            except secure.Plain:  # not offered (or refused on the wire): the plain read
                auth = False
                now = c.tries_left()
        except SecurityError:
            self.journal.append(J.TAMPER, cid, bytes((_R_FORGED,)))
            if pending:
                self.retry.resolve(cid, None, lim)
            raise
        except StatusError:
            if pending:  # a card that cannot report: the attempt counts as failed
                self.retry.resolve(cid, None, lim)
            raise
        if pending or auth and now is not None and now >= lim:
            self.retry.resolve(cid, now, lim, auth)
        return now, auth

    def verify(self, c, sam):
        """The PIN verification flow for an identified card of this PSAM's region."""
        import secure
        j, cid = self.journal, c.card_id
        self._state("pre", cid)
        # is the card genuine?
        try:
            secure.authenticate(c, sam)
        except SecurityError:
            j.event(J.CARD_REFUSED, cid, bytes((_R_NOT_GENUINE,)))
            return self.show(M.NOT_GENUINE)
        # its tries left; settle what a power cut left open
        try:
            tries, auth = self._resolve(c, sam)
        except SecurityError:
            return self.show(M.CARD_ERROR)
        self._state("post", cid)
        # locked here or on the card: say so, spend nothing
        if tries is None:
            tries = self.cfg["card_limit"]
        if tries == 0 or self.retry.state(cid)[2]:
            if not self.retry.state(cid)[2]:
                j.append(J.LOCK, cid, bytes((0, self.retry.state(cid)[0])))  # found locked
            return self.show(M.LOCKED)
        if not j.fits(self.retry.worst_case("verify")):  # (checked at insertion too)
            j.event(J.FULL, cid)
            return self.show(M.LOG_FULL)
        # the PIN, as a PIN block
        import pin_entry
        import pinblock
        wipe = pinblock.wipe
        block = bytearray(c.block)  # before the entry: no allocation between PIN and wipe
        c.t0.until = None  # PIN entry starts: the session cap is over, the command cap stays
        try:  # enter_pin wipes self.pin on Cancel, time-out, a pulled card, any exception
            n = pin_entry.enter_pin(self, self.pin, self.cfg["pin_timeout_s"] * 1000)
        except pin_entry.Cancelled:
            return self.show(M.CANCELLED)
        except pin_entry.TimedOut:
            return self.show(M.TIMED_OUT)
        try:  # from here on every path ends in the finally: self.pin and block wiped
            self.show(M.CHECKING)
            pinblock.build(self.pin, n, block)
            wipe(self.pin)
            # the pending attempt is durable before the VERIFY leaves the pad
            self.retry.begin(cid, tries, auth)
            sw = secure.verify(c, sam, block)
        except secure.Plain as e:
            sw = e.sw | 0x10000
        except SecurityError:
            sw = -1
        finally:
            wipe(self.pin)
            wipe(block)
        if sw >> 16:
            # a plain word (6984 / 6988: "refused before spending") or a forged answer
            # proves nothing: the attempt stays pending until the authenticated read
            # settles it (else it counts as failed)
            if sw < 0:
                j.append(J.TAMPER, cid, bytes((_R_FORGED,)))
            else:
                self.retry.outcome(cid, sw & 0xFFFF)  # PIN_ERROR with the SW
            try:
                self._resolve(c, sam)
            except (SecurityError, StatusError):
                pass  # settled as failed
            return self.show(M.CARD_ERROR)
        # the outcome, authenticated by its MAC
        what = self.retry.outcome(cid, sw, True)
        self._state("out", cid)
        if what == R.OK:
            self.show(M.PIN_OK)
        elif what == R.LOCKED:
            self.show(M.LOCKED)
        else:  # the tries left: the card's, or fewer where the pad's own limit is lower
            f = self.retry.state(cid)[0]
            self.show(M.PIN_WRONG, min(sw & 15, self.cfg["pad_limit"] - f))


def crashed(pad, exc):
    """An uncaught exception: journal it (best effort) before the restart."""
    try:
        pad.journal.event(J.CRASH, data=type(exc).__name__.encode()[:8])
    except Exception:
        pass
