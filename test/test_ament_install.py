"""The root package builds as a ROS 2 ament_cmake package (what `colcon build` runs) and installs
the library code beside the generated messages. Real CMake + rosidl from the venv's ROS wheels."""
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(shutil.which("cmake") is None, reason="cmake is needed to build ROS packages")
def test_full_ament_build_installs_code_and_messages(tmp_path):
    venv = Path(sys.prefix)
    # A copy of the package, as in a colcon workspace: with the venv inside the checkout, CMake
    # would refuse exported include folders that lie inside the source tree.
    src, prefix, build = tmp_path / "src" / "had_ros", tmp_path / "install", tmp_path / "build"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("CMakeLists.txt", "package.xml"):
        src.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, src / name)
    for name in ("msg", "had_ros", "interfaces/cmake", "launch", "config"):
        shutil.copytree(ROOT / name, src / name, ignore=ignore)
    (src / "scripts").mkdir()
    shutil.copy2(ROOT / "scripts" / "tracker_node", src / "scripts" / "tracker_node")
    env = dict(os.environ)
    env["AMENT_PREFIX_PATH"] = f"{venv}"
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env['PATH']}"
    cmake = ["cmake", "-S", str(src), "-B", str(build), f"-DCMAKE_PREFIX_PATH={venv}",
             f"-DCMAKE_INSTALL_PREFIX={prefix}", "-DBUILD_TESTING=OFF", f"-DPython3_EXECUTABLE={sys.executable}"]
    for cmd in (cmake, ["cmake", "--build", str(build), "-j", "2"], ["cmake", "--install", str(build)]):
        out = subprocess.run(cmd, env=env, capture_output=True, text=True)
        assert out.returncode == 0, f"{' '.join(cmd[:2])} failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    site = prefix / Path(sysconfig.get_paths()["purelib"]).relative_to(sys.prefix)
    pkg = site / "had_ros"
    # our __init__ (with extend_path) replaced the generated empty one
    assert "extend_path" in (pkg / "__init__.py").read_text()
    assert (pkg / "cli.py").is_file() and (pkg / "events" / "container.py").is_file()
    assert (pkg / "msg" / "_tracker_state.py").is_file()
    assert (prefix / "share" / "had_ros" / "package.xml").is_file()
    assert (prefix / "share" / "had_ros" / "msg" / "TrackerState.msg").is_file()
    # launch files, parameters and the RViz layout in share/, the node where `ros2 run` looks
    share = prefix / "share" / "had_ros"
    for rel in ("launch/tracker.launch.py", "config/tracker.yaml", "config/had_ros.rviz"):
        assert (share / rel).read_bytes() == (ROOT / rel).read_bytes(), rel
    exe = prefix / "lib" / "had_ros" / "tracker_node"
    assert exe.is_file() and os.access(exe, os.X_OK)
    # the installed node runs from the installed package and refuses a bad parameter with a reason
    env["PYTHONPATH"] = str(site)
    out = subprocess.run([sys.executable, str(exe), "--ros-args", "-p", "queue_size:=0"], env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "queue_size" in out.stderr, out.stderr[-2000:]
