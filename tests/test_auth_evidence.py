"""Only authenticated evidence lowers the pad's count (DESIGN 5; protocol.md 4, 6, 8.6).

The real firmware on the simulator (tests/padkit.py) against the virtual card, with a
device on the card wire (``Shim``) that rewrites the card's answers the way an attacker
between pad and card could: plain status words for the secure VERIFY, a flipped answer
MAC, a refused authenticated tries-left read (the card then looks like a legacy one), a
plain tries-left that claims nothing was spent. Whatever it does, the failures the pad
records are at least the card's; and a card whose authenticated tries are back at the
maximum ends the pad's run for it, a plain maximum does not. Keys: TEST MATERIAL.
"""
import pytest

from padkit import AFTER_INSERT, ENTER, RESULT, PadSim, RecordingCard
from padsim.vcard import card_state, write_state

WRONG, RIGHT = "999999", "123456"
# POWER_RECOVERY outcomes (protocol.md 8.3)
FAILED, NOT_DELIVERED, SUCCEEDED, UNKNOWN = 1, 2, 3, 4


@pytest.fixture
def pad(tmp_path):
    p = PadSim(tmp_path / "pad")
    yield p
    p.close()


def is_verify(apdu):
    """The secure VERIFY with a PIN block (Lc above 04)."""
    return apdu[:2] == b"\x04\x20" and len(apdu) > 5 and apdu[4] > 4


def is_auth_read(apdu):
    """The authenticated tries-left read, 04 20 00 00 04 M."""
    return apdu[:2] == b"\x04\x20" and len(apdu) > 5 and apdu[4] == 4


class Shim:
    """A device on the card wire in front of a RecordingCard. Every command reaches the
    card (so it spends what it spends) unless `withhold` (the secure VERIFY is kept from
    it); the answers are rewritten: verify: the answer to the secure VERIFY (a plain SW as
    bytes, or "flip": M' with a bit flipped); read: the answer to the authenticated
    tries-left read (a plain SW, or "flip"); plain: the answer to the plain no-data
    VERIFY. The attributes may be changed while the card is in."""

    def __init__(self, card, verify=None, read=None, plain=None, withhold=False):
        self.card, self.verify, self.read, self.plain = card, verify, read, plain
        self.withhold = withhold

    def __getattr__(self, name):  # atr, and anything else the slot asks the card
        return getattr(self.card, name)

    def reset(self):
        self.card.reset()

    def process(self, apdu):
        apdu = bytes(apdu)
        r = b"\x69\x84" if self.withhold and is_verify(apdu) else bytes(self.card.process(apdu))
        edit = (self.verify if is_verify(apdu) else self.read if is_auth_read(apdu)
                else self.plain if apdu[:4] == b"\x00\x20\x00\x00" else None)
        if edit == "flip" and len(r) == 12:
            r = r[:9] + bytes((r[9] ^ 1,)) + r[10:]
        elif isinstance(edit, bytes):
            r = edit
        return r


def insert_shim(pad, **edits):
    pad.vcard = RecordingCard(pad.card_path)
    shim = Shim(pad.vcard, **edits)
    pad.insert(processor=shim)
    return shim


def records(pad, kind):
    cid = pad.card_id.lower()
    return [d for k, c, d in pad.journal() if k == kind and c == cid]


def wrong_pin_through(pad, **edits):
    """One wrong PIN with the shim on the wire; returns the result screen."""
    insert_shim(pad, **edits)
    assert pad.expect(AFTER_INSERT) == ("Enter PIN", "")
    pad.press(WRONG + "E")
    screen = pad.expect(RESULT)
    pad.pull()
    return screen


def post_state(pad, n):
    return pad.wait_state("post", n)


# --- a plain refusal of the secure VERIFY ---------------------------------------------

@pytest.mark.parametrize("sw", ["6984", "6988"])
def test_plain_refusal_after_the_card_spent_keeps_the_attempt_counted(pad, sw):
    # the card spends a try on the wrong PIN; the shim answers a plain 6984 / 6988 ("refused
    # before spending"): the authenticated read settles it as delivered and failed
    screen = wrong_pin_through(pad, verify=bytes.fromhex(sw))
    assert screen[0] == "Card error"
    assert pad.card_fails() == 1
    assert "NOT_DELIVERED" not in pad.kinds(pad.card_id)
    assert records(pad, "PIN_ERROR") == [sw.lower()]  # the plain word, kept as evidence only
    (rec,) = records(pad, "POWER_RECOVERY")
    assert bytes.fromhex(rec) == bytes((FAILED, 2, 1))
    # pad and card in step: the next wrong PIN is the second failure on both
    pad.insert()
    assert pad.wait_state("post", 2) == (1, None, False)
    pad.expect(ENTER)
    pad.press(WRONG + "E")
    assert pad.expect(RESULT) == ("Wrong PIN", "Tries left: 1")
    pad.pull()
    assert pad.card_fails() == 2
    pad.assert_no_crash()


