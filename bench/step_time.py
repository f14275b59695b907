"""Time one full-batch training step of the VAE for several widths and activations (issue 22: where a step's time goes).

One thread, a DLPFC-sized batch (3,600 spots, 50 PCs plus their neighbourhood means as context), random features: the
step's cost does not depend on the values. Configurations are timed in alternating rounds so that a slow spell of the
machine hits all of them; the table gives each one's median over rounds. Appends to bench/results/step_time.jsonl.

    uv run python bench/step_time.py --rounds 5
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import time
from pathlib import Path

import torch
from torch import nn

from spatial_vae.model import SpatialVAE

RESULTS = Path(__file__).resolve().parent / "results" / "step_time.jsonl"
CONFIGS = {   # name: (hidden_dims, latent_dim, activation)
    "default 128,64 / 32, ELU": ((128, 64), 32, nn.ELU),
    "128,64 / 32, SiLU": ((128, 64), 32, nn.SiLU),
    "64,32 / 16, ELU": ((64, 32), 16, nn.ELU),
    "64,32 / 16, SiLU": ((64, 32), 16, nn.SiLU),
}


def step_ms(hidden, latent, activation, n_spots=3600, n_pcs=50, steps=30) -> float:
    "Median milliseconds of one Adam step on the reconstruction loss (the spatial and KL terms cost under 1 ms)."
    torch.manual_seed(0)
    model = SpatialVAE(n_pcs, latent, hidden, n_context=n_pcs)
    for parent in list(model.modules()):   # mlp() puts nn.ELU between layers: swap in the activation under test
        for name, child in parent.named_children():
            if isinstance(child, nn.ELU): setattr(parent, name, activation())
    x, c = torch.randn(n_spots, n_pcs), torch.randn(n_spots, n_pcs)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    times = []
    for i in range(steps + 5):
        t = time.perf_counter()
        x_hat, mu, logvar, z = model(x, c)
        loss = ((x - x_hat) ** 2).sum(1).mean()
        opt.zero_grad(); loss.backward(); opt.step()
        if i >= 5: times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args()
    torch.set_num_threads(1)
    version = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    per = {name: [] for name in CONFIGS}
    for r in range(args.rounds):
        for name, cfg in CONFIGS.items(): per[name].append(step_ms(*cfg))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    print("| configuration | ms per step (median of rounds) | min | max |\n|---|---|---|---|")
    with open(RESULTS, "a") as f:
        for name, ms in per.items():
            f.write(json.dumps({"config": name, "rounds_ms": [round(m, 2) for m in ms], "torch": torch.__version__,
                                "cpu": torch.backends.cpu.get_cpu_capability(), "version": version}) + "\n")
            print(f"| {name} | {statistics.median(ms):.2f} | {min(ms):.2f} | {max(ms):.2f} |")
