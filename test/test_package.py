"""The package shape: package.xml, entry points, CLI dispatch, message definitions."""
import configparser
import subprocess
import sys
from pathlib import Path

import pytest

from had_ros import cli
from had_ros.errors import HadError

ROOT = Path(__file__).resolve().parent.parent


def test_package_xml_is_format_3_with_runtime_dependencies():
    from catkin_pkg.package import parse_package

    pkg = parse_package(str(ROOT / "package.xml"))
    assert pkg.package_format == 3
    assert pkg.name == "had_ros"
    runtime = {d.name for d in pkg.exec_depends + pkg.build_export_depends} | {d.name for d in pkg.build_depends}
    for dep in ("rclpy", "sensor_msgs", "vision_msgs", "event_camera_msgs", "std_msgs"):
        assert dep in runtime, f"package.xml lacks {dep}"
    assert pkg.get_build_type() == "ament_cmake"


def test_setup_cfg_declares_the_cli_and_version_matches():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    assert "had = had_ros.cli:main" in cfg["options.entry_points"]["console_scripts"]
    from catkin_pkg.package import parse_package
    import had_ros

    assert parse_package(str(ROOT / "package.xml")).version == had_ros.__version__


def test_every_cli_command_module_builds_its_parser():
    for command in cli.COMMANDS:
        parser = cli.build_parser(command)
        assert parser.format_help().startswith(f"usage: had {command}")


def test_cli_without_command_prints_help_and_fails(capsys):
    assert cli.main([]) == 2
    assert "COMMAND" in capsys.readouterr().out


def test_cli_unknown_command_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["no-such-command"])
    assert exc.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_cli_reports_package_errors_without_a_traceback(monkeypatch, capsys):
    def boom(args):
        raise HadError("the thing named x was wrong")

    monkeypatch.setitem(cli.COMMANDS, "events", ("had_ros.events.cli", "x"))
    parser = cli.build_parser("events")
    monkeypatch.setattr(cli, "build_parser", lambda command: parser)
    parser.set_defaults(func=boom)
    assert cli.main(["events"]) == 1
    assert "had events: error: the thing named x was wrong" in capsys.readouterr().err


def test_console_script_runs_in_a_fresh_interpreter():
    out = subprocess.run([sys.executable, "-m", "had_ros.cli", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("had_ros ")


def test_help_does_not_import_torch():
    code = "import sys; from had_ros import cli; cli._top_parser().format_help(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_builds_a_pip_wheel_with_the_code_and_the_cli(tmp_path):
    """What `pip install .` into a plain venv installs (no ROS needed for the library)."""
    import zipfile

    out = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), str(ROOT)],
        capture_output=True, text=True,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    (wheel,) = tmp_path.glob("had_ros-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "had_ros/cli.py" in names and "had_ros/events/container.py" in names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "had = had_ros.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()
    assert not any("/msg/_" in n for n in names), "generated messages must not leak into the wheel"
