#!/usr/bin/python3
"""make_plateau_lrs.py -- golden learning rates of PyTorch's ReduceLROnPlateau.

Runs torch.optim.lr_scheduler.ReduceLROnPlateau (mode "min", threshold 1e-4
relative, cooldown 0, min_lr 0: what clipc's plateau rule implements, see
src/train/schedule.c) over fixed sequences of validation losses, and writes
the learning rate in force after each epoch's step() to
tests/data/goldens/plateau_lrs.json.  tests/test_plateau.c feeds clipc's
plateau rule the same losses and checks the rates bit for bit (the values
are written with repr(), which round-trips a double exactly).

    /usr/bin/python3 tools/goldens/make_plateau_lrs.py          # regenerate
    /usr/bin/python3 tools/goldens/make_plateau_lrs.py --check  # compare only
"""
import json
import os
import sys

import torch

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "data", "goldens", "plateau_lrs.json")

# Each sequence exercises one part of the rule: a first epoch (best = inf),
# improvements above and below the 1e-4 relative threshold, exact ties,
# runs of bad epochs longer than the patience (several reductions in a row),
# a recovery after a reduction, and losses crossing zero (the threshold is
# relative to best, so a negative best moves the bar the other way).
LOSSES = {
    "mixed": [2.5, 2.4, 2.41, 2.399, 2.39985, 2.2, 2.2, 2.2, 2.2, 2.2, 2.2, 2.1, 2.3, 2.3, 2.09999,
              2.0999, 2.5, 2.5, 2.5, 2.5, 2.5, 2.5, 2.5, 1.0, 1.0, 1.0],
    "threshold": [1.0, 0.99991, 0.9999, 0.99981, 0.9998, 0.9997, 0.99961, 0.9996, 0.9996, 0.9996, 0.9996],
    "negative": [0.5, 0.1, -0.1, -0.1, -0.10001, -0.1001, -0.1001, -0.1001, -0.2, 0.0, 0.0, 0.0, 0.0],
    "long_plateau": [3.0] + [3.0] * 30,
}
CASES = [  # (name, base lr, factor, patience)
    ("mixed", 5e-4, 0.8, 1),
    ("mixed", 5e-4, 0.5, 2),
    ("mixed", 1e-3, 0.1, 0),
    ("threshold", 1e-4, 0.8, 1),
    ("negative", 3e-4, 0.7, 1),
    ("long_plateau", 5e-4, 0.8, 1),
    ("long_plateau", 1e-5, 0.9, 0),
]


def run(losses, lr, factor, patience):
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=lr)
    sch = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="min", factor=factor, patience=patience,
                                                     threshold=1e-4, threshold_mode="rel", cooldown=0, min_lr=0)
    out = []
    for loss in losses:
        sch.step(loss)
        out.append(float(opt.param_groups[0]["lr"]))
    return out


def main():
    torch.set_num_threads(1)
    cases = []
    for name, lr, factor, patience in CASES:
        losses = LOSSES[name]
        cases.append({"name": name, "lr": lr, "factor": factor, "patience": patience, "losses": losses,
                      "lrs": run(losses, lr, factor, patience)})
    text = json.dumps({"torch": torch.__version__, "cases": cases}, indent=1) + "\n"
    if "--check" in sys.argv:
        with open(OUT) as f:
            same = f.read() == text
        print("plateau_lrs.json " + ("matches" if same else "DIFFERS"))
        return 0 if same else 1
    with open(OUT, "w") as f:
        f.write(text)
    print("wrote", OUT)
    return 0


if __name__ == "__main__":
    sys.exit(main())
