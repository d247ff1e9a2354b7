#!/usr/bin/env bash
# Renders the adapter-count sweep (bench/results/adapter_sweep.json, written
# by bench/run_all.sh) as a PNG with gnuplot: output tokens/s and p99 time to
# first token against the number of adapters (log scale).
#
# Usage: bench/plot_sweep.sh [SWEEP_JSON] [OUT_PNG]
# Needs gnuplot (Debian: gnuplot-nox) and python3.
set -euo pipefail
cd "$(dirname "$0")/.."
in=${1:-bench/results/adapter_sweep.json}
out=${2:-bench/results/adapter_sweep.png}
data=$(mktemp)
trap 'rm -f "$data"' EXIT
python3 - "$in" > "$data" <<'PY'
import json, sys
sweep = json.load(open(sys.argv[1]))
for p in sweep["points"]:
    print(p["adapters"], p["output_tokens_per_second"], p["ttft_p99_ms"])
PY
gnuplot <<GP
set terminal pngcairo size 900,520 font "sans,11"
set output "$out"
set title "Loraplex: adapter-count sweep (power law alpha = 1, 16 device slots)"
set logscale x 2
set xlabel "distinct adapters in the workload"
set ylabel "output tokens / s"
set y2label "p99 time to first token (ms)"
set ytics nomirror
set y2tics
set yrange [0:*]
set y2range [0:*]
set xrange [0.8:700]
set xtics (1, 8, 64, 512)
set grid
set key bottom left
plot "$data" using 1:2 with linespoints lw 2 pt 7 title "throughput (tokens/s)", \
     "$data" using 1:3 axes x1y2 with linespoints lw 2 pt 5 dt 2 title "p99 TTFT (ms)"
GP
echo "plot_sweep: wrote $out" >&2
