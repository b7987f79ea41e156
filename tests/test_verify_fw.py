"""The firmware's secure VERIFY against the virtual card and PSAM, end to end.

The real firmware (card, psam, secure, pinblock, iso7816, the unix board's SocketSlot)
runs under micropython in tests/fw/drive_verify.py; the card and the PSAM are the
virtual devices in SlotServers on loopback. Acceptance (both suites, with the slot's
fault knobs), then the refusals of DESIGN section 3 and docs/protocol.md sections 4-6:
each one checked in the firmware's output, on the wire (the slot's transcript) and in
the card's own state file. Keys are generated per test: TEST MATERIAL.
"""
import time

import pytest

from mp import FWTESTS, run_mp
from padctl import keys as K
from padctl.crypto import Suite
from padsim.slot import SlotServer, make_atr
from padsim.vcard import card_state, personalise_card
from padsim.vpsam import personalise_psam

DRIVER = FWTESTS / "drive_verify.py"
RIGHT, WRONG = "123456", "000000"
SUITES = pytest.mark.parametrize("suite", [Suite.SM4, Suite.DES3], ids=lambda s: s.label)
CARD_ERRORS = {"ProtocolError", "Timeout", "CardRemoved", "StatusError", "Refused",
               "SecurityError", "Plain"}
# a card and a PSAM whose ATR says WI 4: the silent cases end sooner
FAST = {"card": make_atr(b"\x80\x31\xc0\x53SSC", wi=4),
        "psam": make_atr(b"\x80\x31\xc0\x54PSAM", wi=4)}
