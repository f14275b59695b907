#!/usr/bin/env bash
# Create one venv per peer method under $PEER_VENVS (default /work/peer_venvs). Idempotent:
# an existing venv whose package already imports is left alone.
#
#   bash bench/peers/setup_envs.sh                 # banksy + spagcn (the fast peers)
#   bash bench/peers/setup_envs.sh graphst stagate # the slow, torch-based ones
#   bash bench/peers/setup_envs.sh all
#
# Pins: pybanksy 1.3.5, SpaGCN 1.2.7, graphst-modern 1.1.1.post3, stagate-modern 1.0.0.post1
# (+ torch-geometric). torch comes from a local CPU wheel in /opt/wheels when there is one
# (smaller, no CUDA); otherwise from PyPI (the machine's pip constraint caps torch <= 2.14.1).
set -euo pipefail

ROOT="${PEER_VENVS:-/work/peer_venvs}"
PY="${PEER_PYTHON:-python3}"
mkdir -p "$ROOT"

want=("$@")
[ ${#want[@]} -eq 0 ] && want=(banksy spagcn)
[ "${want[0]}" = "all" ] && want=(banksy spagcn graphst stagate)

cpu_torch_wheel() {
  ls /opt/wheels/torch-*+cpu-cp"$("$PY" -c 'import sys;print(f"{sys.version_info[0]}{sys.version_info[1]}")')"-*.whl 2>/dev/null | tail -1 || true
}

mkvenv() {  # name
  local d="$ROOT/$1"
  if [ ! -x "$d/bin/python" ]; then
    echo "== creating venv $d"
    "$PY" -m venv "$d"
    "$d/bin/pip" install -q --upgrade pip setuptools wheel 2>&1 | grep -v "^WARNING: Location" || true
  fi
}

pipi() {  # name, pip args...
  local d="$ROOT/$1"; shift
  "$d/bin/pip" install "$@" 2>&1 | grep -v "^WARNING: Location" || true
}

ok() {  # name, python import statement
  "$ROOT/$1/bin/python" -c "$2" >/dev/null 2>&1
}

install_torch() {  # name
  local w; w="$(cpu_torch_wheel)"
  if ok "$1" "import torch"; then return; fi
  if [ -n "$w" ]; then pipi "$1" "$w"; else pipi "$1" "torch<=2.14.1"; fi
}

for m in "${want[@]}"; do
  case "$m" in
    banksy)
      mkvenv banksy
      ok banksy "import banksy, banksy_utils, leidenalg, scanpy" || pipi banksy "pybanksy==1.3.5"
      ;;
    spagcn)
      mkvenv spagcn
      install_torch spagcn
      # SpaGCN 1.2.7 needs louvain (init='louvain'); louvain 0.8.2 imports pkg_resources,
      # which setuptools >= 81 no longer ships -> pin setuptools < 81 in this venv.
      ok spagcn "import SpaGCN, scanpy" || pipi spagcn "spagcn==1.2.7"
      if ! ok spagcn "import SpaGCN"; then
        echo "!! SpaGCN 1.2.7 did not install; trying spagcn-modern"; pipi spagcn spagcn-modern
      fi
      ok spagcn "import louvain" || pipi spagcn "setuptools<81"
      ;;
    graphst)
      mkvenv graphst
      install_torch graphst
      ok graphst "from GraphST.GraphST import GraphST; import skmisc" || pipi graphst "graphst-modern==1.1.1.post3" scikit-misc
      ;;
    stagate)
      mkvenv stagate
      install_torch stagate
      # scanpy + scikit-misc for the tutorial's preprocessing (seurat_v3 HVGs); not deps of stagate-modern
      ok stagate "import STAGATE_pyG, torch_geometric, scanpy, skmisc" || \
        pipi stagate "stagate-modern==1.0.0.post1" torch-geometric scanpy scikit-misc
      ;;
    *) echo "unknown peer $m" >&2; exit 2;;
  esac
  echo "== $m: $("$ROOT/$m/bin/python" -c 'import sys;print(sys.version.split()[0])') ok"
done
