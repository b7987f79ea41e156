"""padctl.keys: the test keystore, the level chain, personalisation (protocol.md section 2)."""
import json
import os

import pytest

from padctl import crypto as C
from padctl import keys as K
from padctl.crypto import Suite
from padsim.vcard import TEST_MARKER, card_state
from padsim.vpsam import psam_state

H = bytes.fromhex


@pytest.fixture
def ks(tmp_path):
    return K.Keystore.generate(tmp_path / "ks.json")


def test_keystore_file_is_marked_test_material_and_reloads(tmp_path, ks):
    d = json.loads((tmp_path / "ks.json").read_text())
    assert d["marker"] == TEST_MARKER == "TEST MATERIAL - generated, not real keys"
    assert set(d["roots"]) == {"SM4", "3DES"}
    assert set(d["roots"]["SM4"]) == {"01", "02", "03", "04", "05", "06", "07"}
    again = K.Keystore.load(tmp_path / "ks.json")
    for s in Suite:
        for t in range(1, 8):
            assert again.root(s, t, 1) == ks.root(s, t, 1)
    assert len({ks.root(s, t, 1) for s in Suite for t in range(1, 8)}) == 14  # all distinct
    assert oct((tmp_path / "ks.json").stat().st_mode & 0o777) == "0o600"


def test_keystore_refuses_to_overwrite(tmp_path, ks):
    before = (tmp_path / "ks.json").read_bytes()
    with pytest.raises(K.KeystoreError, match="exists"):
        K.Keystore.generate(tmp_path / "ks.json")
    assert (tmp_path / "ks.json").read_bytes() == before


@pytest.mark.parametrize("content,msg", [
    (None, "does not exist"),
    ("not json", "not valid JSON"),
    ('{"format": "padctl-keystore/1", "roots": {}}', "marker"),
    ('{"format": "something-else"}', "not a padctl-keystore"),
])
def test_keystore_load_errors(tmp_path, content, msg):
    p = tmp_path / "bad.json"
    if content is not None:
        p.write_text(content)
    with pytest.raises(K.KeystoreError, match=msg):
        K.Keystore.load(p)


def test_missing_root_is_a_clear_error(ks):
    with pytest.raises(K.KeystoreError, match="no SM4 root for key type 04 version 9"):
        ks.root(Suite.SM4, 4, 9)


def test_region_factors_match_protocol_examples():
    # the 6-digit code at the level in ASCII, then "sx" (the public SSC PSAM trace)
    assert K.region_factor("371702", 2) == H("3337313730307378") == b"371700sx"
    assert K.region_factor("110105", 1) == b"110000sx"
    assert K.region_factor("110105", 2) == b"110100sx"
    assert K.region_factor("110105", 3) == b"110105sx"
    assert K.region_factors("110105", 1) == [b"110100sx", b"110105sx"]
    with pytest.raises(ValueError):
        K.region_factor("11010", 1)
    with pytest.raises(ValueError):
        K.region_factor("1101AB", 1)


@pytest.mark.parametrize("suite", list(Suite))
def test_level_chain_by_hand(ks, suite):
    """K1..K3 and the card key, recomputed with the raw cipher."""
    def d(k, f):
        nf = bytes(b ^ 0xFF for b in f)
        if suite is Suite.SM4:
            return C.sm4_encrypt(k, f + nf)
        return C.des3_encrypt(k, f) + C.des3_encrypt(k, nf)

    root = ks.root(suite, 1, 1)
    k1 = d(root, b"110000sx")
    k2 = d(k1, b"110100sx")
    k3 = d(k2, b"110105sx")
    serial = os.urandom(8)
    assert ks.level_key(suite, 1, 1, "110105", 0) == root
    assert ks.level_key(suite, 1, 1, "110105", 1) == k1
    assert ks.level_key(suite, 1, 1, "110105", 2) == k2
    assert ks.level_key(suite, 1, 1, "110105", 3) == k3
    assert ks.card_key(suite, 1, 1, "110105", serial) == d(k3, serial)
    r = os.urandom(8)
    ident = K.new_identity(suite, serial=serial)
    assert ks.session_key(ident, 1, r) == d(d(k3, serial), r)


