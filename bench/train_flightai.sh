#!/usr/bin/env sh
# Rebuild the FlightAI tool-use model: LoRA on the shipped Qwen2.5-Coder-0.5B-Instruct GGUF,
# merged, exported to models/flightai-qwen-{f16,q4_k_m}.gguf. One command, from the repo root:
#     sh bench/train_flightai.sh    (STOP_AFTER=minutes caps the training time, MAX_STEPS=n the steps)
# Then measure base vs tuned on the held-out test split:
#     python bench/tool_use.py --model qwen2.5-coder-0.5b-instruct
#     python bench/tool_use.py --model models/flightai-qwen-q4_k_m.gguf
set -e
PY=${PY:-.venv/bin/python}
$PY bench/flightai/make_flightai.py
$PY cli.py lora bench/flightai/flightai_train.jsonl \
  --base qwen2.5-coder-0.5b-instruct --name "${NAME:-flightai-qwen}" \
  --rank 16 --alpha 32 --dropout 0.05 \
  --targets q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj \
  --lr 3e-4 --epochs 1 --max-length 1024 --batch 1 --threads "${THREADS:-2}" --seed 42 \
  --val-fraction 0.05 --eval-points 2 --stop-after "${STOP_AFTER:-0}" --max-steps "${MAX_STEPS:--1}" \
  --export Q4_K_M
