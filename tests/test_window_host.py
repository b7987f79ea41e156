"""padctl.window (issue 9, the host's half): the ID documents, the department's keys
(KeyService), the checks store (window_checks: masked and keyed-hashed, linked to the
synced UNLOCK / RESET records), window() and the `padctl window` CLI.

The pad's driver (padctl.winlink, built on another branch) is replaced here by FakeLink,
which does what the contract (briefs: window-contract) says the driver does, against a
virtual card (padsim.vcard) made from the test keys: reads EF05 and EF06, asks
keys.check_card, compares the holder's ID, and sends PIN UNBLOCK / RELOAD PIN with the
MAC from keys.command_mac, checking the card's SM answer with it. Every key and card
here is TEST MATERIAL, generated at run time.
"""
import json
import os
import sqlite3
import sys
import types
from datetime import date, timedelta

import pytest

from padctl import cli
from padctl import keys as K
from padctl import window as W
from padctl.cardspec import Identity
from padctl.crypto import Suite
from padctl.idnumber import DEFAULT_HOLDER_ID, gb11643_check_digit
from padctl.link import Keys
from padctl.store import KIND_CODES, Store
from padsim.bench_region import raw_record
from padsim.vcard import VirtualCard

HOLDER = "ID:" + DEFAULT_HOLDER_ID        # 110105199001011232 (test material)
AGENT = "ID:110105198502153218"           # consolekit.AGENT_ID
REGION, NEIGHBOUR = "110105", "110106"


def with_digit(first17):
    return first17 + gb11643_check_digit(first17)


# --- documents -------------------------------------------------------------------------

def test_wrong_check_digit_is_refused_naming_the_digit_due():
    with pytest.raises(W.WindowError) as e:
        W.check_documents("ID:110105199001011233")
    assert str(e.value) == ("holder's document 110105********1233: wrong check digit "
                            "(GB 11643: 2 expected)")
    with pytest.raises(W.WindowError, match="agent's document 110105\\*{8}3219: wrong check"):
        W.check_documents(HOLDER, "ID:110105198502153219")


def test_impossible_birth_dates_are_refused():
    for born, why in (("19900230", "is not a date"), ("19901301", "is not a date"),
                      ("18991231", "is before 1900"),
                      ((date.today() + timedelta(days=1)).strftime("%Y%m%d"), "in the future")):
        n = with_digit("110105" + born + "123")
        with pytest.raises(W.WindowError, match=why):
            W.check_documents("ID:" + n)
    # a leap day is a date; today is not in the future
    W.check_documents("ID:" + with_digit("110105200002291231"[:17]))
    W.check_documents("ID:" + with_digit("110105" + date.today().strftime("%Y%m%d") + "123"))


def test_a_region_prefix_that_does_not_exist_is_refused():
    for prefix in ("990105", "000105", "100105", "110005"):  # no province 99/00/10; CC 00
        n = with_digit(prefix + "19900101123")
        with pytest.raises(W.WindowError, match="region %s does not exist" % prefix):
            W.check_documents("ID:" + n)
    for prefix in ("110000", "440305", "650100", "710000"):
        W.check_documents("ID:" + with_digit(prefix + "19900101123"))


def test_each_document_type_by_its_format():
    ok = {"RP": [with_digit("81000019900101123"), with_digit("83000019751231002")],
          "FPR": [with_digit("93115619900101123")],
          "PASSPORT": ["E12345678", "EA1234567", "G12345678", "X1234567", "123456789"],
          "HKMO": ["H12345678", "M1234567890", "h12345678"],
          "TW": ["12345678"]}
    for t, numbers in ok.items():
        for n in numbers:
            h, _ = W.check_documents("%s:%s" % (t, n))
            assert h.type == t and h.number == n.upper()
    bad = {"RP": [with_digit("84000019900101123"), with_digit("81010119900101123"),
                  with_digit("81000019901301123")],
           "FPR": [with_digit("11010519900101123"), "9311561990010112"],
           "PASSPORT": ["E1234", "ABCDEFGHI", "E1234567890", "E-1234567"],
           "HKMO": ["H1234567", "A12345678", "H123456789", "12345678"],
           "TW": ["1234567", "123456789", "T1234567"],
           "ID": [with_digit("81000019900101123"), with_digit("93115619900101123"),
                  "11010519900101123", "1101051990010112A2"]}
    for t, numbers in bad.items():
        for n in numbers:
            with pytest.raises(W.WindowError) as e:
                W.check_documents("%s:%s" % (t, n))
            assert str(e.value).startswith("holder's document"), (t, n, e.value)
            assert n not in str(e.value) or len(n) < 8, "a clear number in the message"
    for spec in ("XX:123", "110105199001011232", "ID:", ":123"):
        with pytest.raises(W.WindowError):
            W.check_documents(spec)


