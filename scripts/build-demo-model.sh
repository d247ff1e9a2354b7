#!/usr/bin/env bash
# Rebuilds models/demo/: corpora from Debian packages, a byte-level BPE
# tokenizer, a small Llama base model and one LoRA adapter per domain
# (scripture, fortunes, code), then measures held-out perplexity and
# samples text. See models/demo/README.md for what it produced.
#
# Needs: the packages bible-kjv (+ bible-kjv-text), fortunes, fortunes-min,
# libpython3.11-stdlib; a build with loraplex-train and loraplex
# (cmake --build <dir> --target loraplex-train loraplex).
#
# Usage: scripts/build-demo-model.sh [stage...]
#   stages: corpus tokenizer base lora eval samples (default: all, in order)
# Environment:
#   LORAPLEX_BUILD  build directory with the binaries (default: build)
#   WORK            scratch directory for corpora/tokenizer (default: build-demo)
#   THREADS         LibTorch threads (default: 2)
#   NICE            nice level for training (default: 10)
set -euo pipefail

cd "$(dirname "$0")/.."
LORAPLEX_BUILD=${LORAPLEX_BUILD:-build}
WORK=${WORK:-build-demo}
THREADS=${THREADS:-2}
NICE=${NICE:-10}
DEMO=models/demo
TRAIN="nice -n $NICE $LORAPLEX_BUILD/tools/train/loraplex-train"
DOMAINS=(scripture fortunes code)
HELDOUT_BYTES=12000   # Tail of each domain kept out of every training run.

# Training recipe (measured on a 2-core CPU; see the README).
VOCAB=4096
SEQ_LEN=128
BASE_STEPS=${BASE_STEPS:-1500}
BASE_BATCH=16
BASE_LR=2e-3
LORA_STEPS=${LORA_STEPS:-300}
LORA_BATCH=16
LORA_RANK=16
LORA_ALPHA=32
LORA_LR=2e-3
SEED=1234

stage_corpus() {
  mkdir -p "$WORK/raw" "$WORK/train" "$DEMO/heldout"
  # Scripture: the King James Bible, one verse per line, verse numbers cut.
  bible -l 100000 gen1:1-rev22:21 | sed -E -n 's/^ +[0-9]+ //p' \
    > "$WORK/raw/scripture.txt"
  # Fortunes: every cookie file of fortunes + fortunes-min, '%' lines
  # (cookie separators) as blank lines.
  find /usr/share/games/fortunes -maxdepth 1 -type f ! -name '*.dat' \
    ! -name '*.u8' | LC_ALL=C sort | xargs cat | sed -E 's/^%$//' \
    > "$WORK/raw/fortunes.txt"
  # Code: the top-level modules of Python 3.11's standard library.
  LC_ALL=C ls /usr/lib/python3.11/*.py | xargs cat > "$WORK/raw/code.txt"
  for d in "${DOMAINS[@]}"; do
    local raw="$WORK/raw/$d.txt"
    iconv -f utf-8 -t utf-8 "$raw" > /dev/null  # Fails on invalid UTF-8.
    # Split at a line boundary: the last ~HELDOUT_BYTES bytes are held out.
    local total keep
    total=$(wc -c < "$raw")
    keep=$(head -c $((total - HELDOUT_BYTES)) "$raw" | wc -l)
    head -n "$keep" "$raw" > "$WORK/train/$d.txt"
    tail -n +"$((keep + 1))" "$raw" > "$DEMO/heldout/$d.txt"
    echo "$d: $(wc -c < "$WORK/train/$d.txt") training bytes," \
         "$(wc -c < "$DEMO/heldout/$d.txt") held out"
  done
}

stage_tokenizer() {
  $TRAIN tokenizer --corpus "$WORK"/train/*.txt --vocab-size $VOCAB \
    --out "$WORK/tokenizer"
}

stage_base() {
  $TRAIN base --corpus "$WORK"/train/*.txt --tokenizer "$WORK/tokenizer" \
    --config "$DEMO/small.json" --steps "$BASE_STEPS" --seq-len $SEQ_LEN \
    --batch-size $BASE_BATCH --lr $BASE_LR --warmup 100 --weight-decay 0.1 \
    --seed $SEED --checkpoint-every 250 --resume --threads "$THREADS" \
    --eval-fraction 0.01 --out "$DEMO"
  rm -rf "$DEMO/checkpoint"
}

stage_lora() {
  for d in "${DOMAINS[@]}"; do
    $TRAIN lora --base "$DEMO" --base-model-name "loraplex/demo" \
      --corpus "$WORK/train/$d.txt" --rank $LORA_RANK --alpha $LORA_ALPHA \
      --targets q,k,v,o,gate,up,down --steps "$LORA_STEPS" --seq-len $SEQ_LEN \
      --batch-size $LORA_BATCH --lr $LORA_LR --warmup 20 --seed $SEED \
      --threads "$THREADS" --eval-fraction 0.01 --out "$DEMO/adapters/$d"
    rm -rf "$DEMO/adapters/$d/checkpoint"
  done
}

# Markdown table: perplexity of base and each adapter on each held-out file.
stage_eval() {
  local header="| model |" rule="|---|"
  for d in "${DOMAINS[@]}"; do header+=" $d |"; rule+="---:|"; done
  echo "$header"
  echo "$rule"
  for m in base "${DOMAINS[@]}"; do
    local row="| $m |" adapter=()
    [ "$m" != base ] && adapter=(--adapter "$DEMO/adapters/$m")
    for d in "${DOMAINS[@]}"; do
      local ppl
      ppl=$($TRAIN eval --model "$DEMO" "${adapter[@]}" \
        --text "$DEMO/heldout/$d.txt" --threads "$THREADS" |
        sed -E 's/.*"perplexity": ([0-9.]+).*/\1/')
      row+=" $ppl |"
    done
    echo "$row"
  done
}

# Greedy continuations of the same prompts from the base and each adapter.
stage_samples() {
  local prompts=("And the" "The best way to" "def ")
  local requests="" id=0
  for m in base "${DOMAINS[@]}"; do
    for p in "${prompts[@]}"; do
      local adapter=""
      [ "$m" != base ] && adapter="$m"
      requests+="{\"id\": \"$m: $p\", \"adapter\": \"$adapter\", \"prompt\": \"$p\", \"max_new_tokens\": 40, \"temperature\": 0}"$'\n'
      id=$((id + 1))
    done
  done
  printf '%s' "$requests" | "$LORAPLEX_BUILD/tools/cli/loraplex" batch \
    --model "$DEMO" --device cpu --threads "$THREADS" \
    --adapter scripture="$DEMO/adapters/scripture" \
    --adapter fortunes="$DEMO/adapters/fortunes" \
    --adapter code="$DEMO/adapters/code"
}

stages=("$@")
[ ${#stages[@]} -eq 0 ] && stages=(corpus tokenizer base lora eval samples)
for s in "${stages[@]}"; do
  echo "== $s" >&2
  "stage_$s"
done
