"""The recorded VERIFY transcript of docs/protocol.md section 10, checked three ways.

1. Recomputed: every key, the PIN block, E, M, M', the authenticated tries-left read's
   Mt and Mt', and the INTERNAL AUTHENTICATE cryptogram from the documented roots with
   padctl.crypto alone (not the devices).
2. Replayed: the virtual card (GET CHALLENGE fixed to the documented Rt, then R) and PSAM are
   rebuilt from the documented material; every command goes to them over the slots and
   every answer must be the documented one, byte for byte.
3. The firmware: tests/fw/drive_verify.py under micropython, with the documented X and
   PIN-block fill, must put exactly the documented bytes on both wires.
The block's keys are TEST MATERIAL - generated for the document, not real keys.
"""
import time

import pytest

from mp import FWTESTS, ROOT, run_mp
from padctl import crypto as C
from padctl.crypto import Suite
from padsim.slot import SlotServer
from padsim.vcard import card_state
from transcript_gen import MARKER, Wire, devices, from_markdown, parse

DOC = ROOT / "docs" / "protocol.md"
SM4 = Suite.SM4


@pytest.fixture(scope="module")
def doc():
    block, section = from_markdown(DOC.read_text(encoding="utf-8"))
    m, lines = parse(block)
    return block, section, m, lines


def h(m, name):
    return bytes.fromhex(m[name])


def exchanges(lines, wire):
    """[(command, answer)] of one wire, in order."""
    out = []
    for (tag, data), nxt in zip(lines, lines[1:] + [("", b"")]):
        if tag == wire + ">":
            assert nxt[0] == wire + "<", "a command without its answer: %s" % data.hex()
            out.append((data, nxt[1]))
    return out


def answer_to(lines, wire, prefix, nth=0):
    found = [a for c, a in exchanges(lines, wire) if c.startswith(prefix)]
    assert len(found) > nth, "%s: no command %s" % (wire, prefix.hex().upper())
    return found[nth]


def test_block_is_marked_and_well_formed(doc):
    block, section, m, lines = doc
    assert MARKER in section and block.startswith("# " + MARKER)
    assert m["suite"] == "SM4"
    tags = [t for t, _ in lines]
    assert tags[0] == "C=" and tags.count("C=") == 1 and tags.count("P=") == 1
    for wire in "CP":
        assert tags.count(wire + ">") == tags.count(wire + "<")
        assert len(exchanges(lines, wire)) == tags.count(wire + ">")


def test_parse_refuses_a_malformed_block():
    with pytest.raises(ValueError, match="not hex"):
        parse("C> 00A4 0G\n")
    with pytest.raises(ValueError, match="twice"):
        parse("R 00\nR 01\n")
    with pytest.raises(ValueError, match="no value"):
        parse("R   # nothing\n")
    with pytest.raises(ValueError, match="section 10"):
        from_markdown("## 9. Host link\n")


# --- 1. recomputed from the roots -----------------------------------------------------

def test_keys_follow_from_the_roots(doc):
    _, _, m, _ = doc
    region = m["card.region"]  # region factors: the ASCII code at the level, then "sx"
    province, prefecture, city = ((region[:2] + "0000sx").encode(),
                                  (region[:4] + "00sx").encode(), (region + "sx").encode())
    assert m["psam.region"] == m["card.region"][:4] + "00" and m["psam.level"] == "2"
    for t in range(1, 7):
        k2 = C.sm4_encrypt(C.sm4_encrypt(h(m, "root.%02X" % t), province + C.invert(province)),
                           prefecture + C.invert(prefecture))
        k3 = C.sm4_encrypt(k2, city + C.invert(city))
        serial = h(m, "card.serial")
        kc = C.sm4_encrypt(k3, serial + C.invert(serial))
        assert h(m, "card.key.%02X" % t) == kc, t
        if t in (1, 2, 4):
            assert h(m, "psam.key.%02X" % t) == k2, t
            assert h(m, "city.key.%02X" % t) == k3, t
    r = h(m, "R")
    for t in (1, 4):
        assert h(m, "sk.%02X" % t) == C.sm4_encrypt(h(m, "card.key.%02X" % t), r + C.invert(r))
    assert h(m, "iv") == r + bytes(8)
    rt = h(m, "Rt")
    assert h(m, "sk.04t") == C.sm4_encrypt(h(m, "card.key.04"), rt + C.invert(rt))
    assert h(m, "ivt") == rt + bytes(8)


