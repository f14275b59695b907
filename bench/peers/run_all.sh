#!/usr/bin/env bash
# Full, resumable peer benchmark in priority order (each step skips runs already in
# bench/results/peers.jsonl, so re-running this script continues where it stopped).
#   nohup bash bench/peers/run_all.sh > bench/results/peer_logs_run_all.out 2>&1 &
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 NUMBA_NUM_THREADS=1

bash "$HERE/setup_envs.sh" banksy spagcn
python3 "$HERE/run_all.py" --methods banksy            # 3 sections x seeds 0-9 (~15-30 s/run)
python3 "$HERE/run_all.py" --methods spagcn            # 3 sections x seeds 0-9 (~1 min/run)
python3 "$HERE/run_all.py" --methods banksy_lam0.8     # variant: Banksy lambda 0.8 (domain setting)

if [ "${WITH_SLOW:-1}" = "1" ]; then                   # ~15-25 min per run on one core
  bash "$HERE/setup_envs.sh" graphst stagate
  python3 "$HERE/run_all.py" --methods graphst stagate \
      --sections DLPFC_151673 BRCA_V1_Block_A_Section_1 --seeds 0
  python3 "$HERE/run_all.py" --methods stagate graphst --sections DLPFC_151674 --seeds 0
fi
python3 "$HERE/summarize.py"
