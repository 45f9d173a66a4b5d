# Source this (or let the Makefile do it) to use the ROS 2 wheels in .venv without the wheels'
# re-exec trick: the library path is set before Python starts. Usage: . scripts/env.sh
_had_root="$(cd "$(dirname "${BASH_SOURCE[0]:-$0}")/.." && pwd)"
_had_venv="${HAD_VENV:-$_had_root/.venv}"
_had_site="$(ls -d "$_had_venv"/lib/python3*/site-packages 2>/dev/null | head -n 1)"
_had_libs="$_had_venv/lib"
for _d in "$_had_site"/ros_*.libs; do
  [ -d "$_d" ] && _had_libs="$_had_libs:$_d"
done
export LD_LIBRARY_PATH="$_had_libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export _ROS_WHEELS_BOOTSTRAP_COMPLETE=1
export AMENT_PREFIX_PATH="$_had_venv${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
export CMAKE_PREFIX_PATH="$_had_venv${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"
export PATH="$_had_venv/bin:$PATH"
export RMW_IMPLEMENTATION="${RMW_IMPLEMENTATION:-rmw_fastrtps_cpp}"
unset _had_root _had_venv _had_site _had_libs _d
