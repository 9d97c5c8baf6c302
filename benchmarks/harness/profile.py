"""Summarise py-spy raw (collapsed) profiles: `python -m benchmarks.harness.profile FILE...`.

Prints the functions with the largest share of samples, self (where the CPU was) and
inclusive (what it was spent under)."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path


def summarise(paths: list[Path], top: int = 25) -> str:
    own: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    total = 0
    for path in paths:
        for line in path.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if not stack or not count.isdigit():
                continue
            n = int(count)
            total += n
            frames = [
                f.split(" (")[0] + " " + f.split("/")[-1].split(":")[0].rstrip(")")
                for f in stack.split(";")
            ]
            own[frames[-1]] += n
            for f in set(frames):
                incl[f] += n
    if not total:
        return "no samples"
    out = [f"{total} samples", "", "self:"]
    out += [f"{n / total:6.1%}  {f}" for f, n in own.most_common(top)]
    out += ["", "inclusive:"]
    out += [f"{n / total:6.1%}  {f}" for f, n in incl.most_common(top)]
    return "\n".join(out)


if __name__ == "__main__":
    print(summarise([Path(p) for p in sys.argv[1:]]))
