#!/usr/bin/env bash
# Build ROS interface packages into the venv prefix with plain CMake (no colcon on this machine).
# Usage: scripts/build_interfaces.sh VENV BUILD_DIR SRC_DIR [extra cmake args...]
set -euo pipefail
venv="$(cd "$1" && pwd)"; build="$2"; src="$3"; shift 3
. "$(dirname "$0")/env.sh"
py="$venv/bin/python"
cmake -S "$src" -B "$build" -DCMAKE_PREFIX_PATH="$venv" -DCMAKE_INSTALL_PREFIX="$venv" \
  -DBUILD_TESTING=OFF -DPython3_EXECUTABLE="$py" -DPYTHON_EXECUTABLE="$py" "$@" >"$build.log" 2>&1 \
  || { tail -n 40 "$build.log"; echo "cmake configure of $src failed (log: $build.log)" >&2; exit 1; }
cmake --build "$build" -j "$(nproc)" >>"$build.log" 2>&1 \
  || { tail -n 40 "$build.log"; echo "build of $src failed (log: $build.log)" >&2; exit 1; }
cmake --install "$build" >>"$build.log" 2>&1 \
  || { tail -n 40 "$build.log"; echo "install of $src failed (log: $build.log)" >&2; exit 1; }
echo "built $(basename "$src") into $venv"
