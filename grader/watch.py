"""`grade check --watch FILE`: the public checks again every time the file is saved.

One warm check server (`python -m grader.checkserver`, as a notebook's `grader.check()`
uses) answers every check, so a check after a save takes a fraction of a second instead
of a cold start. Ctrl-C stops watching.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from grader import console
from grader.errors import InputError
from grader.hostprocess import HostProcess
from grader.results import SubmissionResult
from grader.settings import Settings
from grader.untrusted import markup


def watch(path: Path, assignment: str, settings: Settings, *, poll: float = 0.3) -> int:
    """Check `path` now and after every save until Ctrl-C; exit code 0."""
    with tempfile.TemporaryDirectory(prefix="grader-watch-") as log_dir:
        server = HostProcess(assignment, settings, Path(log_dir), module="grader.checkserver")
        try:
            info = server.ready()
            seen: tuple[int, int] | None = None
            while True:
                try:
                    stat = path.stat()
                    now: tuple[int, int] | None = (stat.st_mtime_ns, stat.st_size)
                except OSError:  # mid-save, or moved away: wait for it to come back
                    now = None
                if now is not None and now != seen:
                    seen = now
                    try:
                        reply = server.request({"op": "check", "path": str(path)}, f"checking {path.name}")
                    except InputError as error:  # gone again between two looks: the next save brings it back
                        console.plain(f"{error} Waiting for the next save.")
                        continue
                    console.out.rule(markup(f"{path.name} saved at {time.strftime('%H:%M:%S')}"))
                    console.check_report(SubmissionResult.from_dict(reply["result"]), info.notes)
                    console.plain(f"watching {path} (checked in {reply['seconds']:.1f} s); Ctrl-C stops")
                time.sleep(poll)
        except KeyboardInterrupt:
            console.plain("stopped watching")
            return 0
        finally:
            server.stop()
