"""What the bench scripts share: where the aac binary is and how to call it."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
AAC = os.environ.get("AAC_BIN", os.path.join(ROOT, "target", "release", "aac"))


def aac(*args, capture=False):
    """Runs aac with `args`; exits with its stderr when it fails."""
    cmd = [AAC, *map(str, args)]
    res = subprocess.run(cmd, check=False, capture_output=capture, text=True)
    if res.returncode != 0:
        sys.exit(f"failed ({res.returncode}): {' '.join(cmd)}\n{res.stderr if capture else ''}")
    return res.stdout if capture else None
