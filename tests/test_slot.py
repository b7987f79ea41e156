"""The simulated slot (protocol.md section 7.1) driven by a raw T=0 client written here.

The client follows ISO 7816-3 itself (ATR structure, procedure bytes, NULL, ACK, ~INS,
61xx, 6Cxx) and records what it saw, so each test can assert the character protocol.
Keys are generated per test: TEST MATERIAL.
"""
import os
import socket
import time

import pytest

from padctl import crypto as C
from padctl import keys as K
from padctl.crypto import Suite
from padsim.slot import CARD_ATR, PSAM_ATR, SlotServer, make_atr
from padsim.vcard import card_state, personalise_card
from padsim.vpsam import personalise_psam

H = bytes.fromhex
MF = H("00A404000F7378312E73682EC9E7BBE1B1A3D5CF")
DF01 = H("00A4040006D15600000590")


class Gone(Exception):
    """The slot closed the connection."""


class T0:
    """A minimal, strict T=0 interface device over the slot's TCP connection."""

    def __init__(self, port, timeout=2.0):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.seen = []      # procedure bytes, in order (NULLs included)
        self.received = 0   # bytes received in total
        self.atr = self.read_atr()

    def close(self):
        self.s.close()

    def read(self, n):
        buf = b""
        while len(buf) < n:
            try:
                got = self.s.recv(n - len(buf))
            except ConnectionResetError:
                got = b""
            if not got:
                raise Gone("closed after %d bytes" % self.received)
            buf += got
            self.received += len(got)
        return buf

    def read_atr(self):
        ts, t0 = self.read(2)
        assert ts == 0x3B, "TS %02X" % ts
        out = bytearray((ts, t0))
        y, k, protocols = t0 >> 4, t0 & 15, set()
        while True:
            for bit in (1, 2, 4):  # TA, TB, TC
                if y & bit:
                    out += self.read(1)
            if not y & 8:
                break
            td = self.read(1)[0]
            out.append(td)
            protocols.add(td & 15)
            y = td >> 4
        out += self.read(k)
        if protocols - {0}:
            out += self.read(1)
            x = 0
            for b in out[1:]:
                x ^= b
            assert x == 0, "TCK"
        return bytes(out)

    def tpdu(self, hdr, data=None):
        """One command TPDU; ``data`` for incoming commands. Returns (data, sw)."""
        self.s.sendall(hdr)
        ins = hdr[1]
        want = 0 if data is not None else (hdr[4] or 256)
        body, sent = bytearray(), 0
        while True:
            pb = self.read(1)[0]
            self.seen.append(pb)
            if pb == 0x60:
                continue
            if pb == ins:
                if data is not None:
                    self.s.sendall(data[sent:])
                    sent = len(data)
                else:
                    body += self.read(want - len(body))
            elif pb == ins ^ 0xFF:
                if data is not None:
                    self.s.sendall(data[sent:sent + 1])
                    sent += 1
                else:
                    body += self.read(1)
            elif pb & 0xF0 in (0x60, 0x90):
                sw2 = self.read(1)[0]
                return bytes(body), pb << 8 | sw2
            else:
                raise AssertionError("bad procedure byte %02X" % pb)

    def transmit(self, apdu, outgoing=None):
        """An APDU (cases 1-4) the way a pad's T=0 layer sends it."""
        apdu = bytes(apdu)
        hdr = apdu[:4]
        if len(apdu) == 4:
            data, sw = self.tpdu(hdr + b"\x00", b"")
        elif len(apdu) == 5:
            data, sw = self.tpdu(apdu)
            if sw >> 8 == 0x6C:
                data, sw = self.tpdu(hdr + bytes((sw & 0xFF,)))
        else:
            lc = apdu[4]
            data, sw = self.tpdu(apdu[:5], apdu[5:5 + lc])
        while sw >> 8 == 0x61:
            more, sw = self.tpdu(b"\x00\xc0\x00\x00" + bytes((sw & 0xFF,)))
            if sw >> 8 == 0x6C:
                more, sw = self.tpdu(b"\x00\xc0\x00\x00" + bytes((sw & 0xFF,)))
            data += more
        return data, sw


@pytest.fixture
def world(tmp_path):
    ks = K.Keystore.generate(tmp_path / "ks.json")
    ident = K.new_identity(Suite.SM4)
    card = personalise_card(ks, tmp_path / "card.json", ident)
    return ks, ident, card, tmp_path