def test_an_agent_without_the_holders_document_is_refused():
    for holder in (None, "", "ID:"):
        with pytest.raises(W.WindowError, match="holder's document is required.*agent"):
            W.check_documents(holder, AGENT)
    with pytest.raises(W.WindowError, match="the holder's own"):
        W.check_documents(HOLDER, HOLDER)
    h, a = W.check_documents(HOLDER, AGENT)
    assert (h.masked, a.masked) == ("110105********1232", "110105********3218")
    assert DEFAULT_HOLDER_ID not in repr((h, a))


def test_doc_types_as_the_console_uses_them():
    from consolekit import RecordingWindow
    assert list(W.DOC_TYPES.items()) == RecordingWindow.DOC_TYPES
    assert tuple(W.NUMBERED) == RecordingWindow.NUMBERED
    assert set(W.DOC_TYPES_ZH) == set(W.DOC_TYPES)
    from padctl.console.i18n import ZH
    for code, name in W.DOC_TYPES.items():
        assert ZH[name] == W.DOC_TYPES_ZH[code]


# --- the department's keys -----------------------------------------------------------------

@pytest.fixture(scope="module")
def ks():
    return K.Keystore.generate(None)  # TEST MATERIAL, in memory


def card(ks, path, region=REGION, suite=Suite.SM4, holder_id=DEFAULT_HOLDER_ID, tries=None):
    ident = K.new_identity(suite, region)
    K.write_card(ks, path, ident, holder_id=holder_id)
    if tries is not None:
        st = json.loads(path.read_text())
        st["tries"] = tries
        path.write_text(json.dumps(st))
    return ident


def test_a_card_of_a_neighbouring_city_is_refused_naming_its_region(ks, tmp_path):
    keys = W.KeyService(ks, REGION)
    own = card(ks, tmp_path / "own.json")
    other = card(ks, tmp_path / "other.json", NEIGHBOUR)
    assert keys.check_card(own.card_id, own.ef05()) is None
    with pytest.raises(W.WindowError) as e:
        keys.check_card(other.card_id, other.ef05())
    assert "region 110106" in str(e.value) and "(110105)" in str(e.value)
    with pytest.raises(W.WindowError, match="region 110106"):
        keys.command_mac(other.ef05(), 5, bytes(8), b"\x84\x24\x00\x00\x04")
    with pytest.raises(W.WindowError, match="does not match its EF05"):
        keys.check_card(other.card_id, own.ef05())
    with pytest.raises(W.WindowError, match="EF05"):
        keys.check_card(own.card_id, own.ef05()[:-1])
    # a prefecture's department serves its cities; another city's department does not
    assert W.KeyService(ks, "110100").check_card(other.card_id, other.ef05()) is None
    with pytest.raises(W.WindowError, match="region 110105"):
        W.KeyService(ks, NEIGHBOUR).check_card(own.card_id, own.ef05())
    with pytest.raises(W.WindowError, match="GB/T 2260"):
        W.KeyService(ks, "990105")


@pytest.mark.parametrize("suite", [Suite.SM4, Suite.DES3])
def test_command_mac_is_the_one_the_card_checks(ks, tmp_path, suite):
    keys = W.KeyService(ks, REGION)
    ident = card(ks, tmp_path / "c.json", suite=suite, tries=0)
    vc = VirtualCard(tmp_path / "c.json")
    vc.process(bytes.fromhex("00A404000F") + bytes.fromhex("7378312E73682EC9E7BBE1B1A3D5CF"))
    vc.process(bytes.fromhex("00A4040006D15600000590"))
    r = vc.process(bytes.fromhex("0084000008"))[:8]
    head = bytes.fromhex("8424000004")
    m = keys.command_mac(ident.ef05(), 5, r, head)
    assert m == K.unblock_apdu(ks, ident, r)[5:]
    ans = vc.process(head + m)
    assert ans[-2:] == b"\x90\x00" and vc.tries == 3
    assert keys.command_mac(ident.ef05(), 5, r, m + ans[:4]) == ans[6:10]
    with pytest.raises(W.WindowError, match="only PIN unblock"):
        keys.command_mac(ident.ef05(), 4, r, head)


