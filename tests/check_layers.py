#!/usr/bin/env python3
"""The dependency direction of foil's sources (docs/design.md, "Layout").

Every #include "..." in host/, cuda/ and include/foil/ must point at the same
subsystem or at a lower layer:

    cli > report > study > train > attack, explain, eval > nn > data, io
        > backend > core

(train sits above attack: adversarial training runs the attacks.)

A subsystem is a folder of host/ (cuda/ is part of backend); a public header
include/foil/NAME.h belongs to the subsystem named in HEADERS below, and a
header missing there is an error (place a new header when you add it). A
quoted include of a private header must name a file beside the includer.

    check_layers.py SOURCE_DIR      check the tree; one line per violation
    check_layers.py --self-test     check that violations are found
"""
import os
import re
import sys
import tempfile

LEVEL = {
    "core": 0, "backend": 1, "data": 2, "io": 2, "nn": 3,
    "attack": 4, "explain": 4, "eval": 4, "train": 5,
    "study": 6, "report": 7, "cli": 8,
}

HEADERS = {
    "error": "core", "strbuf": "core", "fileio": "core", "hash": "core",
    "config": "core", "philox": "core", "elementwise": "core", "fab_math": "core", "square_l2": "core",
    "clock": "core",
    "backend": "backend",
    "data": "data",
    "checkpoint": "io", "image": "io",
    "model": "nn", "model_def": "nn", "net": "nn", "infer": "nn",
    "train": "train", "attack": "attack", "explain": "explain", "features": "explain",
    "metrics": "eval",
    "sweep": "study", "shift": "study",
    "report": "report",
}

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
SOURCE_EXT = (".c", ".h", ".cu", ".cuh")


def subsystem(rel):
    """The subsystem of a file (path relative to the source dir), or None
    when the file is not in a checked place."""
    parts = rel.split("/")
    if parts[0] == "cuda":
        return "backend"
    if parts[0] == "host" and len(parts) >= 3:
        return parts[1]
    if parts[0] == "include" and len(parts) == 3 and parts[1] == "foil":
        return HEADERS.get(os.path.splitext(parts[2])[0], "?")
    if parts[0] == "host":
        return "?"  # a file directly in host/: every file has a subsystem
    return None


def check(root):
    errors = []
    for top in ("host", "cuda", "include"):
        for dirpath, _, names in os.walk(os.path.join(root, top)):
            for name in sorted(names):
                if not name.endswith(SOURCE_EXT):
                    continue
                path = os.path.join(dirpath, name)
                rel = os.path.relpath(path, root).replace(os.sep, "/")
                src = subsystem(rel)
                if src is None:
                    continue
                if src == "?" or src not in LEVEL:
                    errors.append(f"{rel}: not in a subsystem (host/<subsystem>/, or a "
                                  f"header missing from HEADERS in tests/check_layers.py)")
                    continue
                with open(path, encoding="utf-8", errors="replace") as f:
                    text = f.read()
                for m in INCLUDE.finditer(text):
                    inc = m.group(1)
                    line = text.count("\n", 0, m.start()) + 1
                    if inc.startswith("foil/"):
                        target = HEADERS.get(os.path.splitext(inc[5:])[0])
                        if target is None:
                            if not os.path.exists(os.path.join(root, "include", inc)):
                                continue  # generated (foil_commit.h) or not foil's
                            errors.append(f"{rel}:{line}: {inc} has no subsystem in HEADERS")
                            continue
                    else:
                        beside = os.path.normpath(os.path.join(os.path.dirname(path), inc))
                        if not os.path.exists(beside):
                            continue  # a system, library or generated header
                        if os.path.dirname(beside) != os.path.normpath(os.path.dirname(path)):
                            errors.append(f"{rel}:{line}: \"{inc}\" is a private header of "
                                          f"another folder")
                        continue  # beside it: the same subsystem
                    if target != src and LEVEL[target] >= LEVEL[src]:
                        errors.append(f"{rel}:{line}: {src} includes {inc} ({target}): "
                                      f"{target} is not below {src}")
    return errors


def self_test():
    """A tree with one upward include, one sideways include, one unplaced
    header and one reach into another folder's private header: four
    violations, and the clean tree beside them none."""
    failures = 0
    with tempfile.TemporaryDirectory() as root:
        def put(rel, text=""):
            path = os.path.join(root, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                f.write(text)
        put("include/foil/error.h")
        put("include/foil/net.h", '#include "foil/error.h"\n')
        put("include/foil/attack.h", '#include "foil/net.h"\n')
        put("host/core/error.c", '#include "foil/error.h"\n')
        put("host/nn/net.c", '#include "foil/net.h"\n#include "net_internal.h"\n')
        put("host/nn/net_internal.h", '#include "foil/error.h"\n')
        if check(root):
            print("self-test: a clean tree was reported:", check(root))
            failures += 1
        put("host/core/fileio.c", '#include "foil/net.h"\n')            # upward
        put("host/attack/attack.c", '#include "foil/explain_x.h"\n')    # unplaced, exists
        put("include/foil/explain_x.h")
        put("host/eval/metrics.c", '#include "foil/attack.h"\n')        # sideways
        put("host/explain/x.c", '#include "../nn/net_internal.h"\n')     # not beside
        errors = check(root)
        want = ["host/core/fileio.c:1", "host/attack/attack.c:1", "host/eval/metrics.c:1",
                "host/explain/x.c:1", "include/foil/explain_x.h"]
        for w in want:
            if not any(e.startswith(w) for e in errors):
                print(f"self-test: no violation reported for {w}; got {errors}")
                failures += 1
    return failures


def main():
    if len(sys.argv) == 2 and sys.argv[1] == "--self-test":
        failures = self_test()
        print("check_layers self-test:", "ok" if not failures else f"{failures} failed")
        return 1 if failures else 0
    if len(sys.argv) != 2:
        print(__doc__.strip().splitlines()[-2].strip(), file=sys.stderr)
        return 2
    errors = check(sys.argv[1])
    for e in errors:
        print(e)
    print(f"check_layers: {len(errors)} include(s) against the layer order")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
