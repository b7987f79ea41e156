# Power-up only (loaded by app.run once, then dropped): the PSAM activated once for its
# GET CHALLENGE (psam.py writes it into rand.P, mixed into the DRBG at the idle loop's
# refill); the PSAM then rests until the first card. It borrows the link buffer's room,
# as a card session does; without room the DRBG waits for the first card's PSAM.
import gc


def run(pad):
    pad.linkbuf = None
    gc.collect()
    try:
        pad._psam()
    except MemoryError:
        pass
    pad.sam = None
    pad.board.psam.deactivate()
    gc.collect()
    pad._linkbuf()