def test_link_key_and_hash_key(ks):
    keys = W.KeyService(ks, REGION)
    pad = os.urandom(8)
    assert keys.link_key(pad) == ks.pad_link_key(REGION, pad) == keys.link_key(pad.hex())
    assert keys.hash_key() == ks.pad_link_key(REGION, W.HASH_FACTOR)
    assert len(keys.hash_key()) == 16
    assert W.KeyService(ks, NEIGHBOUR).hash_key() != keys.hash_key()


def test_the_simulators_key_service_works_too(tmp_path):
    from padsim.sim import sim_keys
    sks = sim_keys(tmp_path / "svc")  # a ServiceKeystore (issue 8), as PadSim's .ks
    keys = W.KeyService(sks, REGION)
    ident = card(sks, tmp_path / "c.json")
    r = os.urandom(8)
    apdu = K.secured_apdu(ident, b"\x84\x5e\x00\x00", b"x" * 16,
                          K.session_mac(sks, ident, 6, r), r)
    assert keys.command_mac(ident.ef05(), 6, r, apdu[:-4]) == apdu[-4:]
    assert len(keys.hash_key()) == 16


# --- the fake driver, as the contract says -------------------------------------------------

class FakeOutcome:
    def __init__(self, **kw):
        self.__dict__.update(kw)


class FakeLink:
    """padctl.winlink as the contract describes it, driving a virtual card."""

    class WindowRefused(Exception):
        pass

    new_pin = "271828"

    def __init__(self, ks, card_path, pad_id, link_key):
        self.ks, self.card_path, self.pad_id, self.link_key = ks, card_path, pad_id, link_key
        self.calls = []

    def module(self):
        m = types.ModuleType("padctl.winlink")
        m.WindowRefused = self.WindowRefused
        m.run = self.run
        return m

    def run(self, port, link_key, op, ref, holder_id, keys, progress=None, wait=300.0,
            pad_id=None):
        self.calls.append((port, op, ref, holder_id, pad_id))
        say = progress or (lambda s: None)
        if callable(link_key):
            link_key = link_key(self.pad_id)
        if link_key != self.link_key:
            raise self.WindowRefused("the pad's MAC does not check out (wrong link key)")
        assert isinstance(ref, bytes) and len(ref) == 6
        say("the pad asks for the card")
        vc = VirtualCard(self.card_path)
        vc.process(bytes.fromhex("00A4040006D15600000590"))
        ef05 = vc.process(bytes.fromhex("00B0850026"))[:-2]
        ef06 = vc.process(bytes.fromhex("00B0860012"))[:-2]
        ident = Identity.from_ef05(ef05)
        out = dict(op=op, ref=ref.hex(), pad=self.pad_id.hex(), card=ident.card_id.hex(),
                   done=False, sw="")
        keys.check_card(ident.card_id, ef05)  # WindowError: another region
        say("card %s (region %s, tries left %d)" % (ident.card_id.hex().upper(), ident.region,
                                                    vc.tries))
        if ef06.decode() != holder_id:
            e = self.WindowRefused("the holder's ID does not match the card")
            e.card = ident.card_id
            raise e
        r = vc.process(bytes.fromhex("0084000008"))[:8]
        if op == "unlock":
            head, body, t = bytes.fromhex("8424000004"), b"", 5
        else:
            # the new PIN as the pad's PSAM enciphers it (under SK_pin of R: the test's
            # keystore stands in for the PSAM here)
            from padctl.crypto import disperse, encrypt, pin_block
            sk = disperse(ident.suite, self.ks.card_key(ident.suite, 1, ident.kv_pin,
                                                        ident.region, ident.serial), r)
            body = encrypt(ident.suite, sk, pin_block(ident.suite, self.new_pin))
            head, t = bytes((0x84, 0x5E, 0, 0, len(body) + 4)), 6
        m = keys.command_mac(ef05, t, r, head + body)
        ans = vc.process(head + body + m)
        if len(ans) != 12 or keys.command_mac(ef05, t, r, m + ans[:4]) != ans[6:10]:
            return FakeOutcome(result="card answer not proven", **out)
        out["sw"] = ans[2:4].hex().upper()
        done = out["sw"] == "9000"
        out["done"] = done
        return FakeOutcome(result=("unlocked" if op == "unlock" else "reset") if done
                           else "card said %s" % out["sw"], **out)


