# firmware/link.py under micropython: the key schedule, the frame codec, noise and
# garbage on the line. TEST MATERIAL: keys are generated at run time (os.urandom).
import os
import random

import link as L  # first: the largest compile, on an empty heap
from drive_link import KEY, PAD, error_code, frames, hello, make, one
import mptest as t


def test_keys_separate_per_purpose():
    keys = L.Keys(KEY, PAD)
    data = b"same bytes"
    tags = [keys.journal.mac(data)]
    for d, m in ((L.TO_PAD, L.PULL), (L.TO_HOST, L.PULL), (L.TO_PAD, L.ACK),
                 (L.TO_HOST, L.RECORDS), (L.TO_HOST, L.HELLO_ANS), (L.TO_HOST, L.ACK_OK)):
        tags.append(keys.message(d, m).mac(data))
    for i in range(len(tags)):
        for k in range(i + 1, len(tags)):
            t.true(tags[i] != tags[k], "keys %d and %d equal" % (i, k))
    other = L.Keys(KEY, bytes(8))  # the pad id is the context: another pad, other keys
    t.true(other.journal.mac(data) != tags[0])
    t.raises(ValueError, L.Keys, KEY, b"short")
    t.raises(ValueError, L.Keys, KEY[:8], PAD)


def test_frame_round_trip():
    for n in (1, 2, 17, 64, 200):
        p = bytes(random.getrandbits(8) for _ in range(n))
        f = L.frame(p)
        t.eq(f[0:1], b"#")
        t.eq(f[-1:], b"\n")
        t.true(all(0x30 <= c <= 0x39 or 0x61 <= c <= 0x66 for c in f[1:-1]), "hex only")
        t.eq(bytes(L.unframe(f[1:-1])), p)
        t.eq(bytes(L.unframe(f[1:-1].upper())), p)  # either case is accepted
    bad = bytearray(L.frame(b"Habc")[1:-1])
    bad[2] = ord("0") if bad[2] != ord("0") else ord("1")
    t.raises(ArithmeticError, L.unframe, bad)
    t.raises(ValueError, L.unframe, b"abc")
    t.raises(ValueError, L.unframe, b"0011")


def test_noise_outside_frames_ignored_and_split_frames():
    keys, j, s = make()
    t.eq(s.feed(b"\x03\x03\x04\x00 hello \xff\x1b[A\r\n\r\n"), b"")
    t.eq(s.errors, 0)
    hn = os.urandom(16)
    f = L.frame(bytes((L.HELLO,)) + hn)
    out = b""
    for i in range(len(f)):  # byte by byte, as the app's poll loop feeds it
        out += s.feed(f[i:i + 1])
    one(out, L.HELLO_ANS)
    out = s.feed(b"\x03garbage" + f + b"\x03\x03")
    one(out, L.HELLO_ANS)


def test_bad_frames_get_error_frames_and_the_pad_goes_on():
    keys, j, s = make()
    good = L.frame(b"H" + bytes(16))
    cases = (
        (b"#zz\n", L.E_FRAME),
        (b"#abc\n", L.E_FRAME),
        (b"#\n", L.E_FRAME),
        (b"#00\n", L.E_FRAME),  # too short for type and CRC
        (b"#48" + b"\x03" + b"00\n", L.E_FRAME),  # Ctrl-C inside a frame
        (b"#" + b"00" * (L.MAX_LINE // 2 + 1) + b"\n", L.E_FRAME),
        (good[:-5] + b"0000\n" if not good.endswith(b"0000\n") else good[:-5] + b"1111\n", L.E_CRC),
        (L.frame(b"Z123"), L.E_TYPE),
        (L.frame(b"H" + bytes(15)), L.E_LENGTH),
        (L.frame(b"P" + bytes(40)), L.E_LENGTH),
        (L.frame(b"A" + bytes(60)), L.E_LENGTH),
    )
    for data, code in cases:
        t.eq(error_code(s.feed(data)), code, repr(data[:20]))
    out = s.feed(b"#4142" + good)  # cut by a new start: one error, then the good frame
    f = frames(out)
    t.eq([p[0] for p in f], [L.ERROR, L.HELLO_ANS])
    t.eq(f[0][1], L.E_FRAME)
    hello(s)


def test_garbage_never_raises():
    keys, j, s = make(n=4)
    alphabet = b"#0123456789abcdefABCDEF\n\r\x03\x00zZ \xff"
    random.seed(7)
    for _ in range(300):
        n = random.getrandbits(6)
        data = bytes(alphabet[random.getrandbits(5) % len(alphabet)] for _ in range(n))
        frames(s.feed(data))  # every answer is a well-formed frame
    frames(s.feed(b"\n"))
    hello(s)  # and the pad still answers


def test_garbage_frames_with_valid_crc_never_raise():
    keys, j, s = make(n=4)
    hello(s)
    for n in (1, 2, 17, 27, 42, 43, 44, 56, 57, 58, 100):
        for typ in (L.HELLO, L.PULL, L.ACK, 0, 0xFF):
            p = bytes((typ,)) + os.urandom(n - 1)
            for f in frames(s.feed(L.frame(p))):
                t.true(f[0] in (L.ERROR, L.HELLO_ANS), "answer to garbage %r" % f[:2])


t.main(globals())
