"""The virtual PSAM (protocol.md section 5); keys generated per test (TEST MATERIAL)."""
import os

import pytest

from padctl import crypto as C
from padctl import keys as K
from padsim.vpsam import VirtualPsam, personalise_psam, psam_state
from test_vcard import SUITES, World, split

H = bytes.fromhex


@pytest.fixture(params=[(s, lvl) for s in SUITES for lvl in (1, 2, 3)],
                ids=lambda p: "%s-L%d" % (p[0].label, p[1]))
def w(request, tmp_path):
    suite, level = request.param
    return World(tmp_path, suite, level=level)


def test_terminal_number_and_issuer_info(w):
    assert w.p(H("00B0960006")) == (H("000000000001"), 0x9000)
    info, sw = w.p(H("00B0970008"))
    region = {1: "110000", 2: "110100", 3: "110105"}[w.level]
    assert sw == 0x9000
    assert info == H(region) + bytes((w.level, int(w.suite), 1, 1, 1))
    assert w.p(H("00B0970000")) == (b"", 0x6C08)
    assert w.p(H("00B0960000")) == (b"", 0x6C06)
    assert w.p(H("00B0980008"))[1] == 0x6A82


def test_session_keys_equal_the_key_service_at_every_level(w):
    """Encrypt under SK_pin and MAC under SK_mac, checked against keystore dispersion."""
    r = os.urandom(8)
    assert w.init(1, r) == 0x9000
    blk = C.pin_block(w.suite, "123456")
    sk_pin = w.ks.session_key(w.ident, 1, r)
    assert w.encrypt(blk) == C.encrypt(w.suite, sk_pin, blk)
    assert w.init(4, r) == 0x9000
    iv = C.iv_from_challenge(w.suite, r)
    data = os.urandom(21)
    sk_mac = w.ks.session_key(w.ident, 4, r)
    assert w.psam_mac(iv, data) == C.mac(w.suite, sk_mac, iv, data)
    # without an IV (P1 01) the IV is zero
    out, sw = w.p(bytes((0x80, 0xFA, 0x01, 0x00, len(data))) + data)
    assert (out, sw) == (C.mac(w.suite, sk_mac, bytes(w.suite.block), data), 0x9000)


def test_card_level_key_for_internal_auth(w):
    assert w.init(2) == 0x9000
    x = os.urandom(w.suite.block)
    kia = w.ks.card_key(w.suite, 2, 1, w.ident.region, w.ident.serial)
    assert w.encrypt(x) == C.encrypt(w.suite, kia, x)


@pytest.mark.parametrize("ktype", [5, 6, 7])
def test_unblock_reload_link_keys_not_held(w, ktype):
    r = os.urandom(8)
    assert w.init(ktype, r) == 0x6A88
    assert w.init(ktype) == 0x6A88


def test_unknown_type_or_version_not_held(w):
    r = os.urandom(8)
    assert w.init(4, r, version=2) == 0x6A88
    assert w.init(0, r) == 0x6A88
    assert w.init(0x1F, r) == 0x6A88


def test_failed_init_unloads_the_key(w):
    r = os.urandom(8)
    assert w.init(1, r) == 0x9000
    assert w.init(5, r) == 0x6A88
    assert w.p(H("80FA000008") + bytes(8))[1] == 0x6985


def test_factor_count_must_reach_the_card_or_session(w):
    r = os.urandom(8)
    f = w.factors()
    below = 3 - w.level
    # a key above the card level is never loaded: CIPHER DATA cannot compute card keys
    for n in range(1, below + 1):  # region factors only
        apdu = bytes((0x80, 0x1A, n << 5 | 2, 1, 8 * n)) + f[:8 * n]
        assert w.p(apdu)[1] == 0x6A86
    # session keys need the challenge, card-level keys must not have it
    assert w.init(1) == 0x6A86
    assert w.init(4) == 0x6A86
    assert w.init(2, r) == 0x6A86


def test_lc_must_be_8n(w):
    f = w.factors()
    n = len(f) // 8
    assert w.p(bytes((0x80, 0x1A, n << 5 | 2, 1, len(f) - 1)) + f[:-1])[1] == 0x6700
    assert w.p(bytes((0x80, 0x1A, 0 << 5 | 2, 1, 8)) + bytes(8))[1] == 0x6700


