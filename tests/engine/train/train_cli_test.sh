#!/usr/bin/env bash
# ctest train.cli: `loraplex-train compress`, `extract` and `lora --init`
# through the built binary — exit codes, reports, files.
#   train_cli_test.sh LORAPLEX_TRAIN TEST_DATA_DIR DEMO_MODEL_DIR
set -uo pipefail
bin=$1
model=$2/fixtures/hf-dev/llama-gqa/model
adapter=$2/fixtures/hf-dev/llama-gqa/adapters/all-r16
demo=$3
work=$(mktemp -d "${TMPDIR:-/tmp}/loraplex-train-cli-XXXXXX")
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

report=$("$bin" compress --adapter "$adapter" --rank 4 --out "$work/c4" --json) ||
  fail "compress --rank 4 exited $?"
[[ $report == *'"max_rank_out": 4'* ]] || fail "compress report: $report"
[[ -s $work/c4/adapter_model.safetensors && -s $work/c4/adapter_config.json ]] ||
  fail "compress wrote no adapter"
grep -q '"r": 4' "$work/c4/adapter_config.json" || fail "compressed config: r is not 4"

"$bin" compress --adapter "$adapter" --rank 4 --energy 0.5 --out "$work/x" 2>"$work/err"
rc=$?
((rc == 2)) || fail "compress with --rank and --energy exited $rc, not 2"
grep -q "exactly one of --rank and --energy" "$work/err" || fail "usage message: $(cat "$work/err")"

"$bin" compress --adapter "$work/missing" --rank 4 --out "$work/x" 2>"$work/err"
rc=$?
((rc == 1)) || fail "compress of a missing adapter exited $rc, not 1"

# The fixture model against itself: nothing changed, nothing to carry.
report=$("$bin" extract --base "$model" --tuned "$model" --rank 2 --targets q,v \
  --out "$work/e" --json) || fail "extract exited $?"
[[ $report == *'"changed_untargeted": []'* ]] || fail "extract report: $report"
grep -q '"target_modules"' "$work/e/adapter_config.json" || fail "extract wrote no config"

"$bin" extract --base "$model" --tuned "$model" --energy 0.9 --svd randomized \
  --out "$work/x" 2>"$work/err"
rc=$?
((rc == 1)) || fail "extract --energy --svd randomized exited $rc, not 1"

# PiSSA: a rank-r run writes a rank-2r adapter of the unchanged base.
"$bin" lora --base "$demo" --corpus "$demo/heldout/code.txt" --init svd \
  --out "$work/x" 2>"$work/err"
rc=$?
((rc == 2)) || fail "lora --init svd exited $rc, not 2"
grep -q -- "--init must be default or pissa" "$work/err" || fail "usage message: $(cat "$work/err")"
"$bin" lora --base "$demo" --corpus "$demo/heldout/code.txt" --init pissa \
  --rank 2 --alpha 4 --targets q,v --steps 2 --seq-len 32 --batch-size 2 \
  --eval-fraction 0.1 --quiet --out "$work/p" >"$work/out" ||
  fail "lora --init pissa exited $?"
grep -q '"r": 4' "$work/p/adapter_config.json" || fail "PiSSA adapter: r is not 4"
grep -q 'rank-4 LoRA of the unchanged base' "$work/out" || fail "lora output: $(cat "$work/out")"
echo "OK"
