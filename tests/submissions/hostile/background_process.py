"""Daemons meant to outlive grading: a double fork with a new session, and a subprocess."""
import ctypes
import os
import subprocess
import time

if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        ctypes.CDLL(None).prctl(15, b"{MARKER}", 0, 0, 0)  # PR_SET_NAME, for the test to find
        while True:
            time.sleep(1)
    os._exit(0)
try:
    subprocess.Popen(["sleep", "3600"], start_new_session=True)
except OSError:
    pass
