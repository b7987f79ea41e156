"""The recorded VERIFY transcript of docs/protocol.md section 10: make it, parse it.

`python tests/transcript_gen.py` generates fresh TEST MATERIAL (roots, card serial,
challenges Rt (the authenticated tries-left read) and R (the VERIFY), INTERNAL
AUTHENTICATE random X, PIN-block fill: all os.urandom), builds
the virtual card and PSAM from it, plays one SM4 insertion and secure VERIFY (right PIN)
through the simulated slots with the TPDUs written out below from the protocol (not by
the firmware), and prints the section's fenced block. It was run once to write the
section; tests/test_transcript.py parses the block back (``from_markdown``), rebuilds
the devices (``devices``), replays it and recomputes it.

Block format: ``name value  # note`` lines (the material; hex values may be split by
spaces), then one line per TPDU on a wire: ``C=`` / ``P=`` the ATR of the card / PSAM,
``C>`` / ``P>`` a command as the pad sends it (header, then data when it has data),
``C<`` / ``P<`` the answer (data, then SW1 SW2). Procedure bytes are left out: with none
of the slot's fault knobs on, the device sends INS (ACK) once before the data of a
command that has data and once before the data of an answer, and nothing else. Hex
fields of a line are separated by spaces; ``#`` starts a note.
"""
import os
import re
import socket
import sys
import tempfile
from pathlib import Path

if __name__ == "__main__":  # run as a script: the package from the checkout
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "host_tools"))

from padctl.crypto import Suite, disperse, invert, iv_from_challenge, pin_block
from padsim.slot import SlotServer
from padsim.vcard import Identity, VirtualCard, new_card_state, write_state
from padsim.vpsam import VirtualPsam, new_psam_state

MARKER = "TEST MATERIAL - generated for this document, not real keys"
WIRE_TAGS = ("C=", "C>", "C<", "P=", "P>", "P<")
KEY_NAMES = {1: "PIN encipherment", 2: "internal authentication", 3: "external authentication",
             4: "command MAC", 5: "PIN unblock", 6: "PIN reload"}


# --- the material and the keys it gives ---------------------------------------------

def new_material():
    """Fresh TEST MATERIAL for one transcript."""
    serial = os.urandom(8)
    return {
        "suite": "SM4", "pin": "123456", "limit": "3",
        **{"root.%02X" % t: os.urandom(16).hex().upper() for t in KEY_NAMES},
        "card.region": "110105", "card.serial": serial.hex().upper(),
        "card.number": "A%08d" % (int.from_bytes(serial[:4], "big") % 10 ** 8),
        "card.kv": "01010101", "card.issue": "20240101", "card.expiry": "20340101",
        "psam.region": "110100", "psam.level": "2", "psam.terminal": "000000000001",
        "X": os.urandom(8).hex().upper(), "Rt": os.urandom(8).hex().upper(),
        "R": os.urandom(8).hex().upper(),
        "fill": os.urandom(8).hex().upper(),
    }


def H(m, name):
    return bytes.fromhex(m[name])


def factors(m):
    """Region factors province, prefecture, city: ASCII code, then sx (protocol.md section 2)."""
    r = m["card.region"]
    return [(r[:2] + "0000sx").encode(), (r[:4] + "00sx").encode(), (r + "sx").encode()]


def derive(m):
    """Every key of the exchange, from the roots (padctl.crypto.disperse)."""
    out = {}
    f1, f2, f3 = factors(m)
    serial, r = H(m, "card.serial"), H(m, "R")
    for t in KEY_NAMES:
        k2 = disperse(Suite.SM4, disperse(Suite.SM4, H(m, "root.%02X" % t), f1), f2)
        k3 = disperse(Suite.SM4, k2, f3)
        if t in (1, 2, 4):
            out["psam.key.%02X" % t] = k2
            out["city.key.%02X" % t] = k3
        out["card.key.%02X" % t] = disperse(Suite.SM4, k3, serial)
    for t in (1, 4):
        out["sk.%02X" % t] = disperse(Suite.SM4, out["card.key.%02X" % t], r)
    out["sk.04t"] = disperse(Suite.SM4, out["card.key.04"], H(m, "Rt"))
    out["ivt"] = iv_from_challenge(Suite.SM4, H(m, "Rt"))
    out["iv"] = iv_from_challenge(Suite.SM4, r)
    out["block"] = pin_block(Suite.SM4, m["pin"], rand=lambda n: H(m, "fill"))
    return {k: v.hex().upper() for k, v in out.items()}


