#!/usr/bin/env bash
# The gan2d variant (issue 33): the big-learning arm with another share of joint tasks, 5 seeds, 20,000 steps of
# the chosen `sharp` setup, one thread, in order (about 30 minutes a share here). The control is the full run's
# biglearn arm at step 20,000 (the default draws the five task kinds uniformly: a share of 0.2); a run of 0.2
# through this code path, last, checks that. Re-running skips finished runs and resumes an unfinished one.
# From the repository root:
#   nohup bash docs/simulations/gan2d-variants/run.sh ~/runs/gan2d-variants > ~/runs/gan2d-variants.log 2>&1 &
# then: python docs/simulations/gan2d-variants/table.py ~/runs/gan2d-variants > docs/simulations/gan2d-variants/variants.md
set -euo pipefail
runs=${1:?usage: run.sh RUNS_DIR}
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
for share in 0.5 0.05 0.2; do
  out="$runs/joint-share-$share"
  [[ -f $out/metrics.json ]] && continue
  resume=()
  compgen -G "$out/state*.safetensors" > /dev/null && resume=(--resume)
  echo "[variants] $(date -u +%H:%M) joint share $share"
  python -m biglearn.sims gan2d --arms biglearn --seeds 5 --iters 20000 --joint-share "$share" --out "$out" \
    "${resume[@]}"
done
echo "[variants] $(date -u +%H:%M) all done"