@pytest.fixture
def slot(world):
    with SlotServer(world[2]) as s:
        yield s


def connect(slot):
    return T0(slot.port)


# --- ATR ----------------------------------------------------------------------------------

def test_default_atrs_by_hand():
    # TS 3B, T0 = 8K (TD1 follows, K historical), TD1 = 40 (TC2 follows, T=0), TC2 = WI 0A
    assert CARD_ATR == H("3B87400A") + H("8031C0") + b"\x53SSC"
    assert PSAM_ATR == H("3B88400A") + H("8031C0") + b"\x54PSAM"


def test_atr_with_t1_has_tck_and_interface_bytes():
    atr = make_atr(b"AB", ta1=0x13, tc1=0x00, wi=20, t1=True, ifsc=0xFE, bwi_cwi=0x45)
    # T0: TA1 TC1 TD1, K=2; TD1: TC2 TD2, T=0; TD2: TA3 TB3, T=1
    body = H("D2" "13" "00" "C0" "14" "31" "FE" "45") + b"AB"
    tck = 0
    for b in body:
        tck ^= b
    assert atr == b"\x3b" + body + bytes((tck,))
    assert make_atr(b"", wi=None) == H("3B00")  # nothing but TS and T0
    with pytest.raises(ValueError):
        make_atr(bytes(16))


def test_atr_is_sent_on_connect(slot):
    t = connect(slot)
    assert t.atr == CARD_ATR
    assert slot.activations == 1
    t.close()


def test_custom_atr_and_psam_default(world):
    with SlotServer(world[2], atr=make_atr(b"X", t1=True)) as s:
        t = T0(s.port)
        assert t.atr == make_atr(b"X", t1=True)
    with SlotServer(world[2], name="psam") as s:
        assert T0(s.port).atr == PSAM_ATR


def test_no_card_accepts_and_closes(world):
    with SlotServer(None) as s:
        c = socket.create_connection(("127.0.0.1", s.port), timeout=2)
        assert c.recv(10) == b""
        assert s.activations == 0
        s.insert(world[2])
        assert T0(s.port).atr == CARD_ATR


# --- cases 1-4 ----------------------------------------------------------------------------

def test_case3_select_ack_then_status(slot):
    t = connect(slot)
    assert t.tpdu(MF[:5], MF[5:]) == (b"", 0x9000)
    assert t.seen == [0xA4, 0x90]


def test_case2_wrong_le_gets_6c_then_data(slot):
    t = connect(slot)
    t.transmit(MF)
    t.transmit(DF01)
    assert t.tpdu(H("00B0850000")) == (b"", 0x6C26)
    data, sw = t.tpdu(H("00B0850026"))
    assert sw == 0x9000 and len(data) == 38 and data[3:8] == H("D156000005")
    assert t.seen[-2:] == [0xB0, 0x90]


def test_case1_tries_left(slot):
    t = connect(slot)
    t.transmit(MF)
    t.transmit(DF01)
    assert t.tpdu(H("0020000000"), b"") == (b"", 0x63C3)
    assert t.seen[-1] == 0x63  # no ACK for case 1


def test_case4_61xx_and_get_response(slot):
    t = connect(slot)
    t.transmit(MF)
    t.transmit(DF01)
    x = os.urandom(8)
    assert t.tpdu(H("0088000008"), x) == (b"", 0x6110)
    assert t.tpdu(H("00C0000000")) == (b"", 0x6C10)          # Le too long: exact length
    part, sw = t.tpdu(H("00C0000006"))                      # less: the rest stays
    assert sw == 0x610A and len(part) == 6
    rest, sw = t.tpdu(H("00C000000A"))
    assert sw == 0x9000
    kia = card_state(slot.processor.path)["keys"]["02"]
    assert part + rest == C.sm4_encrypt(H(kia), x + C.invert(x))
    assert t.tpdu(H("00C0000010")) == (b"", 0x6985)          # nothing pending any more


def test_get_response_does_not_spend_the_challenge(world, slot):
    """GET CHALLENGE answered via 61xx / GET RESPONSE; the challenge still works."""
    slot.always_61 = True
    ks, ident, card, tmp = world
    t = connect(slot)
    t.transmit(MF)
    t.transmit(DF01)
    assert t.tpdu(H("0084000008")) == (b"", 0x6108)
    r, sw = t.tpdu(H("00C0000008"))
    assert sw == 0x9000
    e = C.sm4_encrypt(ks.session_key(ident, 1, r), C.pin_block(Suite.SM4, "123456"))
    apdu = K.secured_apdu(ident, H("04200000"), e, ks.session_key(ident, 4, r), r)
    ans, sw = t.transmit(apdu + b"\x00")
    assert sw == 0x9000 and ans[:4] == H("99029000")