def test_region_factor_of_another_region_refused(w):
    if w.level == 3:
        pytest.skip("a city PSAM takes no region factors")
    n = len(w.factors()) // 8
    bad = [(1, ord("2")),   # another province
           (7, ord("X")),   # not "sx"
           (3, 0x0A)]       # not an ASCII digit
    if w.level == 1:        # the first factor is the prefecture's: its city digits are 0
        bad.append((5, ord("1")))
    for i, b in bad:
        f = bytearray(w.factors())
        f[i] = b
        assert w.p(bytes((0x80, 0x1A, n << 5 | 2, 1, len(f))) + f)[1] == 0x6A80, i
    f = bytearray(w.factors())
    f[:8] = b"\x11\x01\x00\x00\x00\x00\x00\x00"  # the old BCD form
    assert w.p(bytes((0x80, 0x1A, n << 5 | 2, 1, len(f))) + f)[1] == 0x6A80


def test_key_use_is_separated(w):
    r = os.urandom(8)
    assert w.init(4, r) == 0x9000
    assert w.p(H("80FA000008") + bytes(8))[1] == 0x6985     # a MAC key never encrypts
    assert w.init(1, r) == 0x9000
    iv = bytes(w.suite.block)
    assert w.p(bytes((0x80, 0xFA, 5, 0, len(iv) + 4)) + iv + bytes(4))[1] == 0x6985


def test_cipher_data_errors(w):
    assert w.p(H("80FA000008") + bytes(8))[1] == 0x6985   # nothing loaded
    r = os.urandom(8)
    assert w.init(1, r) == 0x9000
    assert w.p(H("80FA000005") + bytes(5))[1] == 0x6700   # not a multiple of the block
    assert w.p(H("80FA020008") + bytes(8))[1] == 0x6A86   # more blocks: not supported
    assert w.init(4, r) == 0x9000
    assert w.p(H("80FA050004") + bytes(4))[1] == 0x6700   # IV shorter than a block


def test_needs_select_and_reset_unloads(w):
    w.sam.reset()
    assert w.init(2) == 0x6985
    assert w.p(H("00A40000021002"))[1] == 0x6A82
    assert w.p(H("00A40000021001"))[1] == 0x9000
    assert w.init(2) == 0x9000
    w.sam.reset()
    assert w.p(H("00A40000021001"))[1] == 0x9000
    assert w.p(H("80FA000008") + bytes(8))[1] == 0x6985


def test_unknown_commands(w):
    assert w.p(H("00CA000000"))[1] == 0x6D00
    assert w.p(H("001A000000"))[1] == 0x6E00


@pytest.mark.parametrize("suite", SUITES, ids=lambda s: s.label)
def test_psam_of_another_region_computes_other_keys(tmp_path, suite):
    ks = K.Keystore.generate(tmp_path / "ks.json")
    ident = K.new_identity(suite, region="110105")
    other = personalise_psam(ks, tmp_path / "p.json", suite, "120105", 3)
    split(other.process(H("00A40000021001")))
    x = os.urandom(suite.block)
    f = ident.serial
    assert split(other.process(bytes((0x80, 0x1A, 1 << 5 | 2, 1, 8)) + f))[1] == 0x9000
    out, _ = split(other.process(bytes((0x80, 0xFA, 0, 0, suite.block)) + x))
    kia = ks.card_key(suite, 2, 1, "110105", ident.serial)
    assert out != C.encrypt(suite, kia, x)
    assert out == C.encrypt(suite, ks.card_key(suite, 2, 1, "120105", ident.serial), x)


def test_state_reopen_and_marker(w):
    st = psam_state(w.tmp / "psam.json")
    assert st["marker"] == "TEST MATERIAL - generated, not real keys"
    again = VirtualPsam(w.tmp / "psam.json")
    assert again.issuer_info() == w.sam.issuer_info()
    assert again.keys == w.sam.keys


@pytest.mark.parametrize("suite", SUITES, ids=lambda s: s.label)
def test_full_verify_through_every_psam_level(tmp_path, suite):
    for level in (1, 2, 3):
        d = tmp_path / str(level)
        d.mkdir()
        w = World(d, suite, level=level)
        assert w.verify("123456") == 0x9000
        assert w.verify("000000") == 0x63C2


def test_random_apdus_never_crash(w):
    import random
    rng = random.Random(2)
    for _ in range(2000):
        n = rng.choice([0, 2, 4, 5, 6, 13, 21, 29, 45])
        apdu = bytes(rng.randrange(256) for _ in range(n))
        if rng.random() < 0.5 and n >= 4:
            apdu = bytes((rng.choice([0x00, 0x80]), rng.choice([0x1A, 0xFA, 0xB0, 0xA4]))) + apdu[2:]
        assert len(w.sam.process(apdu)) >= 2
