"""Summarise a py-spy raw profile (``py-spy record -f raw``): top self and inclusive frames.

Run: ``python bench/profile_summary.py PROFILE.txt [--top 40] [--filter SUBSTRING]``.
"""

from __future__ import annotations

import argparse
import collections
import re


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("path")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--filter", default=None, help="only stacks containing this")
    args = parser.parse_args()
    self_counts: collections.Counter[str] = collections.Counter()
    incl: collections.Counter[str] = collections.Counter()
    total = 0
    with open(args.path) as f:
        lines = f.readlines()
    for line in lines:
        stack, _, count_s = line.rstrip().rpartition(" ")
        if not stack or not count_s.isdigit():  # a frame name that spans lines
            continue
        if args.filter and args.filter not in stack:
            continue
        count = int(count_s)
        total += count
        frames = [re.sub(r":\d+\)$", ")", f) for f in stack.split(";")]
        self_counts[frames[-1]] += count
        for f in set(frames):
            incl[f] += count
    print(f"total samples {total}")
    print("\n-- inclusive --")
    for f, c in incl.most_common(args.top):
        print(f"{100 * c / total:5.1f}%  {f}")
    print("\n-- self --")
    for f, c in self_counts.most_common(args.top):
        print(f"{100 * c / total:5.1f}%  {f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
