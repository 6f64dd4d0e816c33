"""Do the estimated KPIs (CBPE, DLE) hold, and do their bands cover the realized KPI, on shapes of data with known
shifts? Figures, not a test (tests/checks/test_estimation.py runs a small share of the same study).

    .venv/bin/python benchmarks/estimation.py [--windows 240] [--sizes 300,1000,5000]

Generated worlds with a calibrated model (``world``): binary (74% and, a rare event, 7% positives) and
three-class classifiers (logistic, the model is the true law, so its probabilities are calibrated on the
reference), and a regression whose noise grows with one feature. Windows are drawn with known covariate
shifts (the features' means moved along the direction that hurts the model, by 0 to 1.5 standard deviations),
``--windows`` of them per task and size, seeded, spread over 8 reference draws (each fitted anew). For each:
the estimate and its 95% band against the KPI realized on the window's labels. Then concept change: the inputs
unchanged and the label's law flipped for a share of rows; the estimate holds while the realized KPI falls.
Prints coverage and mean absolute error per task, metric and size; the last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json

from driftwarden.flows.demo.worlds import METRICS, study


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--windows", type=int, default=240)
    ap.add_argument("--sizes", default="300,1000,5000")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    results = [study(task, args.windows, sizes) for task in METRICS]
    print(f"{'task':<11}{'metric':<10}" + "".join(f"{f'n={n} cover / MAE':>22}" for n in sizes))
    for r in results:
        for m in METRICS[r["task"]]:
            cells = "".join(
                f"{r['by_size'][n][m]['coverage']:>13.1%} / {r['by_size'][n][m]['mae']:<6.4f}" for n in sizes
            )
            print(f"{r['task']:<11}{m:<10}{cells}")
    print("\nconcept change (30% of labels follow another law, inputs unchanged):")
    for r in results:
        c = r["concept"]
        print(
            f"  {r['task']:<11}{c['metric']:<9} clean: estimate {c['clean']['estimate']:.3f}, realized "
            f"{c['clean']['realized']:.3f};  changed: estimate {c['changed']['estimate']:.3f}, realized "
            f"{c['changed']['realized']:.3f}"
        )
    print(json.dumps({"windows_per_size": args.windows, "sizes": sizes, "results": results}))


if __name__ == "__main__":
    main()
