# The host's reading of a PULL answer's packed records (docs/protocol.md 9.3), written
# here from the document for tests/fw/test_link.py (the CPython host's is
# padctl.link.unpack_records; tests/test_link.py checks both against the firmware).
# Kept out of drive_link.py, which 64 KB tests compile from source.
import struct
from binascii import crc32

import mptest as t

MAGIC = 0x4A


def unpack(body, n, raw, epoch, first):
    # The n 64-byte slots of a PULL answer's packed records (protocol.md 9.3), rebuilt.
    body = bytes(body)
    out = []
    i = 0
    seq, tm, boot, card = first - 1, 0, None, bytes(16)
    for k in range(n):
        if raw >> k & 1:
            out.append(body[i:i + 64])
            i += 64
            continue
        if body[i] == 0:  # 00 seq: not the one due
            seq = struct.unpack_from(">I", body, i + 1)[0] - 1
            i += 5
        kind, f = body[i], body[i + 1]
        dl = f & 15
        i += 2
        d = sh = 0
        while True:
            c = body[i]
            i += 1
            d |= (c & 127) << sh
            sh += 7
            if c < 128:
                break
        tm = (tm + d) & 0xFFFFFFFF
        if f & 32:
            boot = struct.unpack_from(">H", body, i)[0]
            i += 2
        if f >> 6 == 0:
            cid = bytes(16)
        elif f >> 6 == 1:
            cid = card
        else:
            cid = card = body[i:i + 16]
            i += 16
        seq += 1
        rec = (struct.pack(">BBBBIIHHI", MAGIC, kind, f >> 4 & 1, dl, epoch, seq, boot, 0, tm)
               + cid + body[i:i + dl] + bytes(8 - dl) + body[i + dl:i + dl + 16])
        i += dl + 16
        out.append(rec + struct.pack(">I", crc32(rec)))
    t.eq(i, len(body), "packed records' length")
    return out
