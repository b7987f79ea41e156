"""padctl.keysvc: the key service over a SoftHSM2 token and the sealed software keystore.

Every key here is TEST MATERIAL, generated in the test (or the issue's public vectors).
The PKCS#11 tests run against a token made in a temporary folder (tests/hsm.py); in CI
a missing SoftHSM2 fails them, it never skips them.
"""
import json
import os
import stat

import pytest
from cryptography.hazmat.primitives.keywrap import aes_key_wrap

from hsm import make_token
from padctl import crypto as C
from padctl import keys as K
from padctl.crypto import Suite
from padctl.keysvc import regions
from padctl.keysvc.audit import AuditLog
from padctl.keysvc.compat import PadLinks, ServiceKeystore
from padctl.keysvc.errors import (AuditError, KeyServiceError, RegionError, ScopeError,
                                  SealedError, TokenError)
from padctl.keysvc.sealed import SealedStore
from padctl.keysvc.service import KeyService, kid_sub
from padsim.vcard import personalise_card
from padsim.vpsam import personalise_psam

H = bytes.fromhex
N = 1 << 10  # scrypt cost for tests (the default is 2**15)
VEC_K = H("0123456789ABCDEFFEDCBA9876543210")
VEC_K1 = H("3EB3B72576BBBE831355AB0EE3123AE8")
VEC_K2 = H("FBB65003740934BCAF8B53473EDAD0E4")
TRANSPORT = os.urandom(16)  # TEST MATERIAL: the transport key both services import


@pytest.fixture
def token(tmp_path):
    return make_token(tmp_path / "hsm")


def soft_service(path, region="000000"):
    return KeyService.create(path, "test passphrase", region=region, scrypt_n=N)


def add_transport(svc, name="t1", value=TRANSPORT):
    """Load a known transport key (test set-up, as from a transport key card)."""
    svc.add_transport(name, value)


def wrapped(kid, key, kind="3DES", transport=TRANSPORT):
    return {"format": "padctl-wrapped/1", "key": kid, "kind": kind,
            "wrapped": aes_key_wrap(transport, key).hex()}


# --- the fixed vectors ------------------------------------------------------------------

def test_fixed_vectors_in_software():
    assert regions.factor("371702", 2) == H("3337313730307378") == b"371700sx"
    assert C.disperse(Suite.DES3, VEC_K, H("1122334455667788")) == VEC_K1
    assert C.disperse(Suite.DES3, VEC_K1, b"371700sx") == VEC_K2


@pytest.mark.parametrize("backend", ["token", "software"])
def test_fixed_vectors_through_the_service(tmp_path, backend, request):
    tok = request.getfixturevalue("token") if backend == "token" else None
    svc = KeyService.create(tmp_path / "svc", "pw", token=tok, scrypt_n=N)
    add_transport(svc)
    # the vector's key, imported wrapped as the province 370000's sub-key
    svc.import_(wrapped(kid_sub("3DES", 1, 1, "370000"), VEC_K), "t1")
    be = svc.backend_for("3DES")
    assert be.name == ("pkcs11" if tok else "software")
    k = be.get(kid_sub("3DES", 1, 1, "370000"))
    f = H("1122334455667788")
    got = svc.issue_values({0: be.derive_ecb(k, f + C.invert(f), issue=True)}, "vector")[0]
    assert got == VEC_K1
    # K1 as the sub-key of province 370000 instead: its prefecture 371700's key
    be.delete(kid_sub("3DES", 1, 1, "370000"))
    svc.import_(wrapped(kid_sub("3DES", 1, 1, "370000"), VEC_K1), "t1")
    h = svc.level_handle("3DES", 1, 1, "371700", 2, issue=True)
    assert svc.issue_values({0: h}, "vector")[0] == VEC_K2


