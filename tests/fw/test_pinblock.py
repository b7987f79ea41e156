# PIN blocks built by the firmware (docs/protocol.md section 3).
import mptest
import pinblock

PIN = bytearray((1, 2, 3, 4, 5, 6))


def nibbles(b):
    out = []
    for x in b:
        out.append(x >> 4)
        out.append(x & 15)
    return out


def test_format4_layout():
    b = pinblock.build(PIN, 6, bytearray(16))
    n = nibbles(b)
    mptest.eq(n[0], 4)
    mptest.eq(n[1], 6)
    mptest.eq(n[2:8], [1, 2, 3, 4, 5, 6])
    mptest.eq(n[8:16], [0xA] * 8)


def test_format4_random_fill_differs():
    a = pinblock.build(PIN, 6, bytearray(16))
    b = pinblock.build(PIN, 6, bytearray(16))
    mptest.eq(a[:8], b[:8])
    mptest.true(a[8:] != b[8:], "random fill must differ between blocks")


def test_format3_layout():
    seen = set()
    for _ in range(20):
        b = pinblock.build(PIN, 6, bytearray(8))
        n = nibbles(b)
        mptest.eq(n[0], 3)
        mptest.eq(n[1], 6)
        mptest.eq(n[2:8], [1, 2, 3, 4, 5, 6])
        for v in n[8:16]:
            mptest.true(0xA <= v <= 0xF, "fill nibble %x" % v)
        seen.add(bytes(b[4:]))
    mptest.true(len(seen) > 1, "format 3 fill must be random")


def test_lengths():
    b = pinblock.build(bytearray((9, 8, 7, 6)), 4, bytearray(16))
    mptest.eq(nibbles(b)[:8], [4, 4, 9, 8, 7, 6, 0xA, 0xA])
    mptest.raises(ValueError, pinblock.build, PIN, 3, bytearray(16))
    mptest.raises(ValueError, pinblock.build, bytearray(13), 13, bytearray(16))


def test_wipe():
    b = bytearray(b"\x12\x34")
    pinblock.wipe(b)
    mptest.eq(b, bytearray(2))


mptest.main(globals())