def test_plain_refusal_and_plain_reads_still_count_the_attempt(pad):
    # the shim also refuses the authenticated read (the card looks legacy) and answers the
    # plain read with 63C3, "nothing spent": only plain words, so the attempt counts
    shim = dict(verify=bytes.fromhex("6984"), read=bytes.fromhex("6700"),
                plain=bytes.fromhex("63C3"))
    assert wrong_pin_through(pad, **shim)[0] == "Card error"
    assert pad.card_fails() == 1
    (rec,) = records(pad, "POWER_RECOVERY")
    assert bytes.fromhex(rec)[0] == UNKNOWN and bytes.fromhex(rec)[2] == 1
    assert pad.wait_state("pre", 1) == (0, None, False)
    insert_shim(pad, **shim)
    assert pad.expect(AFTER_INSERT) == ("Enter PIN", "")
    assert pad.wait_state("post", 2) == (1, None, False)  # a plain 63C3 ends nothing
    pad.pull()
    pad.assert_no_crash()


# --- a forged answer MAC ----------------------------------------------------------------

@pytest.mark.parametrize("read", ["authentic", "legacy", "forged"])
def test_forged_answer_mac_never_lowers_the_count(pad, read):
    # the card spends a try; the shim flips the answer's MAC and says "3 tries" in plain.
    # authentic: the read goes through and settles it (delivered, failed); legacy: the read
    # is refused in plain; forged: the read's MAC is flipped too. Either way: counted.
    edits = {"authentic": {}, "legacy": dict(read=bytes.fromhex("6700")),
             "forged": dict(read="flip")}[read]
    # the shim stays out of the first read (the baseline) in the forged case: then it
    # would refuse the card before the PIN
    shim = insert_shim(pad, verify="flip", plain=bytes.fromhex("63C3"),
                       **({} if read == "forged" else edits))
    assert pad.expect(AFTER_INSERT) == ("Enter PIN", "")
    if read == "forged":
        shim.read = "flip"  # from now on the reads are forged too
    pad.press(WRONG + "E")
    assert pad.expect(RESULT)[0] == "Card error"
    pad.pull()
    assert pad.card_fails() == 1
    assert "NOT_DELIVERED" not in pad.kinds(pad.card_id)
    (rec,) = records(pad, "POWER_RECOVERY")
    assert bytes.fromhex(rec)[0] == (FAILED if read == "authentic" else UNKNOWN)
    assert bytes.fromhex(rec)[2] == 1
    assert len(records(pad, "TAMPER")) == (2 if read == "forged" else 1)
    pad.insert()  # the genuine wire: pad and card agree
    assert pad.expect(AFTER_INSERT) == ("Enter PIN", "")
    assert pad.wait_state("post", 2) == (1, None, False)
    pad.pull()
    pad.assert_no_crash()


# --- back at the maximum ----------------------------------------------------------------

def _two_failures_then_success_elsewhere(pad):
    assert pad.attempt(WRONG) == ("Wrong PIN", "Tries left: 2")
    assert pad.attempt(WRONG) == ("Wrong PIN", "Tries left: 1")
    st = card_state(pad.card_path)
    st["tries"] = st["limit"]  # the right PIN at another pad
    write_state(pad.card_path, st)


def test_authenticated_maximum_ends_the_run(pad):
    _two_failures_then_success_elsewhere(pad)
    pad.insert()
    assert pad.expect(AFTER_INSERT) == ("Enter PIN", "")
    assert pad.wait_state("pre", 3) == (2, None, False)
    assert pad.wait_state("post", 3) == (0, None, False)
    assert records(pad, "SNAPSHOT") == ["00ff0002"]  # flags bit 1: the card's run ended
    pad.press(WRONG + "E")
    assert pad.expect(RESULT) == ("Wrong PIN", "Tries left: 2")  # one failure, not three
    pad.pull()
    assert pad.wait_state("out", 3) == (1, None, False)
    pad.assert_no_crash()


def test_plain_maximum_does_not_end_the_run(pad):
    _two_failures_then_success_elsewhere(pad)
    insert_shim(pad, read=bytes.fromhex("6700"))  # the read refused: only the plain 63C3
    assert pad.expect(AFTER_INSERT) == ("Enter PIN", "")
    assert pad.wait_state("post", 3) == (2, None, False)
    assert records(pad, "SNAPSHOT") == []
    pad.pull()
    pad.assert_no_crash()