@pytest.fixture
def rig(ks, tmp_path, monkeypatch):
    """A locked card of 110105 behind a fake pad; the window's KeyService; the store."""
    pad = os.urandom(8)
    path = tmp_path / "card.json"
    ident = card(ks, path, tries=0)
    fake = FakeLink(ks, path, pad, ks.pad_link_key(REGION, pad))
    monkeypatch.setitem(sys.modules, "padctl.winlink", fake.module())
    monkeypatch.setattr("padctl.winlink", sys.modules["padctl.winlink"], raising=False)
    rig = types.SimpleNamespace(ks=ks, keys=W.KeyService(ks, REGION), pad=pad, ident=ident,
                                card=ident.card_id.hex(), path=path, fake=fake,
                                db=str(tmp_path / "events.db"), dir=tmp_path)
    return rig


def test_window_unlocks_and_keeps_the_check_masked_and_hashed(rig):
    steps = []
    out = W.window("/dev/pad", rig.keys, rig.db, W.OPS["unlock"], "wang.li", HOLDER, None,
                   rig.pad, 30, progress=steps.append)
    assert (out.op, out.done, out.result, out.sw) == ("unlock", True, "unlocked", "9000")
    assert VirtualCard(rig.path).tries == 3
    assert steps[0] == "the pad asks for the card" and "region 110105" in steps[1]
    port, op, ref, holder_id, pad_id = rig.fake.calls[0]
    assert (port, op, holder_id, pad_id) == ("/dev/pad", "unlock", DEFAULT_HOLDER_ID, rig.pad)
    assert ref.hex() == out.ref
    with W.Checks(rig.db) as c:
        rows = c.list()
    assert len(rows) == 1
    row = rows[0]
    assert set(row) == {"ref", "at", "clerk", "op", "region", "holder_type", "holder_masked",
                        "agent_type", "agent_masked", "pad_id", "card_id", "result", "records",
                        "journaled"}
    assert row["ref"] == out.ref and row["clerk"] == "wang.li" and row["op"] == "unlock"
    assert row["holder_type"] == "ID" and row["holder_masked"] == "110105********1232"
    assert row["agent_type"] is None and row["region"] == REGION
    assert (row["pad_id"], row["card_id"]) == (rig.pad.hex(), rig.card)
    assert (row["result"], row["records"], row["journaled"]) == ("unlocked", [], "not synced")
    db = sqlite3.connect(rig.db)
    (h,) = db.execute("SELECT holder_hash FROM window_checks").fetchone()
    db.close()
    assert h == W.Document("holder", "ID", DEFAULT_HOLDER_ID, "").keyed_hash(rig.keys.hash_key())
    assert_no_clear_number(rig.dir, DEFAULT_HOLDER_ID)


def assert_no_clear_number(folder, *numbers):
    """No file of the store (the database, its WAL) holds a number in clear, in ASCII or
    UTF-16, nor its BCD."""
    files = [p for p in folder.iterdir() if p.name.startswith("events.db")]
    assert files
    for p in files:
        blob = p.read_bytes()
        for n in numbers:
            for form in (n.encode(), n.encode("utf-16-le"), n[:16].encode()):
                assert form not in blob, (p.name, n)


def test_an_agents_reset_keeps_both_documents_masked_and_hashed(rig):
    out = W.window("/dev/pad", rig.keys, rig.db, W.OPS["reset"], "wang.li", HOLDER, AGENT,
                   None, 30)  # pad unknown: the driver takes the key of the pad that answers
    assert out.done and out.result == "reset"
    assert rig.fake.calls[0][4] is None
    st = json.loads(rig.path.read_text())
    assert (st["pin"], st["tries"]) == (FakeLink.new_pin, 3)
    with W.Checks(rig.db) as c:
        (row,) = c.list(rig.card)
    assert (row["agent_type"], row["agent_masked"]) == ("ID", "110105********3218")
    assert row["pad_id"] == rig.pad.hex()
    assert_no_clear_number(rig.dir, DEFAULT_HOLDER_ID, AGENT[3:])


