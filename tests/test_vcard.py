"""The virtual card (protocol.md sections 1 and 4), driven the host way.

The PSAM side of every secured command is computed by the virtual PSAM (INIT FOR
DESCRYPT, CIPHER DATA), the UNBLOCK / RELOAD MACs by the window key service
(padctl.keys), exactly as protocol.md section 6 lays the exchange out. The APDUs go to
the processors directly (case 4 answers come back whole; the T=0 layer is
test_slot.py's business). Keys are generated per test: TEST MATERIAL.
"""
import os

import pytest

from padctl import crypto as C
from padctl import keys as K
from padctl.crypto import Suite
from padsim.vcard import Identity, VirtualCard, card_state, personalise_card
from padsim.vpsam import personalise_psam

H = bytes.fromhex
SUITES = [Suite.SM4, Suite.DES3]
MF = H("00A404000F7378312E73682EC9E7BBE1B1A3D5CF")
DF01 = H("00A4040006D15600000590")


def split(resp):
    return resp[:-2], (resp[-2] << 8) | resp[-1]


class World:
    """A keystore, one card and a pad PSAM of its region, and the pad's steps."""

    def __init__(self, tmp, suite, level=1, region="110105", **card_opts):
        self.tmp = tmp
        self.suite = suite
        self.ks = K.Keystore.generate(tmp / "ks.json")
        self.ident = K.new_identity(suite, region=region)
        self.card_path = tmp / "card.json"
        self.card = personalise_card(self.ks, self.card_path, self.ident, **card_opts)
        self.sam = personalise_psam(self.ks, tmp / "psam.json", suite, region, level)
        self.level = level
        assert self.p(H("00A40000021001")) == (b"", 0x9000)
        self.select()

    # raw access
    def c(self, apdu):
        return split(self.card.process(apdu))

    def p(self, apdu):
        return split(self.sam.process(apdu))

    def select(self):
        assert self.c(MF) == (b"", 0x9000)
        assert self.c(DF01) == (b"", 0x9000)

    @property
    def tries(self):
        return card_state(self.card_path)["tries"]

    # PSAM steps
    def factors(self, r=None):
        f = b"".join(K.region_factors(self.ident.region, self.level)) + self.ident.serial
        return f + (r or b"")

    def init(self, ktype, r=None, version=1):
        f = self.factors(r)
        return self.p(bytes((0x80, 0x1A, (len(f) // 8) << 5 | ktype, version, len(f))) + f)[1]

    def encrypt(self, data):
        out, sw = self.p(bytes((0x80, 0xFA, 0, 0, len(data))) + data)
        assert sw == 0x9000, hex(sw)
        return out

    def psam_mac(self, iv, data):
        out, sw = self.p(bytes((0x80, 0xFA, 5, 0, len(iv) + len(data))) + iv + data)
        assert sw == 0x9000, hex(sw)
        return out

    # card steps
    def challenge(self):
        r, sw = self.c(H("0084000008"))
        assert sw == 0x9000 and len(r) == 8
        return r

    def tries_left(self):
        return self.c(H("00200000"))[1]

    def enc_pin(self, pin, r, block=None):
        assert self.init(1, r) == 0x9000
        return self.encrypt(block if block is not None else C.pin_block(self.suite, pin))

    def secured(self, header, body, r, mac_type=4):
        """``header Lc body M`` with M from the PSAM (type 04) under the session key."""
        assert self.init(mac_type, r) == 0x9000
        iv = C.iv_from_challenge(self.suite, r)
        head = header + bytes((len(body) + 4,))
        m = self.psam_mac(iv, head + body)
        return head + body + m, iv, m

    def check_answer(self, iv, m, ans):
        """The PSAM recomputes M' over M || 99 02 SW (the MAC key is still loaded)."""
        assert len(ans) == 10 and ans[:2] == H("9902") and ans[4:6] == H("8E04"), ans.hex()
        want = self.psam_mac(iv, m + ans[:4])
        assert C.ct_equal(want, ans[6:]), "card answer MAC does not check out"
        return ans[2] << 8 | ans[3]

    def verify_apdu(self, pin, r=None, block=None):
        r = r or self.challenge()
        e = self.enc_pin(pin, r, block)
        apdu, iv, m = self.secured(H("04200000"), e, r)
        return apdu, iv, m

    def verify(self, pin):
        """One full secure VERIFY; returns the authenticated inner SW."""
        apdu, iv, m = self.verify_apdu(pin)
        ans, sw = self.c(apdu)
        assert sw == 0x9000, hex(sw)
        return self.check_answer(iv, m, ans)


@pytest.fixture(params=SUITES, ids=lambda s: s.label)
def w(request, tmp_path):
    return World(tmp_path, request.param)


# --- identification ---------------------------------------------------------------------

def test_read_ef05_t0_style(w):
    assert w.c(H("00B0850000")) == (b"", 0x6C26)  # Le 00: the card names the exact length
    data, sw = w.c(H("00B0850026"))
    assert sw == 0x9000 and len(data) == 38
    ident = Identity.from_ef05(data)
    assert ident == w.ident
    assert data[0:3] == H("110105") and data[3:8] == H("D156000005") and data[8:16] == w.ident.serial
    assert data[25] == int(w.suite) and data[26:30] == bytes((1, 1, 1, 1))
    assert w.c(H("00B0850410")) == (data[4:20], 0x9000)    # offset in P2
    assert w.c(H("00B0852600"))[1] == 0x6B00


def test_read_ef06_holder_id(w):
    assert w.c(H("00B0860012")) == (b"110105199001011232", 0x9000)


def test_reads_need_df01(w):
    w.card.reset()
    assert w.c(H("00B0850026"))[1] == 0x6A82
    w.c(MF)
    assert w.c(H("00B0850026"))[1] == 0x6A82
    assert w.c(H("00A4040006D15600000591"))[1] == 0x6A82
    assert w.c(H("00B0870010"))[1] == 0x6A82


def test_error_status_words(w):
    assert w.c(H("00CA000000"))[1] == 0x6D00
    assert w.c(H("80B0850026"))[1] == 0x6E00
    assert w.c(H("0084000004"))[1] == 0x6C08
    assert w.c(H("00840000"))[1] == 0x6700
    assert w.c(H("0088000004" "01020304"))[1] == 0x6700
    assert w.c(H("00A4"))[1] == 0x6700
    assert w.c(H("0020000003123456"))[1] == 0x6982  # a PIN in clear is refused, not tried
    assert w.tries == 3


# --- internal authentication -------------------------------------------------------------

def test_internal_authenticate_matches_psam(w):
    x = os.urandom(8)
    got, sw = w.c(H("0088000008") + x + b"\x00")  # case 4 with Le
    assert sw == 0x9000 and len(got) == w.suite.block
    assert w.init(2) == 0x9000
    blk = x + C.invert(x) if w.suite is Suite.SM4 else x
    assert w.encrypt(blk) == got


@pytest.mark.parametrize("suite", SUITES, ids=lambda s: s.label)
def test_clone_internal_authenticate_differs(tmp_path, suite):
    w = World(tmp_path, suite)
    clone = personalise_card(w.ks, tmp_path / "clone.json", w.ident, clone=True)
    for a in (MF, DF01):
        clone.process(a)
    assert clone.process(H("00B0850026"))[:-2] == w.c(H("00B0850026"))[0]  # same identity
    x = os.urandom(8)
    got = clone.process(H("0088000008") + x)[:-2]
    assert w.init(2) == 0x9000
    assert w.encrypt(x + C.invert(x) if suite is Suite.SM4 else x) != got
    # and its secure VERIFY is refused on the MAC, nothing spent
    w.card = clone
    w.card_path = tmp_path / "clone.json"
    apdu, _, _ = w.verify_apdu("123456")
    assert w.c(apdu) == (b"", 0x6988)
    assert w.tries == 3


# --- secure VERIFY -------------------------------------------------------------------------

def test_verify_right_pin(w):
    assert w.tries_left() == 0x63C3
    assert w.verify("123456") == 0x9000
    assert w.tries == 3
    assert card_state(w.card_path)["counts"]["verify_ok"] == 1


@pytest.mark.parametrize("suite", SUITES, ids=lambda s: s.label)
@pytest.mark.parametrize("last_sw", [0x6983, 0x63C0])
def test_wrong_pins_lock_the_card(tmp_path, suite, last_sw):
    w = World(tmp_path, suite, last_failure_sw=last_sw)
    assert w.verify("000000") == 0x63C2
    assert w.tries == 2 and w.tries_left() == 0x63C2
    assert w.verify("111111") == 0x63C1
    assert w.tries == 1
    assert w.verify("222222") == last_sw
    assert w.tries == 0
    assert w.tries_left() == 0x6983
    assert w.verify("123456") == 0x6983  # blocked even for the right PIN
    assert w.tries == 0


def test_right_pin_resets_the_run(w):
    assert w.verify("000000") == 0x63C2
    assert w.verify("111111") == 0x63C1
    assert w.verify("123456") == 0x9000
    assert w.tries == 3
    assert w.verify("000000") == 0x63C2


@pytest.mark.parametrize("suite", SUITES, ids=lambda s: s.label)
def test_limit_is_configurable(tmp_path, suite):
    w = World(tmp_path, suite, limit=5)
    assert w.tries_left() == 0x63C5
    assert w.verify("999999") == 0x63C4


def test_pin_lengths(w):
    # PINs of 4 and 12 digits set by CHANGE verify; the previous one no longer does
    assert change(w, "123456", "4321") == 0x9000
    assert w.verify("4321") == 0x9000
    assert change(w, "4321", "123456789012") == 0x9000
    assert w.verify("123456789012") == 0x9000
    assert w.verify("4321") == 0x63C2


def test_malformed_pin_block_counts_as_wrong(w):
    bad = C.pin_block(w.suite, "123456")
    bad = bytes((0x5F,)) + bad[1:]  # control nibble 5: not our format
    apdu, iv, m = w.verify_apdu(None, block=bad)
    ans, sw = w.c(apdu)
    assert sw == 0x9000 and w.check_answer(iv, m, ans) == 0x63C2
    assert w.tries == 2


# --- refusals that spend nothing -----------------------------------------------------------

def test_replayed_verify_refused(w):
    apdu, iv, m = w.verify_apdu("123456")
    assert w.c(apdu)[1] == 0x9000
    assert w.c(apdu) == (b"", 0x6984)
    w.challenge()  # even with a fresh challenge the old MAC is wrong
    assert w.c(apdu) == (b"", 0x6988)
    assert w.tries == 3


def test_replayed_wrong_pin_does_not_spend_twice(w):
    apdu, iv, m = w.verify_apdu("000000")
    assert w.check_answer(iv, m, w.c(apdu)[0]) == 0x63C2
    assert w.c(apdu) == (b"", 0x6984)
    assert w.tries == 2


@pytest.mark.parametrize("bit", [0, 7, "last"])
def test_flipped_mac_bit_refused(w, bit):
    apdu, _, _ = w.verify_apdu("000000")
    i = len(apdu) - 1 if bit == "last" else len(apdu) - 4
    b = 0 if bit == "last" else bit
    bad = bytearray(apdu)
    bad[i] ^= 1 << b
    assert w.c(bytes(bad)) == (b"", 0x6988)
    assert w.tries == 3
    assert w.c(apdu) == (b"", 0x6984)  # the challenge is spent by the refused command


def test_flipped_cryptogram_bit_refused(w):
    apdu, _, _ = w.verify_apdu("000000")
    bad = bytearray(apdu)
    bad[5] ^= 0x80
    assert w.c(bytes(bad)) == (b"", 0x6988)
    assert w.tries == 3


def test_no_challenge_refused(w):
    apdu, _, _ = w.verify_apdu("000000")
    w.card.reset()  # power cycle: the challenge is gone
    w.select()
    assert w.c(apdu) == (b"", 0x6984)
    assert w.tries == 3


def test_stale_challenge_refused(w):
    r1 = w.challenge()
    r2 = w.challenge()  # a newer challenge replaces r1
    assert r1 != r2
    apdu, _, _ = w.verify_apdu("000000", r=r1)
    assert w.c(apdu) == (b"", 0x6988)
    assert w.tries == 3


@pytest.mark.parametrize("between", [H("00B0850026"), H("00200000"), H("00A4040006D15600000590"),
                                     H("00CA000000"), H("0088000008") + bytes(8)])
def test_command_between_challenge_and_verify_refused(w, between):
    r = w.challenge()
    apdu, _, _ = w.verify_apdu("000000", r=r)
    w.c(between)
    assert w.c(apdu) == (b"", 0x6984)
    assert w.tries == 3


def test_wrong_length_refused_without_spending(w):
    apdu, _, _ = w.verify_apdu("000000")
    bad = apdu[:4] + bytes((apdu[4] - 1,)) + apdu[5:-1]
    assert w.c(bad) == (b"", 0x6700)
    assert w.tries == 3


def test_forged_answer_is_detected_by_the_psam(w):
    apdu, iv, m = w.verify_apdu("000000")
    ans, _ = w.c(apdu)
    forged = H("99029000") + ans[4:]
    with pytest.raises(AssertionError, match="does not check out"):
        w.check_answer(iv, m, forged)


def test_counter_is_persisted_before_the_comparison(w, monkeypatch):
    apdu, _, _ = w.verify_apdu("123456")

    def crash(self, pin):
        raise RuntimeError("power cut during the comparison")
    monkeypatch.setattr(VirtualCard, "_matches", crash)
    with pytest.raises(RuntimeError):
        w.card.process(apdu)
    assert w.tries == 2  # the try was spent durably, before the comparison


# --- UNBLOCK, RELOAD, CHANGE -----------------------------------------------------------------

def lock(w):
    for pin in ("000000", "111111", "222222"):
        w.verify(pin)
    assert w.tries == 0


def test_unblock_with_key_service_mac(w):
    lock(w)
    r = w.challenge()
    apdu = K.unblock_apdu(w.ks, w.ident, r)
    ans, sw = w.c(apdu)
    assert sw == 0x9000
    sk = w.ks.session_key(w.ident, 5, r)
    assert K.sm_answer_sw(w.ident, sk, r, apdu[-4:], ans) == 0x9000
    assert w.tries == 3
    assert w.verify("123456") == 0x9000


def test_unblock_with_wrong_mac_refused(w):
    lock(w)
    r = w.challenge()
    # the MAC key (04) is not the unblock key (05): a pad PSAM cannot unblock
    apdu, _, _ = w.secured(H("84240000"), b"", r, mac_type=4)
    assert w.c(apdu) == (b"", 0x6988)
    assert w.tries == 0
    r = w.challenge()
    bad = bytearray(K.unblock_apdu(w.ks, w.ident, r))
    bad[-1] ^= 1
    assert w.c(bytes(bad)) == (b"", 0x6988)
    assert w.tries == 0


def test_reload_sets_new_pin(w):
    lock(w)
    r = w.challenge()
    e_new = w.enc_pin("777777", r)  # the pad's PSAM enciphers the new PIN block
    apdu = K.reload_apdu(w.ks, w.ident, r, e_new)  # the key service MACs it
    ans, sw = w.c(apdu)
    assert sw == 0x9000
    sk = w.ks.session_key(w.ident, 6, r)
    assert K.sm_answer_sw(w.ident, sk, r, apdu[-4:], ans) == 0x9000
    assert card_state(w.card_path)["pin"] == "777777" and w.tries == 3
    assert w.verify("777777") == 0x9000
    assert w.verify("123456") == 0x63C2


def test_reload_with_wrong_mac_refused(w):
    r = w.challenge()
    e_new = w.enc_pin("777777", r)
    apdu, _, _ = w.secured(H("845E0000"), e_new, r, mac_type=4)
    assert w.c(apdu) == (b"", 0x6988)
    assert card_state(w.card_path)["pin"] == "123456"


def test_reload_with_malformed_block_changes_nothing(w):
    w.verify("000000")
    r = w.challenge()
    e_new = w.enc_pin(None, r, block=bytes(w.suite.block))
    apdu = K.reload_apdu(w.ks, w.ident, r, e_new)
    ans, sw = w.c(apdu)
    sk = w.ks.session_key(w.ident, 6, r)
    assert K.sm_answer_sw(w.ident, sk, r, apdu[-4:], ans) == 0x6A80
    st = card_state(w.card_path)
    assert st["pin"] == "123456" and st["tries"] == 2


def change(w, old, new, flip=False):
    r = w.challenge()
    assert w.init(1, r) == 0x9000
    body = w.encrypt(C.pin_block(w.suite, old)) + w.encrypt(C.pin_block(w.suite, new))
    apdu, iv, m = w.secured(H("845E0100"), body, r, mac_type=4)
    if flip:
        apdu = apdu[:-1] + bytes((apdu[-1] ^ 1,))
    ans, sw = w.c(apdu)
    if sw != 0x9000:
        return sw
    return w.check_answer(iv, m, ans)


def test_change_pin(w):
    assert change(w, "123456", "246810") == 0x9000
    assert card_state(w.card_path)["pin"] == "246810"
    assert w.verify("246810") == 0x9000


def test_change_pin_wrong_old_spends_a_try(w):
    assert change(w, "000000", "246810") == 0x63C2
    st = card_state(w.card_path)
    assert st["pin"] == "123456" and st["tries"] == 2


def test_change_pin_wrong_mac_refused(w):
    assert change(w, "123456", "246810", flip=True) == 0x6988
    st = card_state(w.card_path)
    assert st["pin"] == "123456" and st["tries"] == 3


def test_change_pin_blocked(w):
    lock(w)
    assert change(w, "123456", "246810") == 0x6983
    assert card_state(w.card_path)["pin"] == "123456"


# --- persistence ---------------------------------------------------------------------------

def test_state_survives_reopen(w):
    assert w.verify("000000") == 0x63C2
    again = VirtualCard(w.card_path)
    assert again.tries == 2
    w.card = again
    w.select()
    assert w.tries_left() == 0x63C2
    assert w.verify("000000") == 0x63C1
    assert VirtualCard(w.card_path).tries == 1
    assert not list(w.tmp.glob("*.tmp"))  # no temp file left behind


def test_challenge_does_not_survive_reopen(w):
    apdu, _, _ = w.verify_apdu("123456")
    w.card = VirtualCard(w.card_path)
    w.select()
    assert w.c(apdu)[1] == 0x6984


def test_corrupt_state_file_is_a_clear_error(tmp_path):
    p = tmp_path / "card.json"
    p.write_text("{")
    with pytest.raises(ValueError, match="not valid JSON"):
        VirtualCard(p)
    p.write_text('{"format": "padctl-vcard/1", "marker": "TEST MATERIAL - generated, not real keys"}')
    with pytest.raises(ValueError, match="malformed"):
        VirtualCard(p)


def test_secured_commands_check_p1_p2(w):
    r = w.challenge()
    apdu, _, _ = w.verify_apdu("123456", r=r)
    assert w.c(apdu[:2] + b"\x01" + apdu[3:]) == (b"", 0x6A86)
    assert w.c(H("842400010400000000")) == (b"", 0x6A86)
    assert w.c(H("845E0200") + apdu[4:]) == (b"", 0x6A86)
    assert w.c(H("0024000004") + bytes(4)) == (b"", 0x6E00)   # CHANGE needs CLA 84
    assert w.tries == 3


def test_random_apdus_never_crash_or_spend(w):
    import random
    rng = random.Random(1)
    before = card_state(w.card_path)
    for _ in range(3000):
        n = rng.choice([0, 1, 3, 4, 5, 6, 9, 13, 21, 25, 40])
        apdu = bytes(rng.randrange(256) for _ in range(n))
        if rng.random() < 0.5 and n >= 4:  # aim at the real commands
            apdu = bytes((rng.choice([0x00, 0x04, 0x84, 0x80]), rng.choice([0x20, 0x24, 0x5E, 0x84,
                          0x88, 0xB0, 0xA4]))) + apdu[2:]
        resp = w.card.process(apdu)
        assert len(resp) >= 2
    after = card_state(w.card_path)
    assert after["tries"] == before["tries"] and after["pin"] == before["pin"]


# --- the authenticated tries-left read (04 20 00 00 04 M) ---------------------------------

def auth_read(w, r=None, flip=False):
    """(answer data, SW, iv, M) of the authenticated read under challenge r (fresh)."""
    r = r or w.challenge()
    apdu, iv, m = w.secured(H("04200000"), b"", r)
    if flip:
        apdu = apdu[:-1] + bytes((apdu[-1] ^ 1,))
    ans, sw = w.c(apdu)
    return ans, sw, iv, m


def test_authenticated_read_answers_the_counter_under_its_mac(w):
    ans, sw, iv, m = auth_read(w)
    assert sw == 0x9000 and w.check_answer(iv, m, ans) == 0x63C3
    assert w.verify("000000") == 0x63C2
    ans, sw, iv, m = auth_read(w)
    assert w.check_answer(iv, m, ans) == 0x63C2
    assert w.verify("123456") == 0x9000
    ans, sw, iv, m = auth_read(w)  # after a success in the session: the counter, never 9000
    assert w.check_answer(iv, m, ans) == 0x63C3
    assert w.tries == 3 and card_state(w.card_path)["counts"]["verify_fail"] == 1


def test_authenticated_read_of_a_blocked_card(tmp_path):
    w = World(tmp_path, Suite.SM4)
    for _ in range(3):
        w.verify("000000")
    ans, sw, iv, m = auth_read(w)
    assert w.check_answer(iv, m, ans) == 0x6983


def test_authenticated_read_needs_challenge_and_mac_and_spends_nothing(w):
    apdu, _, _ = w.secured(H("04200000"), b"", w.challenge())
    w.tries_left()  # any command spends the challenge
    assert w.c(apdu) == (b"", 0x6984)
    assert auth_read(w, flip=True)[:2] == (b"", 0x6988)
    ans, sw, iv, m = auth_read(w)
    forged = H("99029000") + ans[4:]  # a shim claiming "verified" without the key
    with pytest.raises(AssertionError, match="does not check out"):
        w.check_answer(iv, m, forged)
    assert w.tries == 3 and w.c(H("00200000")) == (b"", 0x63C3)


def test_legacy_card_does_not_offer_the_read(tmp_path):
    w = World(tmp_path, Suite.SM4, auth_tries=False)
    assert card_state(w.card_path)["auth_tries"] is False
    assert auth_read(w)[:2] == (b"", 0x6700)  # the Lc of a VERIFY is block + 4
    assert w.tries == 3 and w.verify("123456") == 0x9000  # the rest as any card
