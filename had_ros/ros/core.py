"""The tracker node's processing core, without rclpy.

What it does with its inputs (the node hands over message fields; ``had replay --direct`` hands
over the same fields read from a bag):

* event packets: decoded with the event library's ``make_decoder`` (one stateful decoder per
  stream), pushed into an :class:`EventAccumulator` together with the packet's header stamp, which
  gives the sensor-to-host clock offset (host ~= sensor + offset). ``seq`` gaps are counted as lost
  packets, a restart of ``seq`` as a new stream (decoder and buffer start again);
* images: checked (encoding, size, data length, stamps going forward) and queued as frames. A
  frame's sensor time is ``stamp - image_latency - offset``; its event window is
  ``(t - window, t]`` as the half-open ``[t - window + 1, t + 1)`` in ns, the same span as training
  pairs and ``had eval`` (``Sequence.event_span``): ``window`` is the model checkpoint's
  ``event_window_ns`` when it sets one, else the frame interval (the span since the previous
  image; before the second image, one frame at the loaders' default rate), see
  :meth:`TrackerCore.window_ns`. Images that come before any event packet cannot be
  placed on the sensor clock; with an event model they are not tracked (counted), the clocks are
  never mixed;
* a frame is *ready* once the buffer holds an event newer than its window's end, or once it has
  waited ``max_event_wait_ms`` (tracked with what arrived, counted as an incomplete window);
* :meth:`next_job` hands out the next ready frame; ``latest_first`` (the node's worker) takes the
  newest ready frame and drops older ones as stale (counted), so a slow model never builds
  latency; without it (``--direct``) every frame is processed in order;
* high-rate mode (``event_rate_hz`` > 0, event-only model, a target): between images, steps on a
  grid of sensor time, each over one event window (as an image's) ending at the step, published
  with the step's time mapped to host time;
* the tracker reads only the events of its crop (``Tracker.events_region``): a job copies those of
  its window inside the template or search square, not the whole window; after each job the
  buffer lets go of the events no later window needs;
* target: an init box (parameter or ``init`` topic) applies to the next image stamped at or after
  it; ``reset`` clears the target. Each successful initialisation starts a new track id.

Every bad input raises nothing: it increments a counter of :attr:`counts` (see COUNTERS) and logs
one throttled line that names what was wrong.
"""
from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from had_ros.errors import DecodeError, HadError, TrackingError
from had_ros.events import EventAccumulator, make_decoder
from had_ros.events.container import Events

STATUS_UNINITIALIZED, STATUS_TRACKING, STATUS_LOST = 0, 1, 2  # as in msg/TrackerState.msg

# What every counter counts (the diagnostics keys; docs/NODE.md lists the same).
COUNTERS: dict[str, str] = {
    "packets": "event packets received",
    "events": "events decoded",
    "packets_lost": "event packets missing from seq gaps",
    "stream_restarts": "seq went backwards: a new event stream (decoder and buffer restarted)",
    "unknown_encoding": "event packets of an encoding no decoder knows (dropped)",
    "decode_errors": "event packets the decoder refused (dropped)",
    "truncated_packets": "event packets ending in an incomplete word (those bytes dropped)",
    "bad_packets": "event packets with an impossible sensor size or empty payload type (dropped)",
    "sensor_size_changed": "event packets of another sensor size than the stream (stream restarted)",
    "clock_jumps": "packets whose host stamp jumped against the sensor clock by more than 1 s (offset re-estimated), "
                   "images stamped more than 1 s before the previous one (a new image stream)",
    "events_before_init": "event packets received while no target is set (buffered only)",
    "images": "images received",
    "bad_image_encoding": "images of an encoding the node cannot read (dropped)",
    "bad_image_size": "images whose size or data length does not fit (dropped)",
    "image_size_mismatch": "images of another size than the event sensor or the tracked target (dropped)",
    "image_time_backwards": "images stamped at or before the previous image (dropped)",
    "images_before_events": "images before any event packet: no clock offset yet (not tracked)",
    "frames_dropped": "frames dropped as stale (a newer frame was ready, or the queue was full)",
    "windows_incomplete": "frames tracked after max_event_wait_ms without their window's last events",
    "frames_tracked": "frames the model ran on",
    "event_steps": "high-rate event-only steps run",
    "event_steps_skipped": "high-rate grid points skipped because the worker was behind",
    "bad_init": "init boxes refused (non-finite, non-positive size, outside the image)",
    "late_init": "init boxes stamped before an image already processed (applied to the next image)",
    "tracking_errors": "model or tracker errors on a frame (frame skipped)",
    "internal_errors": "unexpected errors in a callback (logged with the message)",
}

