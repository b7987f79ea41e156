"""The ESP32 pad's font (boards/esp32_pinpad/font.bin, padsim.fontgen): every character
of the messages in it, and the committed file what Debian's Unifont gives (when the
`unifont` package is installed: `make font` installs it as root)."""
import struct

import pytest

from padsim import fontgen


def glyphs(font):
    n = struct.unpack_from(">H", font, 2)[0]
    return {struct.unpack_from(">H", font, 4 + 5 * i)[0]: font[4 + 5 * i + 2]
            for i in range(n)}


def test_committed_font_holds_every_character_of_both_languages():
    font = fontgen.OUT.read_bytes()
    assert font[:2] == b"PF"
    g = glyphs(font)
    for cp in fontgen.needed():
        assert cp in g, "U+%04X missing: run make font" % cp
        assert g[cp] == (16 if cp >= 0x1100 else 8)  # display.cells() agrees
    assert len(font) < 8192  # the subset, not the font


@pytest.mark.skipif(not fontgen.UNIFONT.exists(),
                    reason="Debian package unifont not installed (make font installs it)")
def test_committed_font_is_what_unifont_gives():
    assert fontgen.build() == fontgen.OUT.read_bytes(), "font.bin is stale: run make font"


def test_a_font_without_a_glyph_is_refused(tmp_path):
    hexf = tmp_path / "tiny.hex"
    hexf.write_text("0041:00000000183C66C3C3FFC3C3C3C30000\n")
    with pytest.raises(ValueError, match="font lacks U\\+0020"):
        fontgen.build(hexf)
    assert fontgen.main(["--hex", str(hexf), "--out", str(tmp_path / "f.bin")]) == 2
