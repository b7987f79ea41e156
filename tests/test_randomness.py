"""Every random value the pad uses comes from firmware/rand.py's pool of HMAC_DRBG output
(firmware/drbg.py, checked against the CAVP vectors by tests/fw/test_drbg.py), seeded at
power-up from os.urandom and the PSAM's GET CHALLENGE."""
import re
import time

from padctl.mpy import FIRMWARE


def test_no_firmware_module_but_drbg_draws_from_os_urandom():
    for p in sorted(FIRMWARE.rglob("*.py")):
        if p.name in ("drbg.py", "rand.py"):
            continue
        src = p.read_text()
        assert not re.search(r"urandom|\brandom\.", src), "%s draws randomness itself" % p
    for name in ("secure.py", "pinblock.py", "link.py", "psam.py"):
        assert "rand." in (FIRMWARE / name).read_text(), name


def test_psam_challenge_reseeds_at_power_up(make_pad):
    """Booted, before any card: the PSAM was activated once and asked GET CHALLENGE."""
    pad = make_pad()
    end = time.monotonic() + 5
    while time.monotonic() < end and pad.psam_slot.activations < 1:
        time.sleep(0.05)
    assert pad.psam_slot.activations >= 1
    got = b"".join(b for d, b in pad.psam_slot.transcript if d == "rx")
    assert b"\x00\x84\x00\x00\x08" in got, got.hex()
    pad.assert_no_crash()
