#!/usr/bin/env python3
"""AutoAttack and torchattacks on a foil checkpoint, to check foil's APGD
against the reference implementations on the same weights and images.

    python3 bench/autoattack_ref.py -m CKPT --eps 0.1,0.2,0.3 --n 1000 \\
        --attacks apgd-ce,apgd-t,square,standard,ta-apgd-ce,ta-apgd-t \\
        [--norm Linf|L2] [--threads 2] [--json OUT.json] [--seed 0] [--data DIR] [--batch 500]

The model is built by bench/torch_ref.py (load_checkpoint: an nn.Sequential
with foil's layers and 'same' padding) and runs in eval mode, float32, on the
CPU. The images are the first --n MNIST test images (t10k IDX files, .gz or
raw), pixels in [0, 1], shape (N, 1, 28, 28).

Attacks (--attacks, comma-separated):
- apgd-ce, apgd-dlr, apgd-t, fab, fab-t, square: one attack of the AutoAttack
  reference, configured as its version='standard' configures it (APGD: 100
  iterations, 1 restart, rho 0.75; APGD-T: targeted DLR, 9 target classes,
  1 restart each; FAB-T: 9 targets; Square: 5000 queries, p_init 0.8). It is
  run through AutoAttack.run_standard_evaluation with attacks_to_run set to
  that one attack, so only the clean-correct points are attacked;
- standard: the whole standard version (APGD-CE, APGD-T, FAB-T, Square in
  turn, each on the points still robust); the row gives the points each
  attack newly broke, from the reference's log;
- fast (APGD-CE, APGD-T) and nofab (APGD-CE, APGD-T, Square): the standard
  version's attacks without FAB-T, as foil's `autoattack` (version fast) and
  `autoattack: {attacks: [apgd_ce, apgd_t, square]}` run them;
- ta-apgd-ce, ta-apgd-dlr, ta-apgd-t: torchattacks' APGD (steps=100,
  n_restarts=1, loss 'ce' or 'dlr') and APGDT (steps=100, n_classes=10), on
  batches of all N images.

Robust accuracy is the fraction of the N images whose prediction on the
returned image equals the label (the clean-misclassified count as broken).
Every returned image is checked: its distance to the clean image (Linf or
L2, in float64) against eps, and its pixels against [0, 1]; the table shows
the largest excess of each (0 when none).

Dependencies: Python 3.10+, torch and numpy, and two PyPI packages, best in a
venv outside the repo (the reference on PyPI is 'pyautoattack', imported as
pyautoattack; --no-deps keeps pip from replacing the installed torch, and
torchattacks' declared torchvision/requests are not needed for these attacks):

    pip install numpy scipy        # numpy for pyautoattack, scipy for torchattacks' imports
    pip install --no-deps pyautoattack torchattacks
"""
from __future__ import annotations

import argparse
import datetime
import json
import logging
import os
import platform
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_ref as tr  # noqa: E402  (exits with a message when torch is missing)
import torch  # noqa: E402

PROG = "autoattack_ref"
AA_ATTACKS = ("apgd-ce", "apgd-dlr", "apgd-t", "fab", "fab-t", "square")
TA_ATTACKS = ("ta-apgd-ce", "ta-apgd-dlr", "ta-apgd-t")
CASCADES = {"standard": None, "fast": ["apgd-ce", "apgd-t"], "nofab": ["apgd-ce", "apgd-t", "square"]}
ALL_ATTACKS = AA_ATTACKS + tuple(CASCADES) + TA_ATTACKS
DEFAULT_DATA = "/work/shared/data/mnist"


def _import(name: str):
    try:
        return __import__(name)
    except ImportError as e:
        raise tr.RefError(f"cannot import {name} ({e}); install it as the module docstring says "
                          f"(python3 bench/autoattack_ref.py --help)") from None


# --------------------------------------------------------------------------
# The reference's log: AutoAttack logs to the 'auto-attack' logger at DEBUG
# ("apgd-ce - 1/2 - 412 out of 500 successfully perturbed", "robust accuracy
# after APGD-CE: 1.20% (total time 3.4 s)") and warns there (checks.py).
# --------------------------------------------------------------------------

_BATCH_RE = re.compile(r"^(\S+) - \d+/\d+ - (\d+) out of (\d+) successfully perturbed$")
_AFTER_RE = re.compile(r"^robust accuracy after (\S+): ([0-9.]+)% \(total time ([0-9.]+) s\)$")


class LogCapture(logging.Handler):
    def __init__(self, echo: bool):
        super().__init__(logging.DEBUG)
        self.lines, self.echo = [], echo

    def emit(self, record):
        msg = record.getMessage()
        self.lines.append((record.levelno, msg))
        if self.echo or record.levelno >= logging.WARNING:
            sys.stderr.write(f"[auto-attack {record.levelname.lower()}] {msg}\n")

    def take(self):
        lines, self.lines = self.lines, []
        return lines


