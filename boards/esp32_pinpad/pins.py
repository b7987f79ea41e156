# ESP32 PIN pad (ESP32-WROOM-32E, 4 MB flash, no PSRAM): the one place pin numbers live.
# Drivers that use them are a later issue; this map is what they will take.
from micropython import const

# Card slot (ISO 7816 contact): UART1 in half-duplex with an open-drain I/O line.
CARD_UART = const(1)
CARD_IO = const(17)        # C7 I/O (TX and RX joined through the level shifter)
CARD_CLK = const(4)        # C3 CLK, LEDC PWM at 3.5712 MHz
CARD_RST = const(16)       # C2 RST
CARD_VCC_EN = const(5)     # C1 VCC switch (TPS2051), active high
CARD_DETECT = const(34)    # slot switch, input only, low = card present

# PSAM slot (inside the case): UART2, same wiring.
PSAM_UART = const(2)
PSAM_IO = const(25)
PSAM_CLK = const(26)
PSAM_RST = const(27)
PSAM_VCC_EN = const(33)

# Keypad: 4 x 4 matrix (0-9, Clear, Cancel, Enter, 3 spare).
KEY_ROWS = (const(13), const(12), const(14), const(15))
KEY_COLS = (const(36), const(39), const(35), const(32))   # inputs with external pull-ups

# Display: 128 x 64 SSD1306 on I2C0 (two lines of 16 CJK glyphs).
I2C_SCL = const(22)
I2C_SDA = const(21)
DISPLAY_ADDR = const(0x3C)

BUZZER = const(18)         # LEDC PWM
SERVICE_STRAP = const(0)   # BOOT button: held low at reset = service mode (REPL, mpremote)

# Flash partitions (partitions.csv): littlefs "vfs" for firmware and config,
# raw "journal" for the log (the same layout as boards/unix_sim/flash.py).
JOURNAL_PARTITION = "journal"
