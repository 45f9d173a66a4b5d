"""had_ros.events: the event pipeline (no ROS imports).

Decode packets (``make_decoder``: evt3, evt2, evt21, mono, trigger, libcaer, libcaer_cmp) or read
files (``read_events``, ``iter_windows`` for long files by time window) into an ``Events``
container, slice it by time, and build the network's inputs (``voxel_grid``,
``count_histogram``, ``time_surface``). ``EventAccumulator`` buffers a live stream.
"""
from had_ros.events.container import Events, stack_sorted
from had_ros.events.codec import Triggers
from had_ros.events.decoders import make_decoder
from had_ros.events.evt3 import Evt3Decoder, encode_evt3
from had_ros.events.mono import MonoDecoder, TriggerDecoder, encode_mono, encode_trigger
from had_ros.events.evt2 import Evt2Decoder, Evt21Decoder, encode_evt2, encode_evt21
from had_ros.events.libcaer import LibcaerCmpDecoder, LibcaerDecoder, encode_libcaer, encode_libcaer_cmp
from had_ros.events.io import iter_raw, iter_windows, read_events, read_raw, write_events, write_raw
from had_ros.events.aedat4 import read_aedat4, read_aedat4_frames, write_aedat4
from had_ros.events.representations import (
    VoxelGridBuffer, count_histogram, count_histogram_torch, time_surface, time_surface_torch, voxel_grid,
    voxel_grid_torch,
)
from had_ros.events.accumulator import EventAccumulator

__all__ = [
    "Events", "stack_sorted", "Triggers", "make_decoder", "Evt3Decoder", "MonoDecoder", "TriggerDecoder",
    "encode_evt3", "encode_mono", "encode_trigger", "read_events", "read_raw", "write_events", "write_raw",
    "Evt2Decoder", "Evt21Decoder", "encode_evt2", "encode_evt21", "LibcaerDecoder", "LibcaerCmpDecoder",
    "encode_libcaer", "encode_libcaer_cmp", "iter_raw", "iter_windows",
    "read_aedat4", "read_aedat4_frames", "write_aedat4", "voxel_grid", "count_histogram", "time_surface",
    "voxel_grid_torch", "count_histogram_torch", "time_surface_torch", "EventAccumulator", "VoxelGridBuffer",
]