def per_attack_log(lines):
    """{attack: {"broken": points newly broken, "attacked": points attacked,
    "robust_after": %, "seconds": time of this attack}} from one run's log."""
    out, last_t = {}, 0.0
    for _, msg in lines:
        m = _BATCH_RE.match(msg)
        if m:
            d = out.setdefault(m.group(1), {"broken": 0, "attacked": 0})
            d["broken"] += int(m.group(2))
            d["attacked"] += int(m.group(3))
            continue
        m = _AFTER_RE.match(msg)
        if m:
            d = out.setdefault(m.group(1).lower(), {"broken": 0, "attacked": 0})
            t = float(m.group(3))
            d["robust_after"], d["seconds"], last_t = float(m.group(2)), round(t - last_t, 3), t
    return out


# --------------------------------------------------------------------------
# Running the attacks
# --------------------------------------------------------------------------

def run_reference(model, x, y, attack, eps, norm, seed, batch):
    """One attack (or a cascade of CASCADES) of pyautoattack -> adversarial images."""
    aa = _import("pyautoattack")
    adversary = aa.AutoAttack(model, eps=eps, norm=norm, seed=seed, version="standard", device="cpu")
    if attack != "standard":  # keep the standard version's settings
        adversary.attacks_to_run = CASCADES.get(attack) or [attack]
    x_adv, _ = adversary.run_standard_evaluation(x, y, batch_size=batch)
    return x_adv


def run_torchattacks(model, x, y, attack, eps, norm, seed, batch, classes):
    ta = _import("torchattacks")
    if attack == "ta-apgd-t":
        atk = ta.APGDT(model, norm=norm, eps=eps, steps=100, n_restarts=1, seed=seed, n_classes=classes)
    else:
        atk = ta.APGD(model, norm=norm, eps=eps, steps=100, n_restarts=1, seed=seed,
                      loss="ce" if attack == "ta-apgd-ce" else "dlr")
    return torch.cat([atk(x[i:i + batch], y[i:i + batch]).detach() for i in range(0, x.shape[0], batch)])


def check_adversarials(x_adv, x, eps, norm):
    """Largest distance to the clean image, its excess over eps, the excess
    over [0, 1], and the count of NaNs."""
    d = (x_adv.double() - x.double()).flatten(1)
    dist = d.abs().amax(1) if norm == "Linf" else d.norm(dim=1)
    dmax = float(dist.max()) if dist.numel() else 0.0
    box = max(0.0, float(x_adv.max()) - 1.0, -float(x_adv.min())) if x_adv.numel() else 0.0
    return {"max_dist": dmax, "eps_excess": max(0.0, dmax - eps), "box_excess": box,
            "nan": int(torch.isnan(x_adv).sum())}


def robust_accuracy(model, x_adv, y, batch):
    return int((tr.predict_logits(model, x_adv, batch).argmax(1) == y).sum()) / y.shape[0]


# --------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------

COLUMNS = ["attack", "eps", "clean %", "robust %", "seconds", "max dist", "eps excess", "box excess",
           "newly broken per attack"]


def row_cells(r):
    broken = ""
    if r["attack"] in CASCADES:
        broken = ", ".join(f"{k} {v['broken']}" for k, v in r["per_attack"].items())
    return [r["attack"], f"{r['eps']:g}", f"{100 * r['clean_acc']:.2f}", f"{100 * r['robust_acc']:.2f}",
            f"{r['seconds']:.1f}", f"{r['check']['max_dist']:.6g}", f"{r['check']['eps_excess']:.3g}",
            f"{r['check']['box_excess']:.3g}", broken]


def versions():
    v = {"python": platform.python_version(), "torch": torch.__version__}
    for name in ("pyautoattack", "torchattacks", "numpy"):
        try:
            v[name] = __import__(name).__version__
        except ImportError:
            v[name] = None
    return v


def write_json(path, head, rows):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump({**head, "results": rows}, f, indent=1)
        f.write("\n")
    os.replace(tmp, path)


def _attack_list(s: str):
    names = [a.strip() for a in s.split(",") if a.strip()]
    bad = [a for a in names if a not in ALL_ATTACKS]
    if bad or not names:
        raise tr.RefError(f"--attacks: unknown {', '.join(bad) or '(none)'}; choose from {', '.join(ALL_ATTACKS)}")
    return names


