"""Strips outputs and execution counts from notebooks, in place, so that
they are committed without them (the Go test TestNotebooksHaveNoOutputs
fails otherwise).

Usage: python3 notebooks/strip_outputs.py [--check] NOTEBOOK...
       (or: go tool task notebooks-strip)

With --check nothing is written: the exit status is 1 when a notebook has
outputs, naming it. Only outputs, execution counts and the per-cell
execution timing metadata are removed; sources and other metadata stay.
"""

import argparse
import sys

import nbformat


def strip(nb) -> bool:
    changed = False
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        if cell.get("outputs"):
            cell.outputs = []
            changed = True
        if cell.get("execution_count") is not None:
            cell.execution_count = None
            changed = True
        if "execution" in cell.metadata:
            del cell.metadata["execution"]
            changed = True
    return changed


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--check", action="store_true", help="only report notebooks with outputs")
    p.add_argument("notebooks", nargs="+")
    args = p.parse_args()
    dirty = []
    for path in args.notebooks:
        nb = nbformat.read(path, as_version=4)
        if strip(nb):
            dirty.append(path)
            if not args.check:
                nbformat.write(nb, path)
                print(f"stripped {path}")
    if args.check and dirty:
        print("notebooks with outputs (run: go tool task notebooks-strip): " + ", ".join(dirty), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
