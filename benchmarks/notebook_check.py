"""How long `grader.check()` takes in a real Jupyter kernel, against `grade check` from a terminal.

    python benchmarks/notebook_check.py [--slow-seconds 19] [--repeat 5]

A kernel (jupyter_client, as JupyterLab starts one) runs a notebook holding the reference
solution cell by cell, after a slow cell (a training loop, a download) of --slow-seconds
(the default per-cell limit is 20 s, so 19 s is the slowest cell grading lets finish).
Then it times, inside the kernel:

- the first `grader.check("conv_out")` (starts the check server: imports, sandbox, cells);
- later `grader.check("conv_out")` and `grader.check()` with nothing changed;
- the same right after the last code cell was edited and saved (the slow cell must not run again);

and, for comparison, a cold `grade check cnn_basics.ipynb` in a new process. Targets (issue
"checks inside the notebook"): a later conv_out check <= 1 s, a later check of everything
<= 2 s, a conv_out check after editing the last cell <= 1 s. Prints medians.
"""

from __future__ import annotations

import argparse
import ast
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

ROOT = Path(__file__).resolve().parent.parent
TARGETS = {"conv_out, later": 1.0, "all, later": 2.0, "conv_out, after editing the last cell": 1.0}


def reference_cells() -> list[str]:
    source = (ROOT / "reference" / "cnn_basics.py").read_text()
    tree = ast.parse(source)
    return [ast.get_source_segment(source, node) or "" for node in tree.body]


def write_notebook(path: Path, cells: list[str]) -> None:
    nbformat.write(new_notebook(cells=[new_code_cell(text) for text in cells]), path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slow-seconds", type=float, default=19.0)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    from jupyter_client.manager import start_new_kernel

    folder = Path(tempfile.mkdtemp(prefix="bench-notebook-"))
    notebook = folder / "cnn_basics.ipynb"
    cells = reference_cells()
    cells.insert(1, f"import time\ntime.sleep({args.slow_seconds})  # training, a download: a slow cell\nREADY = True")
    write_notebook(notebook, cells)
    print(f"notebook: {len(cells)} code cells, cell 2 takes {args.slow_seconds:g} s; {os.cpu_count()} cores")

    cold = []
    for _ in range(3):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "grader.cli", "check", str(notebook)], capture_output=True, check=False)
        cold.append(time.perf_counter() - started)
    print(f"cold `grade check cnn_basics.ipynb` (new process, loads every cell): median {statistics.median(cold):.2f} s")

    manager, client = start_new_kernel(kernel_name="python3", cwd=str(folder))
    try:

        def timed(code: str) -> float:
            out: list[str] = []
            reply = client.execute_interactive(
                f"import time as _t\n_s = _t.perf_counter()\n_r = {code}\nprint('SECONDS', _t.perf_counter() - _s)",
                timeout=600, output_hook=lambda m: out.append(m["content"].get("text", "")),
            )  # fmt: skip
            if reply["content"]["status"] != "ok":
                raise SystemExit(f"{code} failed in the kernel: {reply['content'].get('evalue')}")
            return float("".join(out).split("SECONDS", 1)[1].split()[0])

        client.execute_interactive("import grader", timeout=60)
        figures = {"conv_out, first (starts the server)": [timed('grader.check("conv_out")')]}
        figures["conv_out, later"] = [timed('grader.check("conv_out")') for _ in range(args.repeat)]
        figures["all, later"] = [timed("grader.check()") for _ in range(args.repeat)]
        for name, call in (("conv_out", 'grader.check("conv_out")'), ("all", "grader.check()")):
            runs = []
            for number in range(args.repeat):
                cells[-1] += f"\n# edit {name} {number}\n"
                write_notebook(notebook, cells)
                runs.append(timed(call))
            figures[f"{name}, after editing the last cell"] = runs
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    print(f"in the kernel, {args.repeat} runs each (median, min-max):")
    for name, runs in figures.items():
        target = TARGETS.get(name)
        verdict = "" if target is None else f"  target <= {target:g} s: {'met' if statistics.median(runs) <= target else 'NOT met'}"
        print(f"  {name:42s} {statistics.median(runs):6.2f} s  ({min(runs):.2f}-{max(runs):.2f}){verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
