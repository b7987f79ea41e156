"""firmware/cmac.py and kdf.py under micropython against pyca/cryptography: AES-CMAC, the NIST
SP 800-108 counter-mode KDF (KBKDFCMAC, rlen=4, BeforeFixed) and the link's key schedule
(llen=4, label, context = pad id), on random keys, labels, fixed inputs and lengths
generated here, plus published NIST vectors. TEST MATERIAL: every key is generated at
run time."""
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
import cryptolib
from binascii import hexlify, unhexlify
from cmac import mac
from kdf import Keys, kdf
for line in sys.stdin:
    f = line.split()
    if not f:
        continue
    n = int(f[1])  # output length (mac, key: unused)
    a = [unhexlify(x) if x != "-" else b"" for x in f[2:]]
    if f[0] == "mac":
        out = mac(cryptolib.aes(a[0], 1), a[1])
    elif f[0] == "key":  # link key, label, pad id
        out = Keys(a[0], a[2]).key(a[1])
    else:  # key, fixed input
        out = kdf(a[0], a[1], n)
    print(hexlify(out).decode())
"""


def run_fw(lines):
    r = run_code(FW, input="\n".join(lines) + "\n")
    assert r.returncode == 0, r.stderr
    return [bytes.fromhex(x) for x in r.stdout.split()]


def hx(b):
    return b.hex() or "-"


def ref_kdf(key, label, context, length, fixed=None):
    return KBKDFCMAC(algorithms.AES, Mode.CounterMode, length, 4, 4, CounterLocation.BeforeFixed,
                     label, context, fixed).derive(key)


def ref_cmac(key, data):
    c = CMAC(algorithms.AES(key))
    c.update(data)
    return c.finalize()


def test_kdf_matches_kbkdfcmac_on_random_inputs():
    rng = random.Random(os.urandom(8))
    cases = []
    for _ in range(40):
        key = os.urandom(rng.choice((16, 32)))
        fixed = os.urandom(rng.randrange(0, 40))
        length = rng.choice((1, 15, 16, 17, 31, 32, 33, 48, 64, 100))
        cases.append((key, fixed, length))
    got = run_fw(["kdf %d %s %s" % (n, hx(k), hx(f)) for k, f, n in cases])
    assert len(got) == len(cases)
    for (k, f, n), g in zip(cases, got):
        assert g == ref_kdf(k, None, None, n, f), (k.hex(), f.hex(), n)


def test_key_schedule_matches_kbkdfcmac_label_and_context():
    # Keys.key(label): KBKDFCMAC with that label, the pad id as context, L = 128 (llen=4)
    rng = random.Random(os.urandom(8))
    cases = [(os.urandom(16), os.urandom(rng.randrange(1, 24)), os.urandom(8))
             for _ in range(20)]
    got = run_fw(["key 16 %s %s %s" % (hx(k), hx(l), hx(p)) for k, l, p in cases])
    assert got == [ref_kdf(k, l, p, 16) for k, l, p in cases]


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
    # the host's key schedule (padctl.link.Keys) and the firmware's: kdf.Keys (the
    # journal's) and the message keys a LinkServer derives (kdf.schedules: h, p, a, P, A)
    from padctl.link import Keys
    key, pad = os.urandom(16), os.urandom(8)
    code = """
from binascii import hexlify, unhexlify
from cmac import mac
from kdf import Keys
from link import LinkServer
k = Keys(unhexlify("%s"), unhexlify("%s"))
print(hexlify(mac(k.journal, b"x")).decode())
s = LinkServer(None, k)
for i in range(5):
    print(hexlify(mac(s._k[i], b"x")).decode())
print(hexlify(k.journal_mac(bytes(16), bytes(44))).decode())
""" % (key.hex(), pad.hex())
    r = run_code(code)
    assert r.returncode == 0, r.stderr
    got = r.stdout.split()
    host = Keys(key, pad)
    want = [ref_cmac(host.journal, b"x")]
    want += [ref_cmac(host.message(d, t), b"x")
             for d, t in ((2, 0x68), (2, 0x70), (2, 0x61), (1, 0x50), (1, 0x41))]
    want.append(host.journal_mac(bytes(16), bytes(44)))
    assert got == [w.hex() for w in want]
    assert len(set(got)) == len(got)  # every purpose its own key