def test_token_and_software_give_the_same_3des_card_keys_and_macs(tmp_path, token):
    tok = KeyService.create(tmp_path / "tok", "pw", token=token, scrypt_n=N)
    soft = soft_service(tmp_path / "soft")
    province = os.urandom(16)  # TEST MATERIAL: the same province key sent to both
    for svc in (tok, soft):
        add_transport(svc)
        for t in (1, 2, 5):
            svc.import_(wrapped(kid_sub("3DES", t, 1, "370000"), province), "t1")
    serial = os.urandom(8)
    vs = {1: 1, 2: 1, 5: 1}
    a = tok.card_keys("3DES", vs, "371702", serial, types=(1, 2, 5))
    b = soft.card_keys("3DES", vs, "371702", serial, types=(1, 2, 5))
    assert a == b  # the same bytes from the token and from the sealed keystore
    k = province
    for f in (b"371700sx", b"371702sx", serial):
        k = C.disperse(Suite.DES3, k, f)
    assert a[1] == k
    # the unblock MAC computed inside the token equals the software and the reference MAC
    r, data = os.urandom(8), H("8424000004")
    iv = C.iv_from_challenge(Suite.DES3, r)
    sk = C.disperse(Suite.DES3, a[5], r)
    ref = C.mac(Suite.DES3, sk, iv, data)
    assert tok.command_mac("3DES", 5, 1, "371702", serial, r, iv, data) == ref
    assert soft.command_mac("3DES", 5, 1, "371702", serial, r, iv, data) == ref
    long = os.urandom(37)
    assert tok.command_mac("3DES", 5, 1, "371702", serial, r, iv, long) == \
        C.mac(Suite.DES3, sk, iv, long)


def test_roots_in_the_token_are_sensitive_and_not_extractable(tmp_path, token):
    from pkcs11 import Attribute
    svc = KeyService.create(tmp_path / "tok", "pw", token=token, scrypt_n=N)
    made = svc.init(suites=("3DES", "SM4"), types=(1, 7))
    assert "root/3DES/01/1" in made and "root/SM4/07/1" in made
    o = svc.token.get("root/3DES/01/1").obj
    assert o[Attribute.SENSITIVE] and not o[Attribute.EXTRACTABLE]
    assert svc.token.ids() == ["root/3DES/01/1", "root/3DES/07/1"]  # SM4 is not in it
    assert svc.soft.ids() == ["root/SM4/01/1", "root/SM4/07/1"]
    add_transport(svc)
    with pytest.raises(KeyServiceError, match="roots never leave"):
        svc.export("root/3DES/01/1", "t1")


def test_missing_or_uninitialised_token(tmp_path, token):
    module, label, pin = token
    with pytest.raises(TokenError, match="no PKCS#11 module at /nonexistent"):
        KeyService.create(tmp_path / "a", "pw", token=("/nonexistent/lib.so", label, pin))
    with pytest.raises(TokenError, match="no initialised token labelled 'nothere'"):
        KeyService.create(tmp_path / "b", "pw", token=(module, "nothere", pin))
    with pytest.raises(TokenError, match="refused the user PIN"):
        KeyService.create(tmp_path / "c", "pw", token=(module, label, "0000"))


# --- the sealed keystore ----------------------------------------------------------------

def test_sealed_keystore_mode_wrong_passphrase_and_modification(tmp_path):
    svc = soft_service(tmp_path / "svc")
    svc.init(suites=("SM4",), types=(1,))
    p = tmp_path / "svc" / "sealed.json"
    assert stat.S_IMODE(p.stat().st_mode) == 0o600
    KeyService.open(tmp_path / "svc", "test passphrase")
    with pytest.raises(SealedError, match="wrong passphrase, or the file was modified"):
        KeyService.open(tmp_path / "svc", "not it")
    raw = bytearray(p.read_bytes())
    doc = json.loads(raw)
    ct = bytearray(__import__("base64").b64decode(doc["ct"]))
    ct[5] ^= 1
    doc["ct"] = __import__("base64").b64encode(bytes(ct)).decode()
    p.write_text(json.dumps(doc))
    os.chmod(p, 0o600)
    with pytest.raises(SealedError, match="was modified"):
        KeyService.open(tmp_path / "svc", "test passphrase")
    p.write_bytes(bytes(raw))
    doc["kdf"]["n"] = N * 2  # a header field is authenticated too
    doc["ct"] = json.loads(raw)["ct"]
    p.write_text(json.dumps(doc))
    with pytest.raises(SealedError):
        KeyService.open(tmp_path / "svc", "test passphrase")
    p.write_bytes(bytes(raw))
    os.chmod(p, 0o644)
    with pytest.raises(SealedError, match="mode 0644: it must be 0600"):
        KeyService.open(tmp_path / "svc", "test passphrase")
    os.chmod(p, 0o600)
    p.write_text("garbage")
    with pytest.raises(SealedError, match="not a padctl sealed keystore"):
        SealedStore.open(p, "test passphrase")


# --- regions and scope ------------------------------------------------------------------

@pytest.mark.parametrize("code, msg", [("12345", "6 digits"), ("99000", "6 digits"),
                                       ("990000", "no province 99"), ("1100AB", "6 digits"),
                                       ("110001", "prefecture digits")])
def test_region_codes_checked(code, msg):
    with pytest.raises(RegionError, match=msg):
        regions.check(code)