def devices(m, workdir):
    """The virtual card (GET CHALLENGE gives Rt, then R) and PSAM of the documented
    material."""
    ident = Identity(region=m["card.region"], serial=H(m, "card.serial"),
                     number=m["card.number"], suite=Suite.parse(m["suite"]),
                     kv_pin=H(m, "card.kv")[0], kv_ia=H(m, "card.kv")[1],
                     kv_mac=H(m, "card.kv")[2], kv_unblock=H(m, "card.kv")[3],
                     issue=m["card.issue"], expiry=m["card.expiry"])
    keys = {t: H(m, "card.key.%02X" % t) for t in KEY_NAMES}
    path = Path(workdir) / "card.json"
    write_state(path, new_card_state(ident, keys, pin=m["pin"], limit=int(m["limit"])))
    card = VirtualCard(path)
    challenges = iter((H(m, "Rt"), H(m, "R")))
    card.rand = lambda n: next(challenges)
    ppath = Path(workdir) / "psam.json"
    write_state(ppath, new_psam_state(Suite.parse(m["suite"]), m["psam.region"],
                                      int(m["psam.level"]), m["psam.terminal"],
                                      {(t, 1): H(m, "psam.key.%02X" % t) for t in (1, 2, 4)},
                                      {1: 1, 2: 1, 4: 1}))
    return card, VirtualPsam(ppath)


# --- a T=0 interface device that speaks TPDUs ----------------------------------------

class Wire:
    """One activation over a slot's connection; ``tpdu(cmd) -> data + SW``."""

    def __init__(self, port, timeout=5.0):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.atr = self._atr()

    def close(self):
        self.s.close()

    def read(self, n):
        buf = b""
        while len(buf) < n:
            got = self.s.recv(n - len(buf))
            if not got:
                raise ConnectionError("the device closed the connection")
            buf += got
        return buf

    def _atr(self):
        out = bytearray(self.read(2))
        y, k, tck = out[1] >> 4, out[1] & 15, False
        while y:
            for bit in (1, 2, 4):
                if y & bit:
                    out += self.read(1)
            if not y & 8:
                break
            td = self.read(1)[0]
            out.append(td)
            tck |= bool(td & 15)
            y = td >> 4
        out += self.read(k + tck)
        return bytes(out)

    def tpdu(self, cmd):
        cmd = bytes(cmd)
        ins, p3 = cmd[1], cmd[4]
        self.s.sendall(cmd[:5])
        data, sent = b"", 5
        while True:
            pb = self.read(1)[0]
            if pb == 0x60:
                continue
            if pb in (ins, ins ^ 0xFF):
                step = None if pb == ins else 1
                if len(cmd) > 5:
                    end = len(cmd) if step is None else sent + 1
                    self.s.sendall(cmd[sent:end])
                    sent = end
                else:
                    want = (p3 or 256) - len(data)
                    data += self.read(want if step is None else 1)
            elif pb >> 4 in (6, 9):
                return data + bytes((pb,)) + self.read(1)
            else:
                raise ValueError("procedure byte %02X" % pb)


# --- the exchange, TPDU by TPDU (protocol.md sections 4-6) ---------------------------

