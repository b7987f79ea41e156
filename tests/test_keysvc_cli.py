"""padctl keys / issue / provision / sync from a window key file, end to end (TEST MATERIAL).

A ministry service (token + sealed keystore), a department (prefecture 371700) that gets
its sub-keys wrapped under a transport key card's key, its key mother card, a PSAM, a card
and a pad issued from it, a window key file with that pad's link key only, the article-23
cards' PIN limit and the master key cards' recovery; no key value in any output or file.
"""
import json
import os

import pytest

from hsm import make_token
from padctl import cli
from padsim.vcard import card_state
from padsim.vpsam import psam_state


def run(capsys, *argv):
    rc = cli.main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture
def env(tmp_path, monkeypatch):
    module, label, pin = make_token(tmp_path / "hsm")
    monkeypatch.setenv("PADCTL_PASSPHRASE", "ministry passphrase")
    monkeypatch.setenv("PADCTL_PKCS11_TOKEN", label)
    monkeypatch.setenv("PADCTL_PKCS11_PIN", pin)
    monkeypatch.setenv("PADCTL_OPERATOR", "custodian-1")
    import padctl.keysvc.sealed as S
    monkeypatch.setattr(S, "SCRYPT_N", 1 << 10)
    monkeypatch.setattr(S.SealedStore.create.__func__, "__defaults__", (1 << 10, False))
    return tmp_path


def test_the_key_hierarchy_end_to_end(env, capsys, monkeypatch):
    t = env
    m, d = str(t / "ministry"), str(t / "dept")
    outputs = []

    def ok(*argv):
        rc, out, err = run(capsys, *argv)
        outputs.append(out + err)
        assert rc == 0, err
        return out

    ok("keys", "init", "--home", m, "--types", "01,02,03,04,05,06,07")
    ok("keys", "disperse", "--home", m, "--region", "371700")
    ok("keys", "transport-card", "--home", m, "--name", "t371700", "--card",
       str(t / "tcard.json"), "--pin", "111111")
    rc, out, err = run(capsys, "keys", "export", "--home", m, "sub/SM4/01/1/371700",
                       "--out", str(t / "x.json"))
    assert rc == 1 and "only wrapped under a transport key" in err
    for tt in ("01", "02", "03", "04", "05", "06", "07"):
        for s in ("SM4", "3DES"):
            ok("keys", "export", "--home", m, "sub/%s/%s/1/371700" % (s, tt), "--transport",
               "t371700", "--out", str(t / ("%s%s.json" % (s, tt))))
    # the department: its own service (its own token), its transport key from the card
    module, label, pin = make_token(t / "hsm")
    monkeypatch.setenv("PADCTL_PKCS11_TOKEN", label)
    monkeypatch.setenv("PADCTL_PASSPHRASE", "department passphrase")
    ok("keys", "init", "--home", d, "--region", "371700")
    ok("keys", "load-transport", "--home", d, "--card", str(t / "tcard.json"), "--pin", "111111")
    for f in sorted(t.glob("SM4*.json")) + sorted(t.glob("3DES*.json")):
        ok("keys", "import", "--home", d, str(f), "--transport", "t371700")
    rc, out, err = run(capsys, "keys", "disperse", "--home", d, "--region", "371800")
    assert rc == 1 and "outside this service's region 371700" in err
    rc, out, err = run(capsys, "keys", "disperse", "--home", d, "--region", "379900x")
    assert rc == 1 and "not a GB/T 2260 code" in err
    ok("keys", "mother-card", "--home", d, "--region", "371700", "--card",
       str(t / "mother.json"), "--pin", "222222")
    mother = ("--mother", str(t / "mother.json"), "--pin", "222222")
    ok("issue", "psam", "--home", d, "--region", "371702", "--level", "2",
       "--out", str(t / "psam.json"), *mother)
    assert psam_state(t / "psam.json")["region"] == "371700"
    ok("issue", "card", "--home", d, "--region", "371702", "--serial", "0102030405060708",
       "--holder-id", "110105199001011232", "--out", str(t / "card.json"), *mother)
    rc, out, err = run(capsys, "issue", "card", "--home", d, "--region", "371702", "--serial",
                       "0102030405060709", "--holder-id", "110105199001011233", "--out",
                       str(t / "c2.json"), *mother)
    assert rc == 1 and "GB 11643" in err
    ok("issue", "psam", "--home", d, "--region", "371703", "--level", "3",
       "--out", str(t / "psam3.json"), *mother)
    rc, out, err = run(capsys, "issue", "card", "--home", d, "--region", "371702", "--serial",
                       "0102030405060709", "--holder-id", "110105199001011232", "--psam",
                       str(t / "psam3.json"), "--out", str(t / "c2.json"), *mother)
    assert rc == 1 and "PSAM of region 371703 cannot serve a card of region 371702" in err
    pad = "A1B2C3D4E5F60718"
    ok("provision", "pad", "--home", d, "--pad-id", pad, "--region", "371702",
       "--flash", str(t / "flash.img"), *mother)
    monkeypatch.setenv("PADCTL_WINDOW_PASSPHRASE", "window passphrase")
    ok("keys", "pad-links", "--home", d, "--pads", pad, "--region", "371702",
       "--out", str(t / "window.keys"))
    # the card's and the PSAM's keys follow from the ministry's roots via the department
    from padctl.keysvc.compat import PadLinks
    links = PadLinks.open(t / "window.keys", "window passphrase")
    assert links.pads() == [pad]
    # a key mother card of another region refuses; three wrong custodian PINs lock it
    ok("keys", "mother-card", "--home", d, "--region", "371702", "--card",
       str(t / "m2.json"), "--pin", "333333")
    rc, out, err = run(capsys, "issue", "card", "--home", d, "--region", "371703", "--serial",
                       "0102030405060709", "--holder-id", "110105199001011232", "--out",
                       str(t / "c3.json"), "--mother", str(t / "m2.json"), "--pin", "333333")
    assert rc == 1 and "key mother card of region 371702 cannot issue for region 371703" in err
    for left in ("2 tries left", "1 tries left", "now locked", "is locked"):
        rc, out, err = run(capsys, "issue", "psam", "--home", d, "--region", "371702",
                           "--level", "3", "--out", str(t / "p9.json"), "--mother",
                           str(t / "m2.json"), "--pin", "000000")
        assert rc == 1 and left in err, err
    rc, out, err = run(capsys, "issue", "psam", "--home", d, "--region", "371702", "--level",
                       "3", "--out", str(t / "p9.json"), "--mother", str(t / "m2.json"),
                       "--pin", "333333")
    assert rc == 1 and "locked" in err
    # audit: listed and verified
    out = ok("keys", "audit", "--home", d)
    assert "hash chain verified" in out and "issue-card" in out and "custodian-1" in out
    # no key value in any output or file outside the token and the sealed keystores
    keys = list(card_state(t / "card.json")["keys"].values())
    keys += [k for vs in psam_state(t / "psam.json")["keys"].values() for k in vs.values()]
    keys.append(links.pad_link_key("371702", pad).hex().upper())
    devices = {"card.json", "psam.json", "psam3.json", "flash.img"}  # the chips themselves
    blob = "".join(outputs).encode()
    for root, _, files in os.walk(t):
        for f in files:
            if f not in devices:
                blob += open(os.path.join(root, f), "rb").read()
    for k in keys:
        for form in (bytes.fromhex(k), k.encode(), k.lower().encode()):
            assert form not in blob