def test_region_levels():
    assert regions.check("370000") == ("370000", 1)
    assert regions.check("371700") == ("371700", 2)
    assert regions.check("371702") == ("371702", 3)
    assert regions.covers("370000", "371702") and not regions.covers("371700", "371802")


def test_disperse_scope_and_region_own_keys(tmp_path):
    ministry = soft_service(tmp_path / "m")
    ministry.init(suites=("SM4",), types=(1,))
    made = ministry.disperse("370000")
    assert [k for k, _ in made] == ["sub/SM4/01/1/370000"]
    with pytest.raises(RegionError):
        ministry.disperse("990000")
    dept = soft_service(tmp_path / "d", region="371700")
    with pytest.raises(ScopeError, match="371800 is outside this service's region 371700"):
        dept.level_handle("SM4", 1, 1, "371800", 2)
    kid = dept.generate_own("371700", "SM4", 1)
    assert len(dept.own_encrypt(kid, "371700", bytes(16))) == 16
    with pytest.raises(ScopeError, match="belongs to region 371700; it never serves region "
                                         "371702"):
        dept.own_encrypt(kid, "371702", bytes(16))
    with pytest.raises(ScopeError):
        dept.generate_own("371800", "SM4", 1)


def test_export_only_wrapped_under_a_transport_key(tmp_path):
    ministry = soft_service(tmp_path / "m")
    ministry.init(suites=("SM4",), types=(1,))
    ministry.disperse("370000")
    with pytest.raises(KeyServiceError, match="only wrapped under a transport key"):
        ministry.export("sub/SM4/01/1/370000", None)
    with pytest.raises(KeyServiceError, match="no transport key transport/x"):
        ministry.export("sub/SM4/01/1/370000", "x")
    add_transport(ministry)
    doc = ministry.export("sub/SM4/01/1/370000", "t1")
    dept = soft_service(tmp_path / "d", region="370000")
    add_transport(dept, "t1", os.urandom(16))  # another transport key: refused
    with pytest.raises(KeyServiceError, match="does not unwrap"):
        dept.import_(doc, "t1")
    dept2 = soft_service(tmp_path / "d2", region="370000")
    add_transport(dept2)
    dept2.import_(doc, "t1")
    serial = os.urandom(8)
    assert dept2.card_keys("SM4", {1: 1}, "370102", serial, types=(1,)) == \
        ministry.card_keys("SM4", {1: 1}, "370102", serial, types=(1,))
    other = soft_service(tmp_path / "o", region="360000")  # another province
    add_transport(other)
    with pytest.raises(ScopeError):
        other.import_(doc, "t1")


# --- audit ------------------------------------------------------------------------------

def test_audit_chain_lists_and_detects_tampering(tmp_path):
    svc = soft_service(tmp_path / "m")
    svc.init(suites=("SM4",), types=(1, 7))
    svc.disperse("370000")
    svc.pad_link_key("371702", bytes(8))
    log = AuditLog(tmp_path / "m" / "audit.log")
    entries = log.verify()
    ops = [e["op"] for e in entries]
    assert ops[:3] == ["create", "generate", "generate"] and "disperse" in ops and "issue" in ops
    assert all(e["who"] for e in entries)
    with pytest.raises(ValueError, match="never logged"):
        log.append("x", detail=b"\x01")
    lines = log.path.read_text().splitlines()
    e = json.loads(lines[2])
    e["region"] = "110000"
    lines[2] = json.dumps(e, sort_keys=True)
    log.path.write_text("\n".join(lines) + "\n")
    with pytest.raises(AuditError, match="line 3 breaks the hash chain"):
        log.verify()
    log.path.write_text("\n".join(lines[:2] + lines[3:]) + "\n")  # a line removed
    with pytest.raises(AuditError, match="line 3"):
        log.verify()


# --- no key value in clear ----------------------------------------------------------------

def _all_bytes(folder):
    out = b""
    for root, _, files in os.walk(folder):
        for f in files:
            out += open(os.path.join(root, f), "rb").read()
    return out


