# The journal's record kinds and the pad's message numbers by name, for the firmware
# tests: journal.py and messages.py name them by private consts only (a public name
# costs the pad's RAM in every boot). Importing this sets the names on both modules (as
# the tests knew them: journal.BOOT, messages.ENTER_PIN, ...). tests/test_names.py checks
# these tables against the firmware's sources.
import journal
import messages

KINDS = {"BOOT": 1, "CUT": 2, "TAMPER": 3, "POWER_RECOVERY": 4, "PENDING": 5, "PIN_OK": 6,
         "PIN_WRONG": 7, "LOCK": 8, "NOT_DELIVERED": 9, "PIN_ERROR": 10, "CARD_REFUSED": 11,
         "UNLOCK": 12, "RESET": 13, "CHANGE": 14, "AUTH_REFUSED": 15, "SNAPSHOT": 16,
         "CRASH": 17, "FULL": 18, "ACK": 19, "PROVISION": 20, "DEVICE": 21}
MESSAGES = {"IDLE": 0, "READING": 1, "ENTER_PIN": 2, "PIN_OK": 3, "PIN_WRONG": 4, "LOCKED": 5,
         "OTHER_REGION": 6, "NOT_SSC": 7, "CARD_ERROR": 8, "PSAM_ERROR": 9, "LOG_FULL": 10,
         "TIMED_OUT": 11, "CANCELLED": 12, "PIN_LENGTH": 13, "NOT_GENUINE": 14,
         "CHECKING": 15, "CARD_PULLED": 16}

for _n, _v in KINDS.items():
    setattr(journal, _n, _v)
for _n, _v in MESSAGES.items():
    setattr(messages, _n, _v)
