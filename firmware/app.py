# The pad application: idle, card insertion and the card session's common start, then the
# dispatch to the flow (verify.py, ...: one module per flow, loaded for its card), the result.
# Built by main.py from the board's peripherals; never touches `machine`.
import gc
import sys

from micropython import const

import messages as M
from errors import CardRemoved, Error, NoCard, SecurityError, StatusError
from cmac import rand

# journal kinds (journal.py; private here: a name costs RAM)
_J_BOOT = const(1)
_J_TAMPER = const(3)
_J_PIN_ERROR = const(10)
_J_CARD_REFUSED = const(11)
_J_CRASH = const(17)
_J_FULL = const(18)
_J_DEVICE = const(21)
# messages (messages.py: lines of lang_*.txt)
_M_IDLE = const(0)
_M_READING = const(1)
_M_OTHER_REGION = const(6)
_M_NOT_SSC = const(7)
_M_CARD_ERROR = const(8)
_M_PSAM_ERROR = const(9)
_M_LOG_FULL = const(10)
_M_CARD_PULLED = const(16)

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
_E_REFUSED = const(9)  # errors.py: not a card this pad may serve; the PSAM's fault
_E_PSAM = const(10)
_CHANGE_CARD = const(22)  # message: CHANGE PIN asked for, insert the card (messages.py)
# The flows' room: a block held between cards and freed for the flow's module (verify.py,
# change.py, ...) as a card comes, so that its code finds one piece large enough (its
# largest: change.py's bytecode, 970 bytes) in a heap the idle loop has fragmented
# (measured after a boot: 9 KB free, none over 800 bytes).
_ROOM = const(1152)


