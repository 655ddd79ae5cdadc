#!/usr/bin/env python3
"""Forecast quality and epoch time on greensboro-tmy3: `recur train` vs Keras 3 (TF-CPU), side by side.

The lecture task (all 13 features, 120-hour window, temp_c 24 h after the last input row, 50/25/25),
GRU(32) -> Dense(1), RMSprop 1e-3, batch 256, up to 10 epochs, early stopping on val MAE with
patience 3 and restore-best, seeds 1-3. Runs Keras through ../shared/anchors/keras_forecast_baseline.py
(TF threads as given) and Recur's release binary (one thread), then prints a markdown table.

    ~/.venv-anchors/bin/python Tools/bench/compare_forecast.py --out docs/bench/forecast.json
"""
import argparse, json, os, statistics, subprocess, sys, tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ANCHORS = os.path.join(os.path.dirname(ROOT), "shared", "anchors")
TASK = """dataset: datasets/greensboro-tmy3.csv
target: temp_c
features: all
sequence_length: 120
sampling_rate: 1
horizon: 24
split: [0.5, 0.25, 0.25]
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--keras-threads", type=int, default=2)
    ap.add_argument("--binary", default=os.path.join(ROOT, ".build", "release", "recur"))
    ap.add_argument("--out")
    args = ap.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        f.write(TASK)
        task = f.name
    recur = []
    for seed in seeds:
        p = subprocess.run([args.binary, "train", "--task", task, "--cell", "gru", "--units", "32", "--epochs", "10",
                            "--seed", str(seed), "--patience", "3", "--json"], cwd=ROOT, capture_output=True, text=True, check=True)
        r = json.loads(p.stdout.strip().splitlines()[-1])
        r["seed"] = seed
        recur.append(r)
    p = subprocess.run([sys.executable, os.path.join(ANCHORS, "keras_forecast_baseline.py"), "--seeds", args.seeds, "--models", "gru",
                        "--threads", str(args.keras_threads)], capture_output=True, text=True, check=True)
    keras = json.loads([ln for ln in p.stdout.splitlines() if ln.strip()][-1])
    kruns = [r for r in keras["runs"] if r["model"] == "gru"]
    print("| predictor | seed | epochs run | best epoch | val MAE °C | test MAE °C | s / epoch |")
    print("|---|---|---|---|---|---|---|")
    b = recur[0]["baselines"]
    print(f"| persistence (Recur) | – | – | – | {b['persistence']['val_mae']:.3f} | {b['persistence']['test_mae']:.3f} | – |")
    kb = keras["baselines"]
    print(f"| persistence (Keras script) | – | – | – | {kb['persistence']['val_mae']:.3f} | {kb['persistence']['test_mae']:.3f} | – |")
    rs, ks = [], []
    for r in recur:
        spe = statistics.mean(h["seconds"] for h in r["history"])
        rs.append(spe)
        print(f"| Recur GRU(32) | {r['seed']} | {r['epochs_run']} | {r['best_epoch']} | {r['val_mae']:.3f} | {r['test_mae']:.3f} | {spe:.3f} |")
    for r in kruns:
        spe = r["train_seconds"] / r["epochs_run"]
        ks.append(spe)
        print(f"| Keras GRU(32), {args.keras_threads} threads | {r['seed']} | {r['epochs_run']} | {r.get('best_epoch', '–')} | {r['val_mae']:.3f} | {r['test_mae']:.3f} | {spe:.3f} |")
    rt, kt = statistics.mean(r["test_mae"] for r in recur), statistics.mean(r["test_mae"] for r in kruns)
    print(f"\nmean test MAE: Recur {rt:.3f}, Keras {kt:.3f} ({(rt / kt - 1) * 100:+.1f}%); "
          f"seconds per epoch: Recur {statistics.mean(rs):.3f}, Keras {statistics.mean(ks):.3f} "
          f"(Keras/Recur {statistics.mean(ks) / statistics.mean(rs):.1f}×)")
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"recur": recur, "keras": keras}, f, indent=1)


if __name__ == "__main__":
    main()
