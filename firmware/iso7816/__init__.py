# ISO 7816 layer: atr (answer to reset), t0 (character protocol), apdu (commands and
# status words). It sees the board's slot only through read / write / activate.
