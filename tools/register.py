"""Write the evidence a registration is chosen from: ``registration/pilot.json`` (registration
1) or, with ``--search``, ``registration/pilot2.json`` (registration 2).

Registration 2 (``--search RESULTS``): the search's results (notebook 02's
``search_results.json``) for its survivor, with its dense rivals' curves on the search's seeds
(``registration.search_pilot``); ``registration.analyse_search`` applies the stated rules
(endpoint, conservative SD, seeds, margin). Usage: python tools/register.py [CONFIG] --search
experiments/results/search_results.json

Registration 1:

Two pilots, both on seeds 0–7 (never used by the confirmatory study):

- the diagonal study that notebook 03 ran before the registration (``pilot.controls_over_seeds``:
  mask LR = retraining LR = 0.01, global masks, the seed's own data order, 80 % and 98 %);
- the registered condition itself (``confirmation.confirmatory_study`` with the seeds set to
  the pilot's): mask from θ* at 0.005, retrained at 0.01 with and without warmup, layer-wise,
  fresh orders, every comparator.

Each is computed through the store (trained if missing, else loaded), or read from a results
JSON a run already wrote (``--diagonal`` / ``--condition``). Then ``registration.analyse``
chooses the endpoint and the number of seeds; the file records every curve, the analysis and
where it was made. Usage: python tools/register.py [CONFIG] [--diagonal X.json]
[--condition Y.json]
"""

import argparse
import json
import subprocess
import warnings

from lth_hedging.configure import start
from lth_hedging.foundations.records import encode
from lth_hedging.foundations.store import atomic_write_bytes
from lth_hedging.nets.runtime import provenance
from lth_hedging.studies import registration
from lth_hedging.studies.confirmation import confirmatory_study
from lth_hedging.studies.pilot import controls_over_seeds

PILOT_SEEDS = {"registration.first_seed": 0, "registration.n_seeds": 8,
               "registration.match_margin": None}


def studies(diagonal: dict, condition: dict, window: int) -> dict:
    out = {}
    for cell in diagonal["cells"]:
        if cell["width"] != 1.0:
            continue
        arms = tuple(k for k in cell["rows"] if k not in ("ticket", "dense"))
        key = f"diagonal {cell['learning_rate']:g}, {cell['sparsity']:.0%}"
        out[key] = registration.compact_study(cell, arms, cell["floors"], cell["references"],
                                              cell["budget"], window, key)
    for cell in condition["cells"]:
        arms = tuple(k for k in cell["rows"] if k not in ("ticket", "dense"))
        key = f"condition {cell['schedule']}, {cell['sparsity']:.0%}"
        out[key] = {**registration.compact_study(
            cell, arms, condition["floors"][cell["schedule"]], condition["references"],
            condition["budget"], window, key), "condition": True}
    return out


def commit() -> str:
    """HEAD, and whether the working tree differs from it (the pilot then ran on that)."""
    def git(*args):
        return subprocess.run(["git", *args], capture_output=True, text=True).stdout.strip()
    dirty = git("status", "--porcelain", "--untracked-files=no")
    return git("rev-parse", "--short", "HEAD") + (" + uncommitted changes" if dirty else "")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", nargs="?", default="configs/config.yaml")
    parser.add_argument("--diagonal", help="the pilot's controls results JSON")
    parser.add_argument("--condition", help="the condition pilot's results JSON")
    parser.add_argument("--search", help="notebook 02's search results JSON (registration 2)")
    args = parser.parse_args()
    if args.search:
        return search_evidence(args.config, args.search)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        config = start(args.config, {"runtime.progress": False})
        pilot_config = start(args.config, {"runtime.progress": False, **PILOT_SEEDS})

    def load(path, compute):
        if path:
            with open(path) as f:
                return json.load(f)
        return json.loads(json.dumps(encode(compute()), default=float))

    diagonal = load(args.diagonal, lambda: controls_over_seeds(config))
    condition = load(args.condition, lambda: confirmatory_study(pilot_config))
    pilot = {"seeds": diagonal["seeds"], "studies": studies(diagonal, condition,
                                                          config.metrics.window),
             "made_on": {**provenance(config), "commit": commit(),
                 "diagonal": diagonal.get("provenance"),
                 "condition": condition.get("provenance")}}
    pilot["analysis"] = registration.analyse(pilot, config)
    atomic_write_bytes(registration.pilot_path(),
                       (json.dumps(pilot, indent=1, default=float) + "\n").encode())
    print(f"wrote {registration.PILOT}; chosen endpoint {pilot['analysis']['chosen']}")
    for row in pilot["analysis"]["pooled"]:
        print(row)


def search_evidence(config_path: str, results: str) -> None:
    """Registration 2's evidence from the search: ``registration/pilot2.json``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        config = start(config_path, {"runtime.progress": False})
    with open(results) as f:
        search = json.load(f)
    if len(search["survivors"]) != 1:
        raise SystemExit(f"{results}: {len(search['survivors'])} survivors; registration 2's "
                         "rules are written for the search's one")
    m = config.metrics
    pilot = registration.search_pilot(search, search["survivors"][0], m.final_evals)
    pilot["made_on"] = {"search": search.get("provenance"), "commit": commit(),
                        "rule": search["rule"]}
    choice = registration.analyse_search(pilot, config, m.window)
    pilot["analysis"] = encode(choice)
    path = registration.evidence_path(2)
    atomic_write_bytes(path, (json.dumps(pilot, indent=1, default=float) + "\n").encode())
    print(f"wrote {path}; chosen endpoint {choice.chosen}")
    for key, value in pilot["analysis"].items():
        print(key, value)


if __name__ == "__main__":
    main()
