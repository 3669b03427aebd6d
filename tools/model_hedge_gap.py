"""How close the deep hedge gets to the model hedge in a complete market, and what closes
the gap: dense networks trained without costs at each learning rate given (one stack), on
``CONFIG`` (default ``configs/buehler.yaml``) with any dotted overrides, each against the
model hedge on the test paths — the CVaR at ``loss.alpha`` of both and the paired bootstrap
interval of the difference, on the test and the validation paths (on the paths the network
was selected on, a gap left is one of fitting, not of generalisation).

Usage: python tools/model_hedge_gap.py [CONFIG] [key=value ...] [--rates 0.001,0.0005]
e.g. python tools/model_hedge_gap.py configs/buehler.yaml runtime.device=cuda \
         "data.n_paths={train: 200000, val: 20000, test: 20000}" --rates 0.001,0.0005
"""

import argparse
import time
import warnings

import torch
import yaml

from lth_hedging.configure import start
from lth_hedging.foundations.config import YamlLoader
from lth_hedging.measures.metrics import paired_difference
from lth_hedging.nets.losses import empirical_cvar
from lth_hedging.presentation.tables import fmt, fmt_diff
from lth_hedging.studies import stages as ex
from lth_hedging.studies.references import reference_pnls, risk_statistic
from lth_hedging.studies.stages import DenseSpec, Plan


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", nargs="?", default="configs/buehler.yaml")
    parser.add_argument("overrides", nargs="*", help="dotted key=value (YAML values)")
    parser.add_argument("--rates", default=None, help="learning rates, comma-separated "
                                                      "(default: training.learning_rate)")
    args = parser.parse_args()
    overrides = {k: yaml.load(v, Loader=YamlLoader)
                 for k, v in (item.split("=", 1) for item in args.overrides)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Feller fails by far in Buehler et al.'s Section 5
        config = start(args.config, {"runtime.progress": False, **overrides})
    if "variance_swap" not in config.hedging.instruments:
        raise SystemExit("hedging.instruments must include variance_swap (a model hedge)")
    rates = [float(r) for r in args.rates.split(",")] if args.rates else [
        config.training.learning_rate]
    statistic, alpha = risk_statistic(config), config.loss.alpha
    print(f"device {config.runtime.device}, paths {config.data.n_paths}, "
          f"{config.training.epochs} epochs at {config.training.learning_rate:g} "
          f"(budget scaled to each rate), {statistic}")
    began = time.perf_counter()
    runs = ex.train_dense_runs(config, [DenseSpec(0.0, Plan(lr, config.model.init_seed))
                                        for lr in rates])
    print(f"trained in {time.perf_counter() - began:.0f} s")
    m = config.metrics
    boot = dict(n_bootstrap=m.n_bootstrap, confidence=m.confidence, seed=m.seed)
    for split in ("val", "test"):  # choose on the validation paths; the test paths confirm
        data = ex.load_split(config, split)
        model_hedge = reference_pnls(config, split, costs=(0.0,))[0.0]["model_hedge"]
        print(f"{split}: model hedge {fmt(float(empirical_cvar(model_hedge, alpha)), 4)}")
        for lr, run in zip(rates, runs):
            model = ex.load_model(config, run.theta_star, cost=0.0)
            with torch.no_grad():
                pnl = ex.deep_hedge_pnl(model, data, 0.0)
            diff = paired_difference(pnl, model_hedge, statistic, **boot)
            print(f"  lr {lr:g} (best step {run.summary['best_step']}): deep hedge "
                  f"{fmt(float(empirical_cvar(pnl, alpha)), 4)}, minus the model hedge "
                  f"{fmt_diff(diff, 4)}")


if __name__ == "__main__":
    main()