def test_pin_block_cryptograms_and_macs(doc):
    _, _, m, lines = doc
    pin, fill, r, x = m["pin"], h(m, "fill"), h(m, "R"), h(m, "X")
    rt = h(m, "Rt")
    # the PIN block, format 4 layout (section 3), written out by hand
    block = bytes.fromhex("4%X%s" % (len(pin), pin) + "A" * (14 - len(pin))) + fill
    assert h(m, "block") == block
    assert C.parse_pin_block(SM4, block) == pin
    assert C.pin_block(SM4, pin, rand=lambda n: fill) == block
    e = C.sm4_encrypt(h(m, "sk.01"), block)
    head = bytes.fromhex("0420000014") + e
    iv = r + bytes(8)
    mm = C.mac(SM4, h(m, "sk.04"), iv, head)
    # the SM4 CBC-MAC by hand: IV into the first block, 80-padding, first 4 bytes
    padded = head + b"\x80" + bytes(-(len(head) + 1) % 16)
    chain = iv
    for i in range(0, len(padded), 16):
        chain = C.sm4_encrypt(h(m, "sk.04"), bytes(a ^ b for a, b in zip(chain, padded[i:i + 16])))
    assert chain[:4] == mm
    m2 = C.mac(SM4, h(m, "sk.04"), iv, mm + bytes.fromhex("99029000"))
    ia = C.sm4_encrypt(h(m, "card.key.02"), x + C.invert(x))
    # the authenticated tries-left read: MAC over the header alone, answer 63C3
    ivt = rt + bytes(8)
    mt = C.mac(SM4, h(m, "sk.04t"), ivt, bytes.fromhex("0420000004"))
    mt2 = C.mac(SM4, h(m, "sk.04t"), ivt, mt + bytes.fromhex("990263C3"))
    serial = h(m, "card.serial")
    city = (m["card.region"] + "sx").encode()  # the city factor, "110105sx"

    # ... and each in its place on the wires
    ok = b"\x90\x00"
    ef05 = (h(m, "card.region") + bytes.fromhex("D156000005") + serial
            + m["card.number"].encode() + b"\x01" + h(m, "card.kv") + h(m, "card.issue")
            + h(m, "card.expiry"))
    assert answer_to(lines, "C", bytes.fromhex("00B0850026")) == ef05 + ok
    assert answer_to(lines, "C", bytes.fromhex("0088000008") + x) == b"\x61\x10"
    assert answer_to(lines, "C", bytes.fromhex("00C0000010")) == ia + ok
    assert answer_to(lines, "C", bytes.fromhex("0084000008")) == rt + ok
    assert answer_to(lines, "C", bytes.fromhex("0420000004") + mt) == b"\x61\x0a"
    assert answer_to(lines, "C", bytes.fromhex("04C000000A")) == \
        bytes.fromhex("990263C3") + b"\x8e\x04" + mt2 + ok
    assert answer_to(lines, "C", bytes.fromhex("0084000008"), 1) == r + ok
    assert answer_to(lines, "C", head + mm) == b"\x61\x0a"
    assert answer_to(lines, "C", bytes.fromhex("04C000000A"), 1) == \
        bytes.fromhex("99029000") + b"\x8e\x04" + m2 + ok
    psam = exchanges(lines, "P")
    cmds = [c for c, _ in psam]
    assert bytes.fromhex("801A420110") + city + serial in cmds
    assert bytes.fromhex("801A640118") + city + serial + rt in cmds
    assert bytes.fromhex("80FA050015") + ivt + bytes.fromhex("0420000004") in cmds
    assert bytes.fromhex("80FA050018") + ivt + mt + bytes.fromhex("990263C3") in cmds
    assert bytes.fromhex("801A610118") + city + serial + r in cmds
    assert bytes.fromhex("801A640118") + city + serial + r in cmds
    assert bytes.fromhex("80FA000010") + x + C.invert(x) in cmds
    assert bytes.fromhex("80FA000010") + block in cmds
    # the VERIFY's MAC: its data is over a block, so the pad folds the IV into the first
    # block and asks for a zero-IV MAC (P1 01), 16 bytes shorter than P1 05 with the IV
    assert bytes.fromhex("80FA010015") + bytes(a ^ b for a, b in zip(head, iv)) + head[16:] \
        in cmds
    assert bytes.fromhex("80FA050018") + iv + mm + bytes.fromhex("99029000") in cmds
    got = [a for c, a in psam if c == bytes.fromhex("80C0000010")]
    assert got == [ia + ok, e + ok]
    assert [a for c, a in psam if c == bytes.fromhex("80C0000004")] == \
        [mt + ok, mt2 + ok, mm + ok, m2 + ok]
    # the PIN never crosses the card wire in clear
    card_bytes = b"".join(c + a for c, a in exchanges(lines, "C"))
    assert block not in card_bytes and block[:8] not in card_bytes


