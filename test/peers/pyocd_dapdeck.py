"""
pyOCD 0.13 with its USB HID probe interface replaced by one that passes each 64-byte report to
Dapdeck's probe model over the unix socket in DAPDECK_HID_SOCKET (the same protocol as
test/peers/hidapi-standin.c). Nothing else in pyOCD changes.

    python3 pyocd_dapdeck.py flashtool ARGS...   # pyocd-flashtool
    python3 pyocd_dapdeck.py tool ARGS...        # pyocd-tool (commander)
    python3 pyocd_dapdeck.py script FILE.py      # runs FILE with the interface installed

Like pyOCD's PyUSB interface, a read is asked for as each report is written (its RX thread does
that on real hardware); read() then returns the reports in order.
"""
import os
import runpy
import socket
import sys
import threading

from pyocd.probe.pydapaccess import dap_access_cmsis_dap
from pyocd.probe.pydapaccess.dap_access_api import DAPAccessIntf
from pyocd.probe.pydapaccess.interface import INTERFACE
from pyocd.probe.pydapaccess.interface.interface import Interface

REPORT_SIZE = 64


class DapdeckSocketInterface(Interface):
    isAvailable = True

    def __init__(self):
        super().__init__()
        self.vid = 0x0D28
        self.pid = 0x0204
        self.vendor_name = "Dapdeck"
        self.product_name = "Dapdeck virtual CMSIS-DAP v1"
        self.serial_number = "VB0001"
        self.packet_size = REPORT_SIZE
        self.sock = None
        self.lock = threading.Lock()

    @staticmethod
    def get_all_connected_interfaces():
        return [DapdeckSocketInterface()] if os.environ.get("DAPDECK_HID_SOCKET") else []

    def open(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(os.environ["DAPDECK_HID_SOCKET"])

    def write(self, data):
        report = bytes(data) + bytes(REPORT_SIZE - len(data))
        self.sock.sendall(b"W" + report[:REPORT_SIZE] + b"R")

    def read(self, size=-1, timeout=-1):
        buf = b""
        while len(buf) < REPORT_SIZE:
            chunk = self.sock.recv(REPORT_SIZE - len(buf))
            if not chunk:
                raise DAPAccessIntf.DeviceError("Dapdeck probe socket closed")
            buf += chunk
        return list(buf)

    def set_packet_count(self, count):
        self.packet_count = count

    def set_packet_size(self, size):
        self.packet_size = size

    def get_serial_number(self):
        return self.serial_number

    def close(self):
        if self.sock:
            self.sock.close()
            self.sock = None


INTERFACE["dapdeck"] = DapdeckSocketInterface
dap_access_cmsis_dap.USB_BACKEND = "dapdeck"

if __name__ == "__main__":
    command, args = sys.argv[1], sys.argv[2:]
    if command == "flashtool":
        from pyocd.tools import flash_tool
        sys.argv = ["pyocd-flashtool"] + args
        sys.exit(flash_tool.main())
    if command == "tool":
        from pyocd.tools import pyocd as commander
        sys.argv = ["pyocd-tool"] + args
        sys.exit(commander.main())
    if command == "script":
        sys.argv = args
        runpy.run_path(args[0], run_name="__main__")
        sys.exit(0)
    sys.exit("usage: pyocd_dapdeck.py flashtool|tool|script ARGS...")