def test_refusals_are_one_line_and_kept(rig, ks, tmp_path):
    # an agent cannot unlock; documents are refused before any check is written
    with pytest.raises(W.WindowError, match="agent may only reset"):
        W.window("p", rig.keys, rig.db, "unlock", "c1", HOLDER, AGENT, rig.pad, 1)
    with pytest.raises(W.WindowError, match="wrong check digit"):
        W.window("p", rig.keys, rig.db, "unlock", "c1", "ID:110105199001011233", None, rig.pad, 1)
    assert not os.path.exists(rig.db) or W.Checks(rig.db).list() == []
    # the holder's ID is not the card's: refused by the driver, kept as refused
    other = "ID:" + with_digit("11010519800101123")
    with pytest.raises(W.WindowError, match="does not match the card"):
        W.window("p", rig.keys, rig.db, "unlock", "c1", other, None, rig.pad, 1)
    # a card of the neighbouring city: the key service refuses, naming its region
    card(ks, rig.path, NEIGHBOUR, tries=0)
    with pytest.raises(W.WindowError, match="region 110106"):
        W.window("p", rig.keys, rig.db, "unlock", "c1", HOLDER, None, rig.pad, 1)
    assert VirtualCard(rig.path).tries == 0
    with W.Checks(rig.db) as c:
        rows = c.list()
    assert [r["result"].split(":")[0] for r in rows] == ["refused", "refused"]
    assert rows[0]["card_id"] == rig.card and "does not match" in rows[0]["result"]
    assert "region 110106" in rows[1]["result"]
    # a link lost: kept as failed, the LinkError goes on to the caller
    from padctl.link import LinkError

    def lost(*a, **kw):
        raise LinkError("no answer from the pad")
    sys.modules["padctl.winlink"].run = lost
    with pytest.raises(LinkError):
        W.window("p", rig.keys, rig.db, "reset", "c1", HOLDER, None, rig.pad, 1)
    with W.Checks(rig.db) as c:
        assert c.list()[-1]["result"] == "failed: no answer from the pad"
    with pytest.raises(W.WindowError, match="unlock or reset"):
        W.window("p", rig.keys, rig.db, "change", "c1", HOLDER, None, rig.pad, 1)


def test_without_the_driver_the_window_says_so(rig, monkeypatch):
    import padctl
    monkeypatch.setitem(sys.modules, "padctl.winlink", None)
    monkeypatch.delattr(padctl, "winlink")
    with pytest.raises(W.WindowError, match="no window driver"):
        W.window("p", rig.keys, rig.db, "unlock", "c1", HOLDER, None, rig.pad, 1)


# --- linking to the synced records -------------------------------------------------------------

def ingest(db, pad, records, key=None):
    """Store records (kind name, card hex, data) of a pad as sync does (verified chain)."""
    key = key or os.urandom(16)
    jmac = Keys(key, pad).journal_mac
    prev, raws, t = bytes(16), [], 1_700_000_000
    for seq, (kind, c, data) in enumerate(records, 1):
        raw = raw_record(KIND_CODES[kind], 1, seq, 1, t + seq,
                         bytes.fromhex(c) if c else None, data, prev, jmac)
        prev = raw[44:60]
        raws.append(raw)
    with Store(db) as s:
        stored, alerts, _ = s.ingest(pad.hex(), 1, raws, jmac)
    assert len(stored) == len(records) and not alerts
    return key


def test_synced_unlock_and_reset_records_link_to_their_checks(rig):
    u = W.window("p", rig.keys, rig.db, "unlock", "wang.li", HOLDER, None, rig.pad, 1)
    r = W.window("p", rig.keys, rig.db, "reset", "li.na", HOLDER, AGENT, rig.pad, 1)
    c = rig.card
    ingest(rig.db, rig.pad, [("BOOT", None, b"\0"), ("PIN_WRONG", c, b"\0\3"),
                             ("LOCK", c, b"\1\3"),
                             ("UNLOCK", c, bytes.fromhex(u.ref) + b"\3"),
                             ("AUTH_REFUSED", c, os.urandom(6)),  # another ref: not linked
                             ("RESET", c, bytes.fromhex(r.ref))])
    with W.Checks(rig.db) as ch:
        rows = ch.list(c)
    assert [(x["ref"], x["journaled"]) for x in rows] == [(u.ref, "done"), (r.ref, "done")]
    assert [(x["kind"], x["seq"], x["pad"]) for x in rows[0]["records"]] == [
        ("UNLOCK", 4, rig.pad.hex())]
    assert [(x["kind"], x["seq"]) for x in rows[1]["records"]] == [("RESET", 6)]
    db = sqlite3.connect(rig.db)  # the link is stored: the region links by record
    got = db.execute("SELECT ref, epoch, seq FROM window_checks ORDER BY rowid").fetchall()
    db.close()
    assert sorted(got) == sorted([(u.ref, 1, 4), (r.ref, 1, 6)])


