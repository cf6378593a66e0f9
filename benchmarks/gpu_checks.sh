#!/usr/bin/env bash
# The CUDA checks of distributed training, for a machine with a GPU (run from the repository root):
#   1. training images/s at 512x512, fp32 vs AMP vs AMP+compile, unet-small and a timm-encoder U-Net;
#   2. a 1-rank NCCL run through torchrun (process group, DDP, SyncBatchNorm) and the same run in one plain
#      process: the two checkpoints' largest weight difference.
# Results go to ${OUT:-/tmp/segen-gpu}; PYTHON picks the interpreter (default: python3 with segen installed).
set -euo pipefail
PYTHON=${PYTHON:-python3}
OUT=${OUT:-/tmp/segen-gpu}
mkdir -p "$OUT"
"$PYTHON" -c "import torch; assert torch.cuda.is_available(), 'no CUDA GPU'; print(torch.cuda.get_device_name())" \
    | tee "$OUT/device.txt"

"$PYTHON" benchmarks/bench_train_paths.py --device cuda --size 512 --batch 8 --steps 20 --warmup 5 --rounds 3 \
    --out "$OUT/train_paths.json" | tee "$OUT/train_paths.txt"

data="$OUT/data"
"$PYTHON" - "$data" <<'EOF'
import sys
from pathlib import Path
from segen.data.synthetic import SyntheticSpec, write_folder_dataset
write_folder_dataset(Path(sys.argv[1]), SyntheticSpec(128, 128, num_classes=4), seed=0, splits={"train": 32, "val": 5})
EOF
common=(seg train --data "$data" --model unet-small --image-size 128 128 --batch-size 8 --epochs 2 --device cuda
        --precision fp32 --quiet)
"$PYTHON" -m torch.distributed.run --standalone --nproc-per-node 1 -m segen -- "${common[@]}" --out "$OUT/nccl"
"$PYTHON" -m torch.distributed.run --standalone --nproc-per-node 1 -m segen -- "${common[@]}" --sync-bn \
    --out "$OUT/nccl-syncbn"
"$PYTHON" -m segen "${common[@]}" --out "$OUT/plain"
"$PYTHON" - "$OUT" <<'EOF' | tee "$OUT/nccl.txt"
import sys
from pathlib import Path
from segen.checkpoint import load_checkpoint
out = Path(sys.argv[1])
plain = load_checkpoint(out / "plain" / "last.pt").model.weights
for run in ("nccl", "nccl-syncbn"):
    other = load_checkpoint(out / run / "last.pt").model.weights
    diff = max(float((plain[k].double() - other[k].double()).abs().max()) for k in plain)
    print(f"{run}: max weight difference to the plain run {diff:.3g}")
EOF
