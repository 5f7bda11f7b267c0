#!/bin/bash
# job.sh NAME PRECISION SEED KIND(scratch|cont): one parity arm, resumable; then its validation scores (quick sizes)
set -u
name=$1; prec=$2; seed=$3; kind=$4
cd "$(dirname "$0")/../../.."   # the repository root
D=../shared/data/mnist_train.npz
out=~/runs/parity/$name
common="--data $D --out $out --preset mnist-cpu --seed $seed --holdout 5000 --checkpoint-every 250 --probe-every 0 --sample-every 0 --log-every 50 --precision $prec"
if [ $kind = scratch ]; then
  extra="--steps 3000"
else
  extra="--steps 1000 --label-weight 4 --lr-g 1e-4 --lr-d 1e-4 --lr-decay 0.5 --warmup-steps 200 --ema-rampup 0 --diversity-weight 2.5 --diversity-labelled off --ema-decay 0.9995"
  [ -f $out/resume.safetensors ] || extra="$extra --init-from docs/results/label-w4/carry_0010140.safetensors"
fi
resume=""; [ -f $out/resume.safetensors ] && resume="--resume"
if [ ! -f $out/done ]; then
  OMP_NUM_THREADS=1 python -m train $common $extra $resume >> ~/runs/parity/$name.log 2>&1 && touch $out/done
fi
if [ -f $out/done ] && [ ! -f $out/eval/metrics.json ]; then
  OMP_NUM_THREADS=1 python -m train.evaluate $out/model.safetensors --split val --quick --out $out/eval --no-progress >> ~/runs/parity/$name.eval.log 2>&1
fi
