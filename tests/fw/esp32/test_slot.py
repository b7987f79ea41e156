# boards/esp32_pinpad/iso7816uart.py on the fake TDA8035 and UART, the card being the
# virtual card's T=0 character stream (padsim.slot.SlotServer, started by
# tests/test_esp32_board.py: PAD_CARD, PAD_PSAM, and PAD_CARD_ID the card's id): the
# firmware's own ATR parser, T=0 layer, card and PSAM commands run over it.
import os

import mptest
from mptest import eq, raises, true

import pins as P
from card import Card
from errors import CardRemoved, NoCard
from iso7816 import atr
from iso7816.t0 import T0
from iso7816uart import UartSlot
from psam import Psam
from world import Tda8035


def card_slot(spec=None, max_baud=None):
    m = Tda8035(P.CARD_UART, P.CARD_CLK, P.CARD_RST, P.CARD_CMDVCC, P.CARD_OFF,
                spec or os.getenv("PAD_CARD"))
    s = UartSlot("card", P.CARD_UART, P.CARD_TX, P.CARD_RX, P.CARD_CLK, P.CARD_RST,
                 P.CARD_CMDVCC, P.CARD_OFF, P.CLK_HZ)
    if max_baud:
        s.max_baud = max_baud
    return m, s


def t0(slot):
    return T0(slot, atr.read(slot).wwt_ms())


def test_uart_at_the_iso_rate_even_parity_two_stop_bits():
    m, s = card_slot()
    eq(s.baud, 9600)  # 3,571,200 Hz / 372
    u = m.uart
    eq((u.baudrate, u.bits, u.parity, u.stop), (9600, 8, 0, 2))


def test_card_identified_over_the_uart():
    m, s = card_slot()
    s.activate()
    c = Card(t0(s))
    c.identify()
    eq(bytes(c.card_id).hex().upper(), os.getenv("PAD_CARD_ID"))
    # the card got the commands once: the echo of the one I/O line was read back and
    # dropped, never taken for the card's answer
    true(m.sent.startswith(b"\x00\xa4\x04\x00\x06\xd1\x56"), m.sent[:8])  # (DF01 first)
    eq(m.sent.count(b"\x00\xa4"), 1)
    true(s.present(), "present")
    s.deactivate()
    true(not s.present(), "deactivated")


def test_psam_over_its_uart_reseeds_the_drbg():
    # power-up (firmware/pwrup.py): the PSAM activated over its UART, its GET CHALLENGE
    # kept for the DRBG's next refill (the app's idle loop), the PSAM deactivated again
    import cmac
    import pwrup
    m = Tda8035(P.PSAM_UART, P.PSAM_CLK, P.PSAM_RST, P.PSAM_CMDVCC, None, os.getenv("PAD_PSAM"))
    s = UartSlot("PSAM", P.PSAM_UART, P.PSAM_TX, P.PSAM_RX, P.PSAM_CLK, P.PSAM_RST,
                 P.PSAM_CMDVCC, None, P.CLK_HZ)

    class Pad:  # app.Pad's part that pwrup uses
        sam = None
        room = bytearray(1152)  # the flows' room (app._ROOM): lent to the PSAM's ATR

        def _psam(self):
            lent.append(self.room is None)
            s.activate()
            self.sam = Psam(t0(s))
            got.append(self.sam)
            return self.sam

    class Board:
        psam = s

    got = []
    lent = []
    cmac.rand(bytearray(40))  # 8 bytes left in the pool
    k = bytes(cmac.RAND[:64])
    pad = Pad()
    pad.board = Board()
    pwrup.run(pad)
    eq(len(got[0].terminal), 6)
    true(b"\x00\x84\x00\x00\x08" in m.sent, "GET CHALLENGE sent")
    true(cmac.RAND[112:120] != bytearray(8), "the PSAM's challenge waits for the next refill")
    eq(bytes(cmac.RAND[:64]), k)  # not at the PSAM's activation
    true(not s.present() and pad.sam is None, "the PSAM rests until the first card")
    eq(lent, [True])  # the room freed for the PSAM's ATR and PPS code, then taken back
    eq(len(pad.room), 1152)
    cmac.rand(b"", 24)  # the app's idle loop
    true(bytes(cmac.RAND[:64]) != k, "DRBG not reseeded")
    eq(cmac.RAND[121], 48)  # a new pool after the reseed
    eq(cmac.RAND[112:120], bytearray(8))  # the challenge wiped once used


