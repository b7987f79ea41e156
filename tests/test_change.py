"""CHANGE PIN at the pad (issue 9, firmware/change.py): the real firmware on the simulator
at 64k (tests/padkit.py). The holder presses the function key (#) at the idle screen,
inserts the card, types the old PIN, then the new one twice. Witnesses: the screens, the
virtual card's state file (its PIN and counter), the pad's journal and its TRACE state
lines. The holder's ID number is the simulated card's default EF06 (padctl.idnumber:
110105199001011232, born 1990-01-01: test material).
"""
import os
import time

import pytest

from mp import HEAP
from padkit import AFTER_INSERT, ENTER, RESULT
from padsim.powercut import ChangeHarness, Violation
from padsim.vcard import card_state
from test_pad_flows import pin_hidden, records
from test_pin_wipe import scan, settle

OLD, NEW, OTHER = "123456", "835027", "246813"
HOLDER = "110105199001011232"
OLD_PROMPT, NEW_PROMPT, AGAIN_PROMPT = "^Enter old PIN$", "^Enter new PIN$", "^New PIN again$"


def start(pad):
    """The function key at the idle screen, then the card: the old PIN is asked."""
    pad.mark()
    pad.press("#")
    assert pad.expect("^Change PIN$") == ("Change PIN", "Please insert card")
    pad.insert()
    assert pad.expect(AFTER_INSERT) == ("Enter old PIN", "")


def change(pad, old, new, again=None):
    """One whole change; the result screen."""
    start(pad)
    pad.press(old + "E")
    pad.expect(NEW_PROMPT)
    pad.press(new + "E")
    pad.expect(AGAIN_PROMPT)
    pad.press((again or new) + "E")
    return pad.expect(RESULT)


def card_pin(pad):
    return card_state(pad.card_path)["pin"]


def test_change_then_the_new_pin_verifies_and_the_old_does_not(make_pad):
    pad = make_pad()
    start(pad)
    at = pad.at
    pad.press(OLD)
    assert pad.expect(r"^\*{6}$") == ("Enter old PIN", "******")
    pad.press("E")
    assert pad.expect(NEW_PROMPT) == ("Enter new PIN", "")
    pad.press(NEW + "E")
    assert pad.expect(AGAIN_PROMPT) == ("New PIN again", "")
    pad.press(NEW + "E")
    assert pad.expect("^Checking PIN$")
    assert pad.expect(RESULT) == ("PIN changed", "Please remove card")
    assert pin_hidden(pad.ui.screens[at:], OLD) and pin_hidden(pad.ui.screens[at:], NEW)
    assert not any(NEW in l1 + l2 or OLD in l1 + l2 for l1, l2 in pad.ui.screens[at:])
    assert card_pin(pad) == NEW
    st = card_state(pad.card_path)
    assert st["counts"]["change"] == 1 and pad.card_fails() == 0
    # the old PIN's check is an attempt like a VERIFY's: PENDING before, PIN_OK after,
    # then CHANGE (no data)
    assert [(k, d) for k, c, d in pad.journal() if c == pad.card_id.lower()] == [
        ("PENDING", "030300"), ("PIN_OK", ""), ("CHANGE", "")]
    assert pad.wait_state("out", 1) == (0, None, False)
    assert pad.vcard.got(0x84, 0x5E)
    cmd = [a for a in pad.vcard.apdus if a[:4] == b"\x84\x5e\x01\x00"]
    assert len(cmd) == 1 and cmd[0][4] == 2 * 16 + 4  # E_old E_new M (SM4 blocks)
    pad.pull()
    # the new PIN verifies, the old one does not
    assert pad.attempt(NEW) == ("PIN OK", "Please remove card")
    assert pad.attempt(OLD) == ("Wrong PIN", "Tries left: 2")
    assert pad.card_fails() == 1
    pad.assert_no_crash()


