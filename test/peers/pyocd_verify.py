"""
Run by test/peers/pyocd_dapdeck.py after pyOCD's own flash tool programmed an Intel HEX: pyOCD
reads every segment of that HEX back from the target and compares. Prints one line for the test.

    python3 pyocd_dapdeck.py script pyocd_verify.py IMAGE.hex
"""
import sys

from intelhex import IntelHex
from pyocd.core.helpers import ConnectHelper

image = IntelHex(sys.argv[1])
session = ConnectHelper.session_with_chosen_probe(target_override="nrf51", return_first=True, options={"resume_on_disconnect": False})
with session:
    target = session.board.target
    target.halt()
    checked = 0
    for start, end in image.segments():
        expected = image.tobinarray(start=start, size=end - start).tobytes()
        actual = bytes(target.read_memory_block8(start, end - start))
        if actual != expected:
            first = next(i for i in range(len(expected)) if actual[i] != expected[i])
            print("mismatch at 0x%08x: read 0x%02x, image 0x%02x" % (start + first, actual[first], expected[first]))
            sys.exit(1)
        checked += end - start
    print("verified %d bytes" % checked)