def test_master_key_cards_restore_the_keystore(env, capsys, monkeypatch):
    t = env
    m = str(t / "ministry")
    monkeypatch.delenv("PADCTL_PKCS11_TOKEN")
    assert run(capsys, "keys", "init", "--home", m, "--suites", "SM4")[0] == 0
    rc, out, err = run(capsys, "keys", "master-cards", "--home", m, "--m", "2", "--pins",
                       "100001,100002,100003", "--dir", str(t))
    assert rc == 0, err
    before = run(capsys, "keys", "list", "--home", m, "--json")[1]
    monkeypatch.setenv("PADCTL_PASSPHRASE", "forgotten")
    assert run(capsys, "keys", "list", "--home", m)[0] == 1
    monkeypatch.setenv("PADCTL_NEW_PASSPHRASE", "new passphrase")
    rc, out, err = run(capsys, "keys", "restore", "--home", m, str(t / "master1.json"),
                       "--pins", "100001")
    assert rc == 1 and "needs 2 master key cards, 1 given" in err
    rc, out, err = run(capsys, "keys", "restore", "--home", m, str(t / "master1.json"),
                       str(t / "master3.json"), "--pins", "100001,100003")
    assert rc == 0, err
    monkeypatch.setenv("PADCTL_PASSPHRASE", "new passphrase")
    assert run(capsys, "keys", "list", "--home", m, "--json")[1] == before
    assert {"key": "root/SM4/01/1", "in": "software"} in json.loads(before)
    monkeypatch.setenv("PADCTL_PASSPHRASE", "ministry passphrase")
    assert run(capsys, "keys", "list", "--home", m)[0] == 1  # the old one no longer opens it


