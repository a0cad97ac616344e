#!/usr/bin/env python3
"""foil's minimal-perturbation attacks (DeepFool, CW-L2) next to Foolbox's on
the same checkpoint and images: each image's L2 robustness radius from both,
compared image by image, and the robust accuracy at L2 radii from both.

    python3 bench/minimal_ref.py -m CKPT [--foil build/foil] [--attack deepfool|cw_l2]
        [--n 200] [--steps N] [--radii 0.5,1,1.5,2,3] [--threads 2] [--data DIR]
        [--json OUT.json]

foil runs `foil attack --attack NAME --limit N` (its radii.csv); Foolbox
3.3 runs L2DeepFoolAttack(steps, candidates=10, overshoot=0.02,
loss='logits') or L2CarliniWagnerAttack(binary_search_steps=9, steps,
stepsize=0.01, confidence=0, initial_const=1e-3, abort_early=True), the
settings foil's defaults follow (docs/attacks.md), with epsilons=None on the
model of bench/torch_ref.py (eval mode, CPU, float32). An image's radius is
the L2 norm of what the attack found, 0 when the clean image is already
misclassified, none when it found no adversarial. Needs torch and foolbox
(pip install foolbox eagerpy GitPython requests; bench/README.md).
"""
from __future__ import annotations

import argparse
import csv
import datetime
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_ref as tr  # noqa: E402
import torch  # noqa: E402

PROG = "minimal_ref"
DEFAULT_STEPS = {"deepfool": 50, "cw_l2": 1000}


def run_foil(foil, model, data, n, attack, steps, threads, tmp):
    out = os.path.join(tmp, "run")
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS="1")
    cmd = [foil, "attack", "-q", "-m", model, "-o", out, "--attack", attack, "--eps", "0",
           "--steps", str(steps), "--limit", str(n), "--data", data, "--device", "cpu"]
    t = time.perf_counter()
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if p.returncode != 0:
        raise tr.RefError(f"{' '.join(cmd)}: exit {p.returncode}: {p.stderr.strip()}")
    radii = [None] * n
    with open(os.path.join(out, "radii.csv")) as f:
        for row in csv.DictReader(f):
            i = int(row["index"])
            radii[i] = float(row["radius_l2"]) if row["radius_l2"] != "" else None
    with open(os.path.join(out, "sweep.json")) as f:
        sweep = json.load(f)
    secs = sweep["rows"][0].get("seconds", wall) if isinstance(sweep, dict) and "rows" in sweep else wall
    return radii, secs


def run_foolbox(model, x, y, attack, steps, batch):
    import foolbox as fb
    fmodel = fb.PyTorchModel(model, bounds=(0.0, 1.0))
    if attack == "deepfool":
        att = fb.attacks.L2DeepFoolAttack(steps=steps, candidates=10, overshoot=0.02, loss="logits")
    else:
        att = fb.attacks.L2CarliniWagnerAttack(binary_search_steps=9, steps=steps, stepsize=0.01,
                                               confidence=0, initial_const=1e-3, abort_early=True)
    radii = []
    t = time.perf_counter()
    for s in range(0, x.shape[0], batch):
        xb, yb = x[s:s + batch], y[s:s + batch]
        with torch.no_grad():
            right = model(xb).argmax(1) == yb
        _, adv, ok = att(fmodel, xb, yb, epsilons=None)
        d = (adv - xb).flatten(1).norm(dim=1)
        for i in range(xb.shape[0]):
            if not bool(right[i]):
                radii.append(0.0)
            else:
                radii.append(float(d[i]) if bool(ok[i]) else None)
    return radii, time.perf_counter() - t


def accuracy_at(radii, r):
    """Robust accuracy at L2 radius r: an image stays right unless its radius <= r."""
    return sum(1 for d in radii if d is None or d > r) / len(radii)


