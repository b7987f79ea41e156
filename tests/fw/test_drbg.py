# firmware/drbg.py: HMAC_DRBG (SHA-256) against the NIST CAVP vectors (all 240 SHA-256
# cases of drbgvectors_pr_false, HMAC_DRBG.rsp: instantiate, reseed, generate twice, the
# second output compared), the pad's instance, and its RAM.
import gc
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


def test_pad_instance_fills_and_reseeds():
    x = drbg.fill(bytearray(8))
    eq(len(x), 8)
    buf = bytearray(20)
    mv = memoryview(buf)[4:12]
    drbg.fill(mv)
    eq(buf[:4], bytearray(4))
    eq(buf[12:], bytearray(8))
    true(buf[4:12] != bytearray(8), "fill wrote nothing")
    drbg.reseed(b"12345678")
    eq(drbg._d.count, 2)  # reseeded (1), then the empty generate of reseed()
    true(drbg.fill(bytearray(8)) != x, "two draws equal")


def test_oversized_request_refused():
    mptest.raises(ValueError, drbg.HmacDrbg(bytes(32)).generate, bytearray(65537))


def test_ram():
    # the pad's instance (K, V, pad block) resident, and what one fill of 16 bytes (the
    # PIN block's) allocates as garbage; printed for the report, held to a budget
    gc.collect()
    a0 = gc.mem_alloc()
    drbg._d = None
    gc.collect()
    a0 = gc.mem_alloc()
    drbg.fill(bytearray(1))
    gc.collect()
    state = gc.mem_alloc() - a0
    buf = bytearray(16)
    gc.collect()
    a1 = gc.mem_alloc()
    gc.disable()
    drbg.fill(buf)
    garbage = gc.mem_alloc() - a1
    gc.enable()
    print("drbg: state %d bytes, one 16-byte fill allocates %d bytes (garbage)"
          % (state, garbage))
    true(state <= 400, "drbg state %d bytes" % state)
    true(garbage <= 2500, "drbg fill garbage %d bytes" % garbage)


mptest.main(globals())
