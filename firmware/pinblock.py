# PIN blocks with random fill (docs/protocol.md section 3).
# SM4 (16-byte block): ISO 9564 format 4 layout; 3DES (8-byte): format 3 layout.
from cmac import rand


def build(pin, n, block):
    """PIN block for digits pin[0:n] (ints 0-9) into `block` (bytearray of 16 or 8 bytes)."""
    if not 4 <= n <= 12:
        raise ValueError("PIN length")
    size = len(block)
    rnd = rand(bytearray(16))
    if size == 16:
        block[0] = 0x40 | n
        fill = 0xA
    else:
        block[0] = 0x30 | n
        fill = -1
    for i in range(2, 16):  # nibbles 2..15: PIN digits, then fill
        if i - 2 < n:
            v = pin[i - 2]
        elif fill >= 0:
            v = fill
        else:
            v = 0xA + rnd[i] % 6  # format 3: random A-F
        if i & 1:
            block[i >> 1] = (block[i >> 1] & 0xF0) | v
        else:
            block[i >> 1] = v << 4
    if size == 16:
        block[8:16] = rnd[8:16]
    return block


def wipe(buf):
    for i in range(len(buf)):
        buf[i] = 0