def record(m, card_slot, psam_slot):
    """Play the exchange; a list of (tag, bytes, note, field sizes) lines."""
    k = derive(m)
    lines = []
    wires = {}

    def atr(tag, slot, note, sizes):
        wires[tag[0]] = Wire(slot.port)
        lines.append((tag + "=", wires[tag[0]].atr, note, sizes))

    def tpdu(w, cmd, note, sizes, ans_note, ans_sizes, expect=None):
        ans = wires[w].tpdu(cmd)
        if expect is not None and ans[-2:] != bytes.fromhex(expect):
            raise AssertionError("%s %s -> %s, not %s" % (w, cmd.hex(), ans.hex(), expect))
        lines.append((w + ">", bytes(cmd), note, sizes))
        lines.append((w + "<", ans, ans_note, ans_sizes))
        return ans[:-2]

    X, Rt, R, serial = H(m, "X"), H(m, "Rt"), H(m, "R"), H(m, "card.serial")
    f = factors(m)
    block, iv, ivt = H(k, "block"), H(k, "iv"), H(k, "ivt")
    b = bytes.fromhex
    # insertion
    atr("C", card_slot, "card ATR: TS (direct) | T0: TD1 follows, 7 historical bytes | "
        "TD1: TC2 follows, T=0 | TC2: WI 10 | historical bytes", [1, 1, 1, 1, 7])
    tpdu("C", b("00A4040006D15600000590"), "SELECT DF01 by its AID (the MF is the current DF "
         "after the reset; a card that refuses gets SELECT MF by name `00A404000F 7378312E73682E"
         "C9E7BBE1B1A3D5CF`, sx1.sh.社会保障 in GBK, then this again): CLA INS P1 P2 | Lc | AID",
         [4, 1, 6], "SW", [2], "9000")
    tpdu("C", b("00B0850026"), "READ BINARY EF05 (P1 80|SFI 5), Le 26: its exact length",
         [4, 1],
         "EF05: region | RID | serial | card number | suite 01 SM4 | key versions PIN-enc, "
         "IA, MAC, unblock | issue date | expiry date | SW", [3, 5, 8, 9, 1, 4, 4, 4, 2], "9000")
    atr("P", psam_slot, "PSAM ATR: TS | T0: TD1, 8 historical bytes | TD1: TC2, T=0 | "
        "TC2: WI 10 | historical bytes", [1, 1, 1, 1, 8])
    tpdu("P", b("00A40000021001"), "SELECT PSAM application: CLA INS P1 P2 | Lc | FID",
         [4, 1, 2], "SW", [2], "9000")
    tpdu("P", b("00B0960006"), "READ BINARY terminal number (SFI 16)", [4, 1],
         "terminal number (BCD) | SW", [6, 2], "9000")
    tpdu("P", b("00B0970008"), "READ BINARY issuer info (SFI 17)", [4, 1],
         "region 110100 | level 2 (prefecture) | suite 01 SM4 | key versions PIN-enc, IA, "
         "MAC | SW; the pad checks region, suite and versions against EF05: no APDU",
         [3, 1, 1, 3, 2], "9000")
    # INTERNAL AUTHENTICATE
    tpdu("C", b("0088000008") + X, "INTERNAL AUTHENTICATE: CLA INS P1 P2 | Lc | X (the "
         "pad's random; the Le of case 4 is not sent)", [4, 1, 8], "SW: 16 bytes to get",
         [2], "6110")
    ia = tpdu("C", b("00C0000010"), "GET RESPONSE (CLA of the command) | Le", [4, 1],
              "SM4_Kia(X || ~X), Kia = card.key.02 | SW", [16, 2], "9000")
    tpdu("P", b("801A4201") + b"\x10" + f[2] + serial,
         "INIT FOR DESCRYPT: CLA INS | P1 42: 2 factors, type 02 | P2 key version 01 | Lc | "
         "city factor | card serial: the PSAM loads Kia = D(D(K2, city), serial)",
         [2, 1, 1, 1, 8, 8], "SW", [2], "9000")
    tpdu("P", b("80FA000010") + X + invert(X), "CIPHER DATA encrypt: CLA INS P1 P2 | Lc | X | ~X", [4, 1, 8, 8], "SW", [2], "6110")
    ia2 = tpdu("P", b("80C0000010"), "GET RESPONSE | Le", [4, 1],
               "SM4_Kia(X || ~X) | SW: equal to the card's: the card is genuine", [16, 2],
               "9000")
    assert ia == ia2, "the PSAM and the card disagree on INTERNAL AUTHENTICATE"
    # authenticated tries left
    init = "INIT FOR DESCRYPT: CLA INS | P1 %s: 3 factors, type %s | P2 key version 01 | " \
           "Lc | city factor | card serial | %s: the PSAM loads %s"
    got = tpdu("C", b("0084000008"), "GET CHALLENGE for the authenticated tries-left read | "
               "Le 08", [4, 1], "Rt | SW", [8, 2], "9000")
    assert got == Rt
    tpdu("P", b("801A6401") + b"\x18" + f[2] + serial + Rt,
         init % ("64", "04", "Rt", "SK_mac = D(D(D(K2, city), serial), Rt)"),
         [2, 1, 1, 1, 8, 8, 8], "SW", [2], "9000")
    tpdu("P", b("80FA050015") + ivt + b("0420000004"), "CIPHER DATA MAC with IV: CLA INS | "
         "P1 05 P2 00 | Lc 15 | IV = Rt || 00*8 | the read's CLA INS P1 P2 Lc (no data)",
         [2, 2, 1, 16, 5], "SW", [2], "6104")
    mt = tpdu("P", b("80C0000004"), "GET RESPONSE | Le", [4, 1],
              "Mt = SM4 CBC-MAC under SK_mac of Rt, IV, 80-padding, first 4 bytes | SW",
              [4, 2], "9000")
    tpdu("C", b("0420000004") + mt, "tries left, authenticated: the no-data VERIFY under "
         "secure messaging: CLA 04 INS P1 P2 | Lc 04 | Mt", [4, 1, 4],
         "SW: the SM answer waits", [2], "610A")
    smt = tpdu("C", b("04C000000A"), "GET RESPONSE with the command's CLA 04 | Le", [4, 1],
               "SM answer: 99 02 | SW1 SW2 63C3: 3 tries left | 8E 04 | Mt' = MAC under SK_mac "
               "of Rt, IV, over Mt || 99 02 63 C3 | SW", [2, 2, 2, 4, 2], "9000")
    tpdu("P", b("80FA050018") + ivt + mt + smt[:4], "CIPHER DATA MAC with IV: CLA INS P1 P2 | "
         "Lc 18 | IV | Mt | 99 02 63 C3", [4, 1, 16, 4, 4], "SW", [2], "6104")
    tpdu("P", b("80C0000004"), "GET RESPONSE | Le", [4, 1],
         "MAC | SW: equal to Mt' in constant time: 3 tries left, authenticated (the pad "
         "journals PENDING with it, flag 01, before the VERIFY)", [4, 2], "9000")
    # secure VERIFY
    got = tpdu("C", b("0084000008"), "GET CHALLENGE | Le 08", [4, 1], "R | SW", [8, 2],
               "9000")
    assert got == R
    tpdu("P", b("801A6101") + b"\x18" + f[2] + serial + R,
         init % ("61", "01", "R", "SK_pin = D(D(D(K2, city), serial), R)"),
         [2, 1, 1, 1, 8, 8, 8], "SW", [2], "9000")
    tpdu("P", b("80FA000010") + block, "CIPHER DATA encrypt: CLA INS P1 P2 | Lc | PIN block "
         "(format 4: 4 | N 6 | 123456 | A fill | 8 random bytes), in clear on the PSAM wire "
         "inside the case", [4, 1, 8, 8], "SW", [2], "6110")
    e = tpdu("P", b("80C0000010"), "GET RESPONSE | Le", [4, 1], "E = SM4_SKpin(PIN block) | SW",
             [16, 2], "9000")
    tpdu("P", b("801A6401") + b"\x18" + f[2] + serial + R,
         init % ("64", "04", "R", "SK_mac = D(D(D(K2, city), serial), R)"),
         [2, 1, 1, 1, 8, 8, 8], "SW", [2], "9000")
    head = b("0420000014") + e
    folded = bytes(x ^ y for x, y in zip(head, iv)) + head[16:]
    tpdu("P", b("80FA010015") + folded, "CIPHER DATA MAC, the IV folded in: CLA INS | P1 01 "
         "(zero IV) P2 00 | Lc 15 | the secure VERIFY's CLA INS P1 P2 Lc | E, its first 16 "
         "bytes XOR IV = R || 00*8 (the pad's: CBC takes the IV only there)",
         [2, 2, 1, 16, 5], "SW", [2], "6104")
    mm = tpdu("P", b("80C0000004"), "GET RESPONSE | Le", [4, 1],
              "M = SM4 CBC-MAC under SK_mac, IV, 80-padding, first 4 bytes | SW", [4, 2], "9000")
    tpdu("C", head + mm, "secure VERIFY: CLA 04 INS P1 P2 | Lc 14 | E | M", [4, 1, 16, 4],
         "SW: the SM answer waits", [2], "610A")
    sm = tpdu("C", b("04C000000A"), "GET RESPONSE with the command's CLA 04 | Le", [4, 1],
              "SM answer: 99 02 | SW1 SW2 9000: PIN right | 8E 04 | M' = MAC under SK_mac, "
              "IV, over M || 99 02 90 00 | SW", [2, 2, 2, 4, 2], "9000")
    tpdu("P", b("80FA050018") + iv + mm + sm[:4], "CIPHER DATA MAC with IV: CLA INS P1 P2 | "
         "Lc 18 | IV | M | 99 02 90 00 (the MAC key of INIT type 04 is still loaded)",
         [4, 1, 16, 4, 4], "SW", [2], "6104")
    tpdu("P", b("80C0000004"), "GET RESPONSE | Le", [4, 1],
         "MAC | SW: equal to M' in constant time: the card said 9000", [4, 2], "9000")
    for w in wires.values():
        w.close()
    return lines


