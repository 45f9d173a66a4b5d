"""had_ros.ros: the ROS 2 side of had_ros.

* ``params``: the node's parameter table (names, types, defaults, descriptions, ranges, checks);
* ``core``: the processing core, plain Python without rclpy: decodes packets, buffers events,
  pairs each image with the events of its window, runs the tracker, counts every bad input.
  The node, ``had replay --direct`` and the unit tests drive the same core;
* ``node``: the thin rclpy node around the core (console script ``tracker_node``);
* ``replay``: ``had replay BAG``, rosbag2 replay evaluation through the real node over DDS.
Only ``node`` (and replay's DDS mode) import rclpy.
"""