def test_card_pulled_mid_exchange_is_card_removed():
    m, s = card_slot()
    s.activate()
    t = t0(s)
    m.pull()  # OFFN falls: its interrupt marks the card gone
    raises(CardRemoved, t.transmit, b"\x00\xa4\x04\x00\x06\xd1\x56\x00\x00\x05\x90")
    true(not s.present(), "gone")
    raises(NoCard, s.activate)  # the switch says no card: not even powered


def test_tc1_extra_guard_time_between_the_pads_characters():
    m, s = card_slot()
    s.activate()
    t = t0(s)  # the virtual card's ATR has no TC1: the minimum, one write a header
    m.writes = []
    t.transmit(b"\x00\xa4\x04\x00\x06\xd1\x56\x00\x00\x05\x90")
    eq(m.writes[0][1], 5)
    s.guard(20)  # as atr.read does for TC1 = 20: 20 ETU (2,083 us at 9600) more
    m.writes = []
    t.transmit(b"\x00\xa4\x04\x00\x06\xd1\x56\x00\x00\x05\x90")
    eq([n for _, n in m.writes[:5]], [1, 1, 1, 1, 1])
    for i in range(1, 5):
        gap = m.writes[i][0] - m.writes[i - 1][0]
        true(gap >= 20 * 1000000 // 9600, "gap %d us" % gap)
    s.guard(255)  # 255: the minimum again
    m.writes = []
    t.transmit(b"\x00\xa4\x04\x00\x06\xd1\x56\x00\x00\x05\x90")
    eq(m.writes[0][1], 5)


class GuardSlot:
    """A slot that records what atr.read tells it (TC1)."""

    def __init__(self, atr_bytes):
        self.b = atr_bytes
        self.i = 0
        self.tc1 = None

    def read(self, timeout_ms):
        self.i += 1
        return self.b[self.i - 1]

    def guard(self, n):
        self.tc1 = n


def test_atr_passes_tc1_to_a_slot_that_honours_it():
    g = GuardSlot(b"\x3b\x40\x14")  # T0: TC1 follows; TC1 = 20
    atr.read(g)
    eq(g.tc1, 20)
    g = GuardSlot(b"\x3b\x00")  # no TC1: 0, the minimum
    atr.read(g)
    eq(g.tc1, 0)


def test_no_card_answers_is_no_card():
    m, s = card_slot("127.0.0.1:1")  # nothing listens: no ATR
    raises(NoCard, s.activate)


def test_a_wrong_rate_is_garbage_not_a_card():
    m, s = card_slot()
    m.uart.baudrate = 10400  # as if the UART ran off the clock: the card sees garbage
    s.set_rate = lambda f, d, dry=False: True  # (the activation would set 9600 again)
    try:
        s.activate()
        atr.read(s)
        ok = True
    except Exception:
        ok = False
    s.deactivate()
    true(not ok, "an ATR read at the wrong rate")


def identify_at(spec, max_baud=None):
    """A card whose ATR offers a TA1, reset over the fake UART (atr.run: the PPS), then
    identified: the model garbles every byte while the UART's rate is not the card's."""
    m, s = card_slot(spec, max_baud)
    s.activate()
    a = atr.run(s)
    c = Card(T0(s, a.wwt_ms()))
    c.identify()
    eq(bytes(c.card_id).hex().upper(), os.getenv("PAD_CARD_ID"))
    return m, s


def test_pps_at_13_and_18_the_uart_follows():
    m, s = identify_at(os.getenv("PAD_CARD13"))
    eq((s.baud, m.uart.baudrate, m.rates), (38400, 38400, [(372, 4)]))
    m, s = identify_at(os.getenv("PAD_CARD18"))
    eq((s.baud, m.uart.baudrate, m.rates), (115200, 115200, [(372, 12)]))
    s.deactivate()
    s.activate()  # a new activation: the default rate again
    eq((s.baud, m.uart.baudrate), (9600, 9600))


def test_a_rate_the_uart_cannot_make_stays_at_9600():
    m, s = identify_at(os.getenv("PAD_CARD18"), max_baud=57600)
    eq((s.baud, m.rates), (9600, []))
    true(not m.sent.startswith(b"\xff"), "no PPS sent")


mptest.main(globals())
