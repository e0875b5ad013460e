#!/usr/bin/env bash
# The GPU check on the lent GPU machine: `make gpu-check GPU_OUT=DIR` runs this.
#   bash benchmarks/gpu_check.sh OUT_DIR [more benchmarks/gpu_check.py arguments]
# That machine has python3 with torch but not this project's other needs and no network, and
# a call carries at most 64 MiB, so `make gpu-carry` split what it needs in two (DEVELOPERS.md,
# "Running the GPU check"): call 1 copied gpu-carry/call1 (GGUF part 1, GSM8K) to /tmp/carry;
# this is call 2, which carries gpu-carry/call2 (GGUF part 2, wheels).
set -euo pipefail
out=${1:?usage: bash benchmarks/gpu_check.sh OUT_DIR [gpu_check.py arguments]}
shift
first=${GPU_CARRY_FIRST:-/tmp/carry}
second=${GPU_CARRY_SECOND:-gpu-carry/call2}
python=${PYTHON:-python3}

if [ ! -f "$first/smollm2.gguf.xz.part1" ] || [ ! -f "$second/smollm2.gguf.xz.part2" ]; then
  echo "gpu_check.sh: needs $first/smollm2.gguf.xz.part1 (call 1) and $second/smollm2.gguf.xz.part2" \
       "(this call's carry); a machine idle for 30 s is given back with /tmp, so make the two" \
       "calls back to back (DEVELOPERS.md, \"Running the GPU check\")" >&2
  exit 3
fi
# The project's pins that the machine lacks or has older (transformers 5.17 predates the
# `cache` output field the sampler reads), beside its own packages, never over them.
"$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
  --target /tmp/site "$second"/wheels/*.whl
export PYTHONPATH="/tmp/site:$PWD" PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TQDM_DISABLE=1 \
  TOKENIZERS_PARALLELISM=false
mkdir -p "$out"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
"$python" benchmarks/gpu_check.py --out "$out" \
  --gguf "$first/smollm2.gguf.xz.part1" "$second/smollm2.gguf.xz.part2" \
  --gsm8k-train "$first/gsm8k/train.jsonl.gz" --gsm8k-test "$first/gsm8k/test.jsonl.gz" \
  "$@" 2>&1 | tee "$out/gpu-check.log"