# --- text --------------------------------------------------------------------------

def _groups(data, sizes):
    out, i = [], 0
    for n in sizes:
        out.append(data[i:i + n].hex().upper())
        i += n
    if i < len(data):
        out.append(data[i:].hex().upper())
    return " ".join(x for x in out if x)


MATERIAL_NOTES = {
    "suite": "algorithm suite", "pin": "the card's PIN, entered right", "limit": "retry limit",
    "card.region": "GB/T 2260 code (BCD in EF05)", "card.serial": "card id bytes 8-15, the "
    "card's dispersion factor", "card.number": "9 ASCII characters",
    "card.kv": "key versions PIN-enc, IA, MAC, unblock", "card.issue": "BCD",
    "card.expiry": "BCD", "psam.region": "the PSAM's region at its level",
    "psam.level": "issued at the prefecture: it disperses the city level itself",
    "psam.terminal": "terminal number", "X": "the pad's INTERNAL AUTHENTICATE random",
    "Rt": "the card's challenge for the authenticated tries-left read (GET CHALLENGE)",
    "R": "the card's challenge for the VERIFY (GET CHALLENGE)", "fill": "the PIN block's 8 random bytes",
    "iv": "MAC IV: R || 00*8", "block": "plaintext PIN block, format 4 layout",
}


