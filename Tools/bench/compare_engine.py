#!/usr/bin/env python3
"""Side-by-side engine throughput: `recur bench engine` vs Keras 3 (TF-CPU) and PyTorch, one thread each.

Runs the three tools in interleaved rounds on the same machine, one model at a time: in each
round, each model runs in Recur, Keras and PyTorch back to back, so a slow minute on the host
(the speed of this VM drifts by 30-70 % within minutes) hits all tools of that model alike.
Takes the per-case median over rounds, and prints a markdown table of samples/s
and the ratios Recur/Keras and Recur/PyTorch (PyTorch = the faster of its default and
flush-denormal runs). Writes the raw numbers as JSON.

Each round also runs the BLAS floor (`blas_floor.c`, built here with the system C compiler):
the engine's exact sequence of `cblas_sgemm` calls with all of its own code left out. Its
samples/s bounds what any engine built on these OpenBLAS calls can reach, so floor/Keras is
the largest ratio such an engine could show in that round. It also runs the FMA roofline
(`fma_peak.c`: the core's peak FP32 GFLOP/s); peak ÷ the model's GEMM FLOPs per sample (from
`recur bench engine`'s `flops_per_sample`) bounds the samples/s of any FP32 engine doing those products,
so roofline/Keras is the largest ratio possible on this core at all, before any gate arithmetic.

    ~/.venv-anchors/bin/python Tools/bench/compare_engine.py --rounds 3 --steps 20 \
        --out docs/bench/engine-G.json

Needs ../shared/anchors (scripts) and a release build: `swift build -c release`.
"""
import argparse, json, os, shutil, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ANCHORS = os.path.join(os.path.dirname(ROOT), "shared", "anchors")


def last_json(cmd, env=None):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    if p.returncode != 0:
        sys.stderr.write(p.stderr[-3000:])
        raise SystemExit(f"failed: {' '.join(cmd)}")
    return p.stdout


MODELS = ["simple_rnn", "lstm", "gru", "stacked_gru", "bilstm"]


def anchor(script, steps, model, extra=()):
    out = last_json([sys.executable, os.path.join(ANCHORS, script), "--threads", "1", "--steps", str(steps), "--warmup", "3",
                     "--model", model, "--features", "1,14", *extra])
    data = json.loads([ln for ln in out.splitlines() if ln.strip()][-1])
    return {(r["model"], r["features"]): r["samples_per_s"] for r in data["results"]}, data.get("contention", {})


def recur(binary, steps, model):
    out = last_json([binary, "bench", "engine", "--json", "--steps", str(steps), "--warmup", "3", "--models", model])
    rows = [json.loads(ln) for ln in out.splitlines() if ln.startswith("{")]
    info = {k: rows[0][k] for k in ("blas", "blas_kernel", "blas_config") if k in rows[0]}
    flops = {(r["model"], r["features"]): r.get("flops_per_sample") or r["gflops"] * 1e9 / r["samples_per_sec"] for r in rows}
    return {(r["model"], r["features"]): r["samples_per_sec"] for r in rows}, info, flops


def build_floor():
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if not cc:
        raise SystemExit("no C compiler for blas_floor.c; pass --no-floor")
    out = os.path.join(tempfile.mkdtemp(), "blas_floor")
    subprocess.run([cc, "-O2", "-march=native", os.path.join(ROOT, "Tools", "bench", "blas_floor.c"), "-o", out, "-lopenblas"], check=True)
    return out


def build_peak():
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if not cc:
        raise SystemExit("no C compiler for fma_peak.c (the roofline column); install gcc or clang")
    flags = open("/proc/cpuinfo").read() if os.path.exists("/proc/cpuinfo") else ""
    isa = ["-mavx512f", "-mfma"] if " avx512f" in flags else ["-mavx2", "-mfma"]
    out = os.path.join(tempfile.mkdtemp(), "fma_peak")
    subprocess.run([cc, "-O2", *isa, os.path.join(ROOT, "Tools", "bench", "fma_peak.c"), "-o", out], check=True)
    return out


