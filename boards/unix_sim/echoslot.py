# The simulator's slot on an echoing wire (PAD_WIRE_ECHO=1: make bench's paced wires,
# padsim.slot echo=True, docs/protocol.md 7.1): the pad hears each character it sends
# back once it has crossed the wire, and a write returns only then, as on the ESP32
# board's one I/O line (boards/esp32_pinpad/iso7816uart.py). Loaded only then: the
# tests' pads do not carry it.
from board import SocketSlot
from errors import Timeout


class EchoSlot(SocketSlot):
    def write(self, buf):
        SocketSlot.write(self, buf)
        for b in buf:
            if self.read(1000) != b:
                raise Timeout(self.name + ": I/O echo")