def test_chinese_screens(make_pad):
    pad = make_pad(lang="zh")
    pad.mark()
    pad.press("#")
    assert pad.expect("^修改密码$") == ("修改密码", "请插入社保卡")
    pad.insert()
    assert pad.expect("^请输入原密码$") == ("请输入原密码", "")
    pad.press(OLD + "E")
    pad.expect("^请输入新密码$")
    pad.press("111111E")
    assert pad.expect("^密码过于简单$") == ("密码过于简单", "不能全部为相同数字")
    pad.press(NEW + "E")
    pad.expect("^请再次输入新密码$")
    pad.press(OTHER + "E")
    assert pad.expect("^两次输入的密码不同$") == ("两次输入的密码不同", "请重新输入新密码")
    pad.press(NEW + "E")
    pad.expect("^请再次输入新密码$")
    pad.press(NEW + "E")
    assert pad.expect("^密码修改成功$") == ("密码修改成功", "请取卡")
    shown = "".join(l1 + l2 for l1, l2 in pad.ui.screens)
    assert not any("a" <= ch.lower() <= "z" for ch in shown), "English on a Chinese pad"
    assert card_pin(pad) == NEW
    pad.pull()
    pad.assert_no_crash()


def test_a_mismatch_asks_again(make_pad):
    pad = make_pad()
    start(pad)
    pad.press(OLD + "E")
    pad.expect(NEW_PROMPT)
    pad.press(NEW + "E")
    pad.expect(AGAIN_PROMPT)
    pad.press(OTHER + "E")
    assert pad.expect("^PINs differ$") == ("PINs differ", "Enter the new PIN again")
    assert not pad.vcard.got(0x84, 0x5E), "a mismatch reached the card"
    pad.press("2")  # the first digit: the prompt is back
    assert pad.expect(NEW_PROMPT) == ("Enter new PIN", "*")
    pad.press("C" + OTHER + "E")
    pad.expect(AGAIN_PROMPT)
    pad.press(OTHER + "E")
    assert pad.expect(RESULT) == ("PIN changed", "Please remove card")
    assert card_pin(pad) == OTHER
    assert pad.kinds(pad.card_id) == ["PENDING", "PIN_OK", "CHANGE"]
    pad.pull()
    pad.assert_no_crash()


WEAK = [  # (new PIN, the reason on the screen), for the holder 110105199001011232
    ("777777", "One digit repeated"),
    ("345678", "Digits in a row"),
    ("876543", "Digits in a row"),
    ("474747", "Repeated digits"),
    ("259259", "Repeated digits"),
    ("900101", "It is your birth date"),  # YYMMDD
    ("010190", "It is your birth date"),  # MMDDYY
    ("011232", "End of your ID number"),
]


def test_each_weak_rule_is_refused_with_its_reason(make_pad):
    pad = make_pad()
    assert card_state(pad.card_path)["holder_id"] == HOLDER
    start(pad)
    pad.press(OLD + "E")
    pad.expect(NEW_PROMPT)
    for pin, why in WEAK:
        pad.press(pin + "E")
        assert pad.expect("^PIN too weak$") == ("PIN too weak", why), pin
    assert not pad.seen(AGAIN_PROMPT, 0), "a weak PIN was asked again"
    # 112233 and 123457 pass the rules (pairs of equal digits; one step off a run)
    pad.press("112233E")
    pad.expect(AGAIN_PROMPT)
    pad.press("112233E")
    assert pad.expect(RESULT) == ("PIN changed", "Please remove card")
    assert card_pin(pad) == "112233"
    assert pad.kinds(pad.card_id) == ["PENDING", "PIN_OK", "CHANGE"]
    pad.pull()
    assert change(pad, "112233", "123457") == ("PIN changed", "Please remove card")
    assert card_pin(pad) == "123457"
    pad.pull()
    pad.assert_no_crash()