def test_sync_from_a_window_key_file(tmp_path, capsys, monkeypatch):
    # the window PC holds its pads' link keys only: padctl sync works from that file, and
    # a pad not in it is refused with a clear message
    import test_link as tl
    from padctl.keysvc.compat import PadLinks
    from padctl.keysvc.service import KeyService
    svc = KeyService.create(tmp_path / "dept", "pw", region="371700", scrypt_n=1 << 10)
    province = os.urandom(16)  # TEST MATERIAL: the link sub-key the department was given
    svc.add_transport("t", b"T" * 16)
    from cryptography.hazmat.primitives.keywrap import aes_key_wrap
    svc.import_({"format": "padctl-wrapped/1", "key": "sub/SM4/07/1/371700", "kind": "SM4",
                 "wrapped": aes_key_wrap(b"T" * 16, province).hex()}, "t")
    mine, other = os.urandom(8), os.urandom(8)
    PadLinks.write(tmp_path / "window.keys", "window pw",
                   {mine.hex(): ("371702", svc.pad_link_key("371702", mine))}, scrypt_n=1 << 10)
    monkeypatch.setenv("PADCTL_PASSPHRASE", "window pw")
    db = str(tmp_path / "ev.db")
    pad = tl.Pad(tmp_path, 4, use_pty=True, key=svc.pad_link_key("371702", mine), pad_id=mine)
    try:
        rc, out, err = run(capsys, "sync", "--port", pad.port, "--db", db, "--keystore",
                           str(tmp_path / "window.keys"))
        assert rc == 0, err
        assert "pad %s" % mine.hex() in out and "4 record(s) stored" in out
    finally:
        pad.stop()
    pad = tl.Pad(tmp_path, 2, use_pty=True, key=svc.pad_link_key("371702", other),
                 pad_id=other)
    try:
        rc, out, err = run(capsys, "sync", "--port", pad.port, "--db", db, "--keystore",
                           str(tmp_path / "window.keys"))
        assert rc == 1 and "is not one of this window's pads" in err, err
    finally:
        pad.stop()
    monkeypatch.setenv("PADCTL_PASSPHRASE", "wrong")
    rc, out, err = run(capsys, "sync", "--port", "/nonexistent", "--db", db, "--keystore",
                       str(tmp_path / "window.keys"))
    assert rc == 1 and "wrong passphrase" in err and "Traceback" not in err


def test_help_on_every_new_command():
    import subprocess
    from mp import ROOT
    padctl = ROOT / ".venv" / "bin" / "padctl"
    from padctl.keysvc.cli import SUBCOMMANDS
    for cmd in [["keys", s] for s in SUBCOMMANDS] + [["issue"], ["issue", "psam"],
                                                    ["issue", "card"], ["provision"],
                                                    ["provision", "pad"]]:
        r = subprocess.run([str(padctl), *cmd, "--help"], capture_output=True, text=True)
        assert r.returncode == 0 and "usage" in r.stdout, (cmd, r.stderr)


def test_bad_input_is_one_clear_line(env, capsys, monkeypatch):
    t = env
    rc, out, err = run(capsys, "keys", "init", "--home", str(t / "a"), "--token-label",
                       "nothere")
    assert rc == 1 and "no initialised token labelled 'nothere'" in err
    rc, out, err = run(capsys, "keys", "init", "--home", str(t / "b"), "--token-label", "x",
                       "--pkcs11-module", "/nonexistent.so")
    assert rc == 1 and "no PKCS#11 module at /nonexistent.so" in err
    monkeypatch.delenv("PADCTL_PKCS11_TOKEN")
    rc, out, err = run(capsys, "keys", "list", "--home", str(t / "none"))
    assert rc == 1 and "no key service in" in err
    assert run(capsys, "keys", "init", "--home", str(t / "m"), "--suites", "SM4")[0] == 0
    rc, out, err = run(capsys, "keys", "disperse", "--home", str(t / "m"), "--region", "990000")
    assert rc == 1 and "no province 99" in err
    monkeypatch.setenv("PADCTL_PASSPHRASE", "wrong")
    rc, out, err = run(capsys, "keys", "list", "--home", str(t / "m"))
    assert rc == 1 and "wrong passphrase" in err
    monkeypatch.delenv("PADCTL_PASSPHRASE")
    rc, out, err = run(capsys, "keys", "list", "--home", str(t / "m"))
    assert rc == 1 and "set PADCTL_PASSPHRASE" in err
    (t / "audit-bad").mkdir()
    (t / "audit-bad" / "audit.log").write_text('{"seq": 1, "hash": "00", "prev": "x"}\n')
    rc, out, err = run(capsys, "keys", "audit", "--home", str(t / "audit-bad"))
    assert rc == 1 and "line 1 breaks the hash chain" in err
    assert "Traceback" not in err


def test_keystore_load_opens_a_service_folder(tmp_path, monkeypatch):
    from padctl import keys as K
    from padctl.keysvc.service import KeyService
    svc = KeyService.create(tmp_path / "svc", "pw", scrypt_n=1 << 10)
    svc.init(suites=("SM4",), types=(7,))
    want = svc.pad_link_key("110105", bytes(8))
    monkeypatch.setenv("PADCTL_PASSPHRASE", "pw")
    assert K.Keystore.load(tmp_path / "svc").pad_link_key("110105", bytes(8)) == want
    monkeypatch.setenv("PADCTL_PASSPHRASE", "nope")
    with pytest.raises(K.KeystoreError, match="wrong passphrase"):
        K.Keystore.load(tmp_path / "svc")