def test_no_key_value_in_clear_in_any_file(tmp_path, token):
    svc = KeyService.create(tmp_path / "svc", "pw", token=token, scrypt_n=N)
    svc.init(suites=("SM4", "3DES"), types=(1, 5, 7))
    svc.disperse("371700")
    add_transport(svc)
    doc = svc.export("sub/SM4/01/1/371700", "t1")
    (tmp_path / "svc" / "export.json").write_text(json.dumps(doc))
    serial, pad = os.urandom(8), os.urandom(8)
    keys = list(svc.card_keys("SM4", {1: 1, 5: 1}, "371702", serial, types=(1, 5)).values())
    keys += list(svc.card_keys("3DES", {1: 1, 5: 1}, "371702", serial, types=(1, 5)).values())
    keys += list(svc.level_keys("SM4", "371702", 2, types=(1,)).values())
    link = svc.pad_link_key("371702", pad)
    PadLinks.write(tmp_path / "svc" / "links.json", "window pw", {pad.hex(): ("371702", link)},
                   scrypt_n=N)
    keys.append(link)
    import hsm
    blob = _all_bytes(tmp_path / "svc") + _all_bytes(hsm._DIR)
    for k in keys + [svc.soft.store.keys["root/SM4/01/1"]["value"]]:
        for form in (k, k.hex().encode(), k.hex().upper().encode()):
            assert form not in blob


# --- the Keystore interface and the window's key file ------------------------------------

def test_service_keystore_personalises_cards_and_psams_and_macs(tmp_path):
    svc = soft_service(tmp_path / "m")
    svc.init()
    ks = ServiceKeystore(svc)
    for suite in (Suite.SM4, Suite.DES3):
        ident = K.new_identity(suite, "371702")
        card = personalise_card(ks, tmp_path / ("c%d.json" % suite), ident)
        personalise_psam(ks, tmp_path / ("p%d.json" % suite), suite, "371702", 2)
        for cmd in ("00A404000F7378312E73682EC9E7BBE1B1A3D5CF", "00A4040006D15600000590"):
            assert card.process(H(cmd)) == H("9000")  # SELECT MF, DF01
        r = card.process(H("0084000008"))[:8]
        apdu = K.unblock_apdu(ks, ident, r)  # the MAC computed inside the service
        assert apdu[:5] == H("8424000004")
        sk = ks.session_key(ident, 5, r)
        assert apdu == K.secured_apdu(ident, H("84240000"), b"", sk, r)
        # the card's SM answer checked with the MAC computed inside the service
        ans = card.process(apdu)
        assert ans[-2:] == H("9000") and len(ans) == 12
        f = K.session_mac(ks, ident, 5, r)
        assert callable(f)
        assert K.sm_answer_sw(ident, f, r, apdu[-4:], ans[:10]) == \
            K.sm_answer_sw(ident, sk, r, apdu[-4:], ans[:10]) == 0x9000
        bad = bytearray(ans[:10])
        bad[-1] ^= 1
        with pytest.raises(K.SecurityError):
            K.sm_answer_sw(ident, f, r, apdu[-4:], bad)


def test_pad_links_file_has_only_its_pads(tmp_path, monkeypatch):
    svc = soft_service(tmp_path / "m")
    svc.init(suites=("SM4",), types=(7,))
    pads = [os.urandom(8).hex().upper() for _ in range(3)]
    links = {p: ("371702", svc.pad_link_key("371702", p)) for p in pads[:2]}
    PadLinks.write(tmp_path / "links.json", "window pw", links, scrypt_n=N)
    monkeypatch.setenv("PADCTL_PASSPHRASE", "window pw")
    ks = K.Keystore.load(tmp_path / "links.json")
    assert ks.pad_link_key("371702", pads[0]) == links[pads[0]][1]
    with pytest.raises(KeyServiceError, match="not one of this window's pads"):
        ks.pad_link_key("371702", pads[2])
    with pytest.raises(ScopeError, match="of region 371702, not 371703"):
        ks.pad_link_key("371703", pads[0])
    assert not any(k.startswith(("root/", "sub/")) for k in ks.store.keys)
    monkeypatch.setenv("PADCTL_PASSPHRASE", "wrong")
    with pytest.raises(K.KeystoreError, match="wrong passphrase"):
        K.Keystore.load(tmp_path / "links.json")


# --- the pad on the simulator, keys from a token ------------------------------------------

@pytest.mark.parametrize("psam_level", [2, 3])
def test_pad_verifies_a_3des_card_with_keys_from_the_token(tmp_path, token, psam_level):
    # the firmware sends the region factors ("371700sx"...) the token's chain used
    from padkit import PadSim
    with PadSim(tmp_path / "pad", suite="3DES", region="371702", psam_level=psam_level,
                token=token) as pad:
        assert pad.ks.service.token.ids()[0].startswith("root/3DES/")
        assert pad.attempt("123456")[0] == "PIN OK"
        assert pad.attempt("654321")[0] == "Wrong PIN"
        assert pad.card_fails() == 1
