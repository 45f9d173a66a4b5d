"""Start the had_ros tracker node with config/tracker.yaml, and optionally RViz.

    ros2 launch had_ros tracker.launch.py image:=/camera/image_raw events:=/event_camera/events \
        model:=/path/to/student.onnx backend:=onnx providers:=CUDAExecutionProvider,CPUExecutionProvider rviz:=true

Launch arguments: the input and output topics (remappings of the node's relative names), the
model, backend and ONNX Runtime providers (they override the parameter file), the parameter
file itself, and whether to start RViz with config/had_ros.rviz (debug image with the box).
"""
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

PACKAGE = "had_ros"
EXECUTABLE = "tracker_node"
PARAMS_FILE = ("config", "tracker.yaml")
RVIZ_FILE = ("config", "had_ros.rviz")

# node topic -> (default remapping, description)
TOPIC_ARGUMENTS = {
    "image": ("/camera/image_raw", "sensor_msgs/Image input (rgb8, bgr8, mono8)"),
    "events": ("/event_camera/events", "event_camera_msgs/EventPacket input"),
    "init": ("init", "vision_msgs/Detection2D target box input"),
    "detections": ("detections", "vision_msgs/Detection2DArray output per image"),
    "event_detections": ("event_detections", "high-rate event-only boxes output"),
    "state": ("state", "had_ros/TrackerState output"),
    "debug_image": ("debug_image", "annotated frame output (published only while subscribed)"),
}
# node parameter -> (default, description); empty strings keep the parameter file's value
PARAM_ARGUMENTS = {
    "model": ("", "checkpoint, .onnx or registry name (empty: the package default weights)"),
    "backend": ("", "onnx or torch (empty: the parameter file's)"),
    "providers": ("", "comma-separated ONNX Runtime providers, e.g. CUDAExecutionProvider,CPUExecutionProvider"),
}


def _node(context, *args, **kwargs):
    overrides = {}
    for name in PARAM_ARGUMENTS:
        value = LaunchConfiguration(name).perform(context).strip()
        if value:
            overrides[name] = [p.strip() for p in value.split(",") if p.strip()] if name == "providers" else value
    remaps = [(topic, LaunchConfiguration(topic).perform(context)) for topic in TOPIC_ARGUMENTS]
    return [Node(package=PACKAGE, executable=EXECUTABLE, name=LaunchConfiguration("node_name").perform(context),
                 output="screen", emulate_tty=True,
                 parameters=[LaunchConfiguration("params_file").perform(context), overrides],
                 remappings=remaps)]


def generate_launch_description():
    share = FindPackageShare(PACKAGE)
    args = [DeclareLaunchArgument("params_file", default_value=PathJoinSubstitution([share, *PARAMS_FILE]),
                                  description="node parameter file"),
            DeclareLaunchArgument("node_name", default_value="had_tracker", description="node name"),
            DeclareLaunchArgument("rviz", default_value="false", description="also start RViz"),
            DeclareLaunchArgument("rviz_config", default_value=PathJoinSubstitution([share, *RVIZ_FILE]),
                                  description="RViz configuration")]
    args += [DeclareLaunchArgument(n, default_value=d, description=h) for n, (d, h) in TOPIC_ARGUMENTS.items()]
    args += [DeclareLaunchArgument(n, default_value=d, description=h) for n, (d, h) in PARAM_ARGUMENTS.items()]
    rviz = Node(package="rviz2", executable="rviz2", name="had_rviz", output="screen",
                arguments=["-d", LaunchConfiguration("rviz_config")], condition=IfCondition(LaunchConfiguration("rviz")))
    return LaunchDescription([*args, OpaqueFunction(function=_node), rviz])
