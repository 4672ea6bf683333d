#!/usr/bin/env bash
# The one prepared GPU session (chapter 14, `python -m crate_mae.gpu session`): the book's model on all of
# CIFAR-10, the Tables 5/6 sweep, the MFU variants of CRATE-MAE-B at 224, in that order, each writing its
# results under $OUT as it ends. Two steps, from the repository root:
#
#   1. here, on the CPU machine, once:   bash bench/gpu_session.sh prepare
#      packs CIFAR-10's training set into .carry/ (WebP q90, ~28 MiB) and downloads the fastcore wheel into
#      .whl/ (the device has every other dependency); both folders are git-ignored.
#   2. on the device (one call of the device tool, about 9 minutes):
#      run(command="bash bench/gpu_session.sh", carry=[".carry", ".whl"], timeout_s=600)
#
# Extra arguments go to the session, e.g. `bash bench/gpu_session.sh --set batch_size=1024 --parts model,sweep`.
# Afterwards, here: copy the returned files to bench/results/<device>_<date>/ and run
#   python -m crate_mae.gpu evaluate bench/results/<device>_<date> --data-root /work/shared/data
set -uo pipefail
PACKED=.carry/cifar10_train.webp90.npz

if [ "${1:-}" = prepare ]; then
  set -e
  PY=${PYTHON:-python}
  SRC=${CIFAR10_TRAIN:-/work/shared/data/cifar10/train.npz}
  [ -f "$PACKED" ] || $PY -m crate_mae.gpu pack "$SRC" "$PACKED"
  V=$($PY -c "import fastcore; print(fastcore.__version__)")
  ls .whl/fastcore-"$V"-*.whl >/dev/null 2>&1 || $PY -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d .whl "fastcore==$V"
  # what travels: tracked and untracked-not-ignored files, plus the carried folders (at most 64 MiB)
  BYTES=$( { git ls-files -z --cached --others --exclude-standard | xargs -0 stat -c %s 2>/dev/null; \
             find .carry .whl -type f -exec stat -c %s {} +; } | awk '{s += $1} END {print s}')
  echo "prepared: $(ls .carry .whl | tr '\n' ' ')"
  echo "travels: $((BYTES / 1048576)) MiB of 64"
  [ "$BYTES" -lt 67108864 ] || { echo "too large for the device"; exit 1; }
  echo 'device call: run(command="bash bench/gpu_session.sh", carry=[".carry", ".whl"], timeout_s=600)'
  exit 0
fi

OUT=${OUT:-/tmp/gpu_out}; mkdir -p "$OUT"
[ -f "$PACKED" ] || { echo "missing $PACKED: run 'bash bench/gpu_session.sh prepare' first and carry .carry and .whl"; exit 1; }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
# the package itself: an editable install when the image's setuptools can build it offline; else PYTHONPATH serves
# (EDITABLE=0 skips it, e.g. to try this script on a machine whose environment must stay as it is)
if [ "${EDITABLE:-1}" != 0 ]; then
  timeout 30 python3 -m pip install -q --no-index --no-deps --no-build-isolation --no-compile -e . >/tmp/pip_e.log 2>&1 \
    || echo "(editable install skipped: $(tail -1 /tmp/pip_e.log); running from the checkout through PYTHONPATH)"
fi
exec python3 -m crate_mae.gpu session --out "$OUT" --packed "$PACKED" "$@"
