#!/usr/bin/env bash
# The claims across compute (issue 32), stage by stage: one preset, budget (counted training FLOPs), seed and set of
# arms per stage; every arm trained on one thread (`--threads 1`; PARALLEL=2 trains two arms of a stage at once,
# for one lane on both cores: a long stage's rows then land in half the time), scored once on the test set, its rows
# merged into docs/claims/scaling.json, and its plateau curve (8 snapshots over the run, scored on the validation
# split) written to docs/claims/curves/STAGE/ARM (tidied by tidy_curves.py). Re-running skips finished stages and
# resumes an unfinished one. Two copies may run at once (two lanes, one thread each): a stage is claimed with a lock
# that dies with its process, so each copy takes the next stage nobody is running. An unfinished stage's carry (each
# arm's inference and resume files, a few MB) is kept in docs/claims/carry/STAGE by `keep` below, because run
# folders outside the tree have not always survived between sessions.
# From the repository root (a second lane: the same command again, appending to another log):
#   nohup bash docs/claims/continue.sh ~/runs/scaling > ~/runs/scaling.log 2>&1 &
#   bash docs/claims/continue.sh ~/runs/scaling keep     # before a session ends: copy the carry into the tree
#   touch ~/runs/scaling/stop    # lanes start no further stage (the one they are in goes on); rm it to go on
# then `python -m train.scaling` makes docs/claims/scaling.md from the rows.
set -euo pipefail
runs=${1:?usage: continue.sh RUNS_DIR [keep]}
mode=${2:-run}
parallel=${PARALLEL:-1}
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
data=(--data ../shared/data/mnist_train.npz --test-data ../shared/data/mnist_test.npz
      --ood-data ../shared/data/fashion_mnist_test.npz --classifier assets/eval_classifier.safetensors)
all=biglearn,biglearn-no-comm,joint,mae,supervised,biglearn-missing-0.5
core=biglearn,joint,mae,supervised
side=biglearn-no-comm,biglearn-missing-0.5

landed() {  # STAGE ARMS: every arm's plateau curve is in the tree, so the stage's rows are merged (its run folder may be gone)
  local arm
  for arm in ${2//,/ }; do [[ -d docs/claims/curves/$1/$arm ]] || return 1; done
}

stage() {  # PRESET BUDGET SEED ARMS [TAG]: TAG names a second stage of other arms at the same budget and seed
  local name="$1-$2-s$3${5:+-$5}"
  local out="$runs/$name" carry="docs/claims/carry/$name"
  if [[ $mode == keep ]]; then
    [[ -d $out && ! -f $out/done ]] || return 0
    for arm in "$out"/*/; do
      arm=$(basename "$arm")
      [[ -f $out/$arm/model.safetensors ]] || continue
      mkdir -p "$carry/$arm"
      cp "$out/$arm"/{model.safetensors,metrics.jsonl,flops.json} "$carry/$arm/" 2>/dev/null || true
      # the snapshots so far (1.2 MB each for mnist-small): the arm's plateau curve is scored from them at the end
      [[ -d $out/$arm/snapshots ]] && rm -rf "$carry/$arm/snapshots" && cp -r "$out/$arm/snapshots" "$carry/$arm/"
      # a finished arm needs no resume file (5 MB): only its inference file (one stopped by a signal does)
      if ! grep -q '"stopped_by": "steps"' "$out/$arm/train.log" 2>/dev/null && [[ -f $out/$arm/resume.safetensors ]]; then
        cp "$out/$arm/resume.safetensors" "$carry/$arm/"
      fi
    done
    return 0
  fi
  [[ -f $out/done ]] && return 0
  landed "$name" "$4" && return 0
  [[ -f $runs/stop ]] && return 0
  local lock; mkdir -p "$runs"
  exec {lock}>"$runs/$name.lock"
  flock -n "$lock" || { exec {lock}>&-; return 0; }  # another lane is running it
  if [[ -d $carry ]]; then  # the tree's carry where the run folder was lost
    for arm in "$carry"/*/; do
      arm=$(basename "$arm")
      [[ -f $out/$arm/model.safetensors ]] || { mkdir -p "$out/$arm"; cp -r "$carry/$arm/." "$out/$arm/"; }
    done
  fi
  echo "[study] $(date -u +%H:%M) $name: $4"
  python -m train.compare --preset "$1" --budget-flops "$2" --seed "$3" --arms "$4" --parallel "$parallel" --threads 1 \
    --snapshots 8 --runs "$out" --doc "$out/claims.md" "${data[@]}"
  flock "$runs/scaling-json.lock" python - "$out/claims/scaling.json" "$runs" <<'PY'
import json
import sys
from pathlib import Path
from train.scaling import merge_rows, read_rows
# the rows name their checkpoints: as RUNS/..., not by this machine's folder
text = json.dumps(read_rows(Path(sys.argv[1]))).replace(str(Path(sys.argv[2]).resolve()) + "/", "RUNS/")
merge_rows(Path("docs/claims/scaling.json"), json.loads(text))
PY
  for arm in ${4//,/ }; do
    if compgen -G "$out/$arm/snapshots/*.safetensors" > /dev/null; then
      python -m train.curve "$out/$arm"/snapshots/*.safetensors "$out/$arm/model.safetensors" \
        --out "docs/claims/curves/$name/$arm" --split val --train-data ../shared/data/mnist_train.npz \
        --holdout 5000 --classifier assets/eval_classifier.safetensors
      python docs/claims/tidy_curves.py "$runs" "docs/claims/curves/$name/$arm"  # ~20 KB, no machine paths
    fi
  done
  rm -rf "$carry"
  touch "$out/done"
  exec {lock}>&-
}

# the smallest budgets first (seeded), so that each session lands whole stages; 5.4e12 to 8.6e13 spans 16x
for seed in 0 1 2; do stage mnist-small 2.15e13 $seed $all; done
for seed in 0 1 2; do stage mnist-small 5.4e12 $seed $all; done
for seed in 0 1 2; do stage mnist-small 8.6e13 $seed $core; done
for seed in 0 1 2; do stage mnist-small 8.6e13 $seed $side side; done
stage mnist-cpu 2.15e13 0 $all
stage mnist-cpu 8.6e13 0 $core
stage mnist-cpu 3.4e14 0 $core
[[ $mode == keep ]] || echo "[study] $(date -u +%H:%M) no stage left for this lane"
