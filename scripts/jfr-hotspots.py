#!/usr/bin/env python3
"""Where a reid4j process's threads spent their time, from a Java Flight Recording.

    jfr print --stack-depth 12 --events jdk.ExecutionSample,jdk.NativeMethodSample REC.jfr \
        | python3 scripts/jfr-hotspots.py [--top 12] [--threads 3]

JFR samples threads running Java code (jdk.ExecutionSample) and threads inside native code, such as
libtorch's operators called through JavaCPP (jdk.NativeMethodSample). For the busiest threads this prints
how many samples of each kind they got and the call sites that took them: the innermost frame and the
innermost reid4j frame above it (the code that made the call). A training thread whose samples are mostly
native is issuing libtorch work (or waiting in it, e.g. for the device to finish a step); one whose samples
are mostly Java is busy in Java itself. Reads the text of `jfr print` from stdin, one event at a time.
"""
import argparse
import collections
import re
import sys


def frame_name(line):
    """'org.x.Y.m(int) line: 12' -> 'org.x.Y.m'."""
    line = line.strip()
    return re.sub(r"\(.*$", "", line)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--top", type=int, default=12, help="call sites per thread (default 12)")
    ap.add_argument("--threads", type=int, default=3, help="threads to detail, busiest first (default 3)")
    args = ap.parse_args()

    per_thread = collections.Counter()  # (thread, kind) -> samples
    sites = collections.defaultdict(collections.Counter)  # thread -> (kind, site) -> samples
    kind = thread = None
    frames = []
    in_stack = False
    events = 0

    def flush():
        nonlocal events
        if kind is None or thread is None:
            return
        events += 1
        per_thread[(thread, kind)] += 1
        top = frame_name(frames[0]) if frames else "?"
        caller = next((frame_name(f) for f in frames if f.strip().startswith("org.reid4j.")), None)
        site = top if caller is None or caller == top else f"{caller} -> {top}"
        sites[thread][(kind, site)] += 1

    for raw in sys.stdin:
        line = raw.rstrip("\n")
        m = re.match(r"^jdk\.(ExecutionSample|NativeMethodSample) \{", line)
        if m:
            kind, thread, frames, in_stack = ("java" if m.group(1) == "ExecutionSample" else "native"), None, [], False
            continue
        if kind is None:
            continue
        s = line.strip()
        if s.startswith("sampledThread = "):
            t = re.match(r'sampledThread = "(.*)" \(', s)
            thread = t.group(1) if t else s[len("sampledThread = "):]
        elif s.startswith("stackTrace = ["):
            in_stack = True
        elif in_stack and s == "]":
            in_stack = False
        elif in_stack and s != "...":
            frames.append(s)
        elif s == "}" and not in_stack:
            flush()
            kind = None
    if events == 0:
        print("jfr-hotspots: no execution samples in the input")
        return 1

    totals = collections.Counter()
    for (t, k), n in per_thread.items():
        totals[t] += n
    print(f"{events:,} samples; threads by samples (java / native):")
    for t, n in totals.most_common(8):
        print(f"  {n:7,d}  {per_thread[(t, 'java')]:7,d} / {per_thread[(t, 'native')]:7,d}  {t}")
    for t, n in totals.most_common(args.threads):
        print(f"-- {t}: top call sites ({n:,} samples)")
        for (k, site), c in sites[t].most_common(args.top):
            print(f"  {100.0 * c / n:5.1f}%  {k:6s}  {site[:150]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
