"""boards/esp32_pinpad under the unix port with the fake `machine` / `esp32`
(tests/fw/fakes): the drivers' own tests (tests/fw/esp32/test_*.py), the display's frames
as PNG files, the card slot on the virtual card's T=0 stream, the watchdog, the ESP32
build's import graph. TEST MATERIAL: keys are generated."""
import struct
import zlib

import pytest

import esp32fw
from padctl.mpy import ROOT, build

SCRIPTS = sorted(p.name for p in esp32fw.TESTS.glob("test_*.py")
                 if p.name not in ("test_slot.py",))


def png(pbm_path, png_path, scale=3):
    """A PBM (P4) frame as a PNG, each pixel scale x scale, lit pixels light on dark."""
    data = pbm_path.read_bytes()
    head, _, rest = data.partition(b"\n")
    dims, _, bits = rest.partition(b"\n")
    w, h = map(int, dims.split())
    stride = (w + 7) // 8
    raw = bytearray()
    for y in range(h):
        row = bytearray()
        for x in range(w):
            on = bits[y * stride + (x >> 3)] >> (7 - (x & 7)) & 1
            row += (b"\xff" if on else b"\x10") * scale
        for _ in range(scale):
            raw += b"\x00" + row

    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))

    png_path.write_bytes(b"\x89PNG\r\n\x1a\n"
                         + chunk(b"IHDR", struct.pack(">IIBBBBB", w * scale, h * scale, 8, 0,
                                                      0, 0, 0))
                         + chunk(b"IDAT", zlib.compress(bytes(raw)))
                         + chunk(b"IEND", b""))
    return w, h


@pytest.mark.parametrize("name", SCRIPTS)
def test_driver_scripts(name, tmp_path):
    r = esp32fw.run(esp32fw.TESTS / name, heap="512k", extra={"PAD_FRAMES": tmp_path},
                    timeout=300)
    assert r.returncode == 0 and " 0 failed" in r.stdout, r.stdout + r.stderr


def test_display_frames_as_png(tmp_path):
    """The frames the fake panels got, as PNGs (looked at while writing the driver: the
    Chinese and English messages, wrapped and centred); each frame has lit pixels in
    every text row it should and nothing outside the panel."""
    r = esp32fw.run(esp32fw.TESTS / "test_display.py", ["test_ssd1306_frames",
                                                        "test_st7789_frame"],
                    heap="512k", extra={"PAD_FRAMES": tmp_path})
    assert r.returncode == 0, r.stdout + r.stderr
    frames = sorted(tmp_path.glob("*.pbm"))
    assert len(frames) == 5
    for f in frames:
        w, h = png(f, f.with_suffix(".png"))
        assert (w, h) in ((128, 64), (240, 240))
    out = ROOT / "build" / "esp32_frames"
    out.mkdir(parents=True, exist_ok=True)
    for f in tmp_path.glob("*.png"):
        (out / f.name).write_bytes(f.read_bytes())


@pytest.fixture
def slots(tmp_path):
    from padctl import keys as K
    from padctl.crypto import Suite
    from padctl.slot import SlotServer
    from padctl.vcard import VirtualCard
    from padctl.vpsam import VirtualPsam
    ks = K.Keystore.generate(tmp_path / "ks.json")
    ident = K.new_identity(Suite.SM4, "110105")
    K.personalise_card(ks, tmp_path / "card.json", ident)
    K.personalise_psam(ks, tmp_path / "psam.json", Suite.SM4, "110105", 2)
    with SlotServer(VirtualCard(tmp_path / "card.json"), name="card") as cs, \
            SlotServer(VirtualPsam(tmp_path / "psam.json"), name="psam") as ps:
        yield {"PAD_CARD": cs.addr, "PAD_PSAM": ps.addr,
               "PAD_CARD_ID": ident.card_id.hex().upper()}


def test_slot_on_the_virtual_cards_t0_stream(slots):
    r = esp32fw.run(esp32fw.TESTS / "test_slot.py", extra=slots, timeout=120)
    assert r.returncode == 0 and " 0 failed" in r.stdout, r.stdout + r.stderr