def compare(foil, ref):
    both = [(a, b) for a, b in zip(foil, ref) if a is not None and b is not None and a > 0 and b > 0]
    ratios = [a / b for a, b in both]
    return {
        "found_foil": sum(1 for a in foil if a is not None and a > 0),
        "found_ref": sum(1 for b in ref if b is not None and b > 0),
        "both": len(both),
        "median_foil": statistics.median([a for a, _ in both]) if both else math.nan,
        "median_ref": statistics.median([b for _, b in both]) if both else math.nan,
        "ratio_median": statistics.median(ratios) if ratios else math.nan,
        "ratio_p05": sorted(ratios)[int(0.05 * (len(ratios) - 1))] if ratios else math.nan,
        "ratio_p95": sorted(ratios)[int(0.95 * (len(ratios) - 1))] if ratios else math.nan,
        "foil_smaller": sum(1 for r in ratios if r < 0.999) / len(ratios) if ratios else math.nan,
        "within_1pct": sum(1 for r in ratios if abs(r - 1) <= 0.01) / len(ratios) if ratios else math.nan,
    }


def main(argv=None):
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-m", "--model", required=True, metavar="CKPT")
    p.add_argument("--foil", default="build/foil")
    p.add_argument("--attack", choices=sorted(DEFAULT_STEPS), default="deepfool")
    p.add_argument("--n", type=int, default=200)
    p.add_argument("--steps", type=int, help="iterations (default: deepfool 50, cw_l2 1000)")
    p.add_argument("--radii", default="0.5,1,1.5,2,3")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch", type=int, default=100, help="Foolbox's batch (default 100)")
    p.add_argument("--data", default=os.environ.get("FOIL_DATA") or "data/raw/mnist")
    p.add_argument("--json", metavar="OUT")
    a = p.parse_args(argv)
    try:
        if a.n < 1 or a.threads < 1 or a.batch < 1:
            raise tr.RefError("--n, --threads and --batch must be >= 1")
        steps = a.steps or DEFAULT_STEPS[a.attack]
        radii_at = tr._eps_list(a.radii)
        torch.set_num_threads(a.threads)
        model = tr.freeze(tr.load_checkpoint(a.model)[0].float())
        x, y = tr.load_split(a.data, "t10k", a.n)
        tr.check_input(model, x, a.data)
        with tempfile.TemporaryDirectory() as tmp:
            foil_r, foil_s = run_foil(a.foil, a.model, a.data, a.n, a.attack, steps, a.threads, tmp)
        ref_r, ref_s = run_foolbox(model, x, y, a.attack, steps, a.batch)
    except tr.RefError as e:
        print(f"{PROG}: {e}", file=sys.stderr)
        return 1
    c = compare(foil_r, ref_r)
    commit = subprocess.run(["git", "-C", tr.REPO, "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    import foolbox
    print(f"# foil vs Foolbox {foolbox.__version__}: {a.attack}, {steps} steps, {a.model}, first "
          f"{a.n} test images, {a.threads} threads, commit {commit}, "
          f"{datetime.datetime.now().isoformat(timespec='seconds')}\n")
    print(f"adversarials found: foil {c['found_foil']}, Foolbox {c['found_ref']}; both {c['both']}")
    print(f"median L2 radius (both found): foil {c['median_foil']:.4f}, Foolbox {c['median_ref']:.4f}")
    print(f"foil / Foolbox radius per image: median {c['ratio_median']:.4f}, 5% {c['ratio_p05']:.4f}, "
          f"95% {c['ratio_p95']:.4f}; foil smaller on {100 * c['foil_smaller']:.1f}%, within 1% on "
          f"{100 * c['within_1pct']:.1f}%")
    print(f"seconds: foil {foil_s:.1f}, Foolbox {ref_s:.1f}\n")
    print("| L2 radius | foil robust % | Foolbox robust % |\n|---:|---:|---:|")
    table = []
    for r in radii_at:
        fa, ra = accuracy_at(foil_r, r), accuracy_at(ref_r, r)
        table.append({"radius": r, "foil": fa, "foolbox": ra})
        print(f"| {r:g} | {100 * fa:.1f} | {100 * ra:.1f} |")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"attack": a.attack, "steps": steps, "n": a.n, "commit": commit,
                       "compare": c, "table": table, "foil_seconds": foil_s,
                       "foolbox_seconds": ref_s, "foil_radii": foil_r, "foolbox_radii": ref_r}, f,
                      indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