def floor(binary, steps, model, kernel):
    env = dict(os.environ)
    env.setdefault("OPENBLAS_CORETYPE", kernel)
    res = {}
    for f in (1, 14):
        row = json.loads(last_json([binary, model, str(f), str(steps)], env=env).strip().splitlines()[-1])
        res[(row["model"], row["features"])] = row["samples_per_sec"]
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--binary", default=os.path.join(ROOT, ".build", "release", "recur"))
    ap.add_argument("--skip-torch", action="store_true")
    ap.add_argument("--no-floor", action="store_true", help="skip the BLAS floor (blas_floor.c)")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    runs = {"keras": [], "torch": [], "torch_ftz": [], "recur": [], "floor": []}
    floor_binary = None if args.no_floor else build_floor()
    peak_binary = build_peak()
    peaks, flops = [], {}
    meta = {}
    t0 = time.time()
    for r in range(args.rounds):
        round_runs = {k: {} for k in runs}
        for model in MODELS:
            res, meta["recur_blas"], f = recur(args.binary, args.steps, model); round_runs["recur"].update(res); flops.update(f)
            if floor_binary:
                round_runs["floor"].update(floor(floor_binary, args.steps, model, meta["recur_blas"].get("blas_kernel", "")))
            res, c = anchor("keras_rnn_speed.py", args.steps, model); round_runs["keras"].update(res)
            meta[f"keras_contention_{r}_{model}"] = c
            if not args.skip_torch:
                res, c = anchor("torch_rnn_speed.py", args.steps, model, ["--no-probe-kernels"]); round_runs["torch"].update(res)
                res, c = anchor("torch_rnn_speed.py", args.steps, model, ["--no-probe-kernels", "--flush-denormal"]); round_runs["torch_ftz"].update(res)
        peaks.append(json.loads(last_json([peak_binary]).strip().splitlines()[-1])["gflops"])
        for k, v in round_runs.items():
            if v: runs[k].append(v)
        print(f"round {r + 1}/{args.rounds} done ({time.time() - t0:.0f} s)", file=sys.stderr)
    med = {k: {case: statistics.median(run[case] for run in v) for case in v[0]} for k, v in runs.items() if v}
    rows = []
    def cell(x, fmt):
        return fmt.format(x) if x else "–"

    peak = statistics.median(peaks)
    print(f"FMA roofline: {peak:.1f} GFLOP/s (median of {len(peaks)} rounds: {', '.join(f'{p:.1f}' for p in peaks)})")
    print("| model | F | Recur | Keras | PyTorch (best of default, FTZ) | Recur/Keras | Recur/PyTorch | BLAS floor | Recur/floor | floor/Keras | roofline/Keras |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for case in med["recur"]:
        rc, k = med["recur"][case], med["keras"].get(case)
        t = max(med["torch"].get(case, 0), med["torch_ftz"].get(case, 0)) if "torch" in med else None
        fl = med["floor"].get(case) if "floor" in med else None
        roof = peak * 1e9 / flops[case]
        rows.append({"model": case[0], "features": case[1], "recur": rc, "keras": k, "torch": t, "floor": fl,
                     "ratio_keras": rc / k if k else None, "ratio_torch": rc / t if t else None,
                     "recur_of_floor": rc / fl if fl else None, "floor_keras": fl / k if fl and k else None,
                     "flops_per_sample": flops[case], "roofline": roof, "roofline_keras": roof / k if k else None})
        r = rows[-1]
        print(f"| {case[0]} | {case[1]} | {rc:,.0f} | {cell(k, '{:,.0f}')} | {cell(t, '{:,.0f}')} | {cell(r['ratio_keras'], '{:.2f}×')} "
              f"| {cell(r['ratio_torch'], '{:.2f}×')} | {cell(fl, '{:,.0f}')} | {cell(r['recur_of_floor'], '{:.0%}')} | {cell(r['floor_keras'], '{:.2f}×')} "
              f"| {cell(r['roofline_keras'], '{:.2f}×')} |")
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"rounds": args.rounds, "steps": args.steps, "fma_peak_gflops": peaks, "medians": rows, "runs": {k: [{f"{m}/F{f}": v for (m, f), v in run.items()} for run in vs] for k, vs in runs.items()},
                       "meta": meta, "date": time.strftime("%Y-%m-%d %H:%M")}, f, indent=1)


if __name__ == "__main__":
    main()
