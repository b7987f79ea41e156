"""Every random value the pad uses comes from cmac.rand's pool of HMAC_DRBG output
(firmware/cmac.py, drbg.py, checked against the CAVP vectors by tests/fw/test_drbg.py),
seeded from os.urandom and, at power-up, the PSAM's GET CHALLENGE (firmware/pwrup.py)."""
import re
import time

from padctl.mpy import FIRMWARE


def test_no_firmware_module_but_drbg_draws_from_os_urandom():
    for p in sorted(FIRMWARE.rglob("*.py")):
        if p.name == "drbg.py":
            continue
        src = "\n".join(line.split("#")[0] for line in p.read_text().splitlines())  # code
        assert not re.search(r"urandom|\brandom\.", src), "%s draws randomness itself" % p
    for name in ("secure.py", "pinblock.py", "link.py"):  # X, the PIN block's fill, nonces
        assert re.search(r"from cmac import .*\brand\b", (FIRMWARE / name).read_text()), name
    assert "RAND[" in (FIRMWARE / "pwrup.py").read_text()  # the PSAM's challenge


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