def test_a_cut_operation_shows_as_the_pads_settling_says(rig):
    """A window operation cut after the pad's intent (protocol.md 9.7): the journal holds
    WINDOW (ref, op, tries) and, at the card's next insertion, the POWER_RECOVERY that
    settled the open attempt; 03 (the card did it) makes the check done and links it to
    that record, 02 (not delivered) leaves it not done and unlinked. Without the
    settling synced yet, it is not synced."""
    sys.modules["padctl.winlink"].run = lambda *a, **k: (_ for _ in ()).throw(
        ConnectionError("the pad's line went quiet"))  # the power cut, seen from the host
    for op in ("unlock", "reset"):
        with pytest.raises(ConnectionError):
            W.window("p", rig.keys, rig.db, op, "c1", HOLDER, AGENT if op == "reset" else None,
                     rig.pad, 1)
    with W.Checks(rig.db) as ch:
        refs = [x["ref"] for x in ch.list()]
    c, other = rig.card, "11" * 16
    u, r = (bytes.fromhex(x) for x in refs)
    recs = [("BOOT", None, b"\0"),
            ("WINDOW", c, u + b"\1\0"), ("PENDING", c, b"\0\3\1"),  # cut: unlock
            ("BOOT", None, b"\0"),
            ("POWER_RECOVERY", other, b"\2\3\0"),  # another card's: not this one's
            ("POWER_RECOVERY", c, b"\3\3\0")]  # the card did it: done
    with W.Checks(rig.db) as ch:  # nothing synced yet
        assert [x["journaled"] for x in ch.list()] == ["not synced", "not synced"]
    ingest(rig.db, rig.pad, recs + [
        ("WINDOW", c, r + b"\2\3"), ("PENDING", c, b"\3\3\1"),  # cut: reset
        ("BOOT", None, b"\0"),
        ("POWER_RECOVERY", c, b"\2\3\0")])  # not delivered: not done
    with W.Checks(rig.db) as ch:
        rows = {x["ref"]: x for x in ch.list()}
    assert rows[refs[0]]["journaled"] == "done after a power cut"
    assert [x["kind"] for x in rows[refs[0]]["records"]] == ["WINDOW", "POWER_RECOVERY"]
    assert rows[refs[0]]["records"][1]["seq"] == 6
    assert rows[refs[1]]["journaled"] == "not done (power cut)"
    db = sqlite3.connect(rig.db)
    got = dict((ref, (e, s)) for ref, e, s in
               db.execute("SELECT ref, epoch, seq FROM window_checks").fetchall())
    db.close()
    assert got == {refs[0]: (1, 6), refs[1]: (None, None)}


def test_a_check_refused_at_the_pad_shows_its_auth_refused(rig):
    sys.modules["padctl.winlink"].run = lambda *a, **k: (_ for _ in ()).throw(
        rig.fake.WindowRefused("Not authorised: the authorisation expired"))
    with pytest.raises(W.WindowError, match="expired"):
        W.window("p", rig.keys, rig.db, "unlock", "c1", HOLDER, None, rig.pad, 1)
    with W.Checks(rig.db) as ch:
        (row,) = ch.list()
    ingest(rig.db, rig.pad, [("AUTH_REFUSED", rig.card, bytes.fromhex(row["ref"]) + b"\2")])
    with W.Checks(rig.db) as ch:
        (row,) = ch.list()
    assert row["journaled"] == "refused" and row["records"][0]["kind"] == "AUTH_REFUSED"


def test_a_rewritten_check_moves_to_the_tables_end_for_the_forward(rig):
    """region.py forwards by rowid marks: a check changed after it was forwarded (its
    result, its link) is written again above every mark, so it is sent again."""
    W.window("p", rig.keys, rig.db, "unlock", "c1", HOLDER, None, rig.pad, 1)
    with W.Checks(rig.db) as ch:
        ch.begin("0a0b0c0d0e0f", "c2", "reset", REGION, *W.check_documents(HOLDER, AGENT),
                 rig.keys.hash_key(), rig.pad.hex())
        before = dict(ch.db.execute("SELECT ref, rowid FROM window_checks").fetchall())
        first = min(before, key=before.get)
        ch.end(first, "unlocked", True, rig.pad.hex(), rig.card, "9000")
        after = dict(ch.db.execute("SELECT ref, rowid FROM window_checks").fetchall())
    assert after[first] > max(before.values())


def test_sync_links_and_cards_shows_the_state(rig, capsys):
    """What sync does after storing records (window.link_synced), then `padctl cards`."""
    u = W.window("p", rig.keys, rig.db, "unlock", "c1", HOLDER, None, rig.pad, 1)
    ingest(rig.db, rig.pad, [("LOCK", rig.card, b"\1\3"),
                             ("UNLOCK", rig.card, bytes.fromhex(u.ref))])
    with Store(rig.db) as s:
        assert W.link_synced(s.db) == 1
        assert W.link_synced(s.db) == 0
    assert cli.main(["cards", "--db", rig.db, "--json"]) == 0
    (c,) = json.loads(capsys.readouterr().out)
    assert (c["card"], c["state"], c["last"]) == (rig.card, "unlocked", "UNLOCK")
    with Store(str(rig.dir / "empty.db")) as s:  # a store without checks: nothing to do
        assert W.link_synced(s.db) == 0