def render(m, lines):
    k = derive(m)
    out = ["# " + MARKER]

    def kv(name, value, note):
        out.append("%-14s %s  # %s" % (name, value, note))

    for name in ("suite", "pin", "limit"):
        kv(name, m[name], MATERIAL_NOTES[name])
    for t, what in KEY_NAMES.items():
        kv("root.%02X" % t, m["root.%02X" % t], "root, %s, version 1" % what)
    for name in ("card.region", "card.serial", "card.number", "card.kv", "card.issue",
                 "card.expiry", "psam.region", "psam.level", "psam.terminal"):
        kv(name, m[name], MATERIAL_NOTES[name])
    for t in (1, 2, 4):
        kv("psam.key.%02X" % t, k["psam.key.%02X" % t],
           "K2 = D(D(root.%02X, \"110000sx\"), \"110100sx\"): held by the PSAM" % t)
    for t in (1, 2, 4):
        kv("city.key.%02X" % t, k["city.key.%02X" % t],
           "K3 = D(K2, \"110105sx\"): computed inside the PSAM")
    for t, what in KEY_NAMES.items():
        kv("card.key.%02X" % t, k["card.key.%02X" % t],
           "Kc = D(K3, serial), %s: held by the card" % what)
    for name in ("X", "Rt", "R", "fill"):
        kv(name, m[name], MATERIAL_NOTES[name])
    kv("sk.04t", k["sk.04t"], "SK_mac of the read = D(card.key.04, Rt)")
    kv("ivt", k["ivt"], "MAC IV of the read: Rt || 00*8")
    kv("sk.01", k["sk.01"], "SK_pin = D(card.key.01, R)")
    kv("sk.04", k["sk.04"], "SK_mac = D(card.key.04, R)")
    kv("iv", k["iv"], MATERIAL_NOTES["iv"])
    kv("block", k["block"][:16] + " " + k["block"][16:], MATERIAL_NOTES["block"])
    for tag, data, note, sizes in lines:
        if tag[1] in "=>":
            out.append("")
        out.append("# " + note)
        out.append("%s %s" % (tag, _groups(data, sizes)))
    return "\n".join(out) + "\n"