def test_other_region_other_keys(ks):
    serial = os.urandom(8)
    a = ks.card_key(Suite.SM4, 1, 1, "110105", serial)
    b = ks.card_key(Suite.SM4, 1, 1, "110106", serial)
    c = ks.card_key(Suite.SM4, 2, 1, "110105", serial)
    assert len({a, b, c}) == 3


def test_pad_link_key(ks):
    pad = H("0000000000000042")
    k = ks.pad_link_key("110105", pad)
    k3 = ks.level_key(Suite.SM4, 7, 1, "110105", 3)
    assert k == C.sm4_encrypt(k3, pad + C.invert(pad))
    assert k != ks.pad_link_key("110105", H("0000000000000043"))
    assert len(C.aes_cmac(k, b"usable as an AES-128 key")) == 16


@pytest.mark.parametrize("suite", list(Suite))
def test_personalise_card_keys_and_marker(tmp_path, ks, suite):
    ident = K.new_identity(suite, region="440305")
    K.write_card(ks, tmp_path / "card.json", ident, pin="654321", limit=5)
    st = card_state(tmp_path / "card.json")
    assert st["marker"] == TEST_MARKER
    assert st["pin"] == "654321" and st["tries"] == st["limit"] == 5
    for t in range(1, 7):
        assert H(st["keys"]["%02X" % t]) == ks.card_key(suite, t, 1, "440305", ident.serial)
    assert "07" not in st["keys"]  # a card never holds the link root's descendants


def test_personalise_clone_has_same_identity_other_keys(tmp_path, ks):
    ident = K.new_identity(Suite.SM4)
    K.write_card(ks, tmp_path / "real.json", ident)
    K.write_card(ks, tmp_path / "clone.json", ident, clone=True)
    real, clone = card_state(tmp_path / "real.json"), card_state(tmp_path / "clone.json")
    assert real["identity"] == clone["identity"] and clone["clone"] is True
    assert all(real["keys"][t] != clone["keys"][t] for t in real["keys"])


@pytest.mark.parametrize("level", [1, 2, 3])
def test_personalise_psam_holds_level_keys_only_for_01_to_04(tmp_path, ks, level):
    K.write_psam(ks, tmp_path / "psam.json", Suite.SM4, "110105", level)
    st = psam_state(tmp_path / "psam.json")
    assert st["marker"] == TEST_MARKER
    assert set(st["keys"]) == {"01", "02", "03", "04"}
    assert H(st["keys"]["04"]["1"]) == ks.level_key(Suite.SM4, 4, 1, "110105", level)
    assert st["region"] == "110105"[:2 * level] + "0" * (6 - 2 * level)


@pytest.mark.parametrize("kw,msg", [
    (dict(region="1101"), "BCD"),
    (dict(region="000105"), "province"),
    (dict(serial=b"\x01" * 7), "8 bytes"),
    (dict(number="ABC"), "9 ASCII"),
])
def test_identity_rejects_bad_fields(kw, msg):
    with pytest.raises(ValueError, match=msg):
        K.new_identity(Suite.SM4, **kw)


@pytest.mark.parametrize("kw,msg", [
    (dict(pin="12a456"), "PIN"),
    (dict(pin="123"), "PIN"),
    (dict(limit=16), "limit"),
    (dict(last_failure_sw=0x6A80), "last failure"),
    (dict(holder_id="123"), "18"),
])
def test_personalise_card_rejects_bad_options(tmp_path, ks, kw, msg):
    with pytest.raises(ValueError, match=msg):
        K.write_card(ks, tmp_path / "c.json", K.new_identity(Suite.SM4), **kw)
    assert not (tmp_path / "c.json").exists()