WWT_MS = -(-4 * 960 * 372 * 1000 // 3570000)  # WI * 960 * Fi / f, rounded up: 401 ms


class World:
    """Generated keys, a card of region 110105 and a PSAM issued at the prefecture level."""

    def __init__(self, tmp, suite=Suite.SM4, psam_suite=None, psam_region="110105",
                 ident=None, **card_kw):
        self.ks = K.Keystore.generate(tmp / "ks.json", versions=(1, 2))
        self.ident = K.new_identity(suite, **(ident or {}))
        self.card_path = tmp / "card.json"
        self.card = personalise_card(self.ks, self.card_path, self.ident, **card_kw)
        self.psam = personalise_psam(self.ks, tmp / "psam.json", psam_suite or suite,
                                       psam_region, 2)

    def state(self):
        return card_state(self.card_path)


class Run:
    """One run of the driver: its output lines and both slots (with their transcripts)."""

    def __init__(self, world, ops, card=None, card_slot=None, psam_slot=None, args=(),
                 timeout=20):
        with SlotServer(card or world.card, **(card_slot or {})) as cs, \
                SlotServer(world.psam, name="psam", **(psam_slot or {})) as ps:
            t = time.monotonic()
            r = run_mp(DRIVER, ["--card", cs.addr, "--psam", ps.addr, *args, *ops],
                       timeout=timeout)
            self.seconds = time.monotonic() - t
        self.card_slot, self.psam_slot = cs, ps
        assert r.returncode == 0, r.stdout + r.stderr
        self.lines = r.stdout.splitlines()
        assert self.lines, r.stderr
        assert not [x for x in self.lines if x.startswith("crash")], r.stdout + r.stderr

    def after_setup(self):
        assert self.lines[2] == "auth ok", self.lines
        return self.lines[3:]

    def card_commands(self):
        return commands(self.card_slot)

    def psam_commands(self):
        return commands(self.psam_slot)


def commands(slot):
    """The command TPDUs the slot received (header, and data for incoming INS)."""
    rx = b"".join(b for d, b in slot.transcript if d == "rx")
    out, i = [], 0
    while i < len(rx):
        hdr = rx[i:i + 5]
        n = hdr[4] if hdr[1] in slot.incoming else 0
        out.append(hdr + rx[i + 5:i + 5 + n])
        i += 5 + n
    return out


def is_verify(c):
    """A secure VERIFY with a PIN block (not the authenticated tries-left read, Lc 04)."""
    return c[:2] == b"\x04\x20" and c[4] > 4


def ins_seen(cmds):
    return [(c[0], c[1]) for c in cmds]


def outcome(tries, sw):
    return ["tries %s" % tries, "sw %s" % sw]


class Shim:
    """A man in the middle on the card wire: edits the card's answer to a secure VERIFY
    (one with a PIN block: not the authenticated tries-left read, Lc 04)."""

    def __init__(self, inner, edit):
        self.inner, self.edit = inner, edit

    def reset(self):
        self.inner.reset()

    def process(self, apdu):
        r = self.inner.process(apdu)
        if bytes(apdu[:2]) == b"\x04\x20" and apdu[4] > 4 and len(r) == 12:
            r = self.edit(bytearray(r))
        return bytes(r)


# --- acceptance ---------------------------------------------------------------------

ACCEPT = (outcome(3, "9000") + outcome(3, "63c2") + outcome(2, "63c1") + outcome(1, "6983")
          + outcome(0, "6983"))
FAULTS = {
    "clean": {},
    "nulls": dict(nulls=0.5, null_delay=0.001, seed=1),
    "byte_by_byte": dict(byte_by_byte=True),
    "chunks": dict(chunks=True, chunk_delay=0.001, seed=2),
    "always_61": dict(always_61=True),
    "le_mismatch": dict(le_mismatch=True),
    "all": dict(nulls=0.3, null_delay=0.001, byte_by_byte=0.5, chunks=True, chunk_delay=0.001,
                always_61=True, le_mismatch=True, seed=3),
}


@SUITES
@pytest.mark.parametrize("faults", list(FAULTS), ids=list(FAULTS))
def test_right_pin_then_three_wrong_lock_the_card(tmp_path, suite, faults):
    w = World(tmp_path, suite)
    knobs = FAULTS[faults]
    r = Run(w, [RIGHT, WRONG, "111111", "99999999", RIGHT], card_slot=knobs, psam_slot=knobs)
    assert r.lines[0] == "card %s %d" % (w.ident.card_id.hex(), int(suite))
    assert r.lines[1] == "psam 000000000001"
    assert r.after_setup() == ACCEPT
    s = w.state()
    assert s["tries"] == 0 and s["counts"]["verify_ok"] == 1 and s["counts"]["verify_fail"] == 3
    # every VERIFY crossed the wire as a secure one: never a PIN in clear
    # (each attempt: the authenticated tries-left read, Lc 04: the MAC alone, then the
    # secure VERIFY, Lc block + 4)
    verifies = [c for c in r.card_commands() if c[1] == 0x20]
    assert [(c[0], c[4]) for c in verifies] == [(4, 4), (4, suite.block + 4)] * 5
    for slot in (r.card_slot, r.psam_slot):  # and the knobs were really on
        assert KNOB_SEEN[faults](slot)


def _tx(slot):
    return [b for d, b in slot.transcript if d == "tx"]


def _reissued(slot):
    """A case-2 header (or GET RESPONSE) sent twice in a row: the pad followed a 6Cxx."""
    cmds = commands(slot)
    return any(a == b and len(a) == 5 and a[1] in (0xB0, 0x84, 0xC0)
               for a, b in zip(cmds, cmds[1:]))


GR_AFTER_READ = b"\x00\xc0\x00\x00\x06", b"\x00\xc0\x00\x00\x26"  # terminal no., EF05
KNOB_SEEN = {
    "clean": lambda s: b"\x60" not in _tx(s) and not _reissued(s),
    "nulls": lambda s: b"\x60" in _tx(s),
    "byte_by_byte": lambda s: bool({bytes((c[1] ^ 0xFF,)) for c in commands(s)} & set(_tx(s))),
    "chunks": lambda s: len(_tx(s)) > len(commands(s)) * 2,
    "always_61": lambda s: any(c[:5] in GR_AFTER_READ for c in commands(s)),
    "le_mismatch": _reissued,
}
KNOB_SEEN["all"] = lambda s: all(KNOB_SEEN[k](s) for k in FAULTS if k not in ("clean", "all"))


@SUITES
def test_last_failure_as_63c0(tmp_path, suite):
    w = World(tmp_path, suite, last_failure_sw=0x63C0)
    r = Run(w, [WRONG, WRONG, WRONG, RIGHT])
    assert r.after_setup() == (outcome(3, "63c2") + outcome(2, "63c1") + outcome(1, "63c0")
                               + outcome(0, "6983"))
    assert w.state()["tries"] == 0


@SUITES
def test_right_pin_resets_the_run(tmp_path, suite):
    w = World(tmp_path, suite)
    r = Run(w, [WRONG, WRONG, RIGHT, WRONG])
    assert r.after_setup() == (outcome(3, "63c2") + outcome(2, "63c1") + outcome(1, "9000")
                               + outcome(3, "63c2"))
    assert w.state()["tries"] == 2


# --- the card's answer is authenticated ---------------------------------------------

def flip_mac(r):
    r[9] ^= 0x01  # last byte of M' (99 02 SW1 SW2 8E 04 M' 90 00)
    return r


def fake_ok(r):
    r[2:4] = b"\x90\x00"  # a shim turning 63Cx into 9000 without the session key
    return r


@SUITES
def test_forged_answer_mac_is_refused(tmp_path, suite):
    w = World(tmp_path, suite)
    r = Run(w, [RIGHT], card=Shim(w.card, flip_mac))
    assert r.after_setup() == ["tries 3", "err SecurityError card answer MAC forged"]
    s = w.state()
    assert s["tries"] == 3 and s["counts"]["verify_ok"] == 1  # the card did verify


@SUITES
def test_shim_faking_9000_is_refused(tmp_path, suite):
    w = World(tmp_path, suite)
    r = Run(w, [WRONG], card=Shim(w.card, fake_ok))
    assert r.after_setup() == ["tries 3", "err SecurityError card answer MAC forged"]
    assert w.state()["tries"] == 2  # the card spent it: the pad must not count it a success


def test_malformed_secure_answer(tmp_path):
    w = World(tmp_path)
    r = Run(w, [RIGHT], card=Shim(w.card, lambda a: a[:6] + a[-2:]))
    assert r.after_setup() == ["tries 3", "err ProtocolError secure answer malformed"]


# --- refused before anything is spent -----------------------------------------------

@SUITES
def test_clone_is_refused_at_internal_authenticate(tmp_path, suite):
    w = World(tmp_path, suite)
    clone = personalise_card(w.ks, tmp_path / "clone.json", w.ident, clone=True)
    r = Run(w, [RIGHT], card=clone)
    assert r.lines[0] == "card %s %d" % (w.ident.card_id.hex(), int(suite))  # same identity
    assert r.lines[2:] == ["err SecurityError card authentication failed"]
    seen = ins_seen(r.card_commands())
    assert (0x00, 0x88) in seen
    assert not [c for c in seen if c[1] in (0x84, 0x20)]  # no GET CHALLENGE, no VERIFY
    s = card_state(tmp_path / "clone.json")
    assert s["tries"] == 3 and s["counts"]["verify_fail"] == 0


OTHER = {
    "region": dict(psam_region="120101"),
    "prefecture": dict(psam_region="110205"),
    "pin_key_version": dict(ident=dict(kv_pin=2)),
    "mac_key_version": dict(ident=dict(kv_mac=2)),
    "ia_key_version": dict(ident=dict(kv_ia=2)),
    "suite": dict(psam_suite=Suite.DES3),
}


@pytest.mark.parametrize("other", list(OTHER), ids=list(OTHER))
def test_card_of_another_region_or_key_version_is_refused(tmp_path, other):
    w = World(tmp_path, **OTHER[other])
    r = Run(w, [RIGHT])
    assert r.lines[2:] == ["err Refused card of another region 110105"]
    seen = ins_seen(r.card_commands())
    assert set(seen) == {(0x00, 0xA4), (0x00, 0xB0)}  # SELECT, READ BINARY EF05: nothing else
    assert not [c for c in ins_seen(r.psam_commands()) if c[1] in (0x1A, 0xFA)]
    s = w.state()
    assert s["tries"] == 3 and s["counts"] == dict.fromkeys(s["counts"], 0)


# --- challenges: replayed, stale, spent by another command --------------------------

@SUITES
def test_replayed_verify_is_refused(tmp_path, suite):
    w = World(tmp_path, suite)
    first = Run(w, [WRONG])
    assert first.after_setup() == outcome(3, "63c2")
    verify = [c for c in first.card_commands() if is_verify(c)]
    assert len(verify) == 1
    replay = verify[0].hex()
    r = Run(w, ["chal", "raw:" + replay, "raw:" + replay, "chal", "chal", "raw:" + replay])
    out = r.after_setup()
    assert out[0].startswith("chal ") and len(out[0]) == 5 + 16
    assert out[1:3] == ["raw 6988 -", "raw 6984 -"]  # MAC under another R; then no R at all
    assert out[5] == "raw 6988 -"
    s = w.state()
    assert s["tries"] == 2 and s["counts"]["verify_fail"] == 1


@SUITES
def test_stale_challenge_spends_no_try(tmp_path, suite):
    w = World(tmp_path, suite)
    r = Run(w, ["stale:" + WRONG, WRONG])
    assert r.after_setup() == ["tries 3", "err Plain card refused SW 6988"] + \
        outcome(3, "63c2")
    cmds = r.card_commands()
    i = [is_verify(c) for c in cmds].index(True)
    assert cmds[i - 1][:2] == cmds[i - 2][:2] == b"\x00\x84"  # R replaced before the VERIFY
    assert w.state()["tries"] == 2  # only the second, delivered attempt spent one


@SUITES
def test_command_between_challenge_and_verify_spends_no_try(tmp_path, suite):
    w = World(tmp_path, suite)
    r = Run(w, ["between:" + WRONG])
    assert r.after_setup() == ["tries 3", "err Plain card refused SW 6984"]
    cmds = [c[:4] for c in r.card_commands()]
    i = [is_verify(c) for c in r.card_commands()].index(True)
    assert cmds[i - 1] == b"\x00\x20\x00\x00" and cmds[i - 2] == b"\x00\x84\x00\x00"
    s = w.state()
    assert s["tries"] == 3 and s["counts"]["verify_fail"] == 0


# --- garbled, truncated, silent and pulled cards and PSAMs --------------------------

def sent_before(run_slot, events, cmd_prefix):
    """Bytes sent by the slot when the last command starting with cmd_prefix was received."""
    rx_end, i = None, 0
    for c in commands(run_slot):
        i += len(c)
        if c.startswith(cmd_prefix):
            rx_end = i - 1
    assert rx_end is not None
    after = False
    for d, idx in events:
        if d == "rx" and idx == rx_end:
            after = True
        elif after and d == "tx":
            return idx
    raise AssertionError("no answer after the command")


def fault_at(world, wire, prefix):
    """Run once clean, recording the byte order, and find where the fault should hit."""
    events = []
    knobs = {"on_byte": lambda d, i, b: events.append((d, i)) and False, "atr": FAST[wire]}
    r = Run(world, [WRONG], **{wire + "_slot": knobs})
    return sent_before(r.card_slot if wire == "card" else r.psam_slot, events, prefix)


GARBLED = {
    "garbage": (lambda w, wire: dict(garbage=True, seed=5), CARD_ERRORS),
    "truncate": (lambda w, wire: dict(truncate=1), {"Timeout"}),
    "silent_early": (lambda w, wire: dict(silent_after=len(FAST[wire]) + 1), {"Timeout"}),
    "pull_early": (lambda w, wire: dict(pull_after=len(FAST[wire]) + 1), {"CardRemoved"}),
    "silent_late": (lambda w, wire: dict(silent_after=fault_at(w, wire, LATE[wire])),
                    {"Timeout"}),
    "pull_late": (lambda w, wire: dict(pull_after=fault_at(w, wire, LATE[wire])),
                  {"CardRemoved"}),
}
# the secure VERIFY on the card wire; on the PSAM wire the MAC of the card's answer
# (the last CIPHER DATA of an attempt, after the card has spent the try)
LATE = {"card": b"\x04\x20", "psam": b"\x80\xfa\x05"}


@pytest.mark.parametrize("wire", ["card", "psam"])
@pytest.mark.parametrize("fault", list(GARBLED), ids=list(GARBLED))
def test_garbled_truncated_silent_or_pulled_gives_a_clear_error(tmp_path, wire, fault):
    w = World(tmp_path)
    make, classes = GARBLED[fault]
    knobs = make(w, wire)  # a late fault first runs once to find its byte: one try spent
    knobs["atr"] = FAST[wire]
    before = w.state()["tries"]
    r = Run(w, [WRONG], **{wire + "_slot": knobs})
    last = r.lines[-1].split(" ", 2)
    if wire == "psam":  # every PSAM fault is a PsamError (the pad tells it from a card's)
        assert last[0] == "err" and last[1] == "PsamError", r.lines
    else:
        assert last[0] == "err" and last[1] in classes, r.lines
    assert len(last) == 3 and last[2].strip(), r.lines  # with a message
    if last[1] in ("Timeout", "CardRemoved") or "silent" in last[2] or "removed" in last[2]:
        assert ("card" if wire == "card" else "PSAM") in last[2], r.lines  # which device
    if last[1] == "Timeout" or "silent" in last[2]:
        assert "%d ms" % WWT_MS in last[2], r.lines  # the work waiting time of the ATR's WI
    assert r.seconds < 10
    late = fault.endswith("_late")
    if late:  # the VERIFY went and the card spent the try; the pad must leave it pending
        assert r.lines[-2] == "tries %d" % before, r.lines
        assert w.state()["tries"] == before - 1
    else:  # broken before the VERIFY: nothing spent
        assert w.state()["tries"] == before


@pytest.mark.parametrize("wire", ["card", "psam"])
def test_garbage_never_crashes(tmp_path, wire):
    """Random answers to every header, several seeds: always a firmware error, nothing spent."""
    w = World(tmp_path)
    for seed in range(8):
        r = Run(w, [WRONG], **{wire + "_slot": dict(garbage=True, seed=seed, atr=FAST[wire])})
        last = r.lines[-1].split(" ", 2)
        allowed = {"PsamError"} if wire == "psam" else CARD_ERRORS
        assert last[0] == "err" and last[1] in allowed and last[2].strip(), r.lines
    assert w.state()["tries"] == 3


# --- the authenticated tries-left read ----------------------------------------------

@SUITES
def test_tries_left_read_is_authenticated(tmp_path, suite):
    w = World(tmp_path, suite)
    r = Run(w, [WRONG])
    assert r.after_setup() == outcome(3, "63c2")
    cmds = r.card_commands()
    i = [c[:5] for c in cmds].index(b"\x04\x20\x00\x00\x04")
    assert cmds[i - 1][:2] == b"\x00\x84"  # its own challenge
    assert b"\x00\x20\x00\x00" not in [c[:4] for c in cmds]  # no plain read
    assert w.state()["tries"] == 2


@SUITES
def test_legacy_card_is_read_in_plain(tmp_path, suite):
    w = World(tmp_path, suite, auth_tries=False)
    r = Run(w, [WRONG])
    assert r.after_setup() == ["tries 3 plain", "sw 63c2"]  # 6700 to the read: the plain one
    assert w.state()["tries"] == 2


def test_forged_answer_to_the_read_is_refused(tmp_path):
    w = World(tmp_path)

    class ReadShim(Shim):
        def process(self, apdu):
            r = self.inner.process(apdu)
            if bytes(apdu[:5]) == b"\x04\x20\x00\x00\x04" and len(r) == 12:
                r = bytes(flip_mac(bytearray(r)))
            return r

    r = Run(w, [RIGHT], card=ReadShim(w.card, None))
    assert r.after_setup() == ["err SecurityError card answer MAC forged"]
    assert w.state()["tries"] == 3
