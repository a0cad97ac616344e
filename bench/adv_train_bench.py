#!/usr/bin/env python3
"""Adversarial training throughput, foil next to PyTorch on the same machine.

For each mode (PGD-7, FGSM-RS, TRADES-10 by default; Linf eps 0.3) both train
one epoch of the same model on the first N MNIST training images, batch 100,
Adam, on the same threads: `foil train` (its metrics.json train_images_per_s:
the training steps only) and a PyTorch loop written as the papers' reference
code is (Madry's PGD, Wong et al.'s FGSM-RS, Zhang et al.'s TRADES). Prints a
Markdown table of images/s and the ratio foil / PyTorch measured in this run.

  python3 bench/adv_train_bench.py [--foil build/foil] [--model configs/models/wong.yaml]
      [--n 6000] [--threads 2] [--modes pgd7,fgsm_rs,trades10] [--data DIR]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_ref as tr  # noqa: E402

EPS = 0.3
MODES = {  # name: (foil adversarial map, torch inner steps, step)
    "pgd7": ("{mode: pgd, eps: 0.3, steps: 7, step: 0.1, eval_images: 0}", 7, 0.1),
    "fgsm_rs": ("{mode: fgsm_rs, eps: 0.3, alpha: 0.375, guard: false, eval_images: 0}", 1, 0.375),
    "trades10": ("{mode: trades, eps: 0.3, steps: 10, step: 0.03, beta: 1.0, eval_images: 0}",
                 10, 0.03),
}


def foil_run(foil, model_yaml, data, n, mode):
    adv = MODES[mode][0]
    with tempfile.TemporaryDirectory() as d:
        cfg = os.path.join(d, "r.yaml")
        with open(cfg, "w") as f:
            f.write(f"name: bench\nseed: 1\ndevice: cpu\nmodel: {os.path.abspath(model_yaml)}\n"
                    f"data: {{dir: {data}, train_limit: {n}, test_limit: 100}}\n"
                    f"train: {{epochs: 1, batch_size: 100, optimizer: adam, lr: 0.001, "
                    f"adversarial: {adv}}}\n")
        out = os.path.join(d, "out")
        subprocess.run([foil, "train", "-q", "-c", cfg, "-o", out], check=True)
        with open(os.path.join(out, "metrics.json")) as f:
            return json.load(f)["train_images_per_s"]


def pgd(model, x, y, eps, step, steps, random_start=True):
    delta = torch.empty_like(x).uniform_(-eps, eps) if random_start else torch.zeros_like(x)
    delta = (x + delta).clamp(0, 1) - x
    for _ in range(steps):
        delta.requires_grad_(True)
        loss = F.cross_entropy(model(x + delta), y)
        g, = torch.autograd.grad(loss, delta)
        delta = (delta.detach() + step * g.sign()).clamp(-eps, eps)
        delta = (x + delta).clamp(0, 1) - x
    return (x + delta).detach()


def trades_adv(model, x, eps, step, steps):
    model.eval()
    with torch.no_grad():
        p = F.softmax(model(x), 1)
    xa = x + 0.001 * torch.randn_like(x)
    for _ in range(steps):
        xa.requires_grad_(True)
        loss = F.kl_div(F.log_softmax(model(xa), 1), p, reduction="sum")
        g, = torch.autograd.grad(loss, xa)
        xa = torch.min(torch.max(xa.detach() + step * g.sign(), x - eps), x + eps).clamp(0, 1)
    model.train()
    return xa.detach()


def torch_run(model_yaml, data, n, mode):
    model = tr.FoilNet(tr.load_model_yaml(model_yaml))
    tr.foil_init(model, 1)
    x, y = tr.load_split(data, "train", n)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    _, steps, step = MODES[mode]
    t0 = time.perf_counter()
    for i in range(0, n, 100):
        xb, yb = x[i:i + 100], y[i:i + 100]
        if mode == "trades10":
            xa = trades_adv(model, xb, EPS, step, steps)
            out = model(xb)
            loss = F.cross_entropy(out, yb) + 1.0 * F.kl_div(
                F.log_softmax(model(xa), 1), F.softmax(out, 1), reduction="batchmean")
        else:
            xa = pgd(model, xb, yb, EPS, step, steps)
            loss = F.cross_entropy(model(xa), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return n / (time.perf_counter() - t0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--foil", default="build/foil")
    ap.add_argument("--model", default="configs/models/wong.yaml")
    ap.add_argument("--data", default=os.environ.get("FOIL_DATA", "data/raw/mnist"))
    ap.add_argument("--n", type=int, default=6000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--modes", default="pgd7,fgsm_rs,trades10")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    os.environ["OMP_NUM_THREADS"] = str(a.threads)
    print(f"| mode | foil images/s | PyTorch {torch.__version__} images/s | foil / PyTorch |")
    print("|---|---|---|---|")
    for mode in a.modes.split(","):
        if mode not in MODES:
            sys.exit(f"--modes: unknown mode '{mode}' ({', '.join(MODES)})")
        f = foil_run(a.foil, a.model, a.data, a.n, mode)
        t = torch_run(a.model, a.data, a.n, mode)
        print(f"| {mode} | {f:.0f} | {t:.0f} | {f / t:.2f} |", flush=True)


if __name__ == "__main__":
    main()
