"""Verify the configured data set and draw a few samples.

python -m bioclf.data.check --config config/config.yaml --out results/data
"""

from __future__ import annotations

import numpy as np

from bioclf import config as cfgmod
from bioclf import tasks
from bioclf.data import KNOWN_CHECKSUMS, load_configured
from bioclf.io import write_json


def main(argv=None) -> int:
    p = tasks.parser(__doc__.splitlines()[0])
    args = p.parse_args(argv)
    cfg = cfgmod.load(args.config)
    d = cfg["data"]
    summary = {"root": d["root"], "name": d.get("name", "mnist")}
    splits = {}
    checked = d.get("checksums") or KNOWN_CHECKSUMS.get(summary["name"].lower())
    verified = "checksums verified" if checked else "no checksums to verify (data.checksums)"
    for split in ("train", "test"):
        ds = load_configured(d, split)
        splits[split] = ds
        summary[split] = {
            "n": len(ds),
            "image_shape": list(ds.image_shape),
            "class_counts": ds.class_counts().tolist(),
        }
        print(f"{split}: {len(ds)} images, {verified}")
    write_json(args.out / "summary.json", summary)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from bioclf.plots import _save

    fig, axes = plt.subplots(2, 10, figsize=(10, 2.4))
    ds = splits["train"]
    for c in range(10):
        idx = np.flatnonzero(ds.labels == c)[:2]
        for r, k in enumerate(idx):
            axes[r, c].imshow(ds.images[k], cmap="gray_r")
            axes[r, c].set_axis_off()
        axes[0, c].set_title(str(c))
    fig.suptitle(f"{summary['name']}: training samples")
    _save(fig, args.out / "samples.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(tasks.run(main))
