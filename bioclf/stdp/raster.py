"""Spike rasters of a trained STDP network presented with one test sample.

    python -m bioclf.stdp.raster --config config/config.yaml --trained DIR --out DIR/raster.png

Runs on the runtime backend, theta and weights frozen: one presentation (stdp.protocol's present
and rest) and the repeats at higher intensity that the sample draws. The work is
done by `bioclf.stdp.frozen.sample_spikes` and `bioclf.plots.sample_raster`.
"""

from __future__ import annotations

from bioclf import config as cfgmod
from bioclf import plots, tasks
from bioclf.stdp import frozen


def main(argv=None) -> int:
    p = tasks.parser(__doc__.splitlines()[0], out_help="the figure file (.png)", out_file=True)
    tasks.trained_argument(p)
    p.add_argument(
        "--sample", type=tasks.index, default=0, help="index of the test sample shown (default: 0)"
    )
    args = p.parse_args(argv)
    cfg = cfgmod.load(args.config)
    spikes = frozen.sample_spikes(cfg, args.trained, args.sample)
    shown = spikes["presentations"] or "?"
    plots.sample_raster(
        spikes,
        args.out,
        f"Test sample {args.sample} (label {spikes['label']}): "
        f"{len(spikes['inp_i'])} input and {len(spikes['exc_i'])} excitatory spikes, "
        f"{shown} presentation(s) (shaded)",
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(tasks.run(main))
