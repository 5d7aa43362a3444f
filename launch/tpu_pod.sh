#!/usr/bin/env bash
# Train on a Cloud TPU pod slice: copy the code to every worker, install, start on all workers.
#
#   TPU_NAME=my-v4-32 ZONE=us-central2-b bash launch/tpu_pod.sh configs/ffpp.py:c23,resnet50,tpu gs://bucket/runs/x
#
# jax.distributed.initialize() needs no arguments on TPU pods (ddf.sharding detects the pod).
# The dataset (data.data_dir) must be readable from every worker (e.g. a GCS bucket or a shared disk).
set -euo pipefail
CONFIG=${1:?config file}
WORKDIR=${2:?workdir (e.g. gs://bucket/runs/name)}
: "${TPU_NAME:?set TPU_NAME}" "${ZONE:?set ZONE}"
shift 2
REPO_DIR=$(cd "$(dirname "$0")/.." && pwd)

tar -C "$REPO_DIR" --exclude=.venv --exclude=.git -czf /tmp/ddf_code.tgz .
gcloud compute tpus tpu-vm scp /tmp/ddf_code.tgz "$TPU_NAME":/tmp/ddf_code.tgz --zone "$ZONE" --worker=all
gcloud compute tpus tpu-vm ssh "$TPU_NAME" --zone "$ZONE" --worker=all --command "
  set -e; mkdir -p ~/ddf && tar -C ~/ddf -xzf /tmp/ddf_code.tgz && cd ~/ddf &&
  python3 -m pip install -q -e . 'jax[tpu]' &&
  python3 -m ddf.train --config $CONFIG --workdir $WORKDIR $*"