def test_a_wrong_old_pin_counts_and_three_lock(make_pad):
    pad = make_pad()
    for n in (1, 2):
        assert change(pad, "999999", NEW) == ("Wrong PIN", "Tries left: %d" % (3 - n))
        assert pad.card_fails() == n
        assert pad.wait_state("out", n) == (n, None, False)
        pad.pull()
    assert card_pin(pad) == OLD
    # a VERIFY's failure and a change's count in the same run
    assert pad.attempt("999998") == ("Card locked", "Unlock at your dept window with ID")
    assert pad.card_fails() == 3
    assert records(pad, "LOCK", pad.card_id) == ["0103"]
    # a change on the locked card is refused before any PIN is asked, nothing spent
    pad.mark()
    pad.press("#")
    pad.expect("^Change PIN$")
    pad.insert()
    assert pad.expect(AFTER_INSERT) == ("Card locked", "Unlock at your dept window with ID")
    assert not pad.vcard.got(0x84, 0x5E)
    pad.pull()
    assert pad.kinds(pad.card_id) == ["PENDING", "PIN_WRONG"] * 3 + ["LOCK"]
    pad.assert_no_crash()


def test_a_wrong_old_pin_then_a_right_one_ends_the_run(make_pad):
    pad = make_pad()
    assert change(pad, "999999", NEW) == ("Wrong PIN", "Tries left: 2")
    pad.pull()
    assert change(pad, OLD, NEW) == ("PIN changed", "Please remove card")
    assert pad.wait_state("out", 2) == (0, None, False)
    assert pad.card_fails() == 0 and card_pin(pad) == NEW
    pad.pull()
    pad.assert_no_crash()


def test_cancel_at_each_step_spends_nothing(make_pad):
    pad = make_pad()
    for keys, prompt in (("", OLD_PROMPT), (OLD + "E", NEW_PROMPT),
                         (OLD + "E" + NEW + "E", AGAIN_PROMPT)):
        start(pad)
        if keys:
            pad.press(keys)
            pad.expect(prompt)
        pad.press("12X")
        assert pad.expect(RESULT) == ("Cancelled", "Please remove card")
        pad.pull()
    assert not pad.vcard.got(0x84, 0x5E)
    assert "PENDING" not in pad.kinds() and card_pin(pad) == OLD and pad.card_fails() == 0
    pad.assert_no_crash()


def test_cancel_at_the_change_prompt_and_its_time_out(make_pad):
    pad = make_pad(pin_timeout_s=1)
    pad.mark()
    pad.press("#")
    pad.expect("^Change PIN$")
    pad.press("X")
    pad.expect(pad.idle)
    assert pad.attempt(OLD) == ("PIN OK", "Please remove card")  # a VERIFY again
    pad.mark()
    pad.press("#")
    pad.expect("^Change PIN$")
    pad.expect(pad.idle, timeout=3)  # no card within pin_timeout_s: back to idle
    pad.insert()
    assert pad.expect(AFTER_INSERT) == ("Enter PIN", "")
    pad.press("X")
    pad.expect(RESULT)
    pad.pull()
    pad.assert_no_crash()


def test_the_new_pin_entry_times_out(make_pad):
    pad = make_pad(pin_timeout_s=1)
    start(pad)
    pad.press(OLD + "E")
    pad.expect(NEW_PROMPT)
    pad.press(NEW + "E")
    pad.expect(AGAIN_PROMPT)
    assert pad.expect(RESULT, timeout=4) == ("Timed out", "Please remove card")
    assert not pad.vcard.got(0x84, 0x5E) and card_pin(pad) == OLD
    assert "PENDING" not in pad.kinds()
    pad.pull()
    pad.assert_no_crash()


def test_card_pulled_mid_change_is_settled_at_the_next_insertion(make_pad):
    """Pulled right after the CHANGE PIN went out (the card spent the try): the PENDING
    record holds it; the next insertion settles it with the card."""
    pad = make_pad()
    hook = pad.card_slot.on_byte = PullInChange(pad)
    assert change(pad, "999999", NEW)[0] in ("Card removed", "Card error")
    assert hook.fired
    pad.card_slot.on_byte = None
    pad.expect(pad.idle)
    assert pad.card_fails() == 1
    pad.insert()
    pad.expect(ENTER)
    assert pad.wait_state("post", 2) == (1, None, False)
    pad.press("X")
    pad.expect(RESULT)
    pad.pull()
    assert pad.kinds(pad.card_id)[:2] == ["PENDING", "POWER_RECOVERY"]
    pad.assert_no_crash()