def parse(text):
    """(material dict, [(tag, bytes)]) of a block's text; ValueError if malformed."""
    m, lines = {}, []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        head, _, rest = line.partition(" ")
        value = "".join(rest.split())
        if head in WIRE_TAGS:
            if not re.fullmatch(r"(?:[0-9A-Fa-f]{2})+", value):
                raise ValueError("line %d: not hex: %r" % (n, raw))
            lines.append((head, bytes.fromhex(value)))
        elif value:
            if head in m:
                raise ValueError("line %d: %s given twice" % (n, head))
            m[head] = value
        else:
            raise ValueError("line %d: no value: %r" % (n, raw))
    return m, lines


def from_markdown(doc):
    """The block of section 10 of docs/protocol.md: its text (and the section's)."""
    sec = re.search(r"^## 10\. Recorded VERIFY transcript\n(.*?)(?=^## |\Z)", doc, re.S | re.M)
    if not sec:
        raise ValueError("no section 10 in the document")
    blocks = re.findall(r"^```transcript\n(.*?)^```", sec.group(1), re.S | re.M)
    if len(blocks) != 1:
        raise ValueError("section 10 must hold one transcript block, not %d" % len(blocks))
    return blocks[0], sec.group(1)


def generate(m=None):
    """The block's text for material m (fresh material if None)."""
    m = m or new_material()
    with tempfile.TemporaryDirectory() as d:
        card, psam = devices({**m, **derive(m)}, d)
        with SlotServer(card) as cs, SlotServer(psam, name="psam") as ps:
            lines = record(m, cs, ps)
    return render(m, lines)


if __name__ == "__main__":
    # --from DOC: the material documented in DOC (re-render after a change of notes)
    material = None
    if sys.argv[1:2] == ["--from"]:
        m, _ = parse(from_markdown(Path(sys.argv[2]).read_text())[0])
        fresh = new_material()  # a value the document lacks (a new one) is drawn fresh
        material = {k: m.get(k, v) for k, v in fresh.items()}
    print("```transcript")
    print(generate(material), end="")
    print("```")
