#!/usr/bin/env bash
# Runs every benchmark and writes bench/results/*.json (+ adapter_sweep.png):
#   machine.json         where and when it ran
#   engine_decode_1024.json  engine-level decode at the engine issue's geometry:
#                        base / multi-adapter / one batch per adapter
#   engine_decode.json   the same at the small geometry of the sweeps
#   engine_decode_mixed_ranks.json  the first with ranks 4, 8, 16, 64 mixed,
#                        and adapters resident for a fixed device budget
#   adapter_sweep.json   end to end over gRPC: N = 1, 8, 64, 512 adapters,
#                        power law alpha = 1, 16 device slots (< N for 64, 512)
#   sweep_N.json         the loraplex-loadgen report of each sweep point
#   grpc_overhead.json   same closed-loop workload in-process vs over gRPC
#   cold_adapter.json    upload -> first token; disk load / host hit / device hit
#   safetensors_header.json  opening files with 1,000-100,000 header entries
#   decode_context.json  decode step time at contexts 128, 512, 2048 (1.1B
#                        geometry, B = 16, KV cache filled directly)
#
# Usage: bench/run_all.sh [BUILD_DIR]      (default: build)
# Needs the targets loraplex-server loraplex-loadgen engine_decode_bench
# make_bench_model engine_serving_bench cold_adapter_bench
# safetensors_header_bench lowrank_svd_bench decode_context_bench, python3, and
# gnuplot for the PNG (skipped with a warning without it).
# Env: SWEEP_SECONDS (default 30) per sweep point; THREADS (default 0 = all
# cores) for the server and the engine benchmarks.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
results=bench/results
sweep_seconds=${SWEEP_SECONDS:-30}
threads=${THREADS:-0}
mkdir -p "$results"
work=$(mktemp -d)
server_pid=""
cleanup() {
  if [[ -n "$server_pid" ]]; then kill -TERM "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

for binary in service/server/loraplex-server tools/loadgen/loraplex-loadgen \
    bench/engine_decode_bench bench/make_bench_model \
    bench/engine_serving_bench bench/cold_adapter_bench \
    bench/safetensors_header_bench bench/lowrank_svd_bench \
    bench/decode_context_bench; do
  [[ -x "$build/$binary" ]] || { echo "run_all: missing $build/$binary (build it first)" >&2; exit 1; }
done
loadgen="$build/tools/loadgen/loraplex-loadgen"

# The small geometry of every benchmark here (about 12M parameters).
geometry=(--hidden 256 --layers 4 --heads 4 --kv-heads 2 --intermediate 688 --vocab 4096)
prompt=16 output=32 concurrency=8 rank=8

# start_server NAME FLAGS...: sets server_pid, address, metrics_url.
start_server() {
  local name=$1; shift
  local log="$work/$name.log"
  "$build/service/server/loraplex-server" --listen=127.0.0.1:0 \
    --metrics-listen=127.0.0.1:0 --http-listen=none --model="$work/model" \
    --registry-dir="$work/registry-$name" --device=cpu --threads="$threads" \
    --shutdown-grace=5s "$@" 2>"$log" &
  server_pid=$!
  for _ in $(seq 600); do
    if grep -q "listening on" "$log"; then break; fi
    kill -0 "$server_pid" 2>/dev/null || { cat "$log" >&2; exit 1; }
    sleep 0.1
  done
  local line; line=$(grep "listening on" "$log")
  address="127.0.0.1:$(sed -E 's/.*\(port ([0-9]+)\).*/\1/' <<<"$line")"
  metrics_url="http://127.0.0.1:$(sed -E 's/.*metrics on port ([0-9]+).*/\1/' <<<"$line")/metrics"
  echo "run_all: server $name at $address, metrics $metrics_url" >&2
}
stop_server() {
  kill -TERM "$server_pid"; wait "$server_pid" || true; server_pid=""
}

echo "run_all: machine" >&2
python3 - "$results/machine.json" "$build" <<'PY'
import json, os, platform, subprocess, sys, datetime
def cpu():
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()
rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
json.dump({"date_utc": datetime.datetime.utcnow().strftime("%Y-%m-%dT%H:%M:%SZ"),
           "cpu": cpu(), "cores": os.cpu_count(),
           "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
           "kernel": platform.release(), "git_commit": rev, "build_dir": sys.argv[2]},
          open(sys.argv[1], "w"), indent=2)
PY

echo "run_all: 1. engine decode" >&2
# The engine issue's geometry (the binary's defaults): hidden 1024, 8 layers,
# 16 heads, 4 KV heads, MLP 2816, vocab 32000, float32, B=16, N=16, rank 16
# on q,k,v,o.
"$build/bench/engine_decode_bench" --threads "$threads" \
  > "$results/engine_decode_1024.json"
# The small geometry the end-to-end benchmarks below use.
"$build/bench/engine_decode_bench" "${geometry[@]}" --batch "$concurrency" \
  --adapters "$concurrency" --rank "$rank" --context 64 --steps 32 \
  --repeats 3 --threads "$threads" > "$results/engine_decode.json"

# Rank-aware device memory (Note [Rank rows]): ranks 4, 8, 16, 64 mixed in
# one batch against all rank 16, and how many such adapters a budget of 16
# rank-64 adapters holds.
"$build/bench/engine_decode_bench" --threads "$threads" --ranks 4,8,16,64 \
  > "$results/engine_decode_mixed_ranks.json"

# Decode step time against context length at the TinyLlama-1.1B geometry
# (KV cache filled directly; about 2 minutes on 2 cores).
"$build/bench/decode_context_bench" --threads "$threads" \
  > "$results/decode_context.json"

"$build/bench/safetensors_header_bench" --dir "$work" \
  > "$results/safetensors_header.json"

# Full vs randomized SVD of a 4096 x 11008 update (loraplex-train extract).
"$build/bench/lowrank_svd_bench" --threads "$threads" \
  > "$results/lowrank_svd.json"

"$build/bench/make_bench_model" --out "$work/model" "${geometry[@]}"

echo "run_all: 2. adapter-count sweep" >&2
start_server sweep --max-resident-adapters=16 --max-host-adapters=64 \
  --max-batch-size=32 --max-adapters-per-tenant=1000
"$loadgen" --server "$address" --concurrency 1 --requests 1 \
  --adapters-prefix lg- --create-adapters 512 --rank "$rank" \
  --model-config "$work/model" --output-tokens 1 >/dev/null
for n in 1 8 64 512; do
  "$loadgen" --server "$address" --adapters-prefix lg- --num-adapters "$n" \
    --alpha 1 --concurrency "$concurrency" --duration "$sweep_seconds" \
    --warmup-requests "$concurrency" --prompt-tokens "$prompt" \
    --output-tokens "$output" --model-config "$work/model" \
    --metrics-url "$metrics_url" --json > "$results/sweep_$n.json"
done
python3 - "$results" <<'PY'
import json, sys
d = sys.argv[1]
points = []
for n in (1, 8, 64, 512):
    r = json.load(open(f"{d}/sweep_{n}.json"))
    cache = r["server_cache"] or {}
    points.append({"adapters": n, "requests_per_second": r["throughput"]["requests_per_second"],
                   "output_tokens_per_second": r["throughput"]["output_tokens_per_second"],
                   "ttft_p50_ms": r["ttft_ms"]["p50"], "ttft_p99_ms": r["ttft_ms"]["p99"],
                   "tpot_p50_ms": r["tpot_ms"]["p50"], "completed": r["completed"],
                   "failed": r["failed"], "cache_hit_rate": cache.get("hit_rate"),
                   "device_hit_rate": cache.get("device_hit_rate")})
ratio = points[-1]["output_tokens_per_second"] / points[0]["output_tokens_per_second"]
json.dump({"benchmark": "adapter_sweep", "alpha": 1.0, "device_slots": 16, "host_slots": 64,
           "concurrency": 8, "prompt_tokens": 16, "output_tokens": 32, "points": points,
           "throughput_ratio_512_vs_1": ratio, "target_ratio": 0.7, "meets_target": ratio >= 0.7},
          open(f"{d}/adapter_sweep.json", "w"), indent=2)
PY

echo "run_all: 4. gRPC overhead" >&2
overhead_requests=$((concurrency * 12))
"$loadgen" --server "$address" --adapters-prefix lg- --num-adapters 8 \
  --alpha 1 --concurrency "$concurrency" --requests "$overhead_requests" \
  --warmup-requests "$concurrency" --prompt-tokens "$prompt" \
  --output-tokens "$output" --model-config "$work/model" --json \
  > "$work/grpc_run.json"
stop_server
mkdir -p "$work/engine-adapters"
"$build/bench/engine_serving_bench" --model "$work/model" --adapters 8 \
  --alpha 1 --concurrency "$concurrency" --requests "$overhead_requests" \
  --prompt-tokens "$prompt" --output-tokens "$output" --rank "$rank" \
  --max-resident-adapters 16 --max-host-adapters 64 --threads "$threads" \
  --workdir "$work/engine-adapters" > "$work/engine_run.json"
python3 - "$work/grpc_run.json" "$work/engine_run.json" "$results/grpc_overhead.json" <<'PY'
import json, sys
grpc, engine = (json.load(open(p)) for p in sys.argv[1:3])
g = grpc["throughput"]["output_tokens_per_second"]
e = engine["throughput"]["output_tokens_per_second"]
json.dump({"benchmark": "grpc_overhead", "workload": engine["config"],
           "engine_only_output_tokens_per_second": e, "grpc_output_tokens_per_second": g,
           "ratio": g / e, "target_ratio": 0.9, "meets_target": g / e >= 0.9,
           "engine_only_ttft_p50_ms": engine["ttft_ms"]["p50"],
           "grpc_ttft_p50_ms": grpc["ttft_ms"]["p50"],
           "engine_only": engine, "grpc": grpc},
          open(sys.argv[3], "w"), indent=2)
PY

echo "run_all: 3. cold adapter" >&2
start_server cold --max-resident-adapters=2 --max-host-adapters=8
"$build/bench/cold_adapter_bench" --server "$address" --metrics-url "$metrics_url" \
  --model-config "$work/model" --fillers 2 --trials 10 --rank "$rank" \
  --prompt-tokens "$prompt" --workdir "$work" > "$results/cold_adapter.json"
stop_server

if command -v gnuplot >/dev/null; then
  bench/plot_sweep.sh "$results/adapter_sweep.json" "$results/adapter_sweep.png"
else
  echo "run_all: gnuplot not installed: skipped adapter_sweep.png" >&2
fi
echo "run_all: done; results in $results" >&2