# --- the command line ------------------------------------------------------------------------

def run(capsys, *args):
    rc = cli.main([str(a) for a in args])
    o = capsys.readouterr()
    return rc, o.out, o.err


@pytest.fixture
def keystore_file(ks, rig):
    path = rig.dir / "keystore.json"
    K.Keystore(path, ks.data).save()
    return path


def test_cli_unlock_reset_and_checks(rig, keystore_file, capsys):
    base = ["--port", "/dev/pad", "--clerk", "wang.li", "--keystore", keystore_file,
            "--region", REGION, "--db", rig.db, "--pad", rig.pad.hex()]
    rc, out, err = run(capsys, "window", "unlock", "--holder-doc", HOLDER, *base)
    assert rc == 0, err
    assert out.startswith("unlock: unlocked (card %s at pad %s, check " % (rig.card,
                                                                          rig.pad.hex()))
    assert "padctl: the pad asks for the card\n" in err and "region 110105" in err
    rc, out, err = run(capsys, "window", "reset", "--holder-doc", HOLDER, "--agent-doc", AGENT,
                       "--json", *base)
    assert rc == 0 and json.loads(out)["result"] == "reset"
    rc, out, err = run(capsys, "window", "checks", "--db", rig.db, "--json")
    rows = json.loads(out)
    assert [r["op"] for r in rows] == ["unlock", "reset"]
    assert rows[1]["agent_masked"] == "110105********3218"
    rc, out, err = run(capsys, "window", "checks", "--db", rig.db, "--card", "00" * 16, "--json")
    assert json.loads(out) == []
    rc, out, err = run(capsys, "window", "checks", "--db", rig.db, "--since", "2999-01-01",
                       "--json")
    assert json.loads(out) == []
    rc, out, err = run(capsys, "window", "checks", "--db", rig.db)
    lines = out.splitlines()
    assert rc == 0 and len(lines) == 2 and "ID 110105********1232" in lines[0]
    assert DEFAULT_HOLDER_ID not in out
    assert_no_clear_number(rig.dir, DEFAULT_HOLDER_ID, AGENT[3:])


def test_cli_errors_are_one_line(rig, keystore_file, capsys):
    base = ["--port", "/dev/pad", "--clerk", "wang.li", "--keystore", keystore_file,
            "--region", REGION, "--db", rig.db]
    for extra, want in (
            (["--holder-doc", "ID:110105199001011233"], "wrong check digit (GB 11643: 2"),
            (["--holder-doc", "ID:1101051990010112"], "18 characters expected"),
            (["--holder-doc", "PASSPORT:E1"], "the number of a passport is"),
            (["--holder-doc", HOLDER, "--pad", "12"], "--pad must be 16 hex digits")):
        rc, out, err = run(capsys, "window", "unlock", *extra, *base)
        assert rc == 1 and err.count("\n") == 1 and want in err, err
        assert err.startswith("padctl: ") and "Traceback" not in err
    rc, out, err = run(capsys, "window", "reset", "--holder-doc", HOLDER, "--port", "p",
                       "--clerk", "c", "--keystore", rig.dir / "nope.json", "--region", REGION,
                       "--db", rig.db)
    assert rc == 1 and err.startswith("padctl: keystore: ") and err.count("\n") == 1
    rc, out, err = run(capsys, "window", "checks", "--db", rig.dir / "none.db")
    assert rc == 1 and "no event store" in err
    card(rig.ks, rig.path, NEIGHBOUR, tries=0)
    rc, out, err = run(capsys, "window", "unlock", "--holder-doc", HOLDER, *base)
    assert rc == 1 and "region 110106" in err and err.count("\n") == 2  # progress + error
    with pytest.raises(SystemExit) as e:  # usage: argparse's exit 2
        cli.main(["window", "unlock", "--holder-doc", HOLDER])
    assert e.value.code == 2
    capsys.readouterr()


def test_help_on_every_window_command(capsys):
    for sub in ("unlock", "reset", "checks"):
        with pytest.raises(SystemExit) as e:
            cli.main(["window", sub, "--help"])
        assert e.value.code == 0
        out = capsys.readouterr().out
        assert out.startswith("usage: padctl window %s" % sub)


