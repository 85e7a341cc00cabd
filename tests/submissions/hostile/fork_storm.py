"""A bounded fork storm at import: children that sleep for an hour."""
import os
import time

children = 0
for _ in range(300):
    try:
        pid = os.fork()
    except OSError:
        break
    if pid == 0:
        time.sleep(3600)
        os._exit(0)
    children += 1
