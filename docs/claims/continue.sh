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

finished() {  # ARM_DIR: the arm's last run ended at its budget (not stopped by a signal)
  [[ $(grep -o '"stopped_by": "[a-z]*"' "$1/train.log" 2>/dev/null | tail -n 1) == '"stopped_by": "steps"' ]]
}

carry_arm() {  # ARM_DIR CARRY_DIR [resume]: an arm's inference file, logs and snapshots (and its resume file)
  mkdir -p "$2"
  cp "$1"/{model.safetensors,metrics.jsonl,flops.json} "$2/" 2>/dev/null || true
  # the snapshots so far (1.2 MB each for mnist-small): the arm's plateau curve is scored from them at the end
  [[ -d $1/snapshots ]] && rm -rf "$2/snapshots" && cp -r "$1/snapshots" "$2/"
  if [[ ${3:-} == resume ]]; then
    [[ -f $1/resume.safetensors ]] && cp "$1/resume.safetensors" "$2/"
  else  # finished: its log's last line (so that `finished` knows it once restored; the log's others name this
    # machine's folders), and no resume file kept from an earlier carry
    grep '"stopped_by"' "$1/train.log" 2>/dev/null | tail -n 1 > "$2/train.log" || true
    rm -f "$2/resume.safetensors"
  fi
  return 0
}

# PRESET BUDGET SEED ARMS [TAG] [FROM] [FROM_TAG]: TAG names a second stage of other arms at the same budget and
# seed; FROM, a smaller budget of the same seed whose runs (its stage tagged FROM_TAG) the arms train on from
# (train.compare --extend-from) once they have finished there, or from scratch where that stage landed without them
stage() {
  local name="$1-$2-s$3${5:+-$5}"
  local out="$runs/$name" carry="docs/claims/carry/$name"
  local source=${6:+$runs/$1-$6-s$3${7:+-$7}}  # the smaller budget's runs this stage trains on from
  local arm
  if [[ $mode == keep ]]; then
    [[ ! -f $out/done ]] && ! landed "$name" "$4" || return 0
    for arm in ${4//,/ }; do
      if [[ -f $out/$arm/model.safetensors ]]; then
        # a finished arm needs no resume file (5 MB): only its inference file (one stopped by a signal does)
        carry_arm "$out/$arm" "$carry/$arm" "$(finished "$out/$arm" || echo resume)"
      elif [[ -n $source ]] && finished "$source/$arm" && [[ -f $source/$arm/resume.safetensors ]]; then
        carry_arm "$source/$arm" "$carry/$arm" resume  # not started here: the state it will go on from
      fi
    done
    return 0
  fi
  [[ -f $out/done ]] && return 0
  landed "$name" "$4" && return 0
  [[ -f $runs/stop ]] && return 0
  local extend=()
  if [[ -n $source ]]; then  # the arms not started here (nor in the carry) go on from their source's runs
    local ready=1 fresh=0
    for arm in ${4//,/ }; do
      [[ -f $out/$arm/resume.safetensors || -f $carry/$arm/resume.safetensors ]] && continue
      fresh=1
      finished "$source/$arm" && [[ -f $source/$arm/resume.safetensors ]] || ready=0
    done
    if ((fresh && ready)); then
      extend=(--extend-from "$source")
    elif ((fresh)) && [[ ! -f $source/done ]] && ! landed "$(basename "$source")" "$4"; then
      return 0  # its source is still training (another lane): come back to it
    fi  # else the source landed without its resume files (its run folder lost): from scratch
  fi
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
    --snapshots 8 --runs "$out" --doc "$out/claims.md" "${data[@]}" ${extend[@]+"${extend[@]}"}
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
# big learning and the joint GAN had not reached their plateau at 8.6e13 (FD still falling over the second half in
# seed 1, and big learning's acc@0.5 in both seeds; mae and supervised had): they train on, each seed from its 8.6e13
# run (the presets' learning rate is constant: the same run as from scratch)
for seed in 1 2 0; do stage mnist-small 1.7e14 $seed biglearn,joint "" 8.6e13; done
# 3.4e14 only for those still improving at 1.7e14 in some seed: an arm is decided as soon as one seed's curve there is
# still improving, one flat so far once all three seeds have landed (keep, while undecided: the source states of both,
# so that a lost run folder costs no retraining)
if beyond=$(python -m train.plateau mnist-small 1.7e14 biglearn,joint --seeds 3) ||
   { [[ $mode == keep ]] && beyond=biglearn,joint; }; then
  [[ -z $beyond ]] || for seed in 1 2 0; do stage mnist-small 3.4e14 $seed "$beyond" "" 1.7e14; done
fi
# beyond 3.4e14 arm by arm (a stage per arm, tagged with its name: an arm decided now need not wait for the other), each
# budget as soon as one seed's curve at the one below is still improving: at 3.4e14 big learning's in seed 1 was, the
# joint GAN's in seeds 1 and 2; at 6.8e14 big learning's in seeds 2 and 0
beyond() {  # FROM TO SEED...: those seeds' stages at TO, each going on from its run at FROM
  local from=$1 to=$2 arm more seed tag
  shift 2
  for arm in biglearn joint; do
    if more=$(python -m train.plateau mnist-small "$from" $arm --seeds 3) || { [[ $mode == keep ]] && more=$arm; }; then
      tag=$([[ $from == 3.4e14 ]] || echo $arm)  # 3.4e14's stages trained both arms together (untagged)
      [[ -z $more ]] || for seed in "$@"; do stage mnist-small "$to" $seed $arm $arm "$from" "$tag"; done
    fi
  done
}
beyond 3.4e14 6.8e14 2 0
# the side arms at 8.6e13 before seed 1 at 6.8e14: seed 1's 3.4e14 runs were lost with their folder before that
# stage existed, so it trains from scratch (16 hours of one thread on the Zen 3 EPYC, 8 on the Xeon in bf16), and
# the side arms' six runs (about 8 hours) give claim (i) and communication a third budget sooner
for seed in 0 1 2; do stage mnist-small 8.6e13 $seed $side side; done
beyond 6.8e14 1.4e15 2 0
beyond 3.4e14 6.8e14 1
beyond 6.8e14 1.4e15 1
stage mnist-cpu 2.15e13 0 $all
stage mnist-cpu 8.6e13 0 $core
stage mnist-cpu 3.4e14 0 $core
[[ $mode == keep ]] || echo "[study] $(date -u +%H:%M) no stage left for this lane"