# --- 2. replayed against the virtual devices ------------------------------------------

def test_replay_gives_every_answer_byte_for_byte(doc, tmp_path):
    _, _, m, lines = doc
    card, psam = devices(m, tmp_path)
    with SlotServer(card) as cs, SlotServer(psam, name="psam") as ps:
        ports = {"C": cs.port, "P": ps.port}
        wires = {}
        for i, (tag, data) in enumerate(lines):
            w, kind = tag
            if kind == "=":
                wires[w] = Wire(ports[w])
                assert wires[w].atr == data
            elif kind == ">":
                got = wires[w].tpdu(data)
                assert got == lines[i + 1][1], "%s %s: %s, documented %s" % (
                    w, data.hex().upper(), got.hex().upper(), lines[i + 1][1].hex().upper())
        for wire in wires.values():
            wire.close()
    s = card_state(tmp_path / "card.json")
    assert s["tries"] == 3 and s["counts"]["verify_ok"] == 1


# --- 3. the firmware puts the same bytes on the wires --------------------------------

def streams(lines, wire):
    """(pad to device, device to pad) byte streams, procedure bytes by the section's rule."""
    out, back = b"", b""
    for tag, data in lines:
        if tag == wire + "=":
            back += data
    for cmd, ans in exchanges(lines, wire):
        out += cmd
        if len(cmd) > 5 or len(ans) > 2:
            back += cmd[1:2]  # ACK: INS before the command's data or the answer's
        back += ans
    return out, back


def settle(slot, seconds=2.0):
    """Wait until the slot's serving thread has logged every byte it sent (it logs a
    chunk just after sending it, so the pad may have finished a moment before)."""
    end = time.monotonic() + seconds
    while sum(len(b) for d, b in slot.transcript if d == "tx") < slot.tx:
        assert time.monotonic() < end, "slot transcript incomplete"
        time.sleep(0.005)


@pytest.mark.parametrize("how", ["pin_with_fill", "recorded_block"])
def test_firmware_sends_the_recorded_bytes(doc, tmp_path, how):
    _, _, m, lines = doc
    card, psam = devices(m, tmp_path)
    if how == "pin_with_fill":  # the firmware's pinblock.build, its random fixed
        ops = ["--fill", "00" * 8 + m["fill"], m["pin"]]
    else:
        ops = ["block:" + m["block"]]
    with SlotServer(card) as cs, SlotServer(psam, name="psam") as ps:
        r = run_mp(FWTESTS / "drive_verify.py",
                   ["--card", cs.addr, "--psam", ps.addr, "--x", m["X"], *ops], timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    card_id = (m["card.region"] + "D156000005" + m["card.serial"]).lower()
    assert r.stdout.splitlines() == ["card %s 1" % card_id, "psam " + m["psam.terminal"],
                                     "auth ok", "tries 3", "sw 9000"], r.stdout + r.stderr
    for wire, slot in (("C", cs), ("P", ps)):
        settle(slot)
        sent = b"".join(b for d, b in slot.transcript if d == "rx")
        answered = b"".join(b for d, b in slot.transcript if d == "tx")
        want_sent, want_answered = streams(lines, wire)
        assert sent.hex().upper() == want_sent.hex().upper(), wire
        assert answered.hex().upper() == want_answered.hex().upper(), wire
