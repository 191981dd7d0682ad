"""Executes Halo's notebooks headless with nbclient, as CI does.

Usage: python3 notebooks/run_notebooks.py [--timeout S] [--out DIR] NOTEBOOK...

Each notebook runs in a fresh Python kernel, in its own directory, with the
environment of this process (HALO_EXPORT, HALO_BIN, HALO_DATA, HALO_WORK:
see notebooks/README.md). A cell that raises stops its notebook: the cell's
source and its error go to standard error and the exit status is 1 once
every notebook has run. --timeout bounds each cell (default 300 s). --out
DIR writes each executed notebook, outputs and plots included, to
DIR/<name>.ipynb (the committed notebooks stay without outputs).
"""

import argparse
import os
import re
import sys
import tempfile
import time

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
from traitlets.config import Config

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def run(path: str, timeout: int, out: str, sockets: str) -> bool:
    nb = nbformat.read(path, as_version=4)
    # The kernel talks over Unix sockets in a private directory, not
    # unencrypted TCP on loopback.
    config = Config()
    config.KernelManager.transport = "ipc"
    config.KernelManager.ip = os.path.join(sockets, "kernel")
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": os.path.dirname(os.path.abspath(path))}},
        config=config,
    )
    started = time.monotonic()
    ok = True
    try:
        client.execute()
    except CellExecutionError as e:
        # The message holds the failing cell's source and its traceback.
        # Its source and traceback, without the terminal colour codes.
        print(f"{path}: a cell failed:\n{ANSI.sub('', str(e))}", file=sys.stderr)
        ok = False
    except CellTimeoutError as e:
        print(f"{path}: a cell ran longer than {timeout}s: {e}", file=sys.stderr)
        ok = False
    except DeadKernelError as e:
        print(f"{path}: the kernel died: {e}", file=sys.stderr)
        ok = False
    if out:
        os.makedirs(out, exist_ok=True)
        nbformat.write(nb, os.path.join(out, os.path.basename(path)))
    cells = sum(1 for c in nb.cells if c.cell_type == "code")
    print(f"{path}: {'ok' if ok else 'FAILED'}, {cells} code cells in {time.monotonic() - started:.1f}s")
    return ok


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--timeout", type=int, default=300, help="seconds a cell may run (default 300)")
    p.add_argument("--out", default="", help="write the executed notebooks to this directory")
    p.add_argument("notebooks", nargs="+")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="halo-kernel-") as sockets:
        failed = [nb for nb in args.notebooks if not run(nb, args.timeout, args.out, sockets)]
    if failed:
        print("failed: " + ", ".join(failed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
