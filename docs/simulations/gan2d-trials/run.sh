#!/usr/bin/env bash
# The gan2d setup trials (issue 33): the plain GAN on 2 seeds under candidate setups, one thread, in order.
# Re-running skips finished trials and resumes an unfinished one. Usage, from the repository root:
#   nohup bash docs/simulations/gan2d-trials/run.sh ~/runs/gan2d-trials > ~/runs/gan2d-trials.log 2>&1 &
# then: python docs/simulations/gan2d-trials/table.py ~/runs/gan2d-trials > docs/simulations/gan2d-trials/trials.md
set -euo pipefail
runs=${1:?usage: run.sh RUNS_DIR}
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
trial() {  # NAME, then the sims flags
  local name=$1; shift
  local out="$runs/$name"
  [[ -f $out/metrics.json ]] && return 0
  local resume=()
  [[ -f $out/state.pt ]] && resume=(--resume)
  echo "[trials] $(date -u +%H:%M) $name: $*"
  python -m biglearn.sims gan2d --setup small --arms plain --seeds 2 --eval-every 1000 --out "$out" "${resume[@]}" "$@"
}
trial mlp-today        --iters 30000
trial mlp-adam1e-4     --iters 30000 --lr 1e-4 --beta1 0.8 --beta2 0.999
trial mlp-adam1e-4-noR1 --iters 30000 --lr 1e-4 --beta1 0.8 --beta2 0.999 --r1 0
trial mlp-batch1024    --iters 15000 --batch 1024
trial mlp-256x3-adam1e-4 --iters 20000 --hidden 256 --lr 1e-4 --beta1 0.8 --beta2 0.999
trial pacgan           --iters 20000 --setup pacgan
# the winner of the above, longer: the chosen `sharp` setup (6 Dec)
trial mlp-adam1e-4-noR1-60k --iters 60000 --lr 1e-4 --beta1 0.8 --beta2 0.999 --r1 0
echo "[trials] $(date -u +%H:%M) all done"
