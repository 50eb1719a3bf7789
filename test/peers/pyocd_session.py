"""
Run by test/peers/pyocd_dapdeck.py (pyOCD's HID interface replaced by the socket to Dapdeck's probe
model): connect to the nRF51 through pyOCD's own session API, halt, step, resume, halt again, and
save 16 KiB of RAM. Prints one line per fact for the test to check.

    python3 pyocd_dapdeck.py script pyocd_session.py OUT.bin
"""
import logging
import sys

from pyocd.core.helpers import ConnectHelper
from pyocd.core.target import Target

logging.basicConfig(level=logging.INFO)  # pyOCD reports the ROM table walk at INFO
out = sys.argv[1]
# Left halted on disconnect, so Dapdeck reads the same RAM after it.
session = ConnectHelper.session_with_chosen_probe(target_override="nrf51", return_first=True, options={"resume_on_disconnect": False})
with session:
    target = session.board.target
    print("core", type(target.selected_core).__name__, hex(target.read32(0xE000ED00)))
    target.halt()
    print("halted", target.get_state() == Target.TARGET_HALTED)
    before = target.read_core_register("pc")
    target.step()
    after = target.read_core_register("pc")
    print("step", hex(before), hex(after))
    target.resume()
    print("running", target.get_state() == Target.TARGET_RUNNING)
    target.halt()
    print("halted", target.get_state() == Target.TARGET_HALTED)
    with open(out, "wb") as f:
        f.write(bytes(target.read_memory_block8(0x20000000, 16 * 1024)))
    print("saved", out)
