"""The ESP32 pad's bitmap font: only the glyphs its messages use, from GNU Unifont.

Source: Debian's ``unifont`` package (``/usr/share/unifont/unifont.hex``: 8 x 16 glyphs for
Latin, 16 x 16 for CJK; GPL-2+ with the font embedding exception). ``make font`` installs
the package when it is missing (as root) and runs this; the output,
``boards/esp32_pinpad/font.bin``, is committed, so a clone builds without the package;
``tests/test_esp32_font.py`` regenerates it when the package is there and checks it is
the same, and that it holds every character of ``firmware/lang_*.txt``.

Layout of font.bin (read by ``boards/esp32_pinpad/display.py``, one glyph at a time from
flash, never loaded whole):

- ``PF`` (2), number of glyphs n (2, big-endian);
- n index entries of 5 bytes, sorted by code point: code point (2), width in pixels (1:
  8 or 16), offset of the bitmap from the end of the index (2);
- the bitmaps: 16 rows of width / 8 bytes each, most significant bit leftmost
  (framebuf's MONO_HLSB).

Which glyphs: printable ASCII (the argument of a message is digits or ``*``), and every
other character of the message files.
"""
import argparse
import struct
import sys
from pathlib import Path

from padctl.mpy import ROOT  # the checkout (font.bin is committed there)
UNIFONT = Path("/usr/share/unifont/unifont.hex")
OUT = ROOT / "boards" / "esp32_pinpad" / "font.bin"
LANGS = sorted((ROOT / "firmware").glob("lang_*.txt"))


def needed(langs=LANGS):
    """The code points the pad can show: printable ASCII and its messages' characters."""
    cps = set(range(0x20, 0x7F))
    for p in langs:
        for ch in p.read_text(encoding="utf-8"):
            if ch not in "\t\n":
                cps.add(ord(ch))
    return sorted(cps)


def read_hex(path=UNIFONT, cps=None):
    """{code point: bitmap bytes} from a .hex font (``XXXX:hex``), only cps if given."""
    want = set(cps) if cps is not None else None
    out = {}
    with open(path, encoding="ascii") as f:
        for line in f:
            cp, _, bits = line.strip().partition(":")
            cp = int(cp, 16)
            if want is None or cp in want:
                out[cp] = bytes.fromhex(bits)
    return out


def build(hex_path=UNIFONT, langs=LANGS):
    """The font file's bytes; ValueError naming the characters the font lacks."""
    cps = needed(langs)
    glyphs = read_hex(hex_path, cps)
    missing = [cp for cp in cps if cp not in glyphs]
    if missing:
        raise ValueError("font lacks %s" % " ".join("U+%04X" % c for c in missing))
    index, data = bytearray(b"PF" + struct.pack(">H", len(cps))), bytearray()
    for cp in cps:
        g = glyphs[cp]
        if len(g) not in (16, 32):
            raise ValueError("U+%04X: %d bytes, not 8x16 or 16x16" % (cp, len(g)))
        index += struct.pack(">HBH", cp, len(g) // 2, len(data))
        data += g
    return bytes(index + data)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m padsim.fontgen",
                                 description="Build the ESP32 pad's font subset from Unifont.")
    ap.add_argument("--hex", default=str(UNIFONT), help="Unifont .hex file (Debian: unifont)")
    ap.add_argument("--out", default=str(OUT), help="the font file to write")
    ap.add_argument("--check", action="store_true",
                    help="only check that --out is what the font gives (exit 1 if not)")
    a = ap.parse_args(argv)
    try:
        font = build(Path(a.hex))
    except (OSError, ValueError) as e:
        print("fontgen: %s" % e, file=sys.stderr)
        return 2
    out = Path(a.out)
    if a.check:
        same = out.exists() and out.read_bytes() == font
        print("fontgen: %s %s" % (out, "up to date" if same else "differs: run make font"))
        return 0 if same else 1
    out.write_bytes(font)
    print("fontgen: %s, %d glyphs, %d bytes" % (out, struct.unpack_from(">H", font, 2)[0],
                                                   len(font)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
