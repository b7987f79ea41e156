# Unit tests of firmware/secure.py's genuine() (genuine.py) under the unix-port
# micropython: INTERNAL AUTHENTICATE on two scripted wires (fakeslot), the PSAM's commands
# run at the card's pauses (genuine._Pauses), and what each error leaves behind on either
# wire.
import mptest
from mptest import eq, raises, true

import psam
import secure
from card import Card
from errors import CardRemoved, Error, SecurityError, StatusError, Timeout
from fakeslot import D, FakeSlot, R, X, h
from iso7816.t0 import T0

ANSWER = bytes(range(0xA0, 0xB0))  # the 16-byte cryptogram both give (SM4)
ORDER = []  # (wire, bytes) as the pad wrote them, both wires


class Logged(FakeSlot):
    def __init__(self, name, script):
        FakeSlot.__init__(self, script, strict=False)
        self.name = name

    def write(self, buf):
        ORDER.append((self.name, bytes(buf)))
        FakeSlot.write(self, buf)


class Sam(psam.Psam):
    def __init__(self, t0):  # (no SELECT, no reads: the issuer info given)
        self.t0 = t0
        self.info = h("11 01 00 02 01 01 01 01")


def card_script(answer=ANSWER, sw="90 00"):
    # IA: ACK, (X), 61 10; GET RESPONSE: ACK, the answer, SW
    return [R("88"), R("61 10"), R("C0"), R(answer), R(sw)]


def psam_script(answer=ANSWER, init_sw="90 00"):
    # INIT: ACK, (factors), a while computing, SW; CIPHER: ACK, (X || ~X), 61 10; GET
    # RESPONSE: ACK, the answer, SW
    return [R("1A"), D(5), R(init_sw), R("FA"), D(5), R("61 10"), R("C0"), R(answer),
            R("90 00")]


def devices(cs, ps):
    ORDER.clear()
    cslot, pslot = Logged("card", cs), Logged("psam", ps)
    card = Card(T0(cslot, 1000))
    card.block, card.kv = 16, b"\x01\x01\x01\x01"
    card.region, card.serial = h("11 01 05"), bytes(8)
    return card, Sam(T0(pslot, 1000)), cslot, pslot


def first(wire, head):
    for i, (w, b) in enumerate(ORDER):
        if w == wire and b[:len(head)] == head:
            return i
    return -1


def test_the_psam_works_at_the_cards_pauses():
    card, sam, cslot, pslot = devices(card_script(), psam_script())
    secure.genuine(card, sam)
    true(cslot.done() and pslot.done(), "both exchanges to their ends")
    # the PSAM's INIT went out once the card had X (it computes), its CIPHER DATA once the
    # card had the GET RESPONSE header (it sends its answer): the card's GET RESPONSE
    # between them (one wire after the other would put the card's whole exchange first)
    init, cipher = first("psam", h("80 1A")), first("psam", h("80 FA"))
    data = first("card", h("00 88"))
    gr = first("card", h("00 C0 00 00 10"))
    true(data < init < gr < cipher, "order %r" % ORDER)
    true(card.t0.slot is cslot)  # the card's own slot again


def test_a_clone_is_refused():
    card, sam, cslot, _ = devices(card_script(bytes(16)), psam_script())
    raises(SecurityError, secure.genuine, card, sam)
    true(card.t0.slot is cslot)  # the card's own slot again


def test_a_card_refusal_is_its_status():
    card, sam, cslot, pslot = devices([R("6A 81")], psam_script())
    try:
        secure.genuine(card, sam)
        raise mptest.Fail("no error")
    except StatusError as e:
        eq(e.sw, 0x6A81)
    eq(pslot.written, 0)  # refused at its header: no pause, the PSAM not asked
    true(card.t0.slot is cslot)  # the card's own slot again


def test_a_card_pulled_mid_exchange_leaves_the_psam_wire_clean():
    card, sam, cslot, pslot = devices([R("88"), X], psam_script())
    raises(CardRemoved, secure.genuine, card, sam)
    true(card.t0.slot is cslot)  # the card's own slot again
    # the PSAM's INIT ran whole at the card's pause: its next command is served
    eq(sam.cipher(0, bytes(16), 16), ANSWER)
    true(pslot.done())


def psam_fault_raised(cs):
    """The PSAM refuses its INIT (6A88) while the card follows script cs: the PSAM's fault
    (PsamError) is what genuine() raises, and the card's own slot is back."""
    card, sam, cslot, _ = devices(cs, psam_script(init_sw="6A 88"))
    try:
        secure.genuine(card, sam)
        raise mptest.Fail("no error")
    except Error as e:
        eq(mptest.kind(e), "PsamError")
    true(card.t0.slot is cslot)  # the card's own slot again


def test_a_psam_error_is_the_psams():
    psam_fault_raised(card_script())


def test_a_psam_fault_comes_first_when_the_card_fails_too():
    # the PSAM refuses its INIT at the card's first pause, then the card is pulled: the
    # PSAM's fault is the one raised (its code makes the app reset it before the next card)
    psam_fault_raised([R("88"), X])


def test_a_silent_card_times_out_and_the_psam_serves_on():
    card, sam, cslot, pslot = devices([R("88")], psam_script())  # then nothing
    raises(Timeout, secure.genuine, card, sam)
    true(card.t0.slot is cslot)  # the card's own slot again
    # the PSAM's wire is between two commands: its next one is served
    eq(sam.cipher(0, bytes(16), 16), ANSWER)
    true(pslot.done())


mptest.main(globals())
