# firmware/drbg.py: HMAC_DRBG (SHA-256) against the NIST CAVP vectors (all 240 SHA-256
# cases of drbgvectors_pr_false, HMAC_DRBG.rsp: instantiate, reseed, generate twice, the
# second output compared); cmac.rand, the pad's pool of its output (firmware/cmac.py); their RAM.
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
        s = bytearray(128)
        drbg.init(s, c["EntropyInput"], c["Nonce"], c["PersonalizationString"])
        drbg.update(s, c["EntropyInputReseed"], c["AdditionalInputReseed"])
        out = bytearray(len(c["ReturnedBits"]))
        drbg.fill(s, out, c["AdditionalInput1"])
        drbg.fill(s, out, c["AdditionalInput2"])
        eq(hexlify(out), hexlify(c["ReturnedBits"]), "vector %d" % n)
        n += 1
    eq(n, 240)  # 4 sections (personalization, additional input: 0 or 256 bits) x 15


def test_one_changed_input_changes_output():
    a, b = bytearray(128), bytearray(128)
    drbg.init(a, bytes(32), bytes(16))
    drbg.init(b, bytes(32), bytes(16))
    eq(drbg.fill(a, bytearray(40)), drbg.fill(b, bytearray(40)))
    drbg.update(b, bytes(32), b"\x01")
    true(drbg.fill(a, bytearray(16)) != drbg.fill(b, bytearray(16)),
         "reseed input ignored")


def test_resumes_from_its_state():
    a, b = bytearray(128), bytearray(128)
    drbg.init(a, bytes(32), bytes(16), b"p")
    drbg.init(b, bytes(32), bytes(16), b"p")
    eq(drbg.fill(a, bytearray(32)), drbg.fill(b, bytearray(32)))
    c = bytearray(128)
    c[:64] = a[:64]  # K and V kept (cmac.RAND), the pad block not: the same output
    eq(drbg.fill(c, bytearray(32)), drbg.fill(b, bytearray(32)))


class Huge:
    def __len__(self):
        return 65537


def test_oversized_request_refused():
    s = bytearray(128)
    drbg.init(s, bytes(32))
    mptest.raises(ValueError, drbg.fill, s, Huge())


def test_pad_pool_hands_each_byte_out_once_and_wipes_it():
    import cmac
    P = cmac.RAND  # K V (0-63) | pool (64-111) | the PSAM's challenge (112-119) | 120 | 121: n
    eq(P[121], 0)  # empty until the first draw (the app's idle loop refills)
    x = cmac.rand(bytearray(8))  # refilled first: the DRBG instantiated
    true("drbg" not in sys.modules, "drbg stays loaded")
    eq(P[120], 1)
    true(x != bytearray(8), "drew zeros")
    eq(P[121], 40)
    eq(P[64:72], bytearray(8))  # handed out: wiped from the pool
    buf = bytearray(20)
    cmac.rand(memoryview(buf)[4:12])
    eq(buf[:4], bytearray(4))
    eq(buf[12:], bytearray(8))
    eq(P[121], 32)
    true("drbg" not in sys.modules, "drbg stays loaded")
    cmac.rand(bytearray(8), 32)  # 24 would be left, 32 asked to stay: refilled first
    eq(P[121], 40)
    true("drbg" not in sys.modules, "drbg stays loaded")
    k = bytes(P[:64])
    P[112:120] = b"12345678"  # the PSAM's challenge (pwrup.py): kept for the next refill
    cmac.rand(bytearray(8))
    eq(bytes(P[:64]), k)  # no refill: the DRBG untouched
    eq(P[121], 32)
    cmac.rand(b"", 24)  # the idle loop's: 32 left, no refill
    eq(bytes(P[:64]), k)
    cmac.rand(bytearray(16))
    cmac.rand(b"", 24)  # 16 left: mixed in, and a new pool
    true(bytes(P[:64]) != k, "reseed changed nothing")
    eq(P[121], 48)
    eq(P[112:120], bytearray(8))  # the challenge wiped once used
    # the same K and V, with and without the PSAM's challenge: different pools
    s = bytes(P[:64])
    P[121] = 0
    cmac.rand(b"", 48)
    a = bytes(P[64:112])
    P[:64] = s
    P[112:120] = b"abcdefgh"
    P[121] = 0
    cmac.rand(b"", 48)
    true(bytes(P[64:112]) != a, "the PSAM's challenge changed nothing")


def test_ram():
    # resident: cmac.rand with its state and pool; a refill loads drbg and drops it (its
    # transient cost, and the garbage a refill leaves); printed, held to budgets
    sys.modules.pop("cmac", None)
    one = bytearray(1)
    gc.collect()
    a0 = gc.mem_alloc()
    import cmac
    cmac.rand(one)
    gc.collect()
    resident = gc.mem_alloc() - a0
    gc.collect()
    a1 = gc.mem_alloc()
    gc.disable()
    cmac.RAND[121] = 0
    cmac.rand(b"", 48)  # a refill
    peak = gc.mem_alloc() - a1
    gc.enable()
    gc.collect()
    after = gc.mem_alloc() - a1
    buf = bytearray(16)
    gc.collect()
    a2 = gc.mem_alloc()
    gc.disable()
    cmac.rand(buf)
    draw = gc.mem_alloc() - a2
    gc.enable()
    print("cmac (with rand): resident %d bytes; a refill (drbg loaded, used, dropped) "
          "allocates %d bytes, %d stay; a 16-byte draw allocates %d"
          % (resident, peak, after, draw))
    true(resident <= 1900, "cmac resident %d" % resident)
    true(peak <= 8000, "refill %d" % peak)
    eq(after, 0)  # nothing stays
    eq(draw, 0)  # a draw from the pool allocates nothing


mptest.main(globals())
