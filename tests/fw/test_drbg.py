# firmware/drbg.py: HMAC_DRBG (SHA-256) against the NIST CAVP vectors (all 240 SHA-256
# cases of drbgvectors_pr_false, HMAC_DRBG.rsp: instantiate, reseed, generate twice, the
# second output compared); firmware/rand.py, the pad's pool of its output; their RAM.
import gc
import sys
from binascii import hexlify, unhexlify

import mptest
from mptest import eq, true
import drbg

_DIR = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
VECTORS = _DIR + "/vectors/HMAC_DRBG_SHA256.rsp"


def cases():
    """Each vector as a dict of its fields (AdditionalInput twice: AdditionalInput1, 2)."""
    c = None
    with open(VECTORS) as f:
        for line in f:
            line = line.strip()
            if line.startswith("COUNT"):
                c = {}
            elif c is not None and " = " in line or line.endswith(" ="):
                name, _, value = line.partition(" =")
                value = unhexlify(value.strip())
                if name == "AdditionalInput":
                    name += "1" if "AdditionalInput1" not in c else "2"
                c[name] = value
                if name == "ReturnedBits":
                    yield c
                    c = None


def test_cavp_vectors():
    n = 0
    for c in cases():
        d = drbg.HmacDrbg(c["EntropyInput"], c["Nonce"], c["PersonalizationString"])
        d.reseed(c["EntropyInputReseed"], c["AdditionalInputReseed"])
        out = bytearray(len(c["ReturnedBits"]))
        d.generate(out, c["AdditionalInput1"])
        d.generate(out, c["AdditionalInput2"])
        eq(hexlify(out), hexlify(c["ReturnedBits"]), "vector %d" % n)
        n += 1
    eq(n, 240)  # 4 sections (personalization, additional input: 0 or 256 bits) x 15


def test_one_changed_input_changes_output():
    a = drbg.HmacDrbg(bytes(32), bytes(16))
    b = drbg.HmacDrbg(bytes(32), bytes(16))
    eq(a.generate(bytearray(40)), b.generate(bytearray(40)))
    b.reseed(bytes(32), b"\x01")
    true(a.generate(bytearray(16)) != b.generate(bytearray(16)), "reseed input ignored")


def test_resumes_from_its_state():
    st = bytearray(64)
    a = drbg.HmacDrbg(bytes(32), bytes(16), b"p", st)
    b = drbg.HmacDrbg(bytes(32), bytes(16), b"p")
    eq(a.generate(bytearray(32)), b.generate(bytearray(32)))
    c = drbg.HmacDrbg(None, state=st)  # loaded again: the same K and V
    eq(c.generate(bytearray(32)), b.generate(bytearray(32)))


class Huge:
    def __len__(self):
        return 65537


def test_oversized_request_refused():
    mptest.raises(ValueError, drbg.HmacDrbg(bytes(32)).generate, Huge())


def test_pad_pool_hands_each_byte_out_once_and_wipes_it():
    import rand
    eq(rand.n, 64)  # filled when it loaded
    true("drbg" not in sys.modules, "drbg stays loaded")
    x = rand.fill(bytearray(8))
    true(x != bytearray(8), "drew zeros")
    eq(rand.n, 56)
    eq(rand.P[64:72], bytearray(8))  # handed out: wiped from the pool
    buf = bytearray(20)
    rand.fill(memoryview(buf)[4:12])
    eq(buf[:4], bytearray(4))
    eq(buf[12:], bytearray(8))
    eq(rand.n, 48)
    true("drbg" not in sys.modules, "drbg stays loaded")
    rand.fill(bytearray(8), 48)  # 40 would be left, 48 asked to stay: refilled first
    eq(rand.n, 56)
    true("drbg" not in sys.modules, "drbg stays loaded")
    k = bytes(rand.P[:64])
    rand.P[128:136] = b"12345678"  # the PSAM's challenge (psam.py): kept for the next refill
    rand.fill(bytearray(8))
    eq(bytes(rand.P[:64]), k)  # no refill: the DRBG untouched
    rand.fill(b"", 64)  # the idle loop's refill: mixed in, and a new pool
    true(bytes(rand.P[:64]) != k, "reseed changed nothing")
    eq(rand.n, 64)
    eq(rand.P[128:136], bytearray(8))  # the challenge wiped once used
    rand.fill(b"", 64)  # full: no refill
    eq(rand.n, 64)


def test_ram():
    # resident: rand with its state and pool; a refill loads drbg and drops it (its
    # transient cost, and the garbage a refill leaves); printed, held to budgets
    sys.modules.pop("rand", None)
    one = bytearray(1)
    gc.collect()
    a0 = gc.mem_alloc()
    import rand
    rand.fill(one)
    gc.collect()
    resident = gc.mem_alloc() - a0
    gc.collect()
    a1 = gc.mem_alloc()
    gc.disable()
    rand.n = 0
    rand.fill(b"", 64)  # a refill
    peak = gc.mem_alloc() - a1
    gc.enable()
    gc.collect()
    after = gc.mem_alloc() - a1
    buf = bytearray(16)
    gc.collect()
    a2 = gc.mem_alloc()
    gc.disable()
    rand.fill(buf)
    draw = gc.mem_alloc() - a2
    gc.enable()
    print("rand: resident %d bytes; a refill (drbg loaded, used, dropped) allocates %d "
          "bytes, %d stay; a 16-byte draw allocates %d" % (resident, peak, after, draw))
    true(resident <= 1200, "rand resident %d" % resident)
    true(peak <= 8000, "refill %d" % peak)
    eq(draw, 0)  # a draw from the pool allocates nothing


mptest.main(globals())