def test_other_command_discards_pending_response(slot):
    t = connect(slot)
    t.transmit(MF)
    t.transmit(DF01)
    assert t.tpdu(H("0088000008"), bytes(8)) == (b"", 0x6110)
    t.transmit(H("00200000"))
    assert t.tpdu(H("00C0000010")) == (b"", 0x6985)


def test_unknown_ins_answered_without_ack(slot):
    t = connect(slot)
    assert t.tpdu(H("00CA9F7F00")) == (b"", 0x6D00)
    assert t.seen == [0x6D]


# --- fault knobs --------------------------------------------------------------------------

def run_session(t):
    t.transmit(MF)
    t.transmit(DF01)
    ef05, sw = t.transmit(H("00B0850000"))
    assert sw == 0x9000 and len(ef05) == 38
    ia, sw = t.transmit(H("0088000008") + bytes(8) + b"\x00")
    assert sw == 0x9000 and len(ia) == 16
    assert t.transmit(H("00200000")) == (b"", 0x63C3)
    return ef05, ia


def test_byte_by_byte_both_directions(slot):
    slot.byte_by_byte = True
    t = connect(slot)
    assert t.tpdu(MF[:5], MF[5:]) == (b"", 0x9000)
    assert t.seen == [0x5B] * 15 + [0x90]  # ~A4 before each of the 15 bytes
    t.seen.clear()
    t.transmit(DF01)
    t.seen.clear()
    data, sw = t.tpdu(H("00B0850026"))
    assert sw == 0x9000 and len(data) == 38
    assert t.seen == [0x4F] * 38 + [0x90]


def test_mixed_ack_modes(slot):
    slot.byte_by_byte = 0.5
    t = connect(slot)
    t.transmit(MF)
    t.transmit(DF01)
    t.seen.clear()
    data, sw = t.tpdu(H("00B0850026"))
    assert sw == 0x9000 and len(data) == 38
    # some bytes one at a time (~INS), then ACK for the rest, then the status
    k = t.seen.index(0xB0)
    assert t.seen == [0x4F] * k + [0xB0, 0x90] and 0 < k < 38


def test_nulls_are_waits(slot):
    slot.nulls = 1.0
    slot.null_delay = 0.001
    t = connect(slot)
    ef05, ia = run_session(t)
    assert t.seen.count(0x60) > 10
    assert ef05[3:8] == H("D156000005")


def test_stall_nulls_stretch_every_command(slot):
    slot.stall_nulls, slot.stall_delay = 3, 0.05
    t = connect(slot)
    start = time.monotonic()
    assert t.transmit(MF) == (b"", 0x9000)
    took = time.monotonic() - start
    assert t.seen[:4] == [0x60, 0x60, 0x60, 0xA4]  # the NULLs, then the ACK
    assert 0.15 <= took < 1.0
    assert t.transmit(DF01) == (b"", 0x9000)
    assert t.seen.count(0x60) == 6


def test_chunked_answers_with_delays(slot):
    slot.chunks = True
    slot.chunk_delay = 0.003
    t = connect(slot)
    run_session(t)


def test_always_61(slot):
    slot.always_61 = True
    t = connect(slot)
    t.transmit(MF)
    t.transmit(DF01)
    assert t.tpdu(H("00B0850026")) == (b"", 0x6126)
    data, sw = t.tpdu(H("00C0000026"))
    assert sw == 0x9000 and len(data) == 38


def test_le_mismatch_makes_the_pad_reissue(slot):
    slot.le_mismatch = True
    t = connect(slot)
    t.transmit(MF)
    t.transmit(DF01)
    assert t.tpdu(H("00B0850026")) == (b"", 0x6C26)   # even the right Le, once
    data, sw = t.tpdu(H("00B0850026"))
    assert sw == 0x9000 and len(data) == 38
    assert t.tpdu(H("0084000008")) == (b"", 0x6C08)
    r, sw = t.tpdu(H("0084000008"))
    assert sw == 0x9000 and len(r) == 8
    run_session(t)  # the pad's ordinary re-issue logic copes