# --- the console's seam and the region's forward ----------------------------------------------

def test_the_consoles_adapter_drives_the_library(rig):
    from padctl.console.winapi import ConsoleWindowError, PadPort, WindowAdapter
    pad = PadPort("%s@/dev/pad" % rig.pad.hex())
    a = WindowAdapter(rig.db, rig.ks, REGION, [pad])
    assert a.available is None
    types_, numbered = a.doc_types()
    assert types_[0] == ("ID", "resident identity card") and numbered == W.NUMBERED
    assert a.check(HOLDER, AGENT) == ("110105********1232", "110105********3218")
    with pytest.raises(ConsoleWindowError, match="wrong check digit"):
        a.check("ID:110105199001011233")
    steps = []
    out = a.run("unlock", pad, "wang.li", HOLDER, progress=steps.append)
    assert out["done"] and out["result"] == "unlocked" and out["card"] == rig.card
    assert steps and a.check_ref(out["ref"])["clerk"] == "wang.li"
    assert [c["ref"] for c in a.checks(rig.card)] == [out["ref"]]
    card(rig.ks, rig.path, NEIGHBOUR, tries=0)
    with pytest.raises(ConsoleWindowError, match="region 110106"):
        a.run("unlock", pad, "wang.li", HOLDER)


def test_the_region_reads_the_checks_table_as_it_forwards_it(rig):
    """region.py's reader: window_checks found, the columns its CHECK_MAP names (those of
    tests/test_region.py WINDOW_CHECKS_DDL) present, every row passes its clear-number
    check, the ref is the check's id."""
    from padctl import region as R
    from test_region import WINDOW_CHECKS_DDL
    u = W.window("p", rig.keys, rig.db, "unlock", "c1", HOLDER, None, rig.pad, 1)
    W.window("p", rig.keys, rig.db, "reset", "c1", HOLDER, AGENT, rig.pad, 1)
    ingest(rig.db, rig.pad, [("UNLOCK", rig.card, bytes.fromhex(u.ref))])
    with W.Checks(rig.db) as c:
        c.list()  # links
    want = [w.split()[0] for w in WINDOW_CHECKS_DDL.split("(", 1)[1].split(",")
            if w.split() and not w.split()[0].startswith("'")]
    src = R.WindowStore(rig.db)
    try:
        assert src.checks_table == "window_checks"
        assert set(want) <= set(src.check_cols), set(want) - set(src.check_cols)
        top, _, _ = src.snapshot()
        rows = src.rows("checks", 0, top["checks"], 100)
        out = [R.check_row("w1", src.check_cols, r) for r in rows]
    finally:
        src.close()
    by_id = {o[1]: dict(zip(("window",) + R.CHECK_COLS, o)) for o in out}
    assert by_id[u.ref]["ref"] == bytes.fromhex(u.ref) and by_id[u.ref]["seq"] == 1
    assert by_id[u.ref]["holder_masked"] == "110105********1232"
    assert DEFAULT_HOLDER_ID not in json.dumps([o[-1] for o in out])


def test_a_real_sync_links_the_check_to_the_pads_unlock_record(rig):
    """The firmware's link (drive_link under micropython, tests/test_link.py) serves a
    journal holding an UNLOCK whose data begins with the check's ref; padctl sync stores
    it and links the check (epoch, seq in window_checks) before anyone lists the checks."""
    import test_link as tl
    u = W.window("p", rig.keys, rig.db, "unlock", "c1", HOLDER, None, rig.pad, 1)
    spec = rig.dir / "journal.txt"
    spec.write_text("1 - -\n8 %s 0103\n12 %s %s03\n6 %s 03\n" % (rig.card, rig.card, u.ref,
                                                                rig.card))
    pad = tl.Pad(rig.dir, str(spec), pad_id=rig.pad, env={"LINK_RTC": 1_700_000_000})
    try:
        from padctl.sync import sync
        res = sync(pad.stream, rig.db, pad.key, pad.pad_id, quiet=0.01)
        assert res.stored == 4 and not res.alerts
    finally:
        pad.stop()
    db = sqlite3.connect(rig.db)
    assert db.execute("SELECT epoch, seq FROM window_checks WHERE ref=?",
                      (u.ref,)).fetchone() == (1, 3)
    db.close()
    with W.Checks(rig.db) as c:
        (row,) = c.list()
    assert row["journaled"] == "done" and row["records"][0]["kind"] == "UNLOCK"
