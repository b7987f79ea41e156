# ISO 7816 layer: atr (answer to reset), t0 (character protocol, APDU cases, status
# words). It sees the board's slot only through read / write. docs/protocol.md 4a.
