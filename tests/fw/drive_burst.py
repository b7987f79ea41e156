# Garbage on the link at the pad's heap (tests/test_link_burst.py runs it under
# micropython -X heapsize=64k). TEST MATERIAL: keys are generated at run time.
#
#   micropython drive_burst.py MODE N SEED FREE [CHUNK]
# Serves N garbage frames of every kind (protocol.md 9.2, 9.4: non-hex character, odd
# length, CRC wrong, unknown type, wrong length, wrong MAC of PULL and ACK, too long, cut
# by the next '#', too short), with noise between them, to firmware/link.py as the pad
# loads it (compiled, from the build), after a HELLO, answers written through feed()'s
# writer as the pad's poll loop does. The heap is first filled until FREE bytes are left.
# MODE: "slow", one frame per feed() call; "burst", the frames in blocks of CHUNK bytes
# (default 1536), many frames per call; "bytes", one byte per call. Prints "codes
# c:count ..." (13: an answer that is not an ERROR frame), then "answers A mismatch M
# lost L" (M: answers whose code is not the one due to their frame, in order).
import gc
import os
import random
import struct
import sys
from binascii import crc32

import kdf
import link

MODE = sys.argv[1]
N = int(sys.argv[2])
random.seed(int(sys.argv[3]))
FREE = int(sys.argv[4])


class Journal:
    # the journal API LinkServer uses, minimal (records are never read: no PULL passes)
    boot_count = 1
    epoch = 7
    head = 3
    acked = 0
    notes = 0

    def free(self):
        return 1000

    def fits(self, n):
        return True

    def append(self, kind, card_id=None, data=b""):
        self.notes += 1

    def read(self, seq):
        return None


CHUNK = int(sys.argv[5]) if len(sys.argv) > 5 else 1536
data = bytearray(CHUNK + 400)  # the bytes of one feed() call
dv = memoryview(data)
want = bytearray(N + 8)  # the code due to each frame, in order
codes = [0] * 14  # answers per code; [13]: answers that are not ERROR frames
state = [0, 0]  # answers, mismatches


def b64v(c):
    # the value of a base64 character (no allocation)
    if c >= 97:
        return c - 71
    if c >= 65:
        return c - 65
    if c >= 48:
        return c + 4
    return 62 if c == 43 else 63


def write(out):
    # the pad's writer: checks each answer in place, allocates nothing
    i = 0
    while i < len(out):
        k = i
        while out[k] != 0x0A:
            k += 1
        c = 13
        # an ERROR frame: '$' base64(65 code CRC-32) LF, 8 characters (protocol.md 9.2)
        if k - i == 9 and out[i] == 0x24 and b64v(out[i + 1]) == 0x65 >> 2 and \
                b64v(out[i + 2]) >> 4 == 0x65 & 3:
            c = (b64v(out[i + 2]) & 15) << 4 | b64v(out[i + 3]) >> 2
            c = c if 0 < c < 13 else 13
        codes[c] += 1
        if want[state[0]] != c:
            state[1] += 1
        state[0] += 1
        i = k + 1


HEX = b"0123456789abcdef"
pl = bytearray(72)  # the payload of the frame being made, then its CRC
plv = memoryview(pl)
at = [0]  # where the next byte goes in data


def put(c):
    data[at[0]] = c
    at[0] += 1


def put_frame(n, lf=True):
    # '#' hex(pl[:n] || CRC) and LF into data; allocates nothing
    struct.pack_into(">I", pl, n, crc32(plv[:n]))
    put(0x23)
    for i in range(n + 4):
        put(HEX[pl[i] >> 4])
        put(HEX[pl[i] & 15])
    if lf:
        put(0x0A)


def fill(t, n):
    pl[0] = t
    for i in range(1, n):
        pl[i] = random.getrandbits(8)


def garbage(kind):
    # makes one bad frame in data; the code it is due
    r = random.getrandbits(8)
    if kind == 0:  # a non-hex character inside
        fill(0x48, 17)
        a = at[0]
        put_frame(17)
        data[a + 1 + (r & 31)] = b"zG \x03\x00\xff"[r % 6]
        return 1
    if kind == 1:  # an odd number of digits
        fill(0x5A, 1 + (r & 15))
        put_frame(1 + (r & 15), False)
        data[at[0] - 1] = 0x0A
        return 1
    if kind == 2:  # CRC wrong: a digit changed
        fill(b"PAH"[r % 3], 20)
        a = at[0]
        put_frame(20)
        i = a + 1 + (r & 31)
        data[i] = 0x30 if data[i] != 0x30 else 0x61
        return 2
    if kind == 3:  # unknown type
        n = 1 + random.getrandbits(6)
        fill(r if r not in (0x48, 0x50, 0x41) else 0x5A, n)
        put_frame(n)
        return 3
    if kind == 4:  # wrong length for the type
        t, m = ((0x48, 17), (0x50, 43), (0x41, 57))[r % 3]
        n = 1 + random.getrandbits(6)
        n = n if n != m else m + 1
        fill(t, n)
        put_frame(n)
        return 4
    if kind == 5 or kind == 6:  # PULL, ACK: the length right, the MAC wrong
        n = 43 if kind == 5 else 57
        fill(0x50 if kind == 5 else 0x41, n)
        put_frame(n)
        return 5
    if kind == 7:  # too long
        put(0x23)
        for _ in range(258 + (r & 63)):
            put(0x34)
        put(0x0A)
        return 1
    if kind == 8:  # cut by the next '#'
        fill(0x50, 43)
        put_frame(43, False)
        at[0] -= r & 31
        return 1
    put(0x23)  # too short for a type and a CRC
    for _ in range(2 * (r & 3)):
        put(0x30)
    put(0x0A if r & 4 else 0x0D)
    return 1


keys = kdf.Keys(os.urandom(16), os.urandom(8))
j = Journal()
server = link.LinkServer(j, keys, {"version": "burst"})
fill(0x48, 17)
put_frame(17)
server.feed(dv[:at[0]], lambda out: None)  # a session: P and A are judged by their MAC
at[0] = 0
NOISE = (b"", b"", b"\x03", b"\r\n", b"zz", b"\x00\xff")


def run():
    # (in a function: its names are locals, no dict of globals grows while it runs)
    for i in range(N):
        kind = random.getrandbits(8) % 10
        want[i] = garbage(kind)
        if kind != 8:  # noise between frames (a cut frame: '#' next)
            for c in NOISE[random.getrandbits(8) % 6]:
                put(c)
        if MODE == "slow" or at[0] >= CHUNK or i == N - 1:
            if i == N - 1:
                put(0x23)  # the last frame cut, if it was one
            if MODE == "bytes":
                for k in range(at[0]):
                    server.feed(dv[k:k + 1], write)
            else:
                server.feed(dv[:at[0]], write)
            at[0] = 0


ballast = []
gc.collect()
for size in (1024, 256, 64, 16):  # the rest of the pad's heap, in use
    while gc.mem_free() > FREE + size:
        try:
            ballast.append(bytearray(size - 8))
        except MemoryError:
            break
gc.collect()
print("free", gc.mem_free())
run()
print("codes", " ".join("%d:%d" % (c, codes[c]) for c in range(14) if codes[c]))
print("answers", state[0], "mismatch", state[1], "lost", N - state[0])