VERSION = "0.1.0"


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
    cbuf = 256  # the card's answers (t0.py's buffer); a window boot's are shorter (window.py)

    def __init__(self, board):
        # the start (padinit.py: the link's buffer and keys in a link-first boot, the
        # journal, the events, the retry index, the session's code in a normal boot) runs
        # once and is dropped; in a link-first boot then, once the journal's audit is done
        # and the audit's code dropped, the link's code, into the heap just collected
        __import__("padinit").build(self, board)  # (no local name keeps it)
        _drop("padinit")
        gc.collect()
        try:  # (a full ring's boot may have no room for it: the flow's code goes where it
            self.room = None if self.link_first else bytearray(_ROOM)  # can)
        except MemoryError:
            self.room = None
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
        import struct
        j = self.journal
        self.board.reset(mode + struct.pack(">HH", min(j.missed, 0xFFFF),
                                            min(j.missed_boots, 0xFFFF)))

    def _settle(self, n=0):
        """The work opening left (it reads only the sector headers and the head sector):
        the journal's audit (TAMPER notes) and the retry index, n slots at a time while
        the pad idles (0: all of it, before a card is served). Done, or no room for it
        beside a sync just now (the next turn tries again)? Idle, the random bytes for
        the next card are made first (cmac.rand: drbg.py loaded, used, dropped): 40, the
        most a session draws (a PIN change: the challenge X and two PIN blocks)."""
        if n:
            try:
                rand(b"", 40)
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
        try:  # the ATR, then the rate its TA1 offers (PPS)
            wwt = atr.run(slot).wwt_ms()
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
        j.event(_J_BOOT, data=bytes((len(j.problems),)))  # never refused: reserve, or counted
        if self.trace:
            self.trace("boot %d %r" % (j.head, j.problems))
            gc.collect()
            self.trace("mem boot %d %d" % (gc.mem_alloc(), gc.mem_free()))
        if not self.link_first:  # power-up: the PSAM's GET CHALLENGE for the DRBG, or a
            __import__("winboot" if self.linkbuf else "pwrup").run(self)  # window boot's
            # start (each drops itself; no local name keeps it)
        import time
        card = self.board.card
        armed = 0  # ticks_ms | 1 when the function key asked for a PIN change (0: not)
        while True:
            f = getattr(self.board, "faults", None)  # failing devices (the ESP32 board's)
            while f:
                self.journal.event(_J_DEVICE, data=f.pop(0))
            self.show(_CHANGE_CARD if armed else _M_IDLE)
            gc.collect()
            k = self.events.wait_key(_IDLE_MS if self._settle(_SLICE) else 1)
            if k == "#" and not self.link_first:  # the function key: CHANGE PIN (change.py)
                armed = time.ticks_ms() | 1  # for the next card; Cancel or pin_timeout_s
            elif k == "X" or time.ticks_diff(time.ticks_ms(), armed) > \
                    self.cfg["pin_timeout_s"] * 1000:  # without a card ends it
                armed = 0
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
            self.room = None  # (the flow's code goes there)
            gc.collect()
            self.in_session = True
            try:
                self.session("change" if armed else "verify")
            except CardRemoved:
                self.show(_M_CARD_PULLED)
            finally:
                self.in_session = False
                armed = 0
            gc.collect()
            try:  # the room again, while the session's RAM is free
                self.room = bytearray(_ROOM)
            except MemoryError:  # (the next flow's code goes where it can)
                pass
            while card.present():  # the result stays until the card is taken (the
                self.events.wait_key(_IDLE_MS)  # card-detect switch wakes it at once)
            card.deactivate()

    # --- one card ---------------------------------------------------------------
    def session(self, name, window=False):
        """One card, for the flow `name`: the common start (the journal's room, the PSAM,
        the card's identity and the region check, nothing spent), then the flow itself,
        run(pad, card, sam) of the module `name` (verify.py, change.py, ...), loaded for
        this card into the heap just collected (the room: _ROOM) and dropped after. A
        window boot's (window.hook): the authorisation (winauth.py), then the flow,
        run(pad, card, sam, auth) of unlock.py or reset.py, each loaded for its phase
        once the card is identified (into the room its ATR's parser left: neither is in
        the heap beside that parser's code, nor beside the other)."""
        j = self.journal
        if not j.fits(self.retry.worst_case(name)):  # full: nothing is spent or asked of the
            j.event(_J_FULL)  # card, nor the flow's code loaded (a full ring's boot may have
            return self.show(_M_LOG_FULL)  # had no room for it); a sync makes room
        flow = None if window else __import__(name).run  # (no local name keeps the module)
        try:
            import time
            self.show(_M_READING)
            self._settle()  # (pad work, not the card's: before its session cap starts)
            start = time.ticks_ms()  # the card was activated just now: its session cap runs
            sam = self._psam()
            if sam is None:
                j.event(_J_PIN_ERROR, data=bytes((_R_PSAM,)))
                return self.show(_M_PSAM_ERROR)
            from card import Card
            try:
                t0 = self._t0(self.board.card, self.cbuf)
                t0.until = time.ticks_add(start, self.cfg["session_cap_s"] * 1000)
                c = Card(t0)
                c.identify()
            except CardRemoved:
                raise
            except Error as e:  # the card's fault, with its code (errors.py); nothing spent
                if e.code == _E_REFUSED:  # not a social security card
                    j.event(_J_CARD_REFUSED, data=bytes((_R_NOT_SSC,)))
                    return self.show(_M_NOT_SSC)
                j.event(_J_PIN_ERROR, data=bytes((_R_CARD_IO, e.code)))
                return self.show(_M_CARD_ERROR)
            try:
                sam.check(c)  # (no I/O: refused, code 9, is all it raises)
            except Error:
                j.event(_J_CARD_REFUSED, c.card_id, bytes((_R_REGION,)))
                return self.show(_M_OTHER_REGION)
            try:
                if window:
                    gc.collect()
                    try:
                        a = __import__("winauth").authorise(self, c, sam)
                    finally:  # its code out before the flow's, and the card's
                        _drop("winauth")  # authentication's (a window boot ends with this
                        _drop("secure")  # card; a settlement after a lost verdict loads it)
                    if not a:
                        return
                    gc.collect()
                    return __import__(name).run(self, c, sam, a)
                flow(self, c, sam)
            except CardRemoved:
                raise
            except Error as e:
                if e.code == _E_PSAM:
                    self.sam = None  # cold-reset it before the next card
                    self.board.psam.deactivate()
                    j.event(_J_PIN_ERROR, c.card_id, bytes((_R_PSAM,)))
                    return self.show(_M_PSAM_ERROR)
                j.event(_J_PIN_ERROR, c.card_id, bytes((_R_CARD_IO, e.code)))
                self.show(_M_CARD_ERROR)
        finally:
            flow = None
            _drop(name)

    def _resolve(self, c, sam, sure=False):
        """The card's tries left: (tries, authentic).  Read authenticated (protocol.md 4)
        when the card offers it, else by the plain no-data VERIFY.  With them a pending
        attempt (a power cut, a pulled card, an answer that settled nothing) is settled and
        a card authentically back at its maximum ends the run held here: only authenticated
        evidence lowers the count (DESIGN 5).  A forged answer (journaled TAMPER) or a card
        that cannot report settles a pending attempt as a failure, then raises.
        With nothing here to lower (no failure, pending attempt or lock for the card) and
        not `sure` (the window's), the plain read comes first: exactly the cards' maximum
        (card_limit, which must be theirs: protocol.md 6) is all (PENDING then records it
        as plain, which a settlement never needs lower: a card back at its maximum proves
        "no try spent" by itself); any other answer is read again, authenticated."""
        import secure
        cid, lim = c.card_id, self.cfg["card_limit"]
        f, p, lk = self.retry.state(cid)
        pending = p is not None
        if not (sure or pending or f or lk):
            try:
                now = c.tries_left() or 0  # (None: 9000, already verified: read again)
                if now == lim:  # (more than the cards' maximum: read again, too)
                    return now, False
            except StatusError:
                pass
        auth = True
        try:
            try:
                now = secure.tries_left(c, sam)
            except secure.Plain:  # not offered (or refused on the wire): the plain read
                auth = False
                now = c.tries_left()
        except SecurityError:
            self.journal.append(_J_TAMPER, cid, bytes((_R_FORGED,)))
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


def crashed(pad, exc):
    """An uncaught exception: journal it (best effort) before the restart."""
    try:
        pad.journal.event(_J_CRASH, data=type(exc).__name__.encode()[:8])
    except Exception:
        pass