class PullInChange:
    """Card slot hook: pulls the card at its first answer byte after the CHANGE PIN
    header (84 5E 01 00) came in: it has counted the attempt by then."""

    def __init__(self, pad):
        self.pad = pad
        self.window = b""
        self.armed = False
        self.fired = False

    def __call__(self, direction, index, byte):
        if self.fired:
            return False
        if direction == "rx":
            self.window = (self.window + bytes((byte,)))[-4:]
            if self.window == b"\x84\x5e\x01\x00":
                self.armed = True
            return False
        if self.armed and self.pad.card_fails() == 1:
            self.fired = True
            self.pad.card_slot.pull()
            return True
        return False


# The change flow's heap at 64k (TRACE mem lines: bytes in use after a gc.collect): at its
# start (pre: change.py and weakpin.py loaded, the card read), after the outcome (out:
# weakpin dropped, the command's buffers). Measured 59,680 and 59,584 at first (the
# VERIFY's session: 58,080-58,304); with the private kinds and messages 58,080-58,496 and
# 58,272 (the VERIFY's: 56,832-57,024); ProtocolError a coded fault since: every boot
# 352 bytes lower (tests/test_pad_flows.py); with the plain tries read first and the PSAM's
# part of INTERNAL AUTHENTICATE at the card's pauses (genuine.py) 58,464 and 58,400.
CHANGE_BUDGET = 59000


def test_heap_of_the_change_flow(make_pad):
    pad = make_pad()
    assert change(pad, OLD, NEW) == ("PIN changed", "Please remove card")
    pad.pull()
    mem = {f[0]: int(f[1]) for k, f in pad.trace() if k == "mem"}
    print("change flow heap: %r" % mem)
    assert {"pre", "out"} <= set(mem), mem
    assert max(mem["pre"], mem["out"]) <= CHANGE_BUDGET, mem
    pad.assert_no_crash()


@pytest.mark.parametrize("ta1", [None, 0x18])
def test_boot_verify_and_change_fit_with_768_bytes_less(make_pad, ta1):
    """The heap's margin: boot, a VERIFY and a CHANGE at 64,768 bytes (768 less than the
    pad's 64k), with card and PSAM without a TA1 and with TA1 18 (PPS: atr.py and
    pps.py loaded together). At the PPS merge both failed there (MemoryError in the ATR's
    code); after its fix the lowest heaps were 64,000 / 64,256 (256-byte steps); the
    window merge took about 700 bytes (lowest 64,768-65,280: this ran at 65,280); the
    journal kinds and message numbers as private consts (tests/test_names.py) gave 1.3 KB
    back: lowest 63,488-64,512 by the pad folder's length and the random ids (what fails
    first: change.py's 914-byte bytecode, once the flows' room is not taken back after the
    VERIFY). At 63k (64,512, the top of that spread) it failed 1 run in 3: so 64,768."""
    pad = make_pad(heap="64768", ta1=ta1) if ta1 else make_pad(heap="64768")
    pad.insert()
    assert pad.expect(AFTER_INSERT) == ("Enter PIN", "")
    pad.press("X")
    pad.expect(RESULT)
    pad.pull()
    assert change(pad, OLD, NEW) == ("PIN changed", "Please remove card")
    pad.pull()
    if ta1:
        assert pad.card_slot.pps_requests and pad.card_slot.rate == (372, 12)
    pad.assert_no_crash()


# --- the PINs do not linger (as tests/test_pin_wipe.py for the VERIFY) ----------------------

WIPE_OLD, WIPE_NEW = "739148", "604183"  # unusual PINs, searched for in the pad's memory


def _wipe_right(pad):
    pad.press(WIPE_OLD + "E")
    pad.expect(NEW_PROMPT)
    pad.press(WIPE_NEW + "E")
    pad.expect(AGAIN_PROMPT)
    pad.press(WIPE_NEW + "E")
    return "PIN changed"


def _wipe_wrong_old(pad):
    pad.press("582607E")
    pad.expect(NEW_PROMPT)
    pad.press(WIPE_NEW + "E")
    pad.expect(AGAIN_PROMPT)
    pad.press(WIPE_NEW + "E")
    return "Wrong PIN"


