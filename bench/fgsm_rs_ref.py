#!/usr/bin/env python3
"""Wong, Rice and Kolter's FGSM-RS MNIST recipe ("Fast is better than free",
2020) in PyTorch, as their MNIST/train_mnist.py runs it, writing a foil
checkpoint so that `foil eval` and `foil attack` judge it next to a model
`foil train -c configs/fgsm_rs.yaml` trained.

Their loop: batches of 100 shuffled by torch, Adam with the learning rate
interpolated per step from 0 up to --lr-max at 2/5 of the run and back to 0,
FGSM from delta ~ U(-eps, eps) taken at the unclipped x + delta, one signed
step of alpha, delta projected onto the eps-ball and then into [0, 1] - x, and
the update on clamp(x + delta, 0, 1).

  python3 bench/fgsm_rs_ref.py -o OUT.safetensors [--init torch|foil] [--seed 0]
      [--epochs 10] [--threads 2] [--data DIR] [--model configs/models/wong.yaml]

--init torch draws PyTorch's default initial weights from torch.manual_seed
(what their script does); --init foil starts from the weights `foil train`
starts from for recipe seed --seed (the shuffle and the random starts still
come from torch). Prints loss and training accuracy per epoch, as theirs.
"""
import argparse
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_ref as tr  # noqa: E402


def lr_at(t, epochs, lr_max):
    """np.interp(t, [0, epochs * 2 // 5, epochs], [0, lr_max, 0])."""
    peak = epochs * 2 // 5
    if t <= peak:
        return lr_max * t / peak
    return lr_max * max(0.0, (epochs - t) / (epochs - peak))


def train(model, x, y, a):
    opt = torch.optim.Adam(model.parameters(), lr=a.lr_max)
    n, bs = x.shape[0], a.batch
    batches = (n + bs - 1) // bs
    print("| epoch | seconds | lr | train loss | train accuracy |\n|---|---|---|---|---|")
    for epoch in range(a.epochs):
        t0 = time.perf_counter()
        perm = torch.randperm(n)
        loss_sum, right = 0.0, 0
        for i in range(batches):
            idx = perm[i * bs:(i + 1) * bs]
            xb, yb = x[idx], y[idx]
            lr = lr_at(epoch + (i + 1) / batches, a.epochs, a.lr_max)
            opt.param_groups[0]["lr"] = lr
            delta = torch.zeros_like(xb).uniform_(-a.eps, a.eps).requires_grad_(True)
            g, = torch.autograd.grad(F.cross_entropy(model(xb + delta), yb), delta)
            delta = (delta.detach() + a.alpha * g.sign()).clamp(-a.eps, a.eps)
            delta = torch.max(torch.min(1 - xb, delta), -xb)
            out = model((xb + delta).clamp(0, 1))
            loss = F.cross_entropy(out, yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            loss_sum += loss.item() * yb.shape[0]
            right += (out.argmax(1) == yb).sum().item()
        print(f"| {epoch + 1} | {time.perf_counter() - t0:.1f} | {lr:.4f} | {loss_sum / n:.4f} "
              f"| {right / n:.4f} |", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--init", choices=("torch", "foil"), default="torch")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--eps", type=float, default=0.3)
    ap.add_argument("--alpha", type=float, default=0.375)
    ap.add_argument("--lr-max", type=float, default=5e-3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--model", default="configs/models/wong.yaml")
    ap.add_argument("--data", default=os.environ.get("FOIL_DATA", "data/raw/mnist"))
    a = ap.parse_args()
    if a.epochs < 1 or a.batch < 1 or a.threads < 1:
        sys.exit("fgsm_rs_ref: --epochs, --batch and --threads must be at least 1")
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    try:
        mdef = tr.load_model_yaml(tr._resolve(a.model))
        model = tr.FoilNet(mdef)  # nn.Conv2d / nn.Linear: PyTorch's default init
        if a.init == "foil":
            tr.foil_init(model, a.seed)
        x, y = tr.load_split(a.data, "train")
        xte, yte = tr.load_split(a.data, "t10k")
    except tr.RefError as e:
        sys.exit(f"fgsm_rs_ref: {e}")
    print(f"FGSM-RS eps {a.eps} alpha {a.alpha}, {a.epochs} epochs, batch {a.batch}, lr max "
          f"{a.lr_max}, init {a.init}, seed {a.seed}, torch {torch.__version__}, "
          f"{a.threads} threads")
    model.train()
    train(model, x, y, a)
    acc = tr._evaluate(model, xte, yte, 1000)
    print(f"test accuracy {acc:.4f}")
    meta = {"model": tr.model_def_to_yaml(mdef), "epoch": a.epochs, "step": 0,
            "test_accuracy": f"{acc:.6f}", "seed": a.seed, "config": "",
            "trainer": f"bench/fgsm_rs_ref.py --init {a.init} --seed {a.seed}, "
                       f"torch {torch.__version__}"}
    try:
        tr.write_safetensors(a.output, dict(model.state_dict()), meta)
    except OSError as e:
        sys.exit(f"fgsm_rs_ref: {a.output}: {e.strerror}")
    print(f"wrote {a.output}")


if __name__ == "__main__":
    main()
