# For sites that build their own MicroPython image with the pad's firmware frozen in
# (micropython-lib style), e.g. in ports/esp32:
#   make BOARD=ESP32_GENERIC FROZEN_MANIFEST=<checkout>/boards/frozen/manifest.py
# The firmware modules and the board's are frozen; boot.py stays a file on the pad (padctl
# flash writes it, with the board's service.mpy and main.py), and _boot.py here replaces
# the port's own, which formats a filesystem that does not mount: ours never formats
# (DESIGN 8). PIN_PAD_BOARD names the board folder (default esp32_pinpad).
import os

metadata(description="PIN pad firmware", version="0.1.0")

include("$(PORT_DIR)/boards/manifest.py")
module("_boot.py")  # after the port's manifest: ours replaces its _boot.py
_fw = "../../firmware"
for _name in sorted(os.listdir(os.path.join(os.path.dirname(__file__), _fw))):
    if _name.endswith(".py") and _name != "boot.py":
        module(_name, base_path=_fw)
package("iso7816", base_path=_fw)
_board = "../" + os.getenv("PIN_PAD_BOARD", "esp32_pinpad")
for _name in ("board.py", "blockdev.py", "flash.py", "pins.py", "service.py"):
    if os.path.exists(os.path.join(os.path.dirname(__file__), _board, _name)):
        module(_name, base_path=_board)