def _wipe_cancel_again(pad):
    pad.press(WIPE_OLD + "E")  # the old PIN's block is built by now
    pad.expect(NEW_PROMPT)
    pad.press(WIPE_NEW + "E")
    pad.expect(AGAIN_PROMPT)
    pad.press(WIPE_NEW[:4])
    pad.expect(r"^\*{4}$")
    time.sleep(0.3)
    assert scan(pad, WIPE_NEW)["digits"] >= 1, "the scan does not see the new PIN"
    pad.press("X")
    return "Cancelled"


def _wipe_cancel_new(pad):
    pad.press(WIPE_OLD + "E")
    pad.expect(NEW_PROMPT)
    pad.press("777777E")  # a weak one first
    pad.expect("^PIN too weak$")
    pad.press(WIPE_NEW + "X")
    return "Cancelled"


def _wipe_timeout_again(pad):
    pad.press(WIPE_OLD + "E")
    pad.expect(NEW_PROMPT)
    pad.press(WIPE_NEW + "E")
    pad.expect(AGAIN_PROMPT)
    pad.press(WIPE_NEW)
    return "Timed out"


WIPE_PATHS = {
    "right": (_wipe_right, {}),
    "wrong-old": (_wipe_wrong_old, {}),
    "cancel-again": (_wipe_cancel_again, {}),
    "cancel-new": (_wipe_cancel_new, {}),
    "timeout-again": (_wipe_timeout_again, {"pin_timeout_s": 1}),
    "3des-right": (_wipe_right, {"suite": "3DES"}),
}


@pytest.mark.parametrize("name", list(WIPE_PATHS))
def test_no_pin_left_after_a_change(make_pad, name):
    play, kw = WIPE_PATHS[name]
    pad = make_pad(pin=WIPE_OLD, **kw)
    start(pad)
    result = play(pad)
    assert settle(pad, timeout=6)[0] == result
    found = {}
    for pin in (WIPE_OLD, WIPE_NEW):
        found["result " + pin] = scan(pad, pin)
    pad.pull()
    time.sleep(0.8)
    for pin in (WIPE_OLD, WIPE_NEW):
        found["idle " + pin] = scan(pad, pin)
    print("PINWIPE change %s %r" % (name, found))
    assert pad.alive()
    assert not any(n for hits in found.values() for n in hits.values()), \
        "PIN material left in the pad after %s: %r" % (name, found)


# --- power cuts --------------------------------------------------------------------------

CUTS = int(os.getenv("PAD_CHANGE_CUTS", "150"))


def test_power_cuts_during_changes_keep_the_invariant(tmp_path):
    """Random cuts (flash operations whole or torn, bytes on the card and PSAM wires) in
    PIN changes: after each, the pad's record covers the card's count, and pad and card
    agree once the card is inserted again (padsim.powercut.ChangeHarness)."""
    h = ChangeHarness(tmp_path, heap=HEAP, seed=int(os.getenv("PAD_SOAK_SEED", "11")))
    try:
        h.run(CUTS)
        print("power cuts in changes: " + h.tally())
    finally:
        h.close()
    assert h.cuts >= CUTS
    assert {k[0] for k in h.hits} == {"flash", "card", "psam"}, h.hits
    assert h.checked >= CUTS // 3


def test_change_harness_catches_a_missing_write_before_the_command(tmp_path):
    """With the test switch that removes the durable PENDING, a cut while the card answers
    the CHANGE PIN leaves the card with a failure the pad never recorded."""
    h = ChangeHarness(tmp_path, heap=HEAP, seed=3, skip_pending=True)
    try:
        with pytest.raises(Violation, match="invariant broken"):
            for cut in h.change_answer_points():
                h.round(cut, "000000")
                h.round(None, "000000")
    finally:
        h.close()


def test_same_change_cuts_pass_with_the_write(tmp_path):
    h = ChangeHarness(tmp_path, heap=HEAP, seed=3)
    try:
        for cut in h.change_answer_points():
            h.round(cut, "000000")
            h.round(None, "000000")
            h._refresh_card()
        assert h.cuts >= 10
    finally:
        h.close()
