"""launch/tracker.launch.py. The launch and launch_ros packages are not installable on these
machines (no wheels), so this test imports the file with STAND-INS for them: tiny classes that only
record their arguments and resolve LaunchConfiguration from a dict. What is checked is real: the
executable the file names is installed by CMake and pip, its parameter file exists and every key in
it is a parameter the node declares, and every remapped topic is one the node uses."""
import importlib.util
import sys
import types
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


class _Recorder:
    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs


class _LaunchConfiguration:
    values: dict = {}

    def __init__(self, name):
        self.name = name

    def perform(self, context):
        return context[self.name]


def _stand_ins():
    mods = {name: types.ModuleType(name) for name in
            ("launch", "launch.actions", "launch.conditions", "launch.substitutions",
             "launch_ros", "launch_ros.actions", "launch_ros.substitutions")}
    mods["launch"].LaunchDescription = type("LaunchDescription", (_Recorder,), {})
    for name in ("DeclareLaunchArgument", "OpaqueFunction"):
        setattr(mods["launch.actions"], name, type(name, (_Recorder,), {}))
    mods["launch.conditions"].IfCondition = type("IfCondition", (_Recorder,), {})
    mods["launch.substitutions"].LaunchConfiguration = _LaunchConfiguration
    mods["launch.substitutions"].PathJoinSubstitution = type("PathJoinSubstitution", (_Recorder,), {})
    mods["launch_ros.actions"].Node = type("Node", (_Recorder,), {})
    mods["launch_ros.substitutions"].FindPackageShare = type("FindPackageShare", (_Recorder,), {})
    return mods


def _load(monkeypatch):
    for name, mod in _stand_ins().items():
        monkeypatch.setitem(sys.modules, name, mod)
    spec = importlib.util.spec_from_file_location("tracker_launch", ROOT / "launch" / "tracker.launch.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_launch_file_names_the_installed_node_its_params_and_its_topics(monkeypatch):
    from had_ros.ros import params as P
    from had_ros.ros.node import TOPICS

    launch = _load(monkeypatch)
    desc = launch.generate_launch_description()
    actions = desc.args[0]
    declared = {a.args[0]: a.kwargs["default_value"] for a in actions if type(a).__name__ == "DeclareLaunchArgument"}
    assert {"image", "events", "model", "backend", "providers", "rviz", "params_file"} <= set(declared)
    rviz = [a for a in actions if type(a).__name__ == "Node"]
    assert rviz and rviz[0].kwargs["executable"] == "rviz2"
    assert tuple(declared["rviz_config"].args[0][1:]) == launch.RVIZ_FILE
    assert (ROOT.joinpath(*launch.RVIZ_FILE)).is_file()

    # run the node action with the arguments' defaults plus a few given on the command line
    context = {name: (v if isinstance(v, str) else "PARAMS") for name, v in declared.items()}
    context.update(model="/weights/student.onnx", providers="CUDAExecutionProvider, CPUExecutionProvider")
    (opaque,) = [a for a in actions if type(a).__name__ == "OpaqueFunction"]
    (node,) = opaque.kwargs["function"](context)
    kw = node.kwargs
    assert kw["package"] == "had_ros" and kw["executable"] == "tracker_node"
    # the executable is what CMake installs into lib/had_ros and pip as a console script
    assert "install(PROGRAMS scripts/tracker_node DESTINATION lib/${PROJECT_NAME})" in (ROOT / "CMakeLists.txt").read_text()
    assert "tracker_node = had_ros.ros.node:main" in (ROOT / "setup.cfg").read_text()
    assert (ROOT / "scripts" / "tracker_node").stat().st_mode & 0o111
    params_file, overrides = kw["parameters"]
    assert params_file == "PARAMS"
    assert overrides == {"model": "/weights/student.onnx",
                         "providers": ["CUDAExecutionProvider", "CPUExecutionProvider"]}
    assert all(P.check_value(k, v) is None for k, v in overrides.items())
    for topic, target in kw["remappings"]:
        assert topic in TOPICS, f"the launch file remaps {topic!r}, which the node does not use"
    assert dict(kw["remappings"])["image"] == "/camera/image_raw"

    # the default parameter file: every key is declared by the node, with a value it accepts
    text = (ROOT.joinpath(*launch.PARAMS_FILE)).read_text()
    values = yaml.safe_load(text)["/**"]["ros__parameters"]
    flat = {k: v for k, v in values.items() if not isinstance(v, dict)}
    flat.update({f"tracker.{k}": v for k, v in values.get("tracker", {}).items()})
    assert set(flat) <= set(P.BY_NAME) and len(flat) >= len(P.PARAMS) - 2  # the two unset lists
    assert P.check_all({**P.defaults(), **flat}) is None


def test_node_docs_list_every_parameter_counter_and_topic():
    from had_ros.ros import params as P
    from had_ros.ros.core import COUNTERS
    from had_ros.ros.node import TOPICS

    text = (ROOT / "docs" / "NODE.md").read_text()
    for name in [p.name for p in P.PARAMS] + list(COUNTERS) + list(TOPICS):
        assert f"`{name}`" in text, f"docs/NODE.md does not mention {name}"
