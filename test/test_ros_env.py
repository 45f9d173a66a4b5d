"""`import rclpy` works because scripts/env.sh sets the library path before Python starts, not
through the wheels' re-exec trick."""
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROBE = "import rclpy, os; rclpy.init(); rclpy.shutdown(); print(os.environ.get('_ROS_WHEELS_BOOTSTRAP_COMPLETE'))"


def _env_from_script() -> dict:
    out = subprocess.run(["bash", "-c", f"source {ROOT / 'scripts' / 'env.sh'} && env -0"],
                         capture_output=True, check=True, env={**os.environ, "HAD_VENV": sys.prefix})
    return dict(item.split("=", 1) for item in out.stdout.decode().split("\0") if "=" in item)


def test_env_script_lets_rclpy_import_without_reexec():
    env = _env_from_script()
    assert env["_ROS_WHEELS_BOOTSTRAP_COMPLETE"] == "1"
    assert any(p.endswith("ros_rcl.libs") for p in env["LD_LIBRARY_PATH"].split(":"))
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "1"


def test_without_the_library_path_the_import_fails():
    """Shows the library path is what makes it work (the trick is switched off by the flag)."""
    env = {k: v for k, v in _env_from_script().items() if k != "LD_LIBRARY_PATH"}
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True)
    assert out.returncode != 0
    assert ".so" in out.stderr or "librmw" in out.stderr or "ImportError" in out.stderr
