# firmware/cmac.py under micropython: RFC 4493 (all four examples and the subkeys),
# NIST SP 800-108 counter-mode CMAC-AES128 vectors, incremental use, allocation.
import gc
from binascii import unhexlify as h

import cmac
import cryptolib
import mptest as t
from cmac import ct_eq, mac
from kdf import Keys, kdf


def Cmac(key):
    return cryptolib.aes(key, 1)

# RFC 4493 section 4 (AES-128)
K = h("2b7e151628aed2a6abf7158809cf4f3c")
M = h("6bc1bee22e409f96e93d7e117393172a" "ae2d8a571e03ac9c9eb76fac45af8e51"
      "30c81c46a35ce411e5fbc1191a0a52ef" "f69f2445df4f9b17ad2b417be66c3710")
RFC = ((0, "bb1d6929e95937287fa37d129b756746"),
       (16, "070a16b46b4d4144f79bdd9dd04a287c"),
       (40, "dfa66747de9ae63030ca32611497c827"),
       (64, "51f0bebf7e3b9d92fc49741779363cfe"))

# NIST CAVP SP 800-108 KDFCTR, [PRF=CMAC_AES128] [CTRLOCATION=BEFORE_FIXED] [RLEN=32_BITS]
# (as published in pyca/cryptography vectors/cryptography_vectors/KDF/nist-800-108-KBKDF-CTR.txt)
NIST = (
    ("c10b152e8c97b77e18704e0f0bd38305",
     "98cd4cbbbebe15d17dc86e6dbad800a2dcbd64f7c7ad0e78e9cf94ffdba89d03"
     "e97eadf6c4f7b806caf52aa38f09d0eb71d71f497bcc6906b48d36c4",
     "26faf61908ad9ee881b8305c221db53f"),
    ("b523ae21fc36bc58cc46e5a3cda97493",
     "8dbe6d4d9b09b2eabd165b6e6e97e3bc782f8335cb1ea04ad0403affd88a5071"
     "db5f36ce2e84ab296261730b2226a9189d867991fbd4ff86f43a3cfb",
     "530211df01975dd6c08064c34105f88a6007f2b2"),
    ("b2fcf854b1029888aeb0274ca09bb21a",
     "a6b84baae7a6ceb1d63ed704757500c510c0a8bdc22d2f42af09f79c815f37f3"
     "3b67dad0b30f428fc1e2d355f7f91f65acbedd2fdd5b8c38dd890407",
     "fe4c2c0242c5a295c008aeb87ae0815171de6173773292347f4f5ec07185c3f860b5667c199aad55"),
)


def test_rfc4493_subkeys():
    mac(Cmac(K), b"")  # the subkeys of the MAC last computed are in cmac._k
    t.eq(bytes(cmac._k[:16]), h("fbeed618357133667c85e08f7236a8de"))
    t.eq(bytes(cmac._k[16:]), h("f7ddac306ae266ccf90bc11ee46d513b"))


def test_rfc4493_examples():
    c = Cmac(K)
    for n, want in RFC:
        t.eq(mac(c, M[:n]), h(want), "len %d" % n)


def test_two_parts_split_anywhere():
    # data || more: every split, whole blocks or not, gives the MAC of the whole
    c = Cmac(K)
    for n, want in RFC:
        for i in range(n + 1):
            t.eq(mac(c, M[:i], M[i:n]), h(want), "len %d split %d" % (n, i))


def test_memoryviews_and_out():
    c = Cmac(K)
    t.eq(mac(c, memoryview(M)[:24], memoryview(M)[24:40]), h(RFC[2][1]))
    buf = bytearray(20)
    got = mac(c, memoryview(M), b"", memoryview(buf)[2:18])
    t.eq(bytes(buf[2:18]), h(RFC[3][1]))
    t.eq(bytes(got), h(RFC[3][1]))
    t.eq(buf[:2] + buf[18:], bytes(4), "written outside out")


def test_tag_check_and_ct_eq():
    c = Cmac(K)
    tag = h(RFC[1][1])
    t.true(ct_eq(mac(c, M[:16]), tag))
    bad = bytearray(tag)
    bad[15] ^= 1
    t.true(not ct_eq(mac(c, M[:16]), bad), "flipped bit accepted")
    t.true(not ct_eq(mac(c, M[:16]), tag[:15]), "short tag accepted")
    t.true(ct_eq(b"abc", bytearray(b"abc")))
    t.true(not ct_eq(b"abc", b"abd"))
    t.true(not ct_eq(b"abc", b"ab"))


def test_bad_key_length():
    t.raises(ValueError, Cmac, b"short")
    t.raises(ValueError, Cmac, bytes(24))  # cryptolib has no AES-192
    t.raises(ValueError, kdf, b"\x00" * 15, b"L", 16)
    t.raises(ValueError, kdf, K, b"L", 0)
    t.raises(ValueError, kdf, K, b"L", 4081)


def test_nist_sp800_108_counter_cmac_aes128():
    for ki, fixed, ko in NIST:
        t.eq(kdf(h(ki), h(fixed), len(ko) // 2), h(ko))


def test_key_schedule_fixed_input_layout():
    # Keys.key(label) is kdf over label || 00 || pad id || [128]_4 (protocol.md 9.1)
    keys = Keys(K, b"padid-01")
    t.eq(keys.key(b"LAB"), kdf(K, b"LAB\x00padid-01\x00\x00\x00\x80", 16))
    t.eq(mac(keys.journal, b"x"), mac(Cmac(keys.key(b"PAD-JOURNAL")), b"x"))
    t.eq(keys.journal_mac(b"p" * 16, b"b" * 44), mac(keys.journal, b"b" * 44 + b"p" * 16))
    # the resident chain (app.py keeps it, not the derivation's code) is the same MAC
    t.eq(cmac.chain(keys.journal)(b"p" * 16, b"b" * 44), keys.journal_mac(b"p" * 16, b"b" * 44))


def test_mac_allocates_nothing_with_out():
    c = Cmac(K)
    out = bytearray(16)
    data = bytes(60)
    mac(c, data, data, out)
    gc.collect()
    before = gc.mem_alloc()
    for _ in range(20):
        mac(c, data, data, out)
    grown = gc.mem_alloc() - before
    t.true(grown < 64, "mac allocated %d bytes over 20 MACs" % grown)


t.main(globals())