def build_parser():
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0],
                                epilog=__doc__.split("\n\n", 2)[2],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-m", "--model", required=True, metavar="CKPT", help="foil checkpoint (.safetensors)")
    p.add_argument("--eps", default="0.1,0.2,0.3", help="comma-separated radii (default 0.1,0.2,0.3)")
    p.add_argument("--n", type=int, default=1000, help="the first N test images (default 1000)")
    p.add_argument("--attacks", default="apgd-ce,apgd-t", help=f"comma-separated, of: {', '.join(ALL_ATTACKS)}")
    p.add_argument("--norm", choices=["Linf", "L2"], default="Linf")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    p.add_argument("--json", metavar="OUT", help="write the results as JSON (rewritten after every row)")
    p.add_argument("--seed", type=int, default=0, help="seed of the attacks' random starts (default 0)")
    p.add_argument("--data", metavar="DIR",
                   help=f"folder with the MNIST IDX files; default $FOIL_DATA, else data/raw/mnist, else {DEFAULT_DATA}")
    p.add_argument("--batch", type=int, default=500, help="attack batch size (default 500)")
    p.add_argument("--verbose", action="store_true", help="echo the reference's log to stderr")
    return p


def main(argv=None):
    a = build_parser().parse_args(argv)
    try:
        if a.n < 1 or a.batch < 1 or a.threads < 1:
            raise tr.RefError("--n, --batch and --threads must be >= 1")
        eps_list, attacks = tr._eps_list(a.eps), _attack_list(a.attacks)
        torch.set_num_threads(a.threads)
        torch.manual_seed(a.seed)

        model, _ = tr.load_checkpoint(a.model)
        model = tr.freeze(model.float())  # eval mode, no parameter gradients
        data = a.data or os.environ.get("FOIL_DATA") or \
            (tr._resolve("data/raw/mnist") if os.path.isdir(tr._resolve("data/raw/mnist")) else DEFAULT_DATA)
        x, y = tr.load_split(data, "t10k", a.n)
        tr.check_input(model, x, data)
        classes = model.mdef["classes"]
        clean = robust_accuracy(model, x, y, a.batch)

        log = LogCapture(a.verbose)
        lg = logging.getLogger("auto-attack")
        lg.setLevel(logging.DEBUG)
        lg.addHandler(log)
        lg.propagate = False

        head = {"checkpoint": os.path.abspath(a.model), "model": model.mdef["name"], "data": data,
                "n": x.shape[0], "norm": a.norm, "seed": a.seed, "batch": a.batch, "threads": a.threads,
                "device": tr.device_name(torch.device("cpu")), "versions": versions(),
                "date": datetime.datetime.now().isoformat(timespec="seconds")}
        v = head["versions"]
        print(f"# AutoAttack reference: {a.model} ({head['model']}), first {head['n']} test images, "
              f"{a.norm}, seed {a.seed}, batch {a.batch}\n")
        print(f"{head['device']}; torch {v['torch']}, pyautoattack {v['pyautoattack']}, "
              f"torchattacks {v['torchattacks']}\n")
        print("| " + " | ".join(COLUMNS) + " |")
        print("|" + "---|" * len(COLUMNS), flush=True)

        rows = []
        for attack in attacks:
            for eps in eps_list:
                log.take()
                t0 = time.perf_counter()
                if attack.startswith("ta-"):
                    x_adv = run_torchattacks(model, x, y, attack, eps, a.norm, a.seed, a.batch, classes)
                else:
                    x_adv = run_reference(model, x, y, attack, eps, a.norm, a.seed, a.batch)
                seconds = time.perf_counter() - t0
                lines = log.take()
                r = {"attack": attack, "eps": eps, "clean_acc": clean,
                     "robust_acc": robust_accuracy(model, x_adv, y, a.batch), "seconds": round(seconds, 3),
                     "check": check_adversarials(x_adv, x, eps, a.norm)}
                if not attack.startswith("ta-"):
                    r["per_attack"] = per_attack_log(lines)
                    r["warnings"] = sorted({m for lvl, m in lines if lvl >= logging.WARNING})
                rows.append(r)
                print("| " + " | ".join(row_cells(r)) + " |", flush=True)
                if a.json:
                    write_json(a.json, head, rows)

        worst = max((r["check"]["eps_excess"] for r in rows), default=0.0)
        worst_box = max((r["check"]["box_excess"] for r in rows), default=0.0)
        print(f"\nmax eps violation {worst:.3g}, max [0, 1] violation {worst_box:.3g}, "
              f"NaNs {sum(r['check']['nan'] for r in rows)}")
    except tr.RefError as e:
        sys.stderr.write(f"{PROG}: {e}\n")
        return 1
    except KeyboardInterrupt:
        sys.stderr.write(f"{PROG}: interrupted\n")
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
