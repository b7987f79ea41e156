# The pad application: idle, card insertion, the PIN verification flow, the result.
# Built by main.py from the board's peripherals; never touches `machine`.
import gc
import struct
import sys

from micropython import const

import journal as J
import messages as M
import retry as R
from errors import CardRemoved, Error, NoCard, PsamError, Refused, SecurityError, StatusError
from cmac import rand
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
# The card session's code, loaded at boot while the heap is whole. The host link is served
# by a boot of its own: when the host speaks between cards the pad restarts into its
# link-first boot (without the session's code), and back when a card comes or the host is
# quiet. (On a 64 KB heap the two do not fit together, and code dropped and loaded in
# place leaves the heap in fragments too small for the link's blocks: measured, 16 KB
# free, none over 560 bytes.)
_SESSION = ("secure", "pin_entry", "pinblock", "psam", "card", "iso7816.t0")


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
        # Long-lived allocations first, while the heap is whole: in a link-first boot (the
        # one the pad restarted into for the host link: board.reset) the link's buffer,
        # then its key schedules (the key derivation's code is dropped after them, and in
        # a normal boot once the journal's key is made); the journal (its recovery code is
        # dropped after opening); then the session's code (loaded per card it would be
        # scattered through a fragmented heap), whose place the link's code takes in a
        # link-first boot once the journal's audit is done (at the end).
        rtc = board.rtc() if hasattr(board, "rtc") else b""  # kept over a reset (_reset)
        self.linkbuf = bytearray(_LINK_BUF) if rtc[:1] == b"L" else None
        keys = __import__("kdf").configured(self.cfg)  # (no local name for kdf)
        self.link_first = self.linkbuf is not None and keys is not None
        if not self.link_first:  # a window boot (9.7) keeps here the host's W request and
            self.linkbuf = rtc[1:-4] if rtc[:1] == b"W" and keys else None  # its pad nonce
        mac = self.sched = None
        if keys:  # the journal's MAC keeps only its AES key (cmac.chain)
            from cmac import chain
            mac = chain(keys.journal)
            if self.linkbuf:  # (no local name for kdf: it would stay until this returns)
                self.sched = __import__("kdf").schedules(keys, self.link_first)
        self.pad_id = keys.pad_id if keys else None
        keys = None  # the key derivation's code is gone before the journal opens
        _drop("kdf")
        gc.collect()
        self.journal = J.Journal(board.journal_dev, clock=board, defer=True,
                                 mac=mac)
        if len(rtc) >= 5:  # the events a full journal could only count, before the reset
            self.journal.missed, self.journal.missed_boots = struct.unpack_from(
                ">HH", rtc, len(rtc) - 4)
        gc.collect()
        if self.journal._aud is not None:  # the audit's code while the heap is whole: it
            __import__("jaudit")  # stays until the audit is done (Journal.audit)
        if not self.link_first:  # (a link-first boot loads the link's code in their place,
            for m in _SESSION:  # once its audit is done and the audit's code dropped: first)
                __import__(m)  # each into a heap just collected
                gc.collect()
        self.events = Events(board.ui, board.host if mac else None, self._link,
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
        self.switch = False  # restart into a link-first boot as soon as no card is in
        self.pin = bytearray(12)
        self.trace = board.trace  # simulator test hook (None on a real pad)
        if self.link_first:  # the host is asking again: the journal's audit (a reclaim
            try:  # needs it done), its code dropped, then the link (link.first)
                self._settle()
                gc.collect()
                __import__("link").first(self)
            except MemoryError:  # the host is told to ask again (the frame loads it)
                _drop("link")

    def _link(self):
        """The host link's server, when the host speaks: a normal boot answers busy (a
        MemoryError: events.py) and, between cards, restarts into its link-first boot
        (switch), which serves the host (link.first, link.server)."""
        if not self.link_first:
            if not self.in_session:
                self.switch = True
            raise MemoryError("link")
        import link
        return link.server(self)

    def _reset(self, mode=b"N"):
        """Restart: into the link-first boot (mode b"L") or the normal one, keeping in RTC
        memory (board.reset) the mode and the count of the events a full journal could
        only count (journal.missed)."""
        j = self.journal
        self.board.reset(mode + struct.pack(">HH", min(j.missed, 0xFFFF),
                                            min(j.missed_boots, 0xFFFF)))

    def _settle(self, n=0):
        """The work opening left (it reads only the sector headers and the head sector):
        the journal's audit (TAMPER notes) and the retry index, n slots at a time while
        the pad idles (0: all of it, before a card is served). Done, or no room for it
        beside a sync just now (the next turn tries again)? Idle, the random bytes for
        the next card are made first (cmac.rand: drbg.py loaded, used, dropped)."""
        if n:
            try:
                rand(b"", 24)
            except MemoryError:  # (a sync holds the RAM: the next turn)
                pass
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
    def _t0(self, slot, size=256):
        gc.collect()  # the ATR parser is loaded for each card: into a heap just collected
        from iso7816 import atr
        from iso7816.t0 import T0
        try:
            wwt = atr.read(slot).wwt_ms()
        finally:  # a refused ATR too: atr must not stay resident (nor held by the local
            atr = None  # name until this returns: the T0's buffer may need its room)
            _drop("iso7816.atr")
        return T0(slot, wwt * self.board.wwt_scale, self.cfg["cmd_cap_s"] * 1000, size)

    def _psam(self):
        b = self.board
        if self.sam is None or not b.psam.present():
            self.sam = None
            from psam import Psam
            try:
                b.psam.activate()
                self.sam = Psam(self._t0(b.psam, 64))  # (its answers: 64 bytes at most)
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
        if not self.link_first:  # power-up: the PSAM's GET CHALLENGE for the DRBG
            __import__("pwrup").run(self)  # (it drops itself; no local name keeps it)
        card = self.board.card
        while True:
            f = getattr(self.board, "faults", None)  # failing devices (the ESP32 board's)
            while f:
                self.journal.event(J.DEVICE, data=f.pop(0))
            self.show(M.IDLE)
            gc.collect()
            self.events.wait_key(_IDLE_MS if self._settle(_SLICE) else 1)
            if self.link_first and self.events.link is None:  # the host is quiet: back
                self._reset()
            try:
                if not getattr(card, "inserted", True):  # the card-detect switch: empty
                    raise NoCard
                card.activate()
            except NoCard:
                if self.switch:  # the host spoke: restart for it
                    self._reset(b"L")
                continue
            if self.link_first:  # a card in a link-first boot: restart first (it stays in)
                self._reset()
            self.switch = False  # the card first; the host asks again
            self.events.drop_link()  # the session's RAM first: the host re-runs its sync
            gc.collect()
            self.in_session = True
            try:
                self.session()
            except CardRemoved:
                self.show(M.CARD_PULLED)
            finally:
                self.in_session = False
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
        # enter_pin wipes self.pin on Cancel, time-out, a pulled card, any exception
        n = pin_entry.enter_pin(self, self.pin, self.cfg["pin_timeout_s"] * 1000)
        if n == pin_entry.CANCELLED:
            return self.show(M.CANCELLED)
        if n == pin_entry.TIMED_OUT:
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
