"""Stage `fig7`: the paper's Figure 7, adaptive attack success rate through A2D, AE and A2D+AE (or AT).

Reads the kappa sweep of one defended model (``adaptive_sweep``), its A2D detector
(``adaptive_a2d``) and, where ``adaptive.defences.<dataset>`` names ``ae``, MagNet's detector
(``magnet``). An example gets through when it is adversarial, within the L2 cap
(``adaptive.caps``) and not flagged (:func:`a2d.adaptive.attack_success`). Writes the figure
(attack success rate per defence against kappa, mean L2 on a second axis), its numbers beside
the rates the paper states (``<table>.csv``/``.md``), the claims table (``<table>_claims``) and
the per-example flags (``--examples``). On an adversarially trained model, "none" is "AT".
"""

from __future__ import annotations

import argparse

from a2d.adaptive import attack_success, configured_defences
from a2d.adaptive.defence import load_a2d
from a2d.adaptive.run import read_sweep
from a2d.baselines.magnet import load_magnet
from a2d.config import Params, dataset_of, target_config
from a2d.reporting.adaptive import write_figure7
from a2d.utils.device import resolve_device
from a2d.utils.io import write_text_atomic
from stages._cli import parser, run
from stages._common import load_target_model


def main(args: argparse.Namespace, params: Params) -> None:
    cfg, device = params.adaptive, resolve_device(params.device)
    dataset, train = dataset_of(params, args.target), target_config(params, args.target).train
    model = load_target_model(params, args.target, args.weights, device)
    names = cfg.defences[dataset]
    defences, combined = configured_defences(
        names,
        a2d=load_a2d(args.a2d, model).detector if "a2d" in names else None,
        magnet=load_magnet(args.magnet, device=device) if "ae" in names else None,
    )
    cap = cfg.caps[dataset]
    sweep = read_sweep(args.sweep, cfg.kappas)
    summary, per_example = attack_success(sweep, defences, cap=cap, combined=combined)
    write_text_atomic(args.examples, per_example.to_csv(index=False))
    write_figure7(
        summary,
        target=args.target,
        dataset=dataset,
        cap=cap,
        adversarially_trained=train is not None and train.adversarial is not None,
        out=args.out,
        table=args.table,
        notes=[
            f"{cfg.n_images} images, kappas {list(cfg.kappas)}; ASR: adversarial, L2 <= {cap:g} "
            "and not flagged, over all images; paper: the rates Section 6.2 states"
        ],
    )


def cli() -> None:
    p = parser("fig7", __doc__.splitlines()[0])
    p.add_argument("--target", required=True, help="the defended model, a name from config")
    p.add_argument("--weights", required=True, help="input: the defended model's weights")
    p.add_argument("--sweep", required=True, help="input: the adaptive_sweep stage's folder")
    p.add_argument("--a2d", required=True, help="input: the adaptive_a2d stage's folder")
    p.add_argument("--magnet", required=True, help="input: MagNet's detector (magnet stage)")
    p.add_argument("--out", required=True, help="output: the figure without suffix (.png, .pdf)")
    p.add_argument("--table", required=True, help="output: its numbers without suffix (.csv, .md)")
    p.add_argument("--examples", required=True, help="output: per-example flags (CSV)")
    run("fig7", main, p.parse_args())


if __name__ == "__main__":
    cli()
