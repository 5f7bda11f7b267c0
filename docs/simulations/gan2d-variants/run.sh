#!/usr/bin/env bash
# The gan2d variant (issue 33): the big-learning arm with another share of joint tasks, 5 seeds, 20,000 steps of
# the chosen `sharp` setup, one thread, in order. The control (0.2) draws the five task kinds as the default does,
# through the same code path as the others. Re-running skips finished runs and resumes an unfinished one.
# From the repository root:
#   nohup bash docs/simulations/gan2d-variants/run.sh ~/runs/gan2d-variants > ~/runs/gan2d-variants.log 2>&1 &
# then: python docs/simulations/gan2d-variants/table.py ~/runs/gan2d-variants > docs/simulations/gan2d-variants/variants.md
set -euo pipefail
runs=${1:?usage: run.sh RUNS_DIR}
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
for share in 0.2 0.05 0.5; do
  out="$runs/joint-share-$share"
  [[ -f $out/metrics.json ]] && continue
  resume=()
  compgen -G "$out/state*.safetensors" > /dev/null && resume=(--resume)
  echo "[variants] $(date -u +%H:%M) joint share $share"
  python -m biglearn.sims gan2d --arms biglearn --seeds 5 --iters 20000 --joint-share "$share" --out "$out" \
    "${resume[@]}"
done
echo "[variants] $(date -u +%H:%M) all done"
