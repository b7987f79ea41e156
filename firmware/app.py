# The pad application: idle, card insertion, the PIN verification flow, the result.
# Built by main.py from the board's peripherals; never touches `machine`.
import gc

from micropython import const

import card as cardmod
import config
import journal as J
import messages as M
import pinblock
import psam as psammod
import secure
from errors import CardRemoved, Error, NoCard, ProtocolError, Refused, SecurityError, StatusError, Timeout
from events import Events
from iso7816 import atr as atrmod
from iso7816.t0 import T0
from pin_entry import Cancelled, TimedOut, enter_pin
import retry as R
from retry import Retry

VERSION = "0.1.0"
_IDLE_POLL_MS = const(300)

# reasons in CARD_REFUSED / PIN_ERROR records (data byte 0)
R_NOT_SSC = const(1)
R_REGION = const(2)
R_NOT_GENUINE = const(3)
R_CARD_IO = const(4)
R_PSAM = const(5)
R_FORGED = const(6)


class Pad:
    def __init__(self, board, link=None):
        self.board = board
        self.cfg, problem = config.load()
        self.tab = M.table(self.cfg["lang"])
        self.journal = J.Journal(board.journal_dev, clock=board.clock)
        self.retry = Retry(self.journal, pad_limit=self.cfg["pad_limit"])
        self.events = Events(board.ui, board.host, link)
        self.sam = None
        self.pin = bytearray(12)
        self.config_problem = problem

    # --- screen -----------------------------------------------------------------
    def show(self, msg, arg=""):
        l1, l2 = M.lines(self.tab, msg, arg)
        self.board.ui.show(l1, l2)

    # --- devices ----------------------------------------------------------------
    def _t0(self, slot):
        a = atrmod.read(slot)
        return T0(slot, a.wwt_ms() * self.board.wwt_scale)

    def _psam(self):
        if self.sam is not None and self.board.psam.present():
            return self.sam
        self.sam = None
        try:
            self.board.psam.activate()
            sam = psammod.Psam(self._t0(self.board.psam))
            sam.open()
        except Error as e:
            self.board.psam.deactivate()
            raise PsamDown(str(e))
        self.sam = sam
        return sam

    # --- main loop --------------------------------------------------------------
    def run(self):
        j = self.journal
        j.append(J.BOOT, data=bytes((len(j.problems),)))
        gc.collect()
        while True:
            self.show(M.IDLE)
            self.events.wait_key(_IDLE_POLL_MS)
            try:
                self.board.card.activate()
            except NoCard:
                continue
            try:
                self.session()
            except CardRemoved:
                self.show(M.CARD_PULLED)
            self.wait_removal()
            gc.collect()

    def wait_removal(self):
        card = self.board.card
        while card.present():
            self.events.wait_key(_IDLE_POLL_MS)
        card.deactivate()

    # --- one card ---------------------------------------------------------------
    def session(self):
        j = self.journal
        self.show(M.READING)
        try:
            sam = self._psam()
        except PsamDown:
            j.append(J.PIN_ERROR, data=bytes((R_PSAM,)))
            self.show(M.PSAM_ERROR)
            return
        try:
            c = cardmod.Card(self._t0(self.board.card))
            c.select()
            ident = c.identity()
        except Refused:
            j.append(J.CARD_REFUSED, data=bytes((R_NOT_SSC,)))
            self.show(M.NOT_SSC)
            return
        except (ProtocolError, StatusError, Timeout):
            self.show(M.CARD_ERROR)
            return
        cid = ident.card_id
        if sam.refusal(ident):
            j.append(J.CARD_REFUSED, cid, bytes((R_REGION,)))
            self.show(M.OTHER_REGION)
            return
        try:
            self._verify(c, sam, ident)
        except (ProtocolError, StatusError, Timeout) as e:
            j.append(J.PIN_ERROR, cid, bytes((R_CARD_IO,)))
            self.show(M.CARD_ERROR)

    def _resolve(self, c, cid):
        """A pending attempt left by a power cut or a pulled card: settle it with the card."""
        st = self.retry.state(cid)
        if st[1] is None:
            return
        try:
            tries = c.tries_left()
        except (ProtocolError, StatusError, Timeout):
            tries = None  # a card that cannot report: the attempt counts as failed
        if tries is None:
            self.retry.resolve(cid, None, self.cfg["card_limit"])
        else:
            self.retry.resolve(cid, tries, self.cfg["card_limit"])

    def _verify(self, c, sam, ident):
        j = self.journal
        cid = ident.card_id
        self._resolve(c, cid)
        try:
            secure.authenticate(c, sam, ident)
        except SecurityError:
            j.append(J.CARD_REFUSED, cid, bytes((R_NOT_GENUINE,)))
            self.show(M.NOT_GENUINE)
            return
        except StatusError as e:
            if e.sw & 0xFF00 == 0x6A00 or e.sw in (0x6985, 0x6D00):
                self.sam = None
                j.append(J.PIN_ERROR, cid, bytes((R_PSAM,)))
                self.show(M.PSAM_ERROR)
                return
            raise
        tries = c.tries_left()
        if tries is None:
            tries = self.cfg["card_limit"]
        fails, pending, locked = self.retry.state(cid)
        if tries == 0 or locked:
            if not locked:
                j.append(J.LOCK, cid, bytes((0,)))  # found locked (elsewhere)
            self.show(M.LOCKED)
            return
        if not j.fits(self.retry.worst_case("verify")):
            j.append(J.FULL, cid)
            self.show(M.LOG_FULL)
            return
        pin = self.pin
        try:
            n = enter_pin(self, pin, self.cfg["pin_timeout_s"] * 1000)
        except Cancelled:
            self.show(M.CANCELLED)
            return
        except TimedOut:
            self.show(M.TIMED_OUT)
            return
        self.show(M.CHECKING)
        block = bytearray(ident.block())
        pinblock.build(pin, n, block)
        pinblock.wipe(pin)
        if not self.board.skip_pending:  # test switch: proves the power-cut test catches it
            self.retry.begin(cid, tries)
        try:
            sw = secure.verify(c, sam, ident, block)
        except secure.NotDelivered:
            self.retry.not_delivered(cid)
            self.show(M.CARD_ERROR)
            return
        except SecurityError:
            j.append(J.TAMPER, cid, bytes((R_FORGED,)))
            self._resolve(c, cid)
            self.show(M.CARD_ERROR)
            return
        finally:
            pinblock.wipe(block)
        self.result(cid, sw)

    def result(self, cid, sw):
        what = self.retry.outcome(cid, sw)
        if sw == 0x9000:
            self.show(M.PIN_OK)
        elif what == R.LOCKED:
            self.show(M.LOCKED)
        else:
            self.show(M.PIN_WRONG, cardmod.tries_from_sw(sw))


class PsamDown(Error):
    pass


def crashed(board, exc):
    """An uncaught exception: journal it (best effort) before the restart."""
    try:
        j = J.Journal(board.journal_dev, clock=board.clock)
        name = type(exc).__name__.encode()[:8]
        j.append(J.CRASH, data=name)
    except Exception:
        pass
