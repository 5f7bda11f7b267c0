#!/bin/bash
# one prepared GPU check: precision per preset, the full bench, trainer + evaluate end to end, the test suite
export PYTHONUNBUFFERED=1
D=.devdata
nvidia-smi -L; python3 -c "import torch, sys; print(sys.version.split()[0], torch.__version__, torch.cuda.get_device_name())"
echo "== precision"; timeout 140 python3 -m bench.precision --device cuda --out $OUT/precision.json > $OUT/precision.txt 2>&1; echo rc=$?; tail -n 9 $OUT/precision.txt
echo "== trainer"; ( timeout 60 python3 -m train --data $D/mnist_train.npz --holdout 5000 --preset mnist-cpu --device cuda --steps 300 --checkpoint-every 150 --keep-every 150 --out /tmp/r 2>&1 | tail -n 4; echo rc=$?
  timeout 40 python3 -m train --data $D/mnist_train.npz --holdout 5000 --preset mnist-cpu --device cuda --steps 400 --checkpoint-every 150 --out /tmp/r --resume 2>&1 | tail -n 3; echo rc=$?
  timeout 80 python3 -m train.evaluate assets/mnist-cpu.safetensors --device cuda --quick --split val --holdout 5000 --train-data $D/mnist_train.npz --data $D/mnist_test.npz --ood-data $D/fashion_mnist_test.npz --out $OUT/eval-cuda --no-progress 2>&1 | tail -n 25; echo rc=$? ) > $OUT/trainer.txt 2>&1; cat $OUT/trainer.txt | tail -n 40
echo "== tests"; timeout 110 python3 -m pytest -q -n 8 -p no:cacheprovider --continue-on-collection-errors --timeout 120 tests -rfE > $OUT/pytest.txt 2>&1; echo rc=$?; tail -n 40 $OUT/pytest.txt
echo "== bench"; timeout 140 python3 -m bench --device cuda --out $OUT/bench-cuda.json > $OUT/bench.txt 2>&1; echo rc=$?; tail -n 60 $OUT/bench.txt