# --- the plain read first, where nothing could be lowered ---------------------------------

def test_a_card_at_its_maximum_with_nothing_here_is_read_plainly(pad):
    # no failure, pending attempt or lock here: the plain 63C3 is all; the PSAM is not
    # asked for the read (no MAC key of a tries-read challenge), PENDING's flag 00
    assert pad.attempt(WRONG) == ("Wrong PIN", "Tries left: 2")
    first = pad.vcard.apdus
    assert any(a[:4] == b"\x00\x20\x00\x00" and len(a) == 4 for a in first)
    assert not any(is_auth_read(a) for a in first)
    # the next insertion: a failure recorded here, so the read is authenticated (flag 01)
    assert pad.attempt(RIGHT) == ("PIN OK", "Please remove card")
    assert any(is_auth_read(a) for a in pad.vcard.apdus)
    assert records(pad, "PENDING") == ["030300", "020301"]
    pad.assert_no_crash()


@pytest.mark.parametrize("plain", ["63C1", "63C5", "6983", "9000", "6D00"])
def test_a_plain_read_below_the_maximum_is_read_again_authenticated(pad, plain):
    # a shim (or the card) says fewer tries, more than the cards' maximum, blocked,
    # verified or no such command in plain: the pad does not act on it, it reads
    # authenticated and goes by that (3)
    insert_shim(pad, plain=bytes.fromhex(plain))
    assert pad.expect(AFTER_INSERT) == ("Enter PIN", "")
    assert any(is_auth_read(a) for a in pad.vcard.apdus)
    assert pad.wait_state("post", 1) == (0, None, False)
    pad.press(RIGHT + "E")
    assert pad.expect(RESULT) == ("PIN OK", "Please remove card")
    assert records(pad, "PENDING") == ["030301"]
    pad.pull()
    pad.assert_no_crash()


def test_a_plain_maximum_a_shim_claims_only_raises_the_count(pad):
    # the card has 1 try left elsewhere-spent; a shim answers the plain read 63C3: PENDING
    # records 3 (plain); the wrong PIN's authenticated 6983 then counts from 3: the run is
    # 3 failures here (the card's 2 + this one), LOCK: never fewer than the card's
    st = card_state(pad.card_path)
    st["tries"] = 1
    write_state(pad.card_path, st)
    insert_shim(pad, plain=bytes.fromhex("63C3"))
    assert pad.expect(AFTER_INSERT) == ("Enter PIN", "")
    assert not any(is_auth_read(a) for a in pad.vcard.apdus)
    pad.press(WRONG + "E")
    assert pad.expect(RESULT)[0] == "Card locked"
    pad.pull()
    assert records(pad, "PENDING") == ["030300"]
    assert pad.card_tries() == 0
    assert "LOCK" in pad.kinds(pad.card_id)
    pad.assert_no_crash()


# --- a legacy card (no authenticated read) ------------------------------------------------

def test_legacy_card_verifies_with_plain_reads(pad):
    pad.new_card(auth_tries=False)
    assert pad.attempt(WRONG) == ("Wrong PIN", "Tries left: 2")
    assert not any(is_auth_read(a) and r[-2:] != b"\x67\x00"
                   for a, (_, _, r) in zip(pad.vcard.apdus, pad.vcard.log))
    assert pad.attempt(RIGHT) == ("PIN OK", "Please remove card")
    # PENDING: tries, pad limit, 00: the figure was read in plain
    assert records(pad, "PENDING") == ["030300", "020300"]
    assert records(pad, "PIN_WRONG") == ["0201"] and records(pad, "PIN_OK") == [""]
    assert pad.wait_state("out", 2) == (0, None, False)
    pad.assert_no_crash()


def test_legacy_card_pending_attempt_counts_as_failed(pad):
    # a legacy card whose attempt was left pending (a plain 6984 here: the card really
    # refused, nothing spent) cannot prove it: the pad settles it as a failure rather than
    # block the card for ever (DESIGN 5: a card that cannot report counts it as a failure)
    pad.new_card(auth_tries=False)
    insert_shim(pad, withhold=True)  # the VERIFY never reaches the card: plain 6984
    assert pad.expect(AFTER_INSERT) == ("Enter PIN", "")
    pad.press(WRONG + "E")
    assert pad.expect(RESULT)[0] == "Card error"
    pad.pull()
    assert pad.card_fails() == 0
    (rec,) = records(pad, "POWER_RECOVERY")
    assert bytes.fromhex(rec) == bytes((UNKNOWN, 3, 1))
    pad.insert()
    assert pad.expect(AFTER_INSERT) == ("Enter PIN", "")
    assert pad.wait_state("post", 2) == (1, None, False)
    pad.pull()
    pad.assert_no_crash()