IMAGE_ENCODINGS = ("rgb8", "bgr8", "mono8", "rgba8", "bgra8", "mono16")
CLOCK_JUMP_NS = 1_000_000_000


class BadInput(HadError):
    """One bad input: ``kind`` is the COUNTERS key, the message names what was wrong."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def image_to_rgb(encoding: str, width: int, height: int, step: int, data: Any,
                 is_bigendian: int = 0) -> np.ndarray:
    """A sensor_msgs/Image's pixels as HxWx3 uint8 RGB (mono images are repeated on 3 channels,
    as an RGB model sees a DAVIS frame). Raises BadInput naming what does not fit."""
    enc = str(encoding).lower()
    if enc not in IMAGE_ENCODINGS:
        raise BadInput("bad_image_encoding", f"image encoding {encoding!r} is not supported; "
                                             f"expected one of {list(IMAGE_ENCODINGS)}")
    channels = {"rgb8": 3, "bgr8": 3, "mono8": 1, "rgba8": 4, "bgra8": 4, "mono16": 1}[enc]
    depth = 2 if enc == "mono16" else 1
    width, height, step = int(width), int(height), int(step)
    if width <= 0 or height <= 0 or width > 65535 or height > 65535:
        raise BadInput("bad_image_size", f"image size {width}x{height} is not positive")
    row = width * channels * depth
    if step < row:
        raise BadInput("bad_image_size", f"{enc} image {width}x{height}: step {step} < {row} bytes per row")
    try:
        buf = np.frombuffer(memoryview(data).cast("B"), np.uint8)
    except TypeError:  # a list of ints (some rclpy paths)
        buf = np.asarray(data, np.uint8).reshape(-1)
    if len(buf) < step * (height - 1) + row:
        raise BadInput("bad_image_size", f"{enc} image {width}x{height} (step {step}) needs "
                                         f"{step * height} bytes, got {len(buf)}")
    rows = np.lib.stride_tricks.as_strided(buf, (height, row), (step, 1))
    if depth == 2:
        px = rows.view(">u2" if is_bigendian else "<u2").reshape(height, width)
        gray = (px >> 8).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    px = rows.reshape(height, width, channels)
    if channels == 1:
        return np.repeat(px, 3, axis=2)
    if enc.startswith("bgr"):
        return np.ascontiguousarray(px[:, :, 2::-1])
    return np.ascontiguousarray(px[:, :, :3])


@dataclass
class Frame:
    """One image waiting for the model."""

    stamp_ns: int               # header stamp (host clock)
    frame_id: str
    arrival_ns: int             # when it arrived (the core's clock, or the bag stamp in --direct)
    width: int
    height: int
    image: tuple                # (encoding, step, data, is_bigendian), converted when needed
    window: tuple[int, int] | None  # sensor-time event span [t0, t1), None when not on the clock
    index: int                  # images received before this one
    placed: bool = False        # window decided (see TrackerCore._place)
    offset_ns: int | None = None  # the sensor-to-host offset its window was placed with
    interval_ns: int | None = None  # stamp minus the previous arriving image's (None: first, or after a pause)


@dataclass
class Job:
    kind: str                   # "image" or "events"
    frame: Frame | None
    window: tuple[int, int] | None
    incomplete: bool = False
    started_ns: int = 0


@dataclass
class Estimate:
    """What the node publishes for one job."""

    kind: str                   # "image" (detections/state) or "events" (event_detections)
    stamp_ns: int               # header stamp: the image's, or the step's event time on the host clock
    frame_id: str
    status: int
    box: np.ndarray | None      # x, y, w, h pixels (None while uninitialised)
    score: float
    track_id: int
    num_events: int
    window: tuple[int, int] | None
    offset_ns: int | None
    arrival_ns: int
    model_ms: float
    frame: Frame | None = None
    events: Events | None = None
    initialized_now: bool = False


@dataclass
class CoreSettings:
    """The runtime settings of the core (the node fills them from its parameters)."""

    image_latency_ms: float = 0.0
    max_event_wait_ms: float = 50.0
    event_rate_hz: float = 0.0
    queue_size: int = 2
    buffer_max_events: int = 4_000_000
    buffer_max_age_ms: float = 500.0
    log_throttle_s: float = 5.0

    @classmethod
    def from_params(cls, values: dict[str, Any]) -> "CoreSettings":
        names = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in values.items() if k in names})


class TrackerCore:
    """See the module doc. ``tracker``: a had_ros Tracker (or anything with its interface)."""

    def __init__(self, tracker: Any, settings: CoreSettings | None = None,
                 logger: logging.Logger | Any | None = None,
                 clock: Callable[[], int] = time.monotonic_ns) -> None:
        self.tracker = tracker
        self.settings = settings or CoreSettings()
        self.log = logger or logging.getLogger("had_ros.tracker")
        self.clock = clock
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.counts: dict[str, int] = {k: 0 for k in COUNTERS}
        self._last_log: dict[str, float] = {}
        mc = tracker.model_config
        self.uses_events, self.uses_rgb = bool(mc.uses_events), bool(mc.uses_rgb)
        self._model_window_ns = getattr(mc, "event_window_ns", None)  # None: the frame interval
        self._decoder = None
        self._stream: tuple[str, int, int] | None = None  # encoding, width, height
        self._last_seq: int | None = None
        self.acc: EventAccumulator | None = None
        self._frames: deque[Frame] = deque()
        self._last_image_stamp: int | None = None
        self._last_packet_stamp: int | None = None
        self._interval_ns: int | None = None     # the interval of the last placed image (Frame.interval_ns)
        self._images = 0
        self._pending_init: tuple[np.ndarray, int] | None = None
        self._active = False
        self._track_id = 0
        self._last_done_t: int | None = None     # sensor time of the newest processed window end
        self._last_done_stamp: int | None = None
        self._last_frame_id = ""
        self._step_t: int | None = None           # last high-rate grid point
        self.latencies_ms: deque[float] = deque(maxlen=1000)
        self.model_ms: deque[float] = deque(maxlen=1000)
        self.box: np.ndarray | None = None
        self.score = float("nan")

    # -- logging and counting ----------------------------------------------------------------------
    def bad(self, kind: str, message: str, n: int = 1) -> None:
        """Count a bad input and log it, at most once per log_throttle_s per kind."""
        self.counts[kind] = self.counts.get(kind, 0) + n
        now = time.monotonic()
        if now - self._last_log.get(kind, -math.inf) >= self.settings.log_throttle_s:
            self._last_log[kind] = now
            self.log.warning(f"{message} [{kind}: {self.counts[kind]} so far]")

    @property
    def status(self) -> int:
        if not self._active:
            return STATUS_UNINITIALIZED
        return STATUS_LOST if getattr(self.tracker, "lost", False) else STATUS_TRACKING

    @property
    def offset_ns(self) -> int | None:
        return None if self.acc is None else self.acc.offset_ns

    @property
    def queue_depth(self) -> int:
        return len(self._frames)

    @property
    def decoder_stats(self) -> dict[str, int]:
        return dict(getattr(self._decoder, "stats", {}) or {})

    # -- events ------------------------------------------------------------------------------------
    def on_packet(self, encoding: str, width: int, height: int, seq: int, time_base: int, data: Any,
                  stamp_ns: int) -> None:
        """One event packet (the fields of an EventPacket; stamp_ns its header stamp)."""
        self.on_packets([(encoding, width, height, seq, time_base, data, stamp_ns)])

    def on_packets(self, packets: list[tuple]) -> None:
        """Several packets at once, each the arguments of :meth:`on_packet` in order: one lock and
        one wake-up of the worker for the batch (the node's event intake thread)."""
        with self.lock:
            for encoding, width, height, seq, time_base, data, stamp_ns in packets:
                try:
                    self._on_packet(encoding, int(width), int(height), int(seq), int(time_base), data,
                                    int(stamp_ns))
                except BadInput as exc:
                    self.bad(exc.kind, str(exc))
                except DecodeError as exc:
                    self.bad("decode_errors", f"event packet seq {seq} ({encoding}): {exc}")
                except Exception as exc:  # never let a packet stop the node
                    self.bad("internal_errors", f"event packet seq {seq}: {type(exc).__name__}: {exc}")
            if self._frames or (self.settings.event_rate_hz > 0 and self._active):
                self.changed.notify_all()  # packets only make waiting frames (or high-rate steps) ready

    def _new_stream(self, encoding: str, width: int, height: int) -> None:
        try:
            self._decoder = make_decoder(encoding, width, height)
        except DecodeError as exc:
            kind = "unknown_encoding" if "unknown event encoding" in str(exc) else "bad_packets"
            raise BadInput(kind, f"event packet: {exc}") from None
        self._stream = (encoding, width, height)
        s = self.settings
        self.acc = EventAccumulator(width, height, max_events=int(s.buffer_max_events),
                                    max_age_ns=int(s.buffer_max_age_ms * 1e6))
        self._last_seq = None

    def _on_packet(self, encoding: str, width: int, height: int, seq: int, time_base: int, data: Any,
                   stamp_ns: int) -> None:
        self.counts["packets"] += 1
        key = (str(encoding).strip().lower(), width, height)
        if self._stream is None:
            self._new_stream(*key)
        elif key != self._stream:
            try:
                make_decoder(*key)  # refuse an unknown encoding before anything changes
            except DecodeError as exc:
                kind = "unknown_encoding" if "unknown event encoding" in str(exc) else "bad_packets"
                raise BadInput(kind, f"event packet seq {seq}: {exc}; the stream stays "
                               f"{self._stream[0]} {self._stream[1]}x{self._stream[2]}") from None
            if key[0] == self._stream[0]:
                self.bad("sensor_size_changed", f"event packet seq {seq} is {width}x{height} but the "
                         f"stream was {self._stream[1]}x{self._stream[2]}: starting a new stream")
            else:
                self.bad("stream_restarts", f"event packet seq {seq} is {key[0]} but the stream was "
                         f"{self._stream[0]}: starting a new stream")
            self._new_stream(*key)
        if self._last_seq is not None:
            if seq > self._last_seq + 1:
                self.bad("packets_lost", f"event packets {self._last_seq + 1}..{seq - 1} missing "
                         f"(seq gap of {seq - self._last_seq - 1})", n=seq - self._last_seq - 1)
            elif seq <= self._last_seq:
                self.bad("stream_restarts", f"event packet seq {seq} after {self._last_seq}: a new stream "
                         f"(driver restart?); decoder and buffer start again")
                self._new_stream(*key)
        self._last_seq = seq
        before = {k: self._decoder.stats.get(k, 0) for k in ("time_backwards", "time_clamped")}
        events = self._decoder.decode(data, time_base)
        if self._decoder.pending_bytes:
            # drivers send whole words: a partial one at the end is a truncated packet; carrying it
            # into the next packet would shift every later word by a byte
            cut = self._decoder.finish()
            self.bad("truncated_packets", f"event packet seq {seq} ({key[0]}) ends in {cut} byte(s) of an "
                     "incomplete word: dropped them")
        dropped = self._decoder.stats.get("time_backwards", 0) - before["time_backwards"]
        clamped = self._decoder.stats.get("time_clamped", 0) - before["time_clamped"]
        if (not len(events) and dropped > 0) or (len(events) > 1 and clamped >= len(events)):
            # a whole packet older than what the decoder saw: its clock was thrown ahead (corrupt
            # words) or the sensor restarted; without a restart every later event would be dropped
            # or clamped to that time
            self.bad("stream_restarts", f"event packet seq {seq}: all its events lie before the stream's "
                     "newest time (corrupt data or a sensor restart); decoder restarted, packet dropped")
            self._decoder.reset()
            return
        self.counts["events"] += len(events)
        if len(events) and self.acc.offset_ns is not None and len(self.acc):
            jump = (stamp_ns - int(events.t[-1])) - self.acc.offset_ns
            if abs(jump) > CLOCK_JUMP_NS:
                self.bad("clock_jumps", f"event packet seq {seq}: host stamp minus sensor time moved by "
                         f"{jump / 1e9:+.3f} s; clock offset and buffer start again")
                self.acc.clear()
        if not self._active and self._pending_init is None:
            self.bad("events_before_init", "event packets arrive but no target is set (init_box "
                     "parameter or init topic); they are only buffered")
        self.acc.push(events, host_stamp_ns=stamp_ns)
        self._last_packet_stamp = stamp_ns if self._last_packet_stamp is None else max(stamp_ns, self._last_packet_stamp)

    # -- images ------------------------------------------------------------------------------------
    def on_image(self, encoding: str, width: int, height: int, step: int, data: Any, stamp_ns: int,
                 frame_id: str = "", arrival_ns: int | None = None, is_bigendian: int = 0) -> None:
        with self.lock:
            try:
                self._on_image(str(encoding), int(width), int(height), int(step), data, int(stamp_ns),
                               str(frame_id), self.clock() if arrival_ns is None else int(arrival_ns),
                               int(is_bigendian))
            except BadInput as exc:
                self.bad(exc.kind, str(exc))
            except Exception as exc:
                self.bad("internal_errors", f"image stamped {stamp_ns}: {type(exc).__name__}: {exc}")
            self.changed.notify_all()

    def _on_image(self, encoding: str, width: int, height: int, step: int, data: Any, stamp_ns: int,
                  frame_id: str, arrival_ns: int, is_bigendian: int) -> None:
        self.counts["images"] += 1
        enc = encoding.lower()
        if enc not in IMAGE_ENCODINGS:
            raise BadInput("bad_image_encoding", f"image encoding {encoding!r} is not supported; "
                                                 f"expected one of {list(IMAGE_ENCODINGS)}")
        channels = {"rgb8": 3, "bgr8": 3, "mono8": 1, "rgba8": 4, "bgra8": 4, "mono16": 2}[enc]
        n = len(data) if hasattr(data, "__len__") else 0
        if width <= 0 or height <= 0 or step < width * channels or n < step * (height - 1) + width * channels:
            raise BadInput("bad_image_size", f"{enc} image {width}x{height} with step {step} and {n} "
                                             f"bytes of data does not fit")
        if self._stream is not None and (width, height) != self._stream[1:]:
            raise BadInput("image_size_mismatch", f"image is {width}x{height} but the event sensor is "
                           f"{self._stream[1]}x{self._stream[2]}: the node needs one pixel grid")
        if self._last_image_stamp is not None and stamp_ns < self._last_image_stamp - CLOCK_JUMP_NS:
            # far back: a new stream (a bag played again, a restarted driver), not a late frame
            self.bad("clock_jumps", f"image stamped {(self._last_image_stamp - stamp_ns) / 1e9:.3f} s before "
                     "the previous one: a new image stream, its frame interval is measured again")
            self._last_image_stamp = self._interval_ns = None
        if self._last_image_stamp is not None and stamp_ns <= self._last_image_stamp:
            raise BadInput("image_time_backwards", f"image stamped {stamp_ns} ns is not after the previous "
                           f"image ({self._last_image_stamp} ns): dropped")
        # measured from every arriving image, so a frame dropped before it was placed does not
        # make the next window two intervals long; a gap over 1 s is a pause, not an interval
        interval = None
        if self._last_image_stamp is not None and stamp_ns - self._last_image_stamp <= CLOCK_JUMP_NS:
            interval = stamp_ns - self._last_image_stamp
        self._last_image_stamp = stamp_ns
        frame = Frame(stamp_ns, frame_id, arrival_ns, width, height, (enc, step, data, is_bigendian),
                      None, self._images, interval_ns=interval)
        self._images += 1
        self._frames.append(frame)
        while len(self._frames) > int(self.settings.queue_size):
            old = self._frames.popleft()
            self.bad("frames_dropped", f"frame stamped {old.stamp_ns} ns dropped: queue of "
                     f"{self.settings.queue_size} full (the model is slower than the camera)")

    def window_ns(self) -> int:
        """The length of an event window (images and high-rate steps): the model's
        ``event_window_ns`` (the span it was trained on) when its checkpoint sets one; else the
        frame interval, the last one measured, and before the second image one frame at the
        loaders' default rate (as Sequence.frame_window does for a sequence of one frame)."""
        if self._model_window_ns:
            return self._model_window_ns
        if self._interval_ns:
            return self._interval_ns
        from had_ros.data.loaders import DEFAULT_FPS

        return int(round(1e9 / DEFAULT_FPS))

    # -- target ------------------------------------------------------------------------------------
    def on_init(self, box: Any, stamp_ns: int = 0) -> str | None:
        """Set the target to ``box`` (x, y, w, h pixels) from the next image stamped at or after
        ``stamp_ns``. Returns the reason when the box is refused (also counted and logged)."""
        with self.lock:
            try:
                b = np.asarray(box, np.float64).reshape(-1)
            except (TypeError, ValueError):
                b = np.full(0, np.nan)
            if b.shape != (4,) or not np.all(np.isfinite(b)) or b[2] <= 0 or b[3] <= 0:
                reason = f"init box {np.asarray(box).tolist() if b.size else box!r} refused: expected 4 finite numbers x,y,w,h with w,h > 0"
                self.bad("bad_init", reason)
                return reason
            if stamp_ns and self._last_done_stamp is not None and stamp_ns <= self._last_done_stamp:
                self.bad("late_init", f"init box stamped {stamp_ns} ns arrived after that image was "
                         "processed: applied to the next image")
            self._pending_init = (b, int(stamp_ns))
            self.changed.notify_all()
            return None

    def reset(self) -> None:
        """Clear the target (and a pending init); tracking starts again at the next init."""
        with self.lock:
            self._active = False
            self._pending_init = None
            self.box, self.score = None, float("nan")
            self._step_t = None

    # -- scheduling --------------------------------------------------------------------------------
    def _place(self, f: Frame, now_ns: int, flush: bool) -> bool:
        """Put frame ``f`` on the sensor clock once every packet stamped before it is in (a packet
        stamped after it arrived: topics arrive in order), or when it waited too long. The offset is
        the accumulator's estimate at the image's stamp, so it does not depend on how late newer
        packets arrive. Frames are placed in order; returns whether ``f`` is placed."""
        if f.placed:
            return True
        waited = flush or now_ns - f.arrival_ns >= self.settings.max_event_wait_ms * 1e6
        if not waited and (self._last_packet_stamp is None or self._last_packet_stamp < f.stamp_ns):
            return False
        f.placed = True
        offset = None if self.acc is None else self.acc.offset_at(f.stamp_ns)
        if offset is None:
            if self.uses_events:
                self.bad("images_before_events", f"image stamped {f.stamp_ns} ns came before any event "
                         "packet: no sensor-to-host offset yet, so it cannot be paired with events (not tracked)")
            return True
        t1 = f.stamp_ns - int(round(self.settings.image_latency_ms * 1e6)) - offset
        if f.interval_ns:
            self._interval_ns = f.interval_ns
        f.window = (t1 - self.window_ns() + 1, t1 + 1)
        f.offset_ns = offset
        return True

    def _ready(self, f: Frame, now_ns: int, flush: bool) -> tuple[bool, bool]:
        """(ready, incomplete)."""
        if not f.placed:
            return False, False
        if not self.uses_events or f.window is None:
            return True, False
        t_end = self.acc.t_end if self.acc is not None else None
        if t_end is not None and t_end >= f.window[1]:
            return True, False
        if flush or now_ns - f.arrival_ns >= self.settings.max_event_wait_ms * 1e6:
            return True, True
        return False, False

    def next_job(self, now_ns: int | None = None, latest_first: bool = True, flush: bool = False) -> Job | None:
        """The next piece of work, or None. See the module doc for the order."""
        with self.lock:
            now = self.clock() if now_ns is None else int(now_ns)
            for f in self._frames:
                if not self._place(f, now, flush):
                    break
            ready = [i for i, f in enumerate(self._frames) if self._ready(f, now, flush)[0]]
            step = self._next_step()
            if step is not None and (not self._frames or self._frames[0].window is None
                                     or step < self._frames[0].window[1]):
                return self._step_job(step, latest_first)  # steps come before the frames after them
            if not ready:
                return None
            pick = ready[-1] if latest_first else ready[0]
            for _ in range(pick):
                old = self._frames.popleft()
                self.bad("frames_dropped", f"frame stamped {old.stamp_ns} ns dropped as stale: a newer "
                         "frame was ready (the model is slower than the camera)")
            f = self._frames.popleft()
            _, incomplete = self._ready(f, now, flush)
            return Job("image", f, f.window, incomplete, started_ns=now)

    def _count(self, window: tuple[int, int] | None) -> int:
        if not self.uses_events or window is None or self.acc is None:
            return 0
        return self.acc.count(*window)

    def _job_events(self, job: Job, init_box: np.ndarray | None) -> Events | None:
        """The events the tracker reads for ``job`` (under the lock): those of its window inside
        the crop the tracker will use (``Tracker.events_region``: the template crop of the init
        box, else the search crop), so only they are copied and gridded. The whole window when the
        tracker cannot say."""
        if not self.uses_events or job.window is None or self.acc is None:
            return None
        region = None
        region_of = getattr(self.tracker, "events_region", None)
        if region_of is not None:
            try:
                region = region_of(init_box)
            except HadError:  # a box the tracker refuses: it reports that itself, with the whole window
                region = None
        return self.acc.window(*job.window, region=region)

    def wait_s(self, now_ns: int | None = None, idle_s: float = 0.1) -> float:
        """How long the worker may sleep before :meth:`next_job` could have new work without being
        notified: until the first waiting frame's ``max_event_wait_ms`` runs out (packets, images
        and init boxes notify ``changed``), at most ``idle_s``."""
        with self.lock:
            if not self._frames:
                return idle_s
            now = self.clock() if now_ns is None else int(now_ns)
            due = min(f.arrival_ns for f in self._frames) + self.settings.max_event_wait_ms * 1e6
            return min(idle_s, max(0.0, (due - now) / 1e9) + 0.0005)

    def _next_step(self) -> int | None:
        rate = float(self.settings.event_rate_hz)
        if rate <= 0 or self.uses_rgb or not self._active or self.acc is None or self._last_done_t is None:
            return None
        t_end = self.acc.t_end
        if t_end is None:
            return None
        period = int(round(1e9 / rate))
        base = max(self._step_t or self._last_done_t, self._last_done_t)
        nxt = base + period
        return nxt if t_end >= nxt else None

    def _count_steps_passed(self, t_image: int) -> None:
        """High-rate grid points before an image that never ran (the frames after them were
        dropped as stale, so the worker jumped ahead): counted as skipped too."""
        rate = float(self.settings.event_rate_hz)
        if rate <= 0 or self.uses_rgb or not self._active or self._last_done_t is None:
            return
        base = max(self._step_t or self._last_done_t, self._last_done_t)
        passed = (t_image - 1 - base) // int(round(1e9 / rate))
        if passed > 0:
            self.bad("event_steps_skipped", f"{passed} high-rate steps skipped: frames were dropped, the "
                     f"worker is behind event_rate_hz {rate:g}", n=int(passed))

    def _step_job(self, step: int, latest_first: bool) -> Job:
        if latest_first:
            period = int(round(1e9 / float(self.settings.event_rate_hz)))
            newest = step + (self.acc.t_end - step) // period * period
            if self._frames and self._frames[0].window is not None:
                newest = min(newest, step + max(0, (self._frames[0].window[1] - 1 - step) // period) * period)
            skipped = (newest - step) // period
            if skipped > 0:
                self.bad("event_steps_skipped", f"{skipped} high-rate steps skipped: the worker is behind "
                         f"event_rate_hz {self.settings.event_rate_hz:g}", n=int(skipped))
            step = newest
        self._step_t = step
        window = (step - self.window_ns() + 1, step + 1)
        return Job("events", None, window, started_ns=self.clock())

    # -- running -----------------------------------------------------------------------------------
    def run(self, job: Job) -> Estimate | None:
        """Run the tracker on one job (outside the lock: only the worker calls it)."""
        try:
            return self._run(job)
        except TrackingError as exc:
            with self.lock:
                self.bad("tracking_errors", f"{job.kind} job: {exc}")
        except Exception as exc:
            with self.lock:
                self.bad("internal_errors", f"{job.kind} job: {type(exc).__name__}: {exc}")
        return None

    def frame_rgb(self, frame: Frame) -> np.ndarray:
        enc, step, data, big = frame.image
        return image_to_rgb(enc, frame.width, frame.height, step, data, big)

    def _run(self, job: Job) -> Estimate | None:
        f = job.frame
        t0 = time.perf_counter()
        initialized_now = False
        with self.lock:
            init = self._pending_init
            late = self._last_done_stamp is not None and init is not None and init[1] <= self._last_done_stamp
            if job.kind == "image" and init is not None and (init[1] == 0 or f.stamp_ns >= init[1] or late):
                self._pending_init = None
            else:
                init = None
            if job.kind == "image":
                self._last_done_stamp = f.stamp_ns
                self._last_frame_id = f.frame_id
                if job.window is not None:
                    self._count_steps_passed(job.window[1] - 1)
                    self._last_done_t = job.window[1] - 1
                if job.incomplete:
                    self.bad("windows_incomplete", f"frame stamped {f.stamp_ns} ns tracked after waiting "
                             f"{self.settings.max_event_wait_ms:g} ms without the last events of its window")
            events, num_events = None, self._count(job.window)
            if init is not None or self._active:
                events = self._job_events(job, None if init is None else init[0])
        frame = None
        if job.kind == "image" and self.uses_rgb:
            frame = self.frame_rgb(f)
        events_ok = not self.uses_events or job.window is not None
        if init is not None and events_ok:
            box, _ = init
            w, h = (f.width, f.height)
            if box[0] >= w or box[1] >= h or box[0] + box[2] <= 0 or box[1] + box[3] <= 0:
                with self.lock:
                    self.bad("bad_init", f"init box {box.tolist()} lies outside the {w}x{h} image: refused")
            else:
                self.tracker.initialize(frame, events, box, window=job.window)
                with self.lock:
                    self._active = True
                    self._track_id += 1
                    self.box, self.score = self.tracker.box, 1.0
                    self._step_t = None
                initialized_now = True
        elif init is not None:
            with self.lock:
                self._pending_init = init  # wait for an image on the sensor clock
        elif self._active and events_ok:
            if job.kind == "events":
                box, score = self.tracker.track(None, events, window=job.window)
            else:
                box, score = self.tracker.track(frame, events, window=job.window)
            with self.lock:
                self.box, self.score = box, float(score)
        model_ms = (time.perf_counter() - t0) * 1e3
        with self.lock:
            if initialized_now or (self._active and events_ok):
                self.counts["frames_tracked" if job.kind == "image" else "event_steps"] += 1
                self.model_ms.append(model_ms)
            self._release_events()
            offset = f.offset_ns if job.kind == "image" else self.offset_ns
            if job.kind == "image":
                stamp, frame_id, arrival = f.stamp_ns, f.frame_id, f.arrival_ns
            else:
                stamp = job.window[1] - 1 + (offset or 0)
                frame_id, arrival = self._last_frame_id, job.started_ns
            return Estimate(job.kind, int(stamp), frame_id, self.status,
                            None if not self._active or self.box is None else np.asarray(self.box, np.float64),
                            float(self.score) if self._active else float("nan"), self._track_id,
                            num_events, job.window, offset, arrival, model_ms, f, events, initialized_now)

    def _release_events(self) -> None:
        """Let the buffer drop the events no later job reads: those before the windows of the
        queued frames and before the last processed window's end minus one window (a later
        window, of an image or a high-rate step, ends after it). So the buffer holds about two
        windows, not buffer_max_age_ms, and its compactions copy little."""
        if self.acc is None or self._last_done_t is None:
            return
        keep_from = self._last_done_t + 1 - self.window_ns()
        for f in self._frames:
            if f.window is not None:
                keep_from = min(keep_from, f.window[0])
        self.acc.discard_before(keep_from)

    def process(self, now_ns: int | None = None, flush: bool = False) -> list[Estimate]:
        """Run every ready job in order (no drops): the --direct replay and the tests."""
        out = []
        while True:
            job = self.next_job(now_ns, latest_first=False, flush=flush)
            if job is None:
                return out
            est = self.run(job)
            if est is not None:
                out.append(est)

    def warm_up(self) -> float:
        """Compile and load what the first packet and frame would otherwise wait for (numba kernels
        of the evt3 and mono decoders, the buffer's region window, the voxel grid and the area
        resize of a square reaching off the sensor, the backend's first run) on a small synthetic
        input; returns the seconds it took. Leaves no target behind."""
        from had_ros.events import encode_evt3, encode_mono

        t0 = time.perf_counter()
        rng = np.random.default_rng(0)
        n, w, h = 2000, 64, 64
        ev = Events.from_arrays(rng.integers(0, w, n), rng.integers(0, h, n), np.sort(rng.integers(0, 10**7, n)),
                                rng.integers(0, 2, n), w, h)
        events = make_decoder("evt3", w, h).decode(encode_evt3(ev))
        acc = EventAccumulator(w, h)
        acc.push(make_decoder("mono", w, h).decode(encode_mono(ev, 0)))
        acc.window(0, 10**7, region=(1, 1, w - 1, h - 1))
        frame = np.zeros((h, w, 3), np.uint8) if self.uses_rgb else None
        window = (0, 10**7)
        self.tracker.initialize(frame, events if self.uses_events else None, [20, 20, 16, 16], window=window)
        self.tracker.track(frame, events if self.uses_events else None, window=window)
        # a box whose search square is twice the model's search crop and reaches off the sensor
        mc = self.tracker.model_config
        side = math.ceil(2 * mc.search_size / mc.search_factor)
        box = [w / 2 - side / 2, h / 2 - side / 2, side, side]
        self.tracker.initialize(frame, events if self.uses_events else None, box, window=window)
        self.tracker.track(frame, events if self.uses_events else None, window=window)
        return time.perf_counter() - t0

    # -- diagnostics -------------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            out: dict[str, Any] = dict(self.counts)
            out["queue_depth"] = len(self._frames)
            out["status"] = ("uninitialized", "tracking", "lost")[self.status]
            out["track_id"] = self._track_id
            out["sensor_to_host_offset_ns"] = self.offset_ns
            if self.acc is not None:
                out.update(buffer_events=len(self.acc), buffer_overflow=self.acc.dropped_overflow,
                           buffer_expired=self.acc.expired, buffer_late=self.acc.dropped_late)
            for k, v in self.decoder_stats.items():
                out[f"decoder_{k}"] = v
            for name, values in (("latency_ms", self.latencies_ms), ("model_ms", self.model_ms)):
                if values:
                    a = np.asarray(values)
                    out[f"{name}_p50"] = float(np.percentile(a, 50))
                    out[f"{name}_p99"] = float(np.percentile(a, 99))
            return out


def build_core(values: dict[str, Any], logger: Any = None) -> TrackerCore:
    """A TrackerCore from a full set of node parameters (params.defaults() updated): the model
    (empty: ``default_model()``), backend, providers, threads and the tracker.* fields. The core's
    ``model_info`` says which file was loaded and whether it is trained."""
    from had_ros.eval.cli import model_info
    from had_ros.ros import params as P
    from had_ros.tracking.factory import build_tracker, default_model

    reason = P.check_all(values)
    if reason:
        raise HadError(f"parameter refused: {reason}")
    model = values["model"] or default_model()
    info = model_info(model)
    tracker = build_tracker(model, backend=values["backend"], device=values["device"],
                            providers=list(values["providers"]) or None,
                            threads=values["threads"] or None, config=P.tracker_config(values))
    core = TrackerCore(tracker, CoreSettings.from_params(values), logger=logger)
    core.model_info = {**info, "spec": model, "backend": tracker.backend.describe()}
    return core
