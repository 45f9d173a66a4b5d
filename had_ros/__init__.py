"""had_ros: RGB + event-camera object tracking with Hierarchical Asymmetric Distillation."""
import pkgutil as _pkgutil

# ROS generates had_ros.msg into the install prefix's site-packages/had_ros, beside (not inside)
# this source tree in a development venv; extend_path lets one import see both halves, as it does
# in a colcon install where both land in the same folder.
__path__ = _pkgutil.extend_path(__path__, __name__)

__version__ = "0.1.0"