def test_garbage_is_reproducible(world):
    got = []
    for _ in range(2):
        with SlotServer(world[2], garbage=True, seed=7) as s:
            c = socket.create_connection(("127.0.0.1", s.port), timeout=1)
            c.sendall(MF[:5])
            time.sleep(0.1)
            got.append(c.recv(100))
            c.close()
    assert got[0] == got[1] and got[0].startswith(CARD_ATR) and len(got[0]) > len(CARD_ATR)


def test_silent_after(world):
    with SlotServer(world[2], silent_after=len(CARD_ATR) + 1) as s:
        t = T0(s.port, timeout=0.3)
        t.s.sendall(MF[:5])
        assert t.read(1) == b"\xa4"  # the ACK is the last byte sent
        t.s.sendall(MF[5:])
        with pytest.raises(socket.timeout):
            t.read(1)


def test_pull_after_n_bytes(world):
    with SlotServer(world[2], pull_after=len(CARD_ATR) + 1) as s:
        t = T0(s.port)
        t.s.sendall(MF[:5])
        assert t.read(1) == b"\xa4"
        t.s.sendall(MF[5:])
        with pytest.raises(Gone):
            t.read(1)
        assert t.received == len(CARD_ATR) + 1
        assert not s.present
        c = socket.create_connection(("127.0.0.1", s.port), timeout=2)
        assert c.recv(10) == b""          # no card any more
        s.pull_after = None
        s.insert(world[2])
        assert T0(s.port).atr == CARD_ATR


def test_truncated_answer(world):
    with SlotServer(world[2], truncate=1, truncate_ins={0xB0}) as s:
        t = T0(s.port, timeout=0.3)
        t.transmit(MF)
        t.transmit(DF01)
        t.s.sendall(H("00B0850026"))
        got = t.read(1 + 38 + 1)            # ACK, data, SW1: SW2 is missing
        assert got[0] == 0xB0 and got[-1] == 0x90
        with pytest.raises(socket.timeout):
            t.read(1)


def test_on_byte_hook_cuts_at_an_exact_byte(world):
    seen = []
    cut_at = len(CARD_ATR) + 3

    def hook(direction, index, byte):
        seen.append((direction, index, byte))
        return direction == "tx" and index == cut_at

    with SlotServer(world[2], on_byte=hook) as s:
        t = T0(s.port)
        t.transmit(MF)                      # ACK + 9000: 3 bytes after the ATR
        t.s.sendall(DF01[:5])
        with pytest.raises(Gone):
            t.read(1)
        assert t.received == cut_at
        assert s.present                    # a power cut, not a pulled card
        rx = [b for d, i, b in seen if d == "rx"]
        assert bytes(rx) == MF + DF01[:5]
        assert [i for d, i, b in seen if d == "tx"] == list(range(cut_at + 1))
        assert T0(s.port).atr == CARD_ATR   # the same card answers the next activation


def test_power_cut_mid_verify_keeps_the_card_state(world):
    """The card has spent the try before the answer; cutting the answer loses nothing."""
    ks, ident, card, tmp = world
    with SlotServer(card) as s:
        t = T0(s.port)
        t.transmit(MF)
        t.transmit(DF01)
        r, _ = t.transmit(H("0084000008"))
        e = C.sm4_encrypt(ks.session_key(ident, 1, r), C.pin_block(Suite.SM4, "000000"))
        apdu = K.secured_apdu(ident, H("04200000"), e, ks.session_key(ident, 4, r), r)
        s.on_byte = lambda d, i, b: d == "tx" and b == 0x61   # cut before 61 0A
        t.s.sendall(apdu[:5])
        assert t.read(1) == b"\x20"
        t.s.sendall(apdu[5:])
        with pytest.raises(Gone):
            t.read(1)
        assert card_state(tmp / "card.json")["tries"] == 2
        s.on_byte = None
        t = T0(s.port)
        t.transmit(MF)
        t.transmit(DF01)
        assert t.transmit(H("00200000")) == (b"", 0x63C2)


def test_reconnect_resets_the_card(world, slot):
    ks, ident, card, tmp = world
    t = connect(slot)
    t.transmit(MF)
    t.transmit(DF01)
    r, _ = t.transmit(H("0084000008"))
    t.close()
    t = connect(slot)
    t.transmit(MF)
    t.transmit(DF01)
    e = C.sm4_encrypt(ks.session_key(ident, 1, r), C.pin_block(Suite.SM4, "123456"))
    apdu = K.secured_apdu(ident, H("04200000"), e, ks.session_key(ident, 4, r), r)
    assert t.transmit(apdu) == (b"", 0x6984)


