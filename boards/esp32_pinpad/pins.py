# ESP32 PIN pad (ESP32-WROOM-32E, 4 MB flash, no PSRAM): the one place pin numbers live,
# and the board's hardware choices (display, clock, watchdog).
from micropython import const

# Card slot (ISO 7816 contact) through a TDA8035-class interface chip, which sequences
# VCC, RST and CLK on the card's side and gives one bidirectional I/O line (I/OUC).
# UART1: TX and RX both on I/OUC (TX through a series diode: the line is open drain, so
# every byte sent comes back on RX, the echo the driver reads and drops).
CARD_UART = const(1)
CARD_TX = const(17)        # to I/OUC (through the diode)
CARD_RX = const(16)        # from I/OUC
CARD_CLK = const(4)        # to CLKIN: LEDC PWM at CLK_HZ
CARD_RST = const(5)        # to RSTIN
CARD_CMDVCC = const(18)    # to CMDVCCN: low starts the activation, high the deactivation
CARD_OFF = const(19)       # from OFFN: low = no card (or a fault); an interrupt

# PSAM slot (inside the case): UART2, a second TDA8035, same wiring; the PSAM never
# leaves the case, so its OFFN is not wired (None).
PSAM_UART = const(2)
PSAM_TX = const(25)
PSAM_RX = const(26)
PSAM_CLK = const(27)
PSAM_RST = const(32)
PSAM_CMDVCC = const(33)
PSAM_OFF = None

CLK_HZ = const(3571200)    # 3.5712 MHz: F 372 / D 1 gives 9600 baud

# Keypad: 4 x 4 matrix (0-9, Clear, Cancel, Enter, the function key #, 2 spare). Rows driven low one at a
# time (open drain), columns read (input-only pins with external pull-ups).
KEY_ROWS = (const(13), const(12), const(14), const(15))
KEY_COLS = (const(36), const(39), const(34), const(35))
KEYMAP = "123C456X789_*0#E"  # row by row; "#": the function key (CHANGE PIN); "_" "*": spare

# Display: "ssd1306" (128 x 64 on I2C0) or "st7789" (240 x 240 on SPI2, CS tied low,
# reset tied to EN): the other board revision, on the same two pins and GPIO 23.
DISPLAY = "ssd1306"
I2C_ID = const(0)
I2C_SCL = const(22)
I2C_SDA = const(21)
DISPLAY_ADDR = const(0x3C)
SPI_ID = const(2)
SPI_SCK = const(22)
SPI_MOSI = const(21)
TFT_DC = const(23)

BUZZER = const(2)          # LEDC PWM, a magnetic buzzer through a transistor
BUZZER_HZ = const(2700)

SERVICE_STRAP = const(0)   # BOOT button: held at reset = service mode (REPL, mpremote);
# read by the root service.py, which keeps its own copy (it must work with no firmware)
WDT_MS = const(10000)      # the watchdog: a main loop stalled this long resets the pad

# Flash partitions (partitions.csv): littlefs "vfs" for firmware and config, raw
# "journal" for the log (the same layout as boards/unix_sim/flash.py).
JOURNAL_PARTITION = "journal"
CONFIG_PATH = "/config.json"  # on the vfs mounted at /
