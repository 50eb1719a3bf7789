"""
One job through pyOCD 0.13's own session API, run by test/peers/pyocd_dapdeck.py (pyOCD's HID
interface replaced by the socket to Dapdeck's probe model). Each prints one line for the caller.

    python3 pyocd_dapdeck.py script pyocd_job.py connect           connect and halt, nothing else
    python3 pyocd_dapdeck.py script pyocd_job.py read OUT.bin      ... and save 16 KiB of RAM
    python3 pyocd_dapdeck.py script pyocd_job.py verify IMAGE.hex  ... and read IMAGE back, compare
    python3 pyocd_dapdeck.py script pyocd_job.py flash IMAGE.hex   ... program it as pyocd-flashtool
                                                                   does, then verify as above

pyOCD 0.13 does not verify after programming; `flash` reads back, as a user who wants a verified
flash must. DAPDECK_SWD_HZ sets the SWD clock (pyOCD's default: 1 MHz).
"""
import os
import sys

from intelhex import IntelHex
from pyocd.core.helpers import ConnectHelper

RAM, RAM_SIZE = 0x20000000, 16 * 1024


def verify(target, image):
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


job = sys.argv[1]
session = ConnectHelper.session_with_chosen_probe(target_override="nrf51", return_first=True, options={
    "resume_on_disconnect": False,
    "frequency": int(os.environ.get("DAPDECK_SWD_HZ", "1000000")),
})
with session:
    target = session.board.target
    target.halt()
    if job == "connect":
        print("connected")
    elif job == "read":
        with open(sys.argv[2], "wb") as f:
            f.write(bytes(target.read_memory_block8(RAM, RAM_SIZE)))
        print("saved", sys.argv[2])
    elif job in ("flash", "verify"):
        image = IntelHex(sys.argv[2])
        if job == "flash":
            builder = session.board.flash.get_flash_builder()
            for start, end in image.segments():
                builder.add_data(start, list(image.tobinarray(start=start, size=end - start)))
            builder.program(chip_erase=None)
        verify(target, image)
    else:
        sys.exit("unknown job " + job)