def test_pull_and_new_activation_supersedes(world, slot):
    a = connect(slot)
    b = connect(slot)                         # the new activation powers the old one off
    with pytest.raises(Gone):
        a.read(1)
    assert b.transmit(MF) == (b"", 0x9000)
    slot.pull()
    with pytest.raises(Gone):
        b.read(1)
    assert not slot.present


# --- both slots, the whole secure VERIFY --------------------------------------------------

@pytest.mark.parametrize("suite", [Suite.SM4, Suite.DES3], ids=lambda s: s.label)
@pytest.mark.parametrize("faults", [{}, dict(nulls=0.3, null_delay=0.001, byte_by_byte=0.3,
                                             chunks=True, chunk_delay=0.001, seed=3),
                                    dict(always_61=True, le_mismatch=True)],
                         ids=["clean", "noisy", "61-6C"])
def test_secure_verify_through_both_slots(tmp_path, suite, faults):
    ks = K.Keystore.generate(tmp_path / "ks.json")
    ident = K.new_identity(suite)
    card = personalise_card(ks, tmp_path / "card.json", ident)
    sam = personalise_psam(ks, tmp_path / "psam.json", suite, "110105", 2)
    with SlotServer(card, **faults) as cs, SlotServer(sam, name="psam", **faults) as ps:
        c, p = T0(cs.port), T0(ps.port)
        assert p.atr == PSAM_ATR
        assert p.transmit(H("00A40000021001")) == (b"", 0x9000)
        info, sw = p.transmit(H("00B0970008"))
        assert sw == 0x9000 and info[3] == 2
        c.transmit(MF)
        c.transmit(DF01)
        ef05, _ = c.transmit(H("00B0850000"))
        assert ef05[8:16] == ident.serial

        def verify(pin):
            assert c.transmit(H("00200000"))[1] >> 4 == 0x63C
            r, sw = c.transmit(H("0084000008"))
            f = b"110105sx" + ident.serial + r  # city factor: ASCII code, "sx"
            assert p.transmit(bytes((0x80, 0x1A, 3 << 5 | 1, 1, 24)) + f) == (b"", 0x9000)
            blk = C.pin_block(suite, pin)
            e, sw = p.transmit(bytes((0x80, 0xFA, 0, 0, len(blk))) + blk + b"\x00")
            assert sw == 0x9000
            assert p.transmit(bytes((0x80, 0x1A, 3 << 5 | 4, 1, 24)) + f) == (b"", 0x9000)
            iv = C.iv_from_challenge(suite, r)
            head = bytes((0x04, 0x20, 0, 0, len(e) + 4)) + e
            m, sw = p.transmit(bytes((0x80, 0xFA, 5, 0, len(iv) + len(head))) + iv + head + b"\x00")
            ans, sw = c.transmit(head + m + b"\x00")
            assert sw == 0x9000
            m2, _ = p.transmit(bytes((0x80, 0xFA, 5, 0, len(iv) + 8)) + iv + m + ans[:4] + b"\x00")
            assert C.ct_equal(m2, ans[6:])
            return ans[2] << 8 | ans[3]

        assert verify("123456") == 0x9000
        assert verify("000000") == 0x63C2
        assert verify("123456") == 0x9000


def test_many_activations_are_fast(world, slot):
    t0 = time.monotonic()
    for _ in range(50):
        t = connect(slot)
        assert t.transmit(MF) == (b"", 0x9000)
        t.close()
    assert slot.activations == 50
    assert time.monotonic() - t0 < 10


def test_processor_bug_makes_the_card_mute_not_the_server(world):
    class Broken:
        def reset(self):
            pass

        def process(self, apdu):
            raise RuntimeError("bug")

    with SlotServer(Broken()) as s:
        t = T0(s.port)
        t.s.sendall(H("00A4040006"))
        assert t.read(1) == b"\xa4"
        t.s.sendall(DF01[5:])
        with pytest.raises(Gone):
            t.read(1)
        assert isinstance(s.error, RuntimeError)
        s.insert(world[2])
        assert T0(s.port).transmit(MF) == (b"", 0x9000)
