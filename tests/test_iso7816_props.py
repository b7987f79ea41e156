"""Property tests of the firmware's ISO 7816 layer (firmware/iso7816) under micropython.

Hypothesis generates ATRs and card answers here, in CPython: well-formed ones (built
from the ISO 7816-3 rules), and garbage, truncated, mutated, slow, silent and pulled
ones. Each batch goes through the firmware's own code in ONE micropython process
(tests/fw/drive_iso7816.py, against the lax fake slot with simulated time), which
prints one line per case. The properties: every case ends in a result or in one of the
firmware's errors (never another exception, never a hang), within the waiting-time
bound; well-formed cases give exactly the expected answer.
"""
import os
import tempfile

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mp import FWTESTS, run_mp

DRIVER = FWTESTS / "drive_iso7816.py"
CARD_ERRORS = {"ProtocolError", "Timeout", "CardRemoved"}
ATR_BOUND_MS = 2101  # 20160 etu at 3.57 MHz: the whole ATR
WWT = 1000
BUSY = 30000
SETTINGS = settings(max_examples=int(os.environ.get("PAD_PROP_EXAMPLES", "8")), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# --- running a batch ----------------------------------------------------------------

def run_batch(lines):
    fd, path = tempfile.mkstemp(prefix="iso7816-", suffix=".txt")
    try:
        with os.fdopen(fd, "w") as f:
            f.write("\n".join(lines) + "\n")
        r = run_mp(DRIVER, args=[path], timeout=60)  # a hang fails here
    finally:
        os.unlink(path)
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout.splitlines()
    assert len(out) == len(lines), r.stdout + r.stderr
    results = []
    for case, line in zip(lines, out):
        assert not line.startswith("crash"), "%s\n -> %s" % (case, line)
        word = line.split()
        if word[0] == "ok":
            fields = dict(w.split("=", 1) for w in word[1:])
            results.append(("ok", fields))
        else:
            assert word[0] == "err" and word[1] in CARD_ERRORS, "%s\n -> %s" % (case, line)
            fields = {"t": word[2].split("=")[1], "msg": " ".join(word[3:])}
            assert fields["msg"], line  # a clear message, never an empty one
            results.append((word[1], fields))
    return results


def stream(items):
    """Stream tokens from a list of bytes / ('d', ms) / 'x'."""
    toks = []
    for it in items:
        if it == "x":
            toks.append("x")
        elif isinstance(it, tuple):
            toks.append("s%d" % it[1])
        elif it:
            toks.append(bytes(it).hex())
    return " ".join(toks)


# --- ATRs ---------------------------------------------------------------------------

FI_OK = [0, 1, 2, 3, 4, 5, 6, 9, 10, 11, 12, 13]
DI_OK = [1, 2, 3, 4, 5, 6, 7, 8, 9]


@st.composite
def valid_atrs(draw):
    """A well-formed ATR and what it says: (bytes, historical, protocols, has_tck)."""
    levels = draw(st.integers(1, 4))
    body = []
    ts = []
    groups = []
    for i in range(1, levels + 1):
        ta = tb = tc = None
        if draw(st.booleans()):
            ta = (draw(st.sampled_from(FI_OK)) << 4 | draw(st.sampled_from(DI_OK))) if i == 1 \
                else draw(st.integers(0, 255))
            if i == 2:
                ta &= 0xEF  # specific mode with explicit Fi/Di
        if draw(st.booleans()):
            tb = draw(st.integers(0, 255))
        if draw(st.booleans()):
            tc = draw(st.integers(1 if i == 2 else 0, 255))  # TC2 = WI, never 0
        groups.append([ta, tb, tc])
        if i < levels:
            ts.append(draw(st.sampled_from([0, 0, 1, 2, 14, 15])))
    hist = bytes(draw(st.lists(st.integers(0, 255), max_size=15)))
    # Y nibbles: level i's presence bits go in T0 (i = 1) or in TD(i-1)
    ybits = []
    for i, (ta, tb, tc) in enumerate(groups):
        y = (ta is not None) | (tb is not None) << 1 | (tc is not None) << 2
        y |= (i < levels - 1) << 3
        ybits.append(y)
    body.append(ybits[0] << 4 | len(hist))
    for i, (ta, tb, tc) in enumerate(groups):
        body += [v for v in (ta, tb, tc) if v is not None]
        if i < levels - 1:
            body.append(ybits[i + 1] << 4 | ts[i])
    body += hist
    has_tck = any(t != 0 for t in ts)  # TCK unless T=0 alone is indicated
    if has_tck:
        x = 0
        for b in body:
            x ^= b
        body.append(x)
    raw = bytes([0x3B] + body)
    protocols = []
    for t in ts:
        if t != 15 and t not in protocols:
            protocols.append(t)
    return raw, hist, protocols or [0], has_tck


def short_atrs():
    return valid_atrs().filter(lambda a: len(a[0]) <= 33)


def atr_line(need_t0, items):
    return "A %d %s" % (need_t0, stream(items))


@SETTINGS
@given(st.lists(short_atrs(), min_size=1, max_size=20))
def test_wellformed_atrs_parse_exactly(atrs):
    res = run_batch([atr_line(0, [a[0]]) for a in atrs])
    for (raw, hist, protocols, _), (kind, f) in zip(atrs, res):
        assert kind == "ok", (raw.hex(), f)
        assert f["hist"] == (hist.hex() or "-")
        assert f["prot"] == ",".join(map(str, protocols))
        assert int(f["t"]) == 0


@SETTINGS
@given(st.lists(short_atrs().flatmap(
    lambda a: st.tuples(st.just(a[0]), st.integers(0, len(a[0]) - 1))), min_size=1, max_size=20))
def test_truncated_atrs_time_out(cases):
    res = run_batch([atr_line(0, [raw[:cut]]) for raw, cut in cases])
    for (raw, cut), (kind, f) in zip(cases, res):
        assert kind == "Timeout", (raw.hex(), cut, kind, f)
        assert int(f["t"]) <= ATR_BOUND_MS


@SETTINGS
@given(st.lists(short_atrs().filter(lambda a: a[3]), min_size=1, max_size=20))
def test_bad_check_byte_refused(atrs):
    res = run_batch([atr_line(0, [a[0][:-1] + bytes([a[0][-1] ^ 0x5A])]) for a in atrs])
    for a, (kind, f) in zip(atrs, res):
        assert kind == "ProtocolError" and "TCK" in f["msg"], (a[0].hex(), kind, f)


garbage_item = st.one_of(
    st.binary(min_size=1, max_size=12),
    st.tuples(st.just("d"), st.integers(0, 2500)),
    st.just("x"),
)


@st.composite
def hostile_atrs(draw):
    kind = draw(st.sampled_from(["garbage", "mutated", "slow", "pulled"]))
    raw = draw(short_atrs())[0]
    if kind == "garbage":
        items = draw(st.lists(garbage_item, max_size=8))
        if draw(st.booleans()):
            items = [b"\x3b"] + items
    elif kind == "mutated":
        b = bytearray(raw)
        for _ in range(draw(st.integers(1, 3))):
            i = draw(st.integers(0, len(b) - 1))
            b[i] = draw(st.integers(0, 255))
        items = [bytes(b)]
    elif kind == "slow":
        items = []
        for byte in raw:
            if draw(st.integers(0, 3)) == 0:
                items.append(("d", draw(st.integers(0, 1200))))
            items.append(bytes([byte]))
    else:
        cut = draw(st.integers(0, len(raw)))
        items = [raw[:cut], "x", raw[cut:]]
    return draw(st.sampled_from([0, 1])), items, raw, kind


@SETTINGS
@given(st.lists(hostile_atrs(), min_size=1, max_size=25))
def test_hostile_atrs_end_in_a_firmware_error_in_time(cases):
    res = run_batch([atr_line(n, items) for n, items, _, _ in cases])
    for (need, items, raw, kind), (outcome, f) in zip(cases, res):
        assert int(f["t"]) <= ATR_BOUND_MS, (stream(items), f)
        if kind == "slow":
            delays = sum(it[1] for it in items if isinstance(it, tuple))
            if max([0] + [it[1] for it in items if isinstance(it, tuple)]) >= 1001:
                assert outcome == "Timeout", (stream(items), outcome, f)
            elif delays < 1000 and not need:
                assert outcome == "ok", (stream(items), outcome, f)
        if kind == "pulled" and items[0] != raw:
            assert outcome == "CardRemoved", (stream(items), outcome)


# --- T=0 ----------------------------------------------------------------------------

INS_OK = [i for i in range(256) if i >> 4 not in (6, 9)]
FINAL_SW = [0x9000, 0x63C2, 0x63C0, 0x6700, 0x6982, 0x6983, 0x6984, 0x6985, 0x6988,
            0x6A82, 0x6A86, 0x6A88, 0x6D00, 0x6E00, 0x9F10, 0x6283]


@st.composite
def procedures(draw, ins, count, outgoing, payload):
    """Card bytes moving count bytes with ACK / ~INS (and NULLs before each procedure
    byte); returns (card items, bytes the pad writes during it)."""
    items, wrote, done = [], b"", 0
    while True:
        for _ in range(draw(st.integers(0, 2))):
            if draw(st.booleans()):
                items.append(("d", draw(st.integers(0, WWT - 1))))
            items.append(b"\x60")
        if done >= count:
            return items, wrote
        if draw(st.booleans()):
            items.append(bytes([ins ^ 0xFF]))
            step = 1
        else:
            items.append(bytes([ins]))
            step = count - done
        chunk = payload[done:done + step]
        if outgoing:
            wrote += chunk
        else:
            items.append(chunk)
        done += step


@st.composite
def conversations(draw):
    """A well-formed T=0 exchange: (apdu, card items, expected writes, data, sw)."""
    case = draw(st.integers(1, 4))
    cla = draw(st.sampled_from([0x00, 0x04, 0x80, 0x84]))
    ins = draw(st.sampled_from(INS_OK))
    p1, p2 = draw(st.integers(0, 255)), draw(st.integers(0, 255))
    hdr = bytes([cla, ins, p1, p2])
    items, wrote, data = [], b"", b""
    if case == 1:
        apdu = hdr
        wrote = hdr + b"\x00"
        its, _ = draw(procedures(ins, 0, True, b""))
        items += its
    elif case == 2:
        le = draw(st.integers(1, 256))
        data = draw(st.binary(min_size=le, max_size=le))
        if draw(st.booleans()):  # Le 00 first, the card answers 6Cxx
            apdu = hdr + b"\x00"
            wrote = apdu + hdr + bytes([le & 0xFF])
            items.append(bytes([0x6C, le & 0xFF]))
        else:
            apdu = hdr + bytes([le & 0xFF])
            wrote = apdu
        its, _ = draw(procedures(ins, le, False, data))
        items += its
    else:
        body = draw(st.binary(min_size=1, max_size=40))
        apdu = hdr + bytes([len(body)]) + body
        wrote = apdu
        if case == 4:
            apdu += bytes([draw(st.integers(0, 255))])
        its, w = draw(procedures(ins, len(body), True, body))
        assert w == body
        items += its
    sw = draw(st.sampled_from(FINAL_SW))
    if case >= 3 and draw(st.booleans()) or case == 4:
        # 61xx rounds of GET RESPONSE with the command's CLA
        for _ in range(draw(st.integers(1, 3))):
            n = draw(st.integers(1, 60))
            chunk = draw(st.binary(min_size=n, max_size=n))
            items.append(bytes([0x61, n]))
            wrote += bytes([cla, 0xC0, 0, 0, n])
            its, _ = draw(procedures(0xC0, n, False, chunk))
            items += its
            data += chunk
    items.append(sw.to_bytes(2, "big"))
    return apdu, items, wrote, data, sw


def t0_line(apdu, items, busy=BUSY, max_gr=16):
    return "T %d %d %d %s %s" % (WWT, busy, max_gr, apdu.hex(), stream(items))


@SETTINGS
@given(st.lists(conversations(), min_size=1, max_size=20))
def test_wellformed_exchanges_give_the_answer(convs):
    # busy bound out of reach: these cards are slow but never late
    res = run_batch([t0_line(a, it, busy=10 ** 7) for a, it, _, _, _ in convs])
    for (apdu, items, wrote, data, sw), (kind, f) in zip(convs, res):
        assert kind == "ok", (apdu.hex(), stream(items), kind, f)
        assert f["data"] == (data.hex() or "-")
        assert int(f["sw"], 16) == sw
        assert f["wrote"] == wrote.hex()


@st.composite
def hostile_exchanges(draw):
    apdu, items, _, _, _ = draw(conversations())
    kind = draw(st.sampled_from(["garbage", "mutated", "nulls", "pulled", "late"]))
    ins = apdu[1]
    if kind == "garbage":
        byte = st.one_of(st.integers(0, 255),
                         st.sampled_from([0x60, ins, ins ^ 0xFF, 0x61, 0x6C, 0x90]))
        items = draw(st.lists(st.one_of(st.lists(byte, min_size=1, max_size=6).map(bytes),
                                        st.tuples(st.just("d"), st.integers(0, 1500)),
                                        st.just("x")), max_size=12))
    elif kind == "mutated":
        flat = bytearray(b"".join(it for it in items if isinstance(it, bytes)))
        for _ in range(draw(st.integers(1, 3))):
            i = draw(st.integers(0, max(0, len(flat) - 1)))
            op = draw(st.sampled_from(["set", "del", "ins"]))
            if op == "set" and flat:
                flat[i] = draw(st.integers(0, 255))
            elif op == "del" and flat:
                del flat[i]
            else:
                flat.insert(i, draw(st.integers(0, 255)))
        items = [bytes(flat)]
    elif kind == "nulls":
        items = []
        for _ in range(draw(st.integers(20, 80))):
            items += [("d", draw(st.integers(0, 1100))), b"\x60"]
    elif kind == "pulled":
        i = draw(st.integers(0, len(items)))
        items = items[:i] + ["x"] + items[i:]
    else:  # one silence of a WWT or more, before the answer's end
        i = draw(st.integers(0, len(items) - 1))
        items = items[:i] + [("d", draw(st.integers(WWT, 5000)))] + items[i:]
    busy = draw(st.sampled_from([BUSY, 5000, 1500]))
    return apdu, items, kind, busy, draw(st.integers(0, 3))


@SETTINGS
@given(st.lists(hostile_exchanges(), min_size=1, max_size=25))
def test_hostile_cards_end_in_a_firmware_error_in_time(cases):
    res = run_batch([t0_line(a, it, busy, gr) for a, it, _, busy, gr in cases])
    for (apdu, items, kind, busy, gr), (outcome, f) in zip(cases, res):
        what = (kind, apdu.hex(), stream(items), outcome, f)
        assert int(f["t"]) <= busy, what
        if kind == "nulls":
            assert outcome == "Timeout", what
        if kind == "late":  # late, or stopped earlier by the busy or GET RESPONSE bound
            assert outcome in ("Timeout", "ProtocolError"), what
