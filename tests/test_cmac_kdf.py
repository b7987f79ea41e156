"""firmware/cmac.py under micropython against pyca/cryptography: AES-CMAC and the
NIST SP 800-108 counter-mode KDF (KBKDFCMAC, rlen=4, llen=4, BeforeFixed), on random
keys, labels, contexts and lengths generated here, plus published NIST vectors.
TEST MATERIAL: every key is generated at run time."""
import os
import random

import pytest
from cryptography.hazmat.primitives.ciphers import algorithms
from cryptography.hazmat.primitives.cmac import CMAC
from cryptography.hazmat.primitives.kdf.kbkdf import KBKDFCMAC, CounterLocation, Mode

from mp import run_code

# The firmware side: one micropython run answers every case line of stdin.
FW = """
import sys
from binascii import hexlify, unhexlify
from cmac import Cmac, kdf, kdf_fixed
for line in sys.stdin:
    f = line.split()
    if not f:
        continue
    n = int(f[1])  # output length (mac: unused)
    a = [unhexlify(x) if x != "-" else b"" for x in f[2:]]
    if f[0] == "mac":
        out = Cmac(a[0]).mac(a[1])
    elif f[0] == "kdf":
        out = kdf(a[0], a[1], a[2], n)
    else:
        out = kdf_fixed(a[0], a[1], n)
    print(hexlify(out).decode())
"""


def run_fw(lines):
    r = run_code(FW, input="\n".join(lines) + "\n")
    assert r.returncode == 0, r.stderr
    return [bytes.fromhex(x) for x in r.stdout.split()]


def hx(b):
    return b.hex() or "-"


def ref_kdf(key, label, context, length):
    return KBKDFCMAC(algorithms.AES, Mode.CounterMode, length, 4, 4, CounterLocation.BeforeFixed,
                     label, context, None).derive(key)


def ref_cmac(key, data):
    c = CMAC(algorithms.AES(key))
    c.update(data)
    return c.finalize()


def test_kdf_matches_kbkdfcmac_on_random_inputs():
    rng = random.Random(os.urandom(8))
    cases = []
    for _ in range(40):
        key = os.urandom(rng.choice((16, 32)))
        label = os.urandom(rng.randrange(0, 24))
        context = os.urandom(rng.randrange(0, 24))
        length = rng.choice((1, 15, 16, 17, 31, 32, 33, 48, 64, 100))
        cases.append((key, label, context, length))
    got = run_fw(["kdf %d %s %s %s" % (n, hx(k), hx(l), hx(c)) for k, l, c, n in cases])
    assert len(got) == len(cases)
    for (k, l, c, n), g in zip(cases, got):
        assert g == ref_kdf(k, l, c, n), (k.hex(), l.hex(), c.hex(), n)


def test_cmac_matches_cryptography_on_random_messages():
    rng = random.Random(os.urandom(8))
    cases = [(os.urandom(rng.choice((16, 32))), os.urandom(n))
             for n in (0, 1, 15, 16, 17, 31, 32, 33, 44, 60, 64, 65, 200)]
    got = run_fw(["mac 16 %s %s" % (hx(k), hx(m)) for k, m in cases])
    assert got == [ref_cmac(k, m) for k, m in cases]


# NIST CAVP SP 800-108 KDFCTR: [PRF=CMAC_AES128] [CTRLOCATION=BEFORE_FIXED]
# [RLEN=32_BITS], as published in pyca/cryptography's
# vectors/cryptography_vectors/KDF/nist-800-108-KBKDF-CTR.txt (COUNT 20 and 30 there).
NIST = [
    ("b523ae21fc36bc58cc46e5a3cda97493",
     "8dbe6d4d9b09b2eabd165b6e6e97e3bc782f8335cb1ea04ad0403affd88a5071"
     "db5f36ce2e84ab296261730b2226a9189d867991fbd4ff86f43a3cfb",
     "530211df01975dd6c08064c34105f88a6007f2b2"),
    ("b2fcf854b1029888aeb0274ca09bb21a",
     "a6b84baae7a6ceb1d63ed704757500c510c0a8bdc22d2f42af09f79c815f37f3"
     "3b67dad0b30f428fc1e2d355f7f91f65acbedd2fdd5b8c38dd890407",
     "fe4c2c0242c5a295c008aeb87ae0815171de6173773292347f4f5ec07185c3f860b5667c199aad55"),
]


@pytest.mark.parametrize("ki,fixed,ko", NIST)
def test_nist_sp800_108_vector(ki, fixed, ko):
    [got] = run_fw(["fixed %d %s %s" % (len(ko) // 2, ki, fixed)])
    assert got.hex() == ko
    ref = KBKDFCMAC(algorithms.AES, Mode.CounterMode, len(ko) // 2, 4, 4,
                    CounterLocation.BeforeFixed, None, None, bytes.fromhex(fixed))
    assert ref.derive(bytes.fromhex(ki)).hex() == ko


def test_host_keys_equal_firmware_keys():
    # the host's key schedule (padctl.link.Keys) and the firmware's (linkproto.Keys)
    from padctl.link import Keys
    key, pad = os.urandom(16), os.urandom(8)
    code = """
from binascii import hexlify, unhexlify
from linkproto import Keys
k = Keys(unhexlify("%s"), unhexlify("%s"))
print(hexlify(k.journal.mac(b"x")).decode())
for d, t in ((1, 0x50), (2, 0x70), (1, 0x41), (2, 0x61), (2, 0x68)):
    print(hexlify(k.message(d, t).mac(b"x")).decode())
print(hexlify(k.journal_mac(bytes(16), bytes(44))).decode())
""" % (key.hex(), pad.hex())
    r = run_code(code)
    assert r.returncode == 0, r.stderr
    got = r.stdout.split()
    host = Keys(key, pad)
    want = [ref_cmac(host.journal, b"x")]
    want += [ref_cmac(host.message(d, t), b"x")
             for d, t in ((1, 0x50), (2, 0x70), (1, 0x41), (2, 0x61), (2, 0x68))]
    want.append(host.journal_mac(bytes(16), bytes(44)))
    assert got == [w.hex() for w in want]
    assert len(set(got)) == len(got)  # every purpose its own key
