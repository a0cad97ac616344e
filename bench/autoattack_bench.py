#!/usr/bin/env python3
"""foil's APGD, Square and AutoAttack cascade next to the AutoAttack reference
(pyautoattack) on the same checkpoint, images, machine and threads: robust
accuracy and seconds of each, and the ratio of the times measured in one run.

    python3 bench/autoattack_bench.py -m CKPT [--foil build/foil] [--n 1000]
        [--eps 0.1,0.2,0.3] [--rows apgd-ce,standard] [--threads 2]
        [--data DIR] [--json OUT.json]

Rows (--rows): apgd-ce, apgd-t, fab-t, square, and the L2 rows apgd-ce-l2,
square-l2, fab-t-l2 and standard-l2 (eps is then an L2 radius: run them with
their own --eps), single attacks with the
reference's standard settings: 100 iterations, 9 targets, 5000 queries),
fast (APGD-CE then APGD-T on what is left), nofab (APGD-CE, APGD-T, Square)
and standard (APGD-CE, APGD-T, FAB-T, Square: AutoAttack's standard version).
For each row and eps foil runs first (`foil attack ... --limit N`, its
sweep.json's accuracy and seconds, OMP_NUM_THREADS = --threads), then the
reference in this process (bench/autoattack_ref.py, torch threads =
--threads). Dependencies as bench/autoattack_ref.py says.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import autoattack_ref as ar  # noqa: E402
import torch_ref as tr  # noqa: E402
import torch  # noqa: E402

PROG = "autoattack_bench"
# row -> (foil's sweep entry, the reference's attack name, the norm)
ROWS = {
    "apgd-ce": ("apgd_ce", "apgd-ce", "Linf"),
    "apgd-t": ("apgd_t", "apgd-t", "Linf"),
    "square": ("square", "square", "Linf"),
    "fab-t": ("fab_t", "fab-t", "Linf"),
    "fast": ("{autoattack: {version: fast}}", "fast", "Linf"),
    "nofab": ("{autoattack: {attacks: [apgd_ce, apgd_t, square]}}", "nofab", "Linf"),
    "standard": ("{autoattack: {version: standard}}", "standard", "Linf"),
    "apgd-ce-l2": ("{apgd_ce: {norm: l2}}", "apgd-ce", "L2"),
    "square-l2": ("{square: {norm: l2}}", "square", "L2"),
    "fab-t-l2": ("{fab_t: {norm: l2}}", "fab-t", "L2"),
    "standard-l2": ("{autoattack: {version: standard, norm: l2}}", "standard", "L2"),
}


def run_foil(foil, model, data, n, eps, entry, threads, tmp):
    out = os.path.join(tmp, "run")
    cfg = os.path.join(tmp, "sweep.yaml")
    with open(cfg, "w") as f:
        f.write(f"eps: [{eps}]\nattacks: [{entry}]\nexamples: 0\n")
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS="1")
    cmd = [foil, "attack", "-q", "-m", model, "-c", cfg, "-o", out, "--limit", str(n),
           "--data", data, "--device", "cpu"]
    t0 = time.perf_counter()
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if p.returncode:
        raise tr.RefError(f"foil failed ({p.returncode}): {p.stderr.strip().splitlines()[-1:]}")
    rows = json.load(open(os.path.join(out, "sweep.json")))
    return rows[0]["accuracy"], rows[0]["seconds"], wall, rows[0].get("stages")


def main(argv=None):
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    p.add_argument("-m", "--model", required=True, metavar="CKPT")
    p.add_argument("--foil", default="build/foil", help="the foil binary (default build/foil)")
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--eps", default="0.1,0.2,0.3")
    p.add_argument("--rows", default="apgd-ce,standard", help=", ".join(ROWS))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--data", default=os.environ.get("FOIL_DATA") or ar.DEFAULT_DATA)
    p.add_argument("--json", metavar="OUT")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    try:
        rows = [r.strip() for r in a.rows.split(",") if r.strip()]
        bad = [r for r in rows if r not in ROWS]
        if bad or not rows:
            raise tr.RefError(f"--rows: unknown {', '.join(bad) or '(none)'}; choose from {', '.join(ROWS)}")
        eps_list = tr._eps_list(a.eps)
        torch.set_num_threads(a.threads)
        model, _ = tr.load_checkpoint(a.model)
        model = tr.freeze(model.float())
        x, y = tr.load_split(a.data, "t10k", a.n)
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True).stdout.strip()
        head = {"checkpoint": os.path.abspath(a.model), "n": x.shape[0], "threads": a.threads,
                "device": tr.device_name(torch.device("cpu")), "versions": ar.versions(),
                "commit": commit, "date": datetime.datetime.now().isoformat(timespec="seconds")}
        print(f"# foil vs the AutoAttack reference: {a.model}, first {head['n']} test images, Linf (L2: the -l2 rows),"
              f" {a.threads} threads, {head['device']}, commit {commit}, {head['date']}\n")
        print("| row | eps | foil robust % | reference robust % | foil s | reference s | "
              "reference / foil |")
        print("|---|---|---|---|---|---|---|", flush=True)
        out = []
        with tempfile.TemporaryDirectory() as tmp:
            for row in rows:
                entry, ref_name, norm = ROWS[row]
                for eps in eps_list:
                    acc, secs, wall, stages = run_foil(a.foil, a.model, a.data, a.n, eps, entry,
                                                       a.threads, tmp)
                    t0 = time.perf_counter()
                    x_adv = ar.run_reference(model, x, y, ref_name, eps, norm, a.seed, 500)
                    ref_s = time.perf_counter() - t0
                    ref_acc = ar.robust_accuracy(model, x_adv, y, 500)
                    r = {"row": row, "eps": eps, "foil_robust": acc, "ref_robust": ref_acc,
                         "foil_seconds": round(secs, 2), "foil_wall": round(wall, 2),
                         "ref_seconds": round(ref_s, 2), "foil_stages": stages}
                    out.append(r)
                    print(f"| {row} | {eps:g} | {100 * acc:.1f} | {100 * ref_acc:.1f} | {secs:.1f} | "
                          f"{ref_s:.1f} | {ref_s / max(secs, 1e-9):.2f} |", flush=True)
                    if a.json:
                        ar.write_json(a.json, head, out)
        print("\nfoil s: the sweep's own time for the row (without loading the model and data); "
              "reference s: run_standard_evaluation's wall time.")
    except tr.RefError as e:
        sys.stderr.write(f"{PROG}: {e}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
