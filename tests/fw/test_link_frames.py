# firmware/link.py under micropython: the key schedule, the frame codec, noise and
# garbage on the line. TEST MATERIAL: keys are generated at run time (os.urandom).
import gc
import os
import random

import kdf
import link as L
import drive_link as P
from cmac import mac
from drive_link import KEY, PAD, error_code, frames, hello, make, one
import mptest as t


def test_keys_separate_per_purpose():
    keys = kdf.Keys(KEY, PAD)
    data = b"same bytes"
    tags = [mac(keys.journal, data)]
    for d, m in ((P.TO_PAD, P.PULL), (P.TO_HOST, P.PULL), (P.TO_PAD, P.ACK),
                 (P.TO_HOST, P.RECORDS), (P.TO_HOST, P.HELLO_ANS), (P.TO_HOST, P.ACK_OK)):
        tags.append(P.message_key(keys, d, m).mac(data))
    for i in range(len(tags)):
        for k in range(i + 1, len(tags)):
            t.true(tags[i] != tags[k], "keys %d and %d equal" % (i, k))
    other = kdf.Keys(KEY, bytes(8))  # the pad id is the context: another pad, other keys
    t.true(mac(other.journal, data) != tags[0])
    t.raises(ValueError, kdf.Keys, KEY, b"short")
    t.raises(ValueError, kdf.Keys, KEY[:8], PAD)


def test_frames_out_and_in():
    # the pad's answers: '$', base64 of payload || CRC-32 without padding, LF (frames()
    # checks each CRC); it accepts hex frames of either case
    keys, j, s = make(n=9)
    hello_frame = P.frame(b"H" + os.urandom(16))
    for f, mtype, size in ((hello_frame, P.HELLO_ANS, 74), (hello_frame.upper(), P.HELLO_ANS, 74),
                           (P.frame(b"Z"), P.ERROR, 2)):
        out = bytes(s.feed(f))
        t.eq((out[:1], out[-1:]), (b"$", b"\n"))
        t.true(all(c in P.B64 for c in out[1:-1]), "base64 only")
        t.eq(len(one(out, mtype)), size)
        t.eq(out, P.frame64(one(out, mtype)))  # the same bytes as the codec of protocol.md
    bad = bytearray(hello_frame)
    bad[3] = ord("0") if bad[3] != ord("0") else ord("1")
    t.eq(error_code(s.feed(bad)), P.E_CRC)
    t.eq(error_code(s.feed(hello_frame[:-2] + b"\n")), P.E_FRAME)  # odd number of digits


def test_noise_outside_frames_ignored_and_split_frames():
    keys, j, s = make()
    t.eq(s.feed(b"\x03\x03\x04\x00 hello \xff\x1b[A\r\n\r\n"), b"")  # no answer, no error
    hn = os.urandom(16)
    f = P.frame(bytes((P.HELLO,)) + hn)
    out = b""
    for i in range(len(f)):  # byte by byte, as the app's poll loop feeds it
        out += s.feed(f[i:i + 1])
    one(out, P.HELLO_ANS)
    out = s.feed(b"\x03garbage" + f + b"\x03\x03")
    one(out, P.HELLO_ANS)


def test_bad_frames_get_error_frames_and_the_pad_goes_on():
    keys, j, s = make()
    good = P.frame(b"H" + bytes(16))
    cases = (
        (b"#zz\n", P.E_FRAME),
        (b"#abc\n", P.E_FRAME),
        (b"#\n", P.E_FRAME),
        (b"#00\n", P.E_FRAME),  # too short for type and CRC
        (b"#48" + b"\x03" + b"00\n", P.E_FRAME),  # Ctrl-C inside a frame
        (b"#" + b"00" * (P.MAX_LINE // 2 + 1) + b"\n", P.E_FRAME),
        (good[:-5] + b"0000\n" if not good.endswith(b"0000\n") else good[:-5] + b"1111\n", P.E_CRC),
        (P.frame(b"Z123"), P.E_TYPE),
        (P.frame(b"H" + bytes(15)), P.E_LENGTH),
        (P.frame(b"P" + bytes(40)), P.E_LENGTH),
        (P.frame(b"A" + bytes(60)), P.E_LENGTH),
    )
    for data, code in cases:
        t.eq(error_code(s.feed(data)), code, repr(data[:20]))
    out = s.feed(b"#4142" + good)  # cut by a new start: one error, then the good frame
    f = frames(out)
    t.eq([p[0] for p in f], [P.ERROR, P.HELLO_ANS])
    t.eq(f[0][1], P.E_FRAME)
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
        for typ in (P.HELLO, P.PULL, P.ACK, 0, 0xFF):
            p = bytes((typ,)) + os.urandom(n - 1)
            for f in frames(s.feed(P.frame(p))):
                t.true(f[0] in (P.ERROR, P.HELLO_ANS), "answer to garbage %r" % f[:2])


def test_many_frames_in_one_call_answered_through_write_in_order():
    # the pad's loop passes its writer: each answer is written as soon as it is made,
    # none is held for the end of the call (a burst of frames in one call needs no more
    # RAM than one frame: before, answers were joined in a bytes object growing per frame)
    keys, j, s = make()
    hello(s)
    kinds = ((b"#zz\n", P.E_FRAME), (P.frame(b"Z123"), P.E_TYPE),
             (P.frame(b"H" + bytes(3)), P.E_LENGTH), (b"#4142", P.E_FRAME), (b"#00\n", P.E_FRAME))
    data = b"".join(kinds[i % 5][0] for i in range(300)) + b"#"
    codes = bytearray(320)
    B64V = {c: i for i, c in enumerate(P.B64)}
    got = [0, 0]  # answers, bytes written

    def write(out):  # one ERROR frame, '$' base64(65 code CRC) LF: read in place
        t.true(len(out) == 10 and out[0] == 0x24 and B64V[out[1]] == 0x65 >> 2)
        codes[got[0]] = (B64V[out[2]] & 15) << 4 | B64V[out[3]] >> 2
        got[0] += 1
        got[1] += len(out)
    s.feed(data[:50], write)  # warm up
    got[0] = 0
    gc.collect()
    gc.disable()
    before = gc.mem_alloc()
    try:
        ret = s.feed(data[50:], write)
        used = gc.mem_alloc() - before
    finally:
        gc.enable()
    print("%d frames in one feed() call: %d bytes allocated" % (got[0], used))
    t.eq(ret, b"")
    due = bytes(kinds[i % 5][1] for i in range(300))
    t.eq(bytes(codes[:got[0]]), due[-got[0]:])
    t.true(got[0] > 280, "answers %d" % got[0])
    # every allocation is per frame and short-lived: a few small memoryviews, never a copy
    # of the answers written so far (those were 14 bytes each and more per frame)
    t.true(used < 200 * got[0], "%d bytes for %d frames" % (used, got[0]))
    hello(s)


t.main(globals())
