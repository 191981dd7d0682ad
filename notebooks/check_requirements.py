"""Exits 0 when every package pinned in a requirements file is installed at
its pinned version, 1 otherwise (naming what differs).

Usage: python3 notebooks/check_requirements.py notebooks/requirements.txt
"""

import sys
from importlib import metadata


def main() -> int:
    bad = []
    with open(sys.argv[1]) as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            name, _, want = line.partition("==")
            try:
                have = metadata.version(name)
            except metadata.PackageNotFoundError:
                have = None
            if have != want:
                bad.append(f"{name} {have or 'missing'} (want {want})")
    if bad:
        print("python packages to install: " + ", ".join(bad), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
