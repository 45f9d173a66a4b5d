"""One factory for the stream decoders (the encodings of event_camera_msgs/EventPacket)."""
from __future__ import annotations

from had_ros.errors import DecodeError
from had_ros.events.codec import StreamDecoder
from had_ros.events.evt3 import Evt3Decoder
from had_ros.events.mono import MonoDecoder, TriggerDecoder

DECODERS: dict[str, type[StreamDecoder]] = {
    "evt3": Evt3Decoder,
    "mono": MonoDecoder,
    "trigger": TriggerDecoder,
}


def make_decoder(encoding: str, width: int, height: int) -> StreamDecoder:
    """A fresh stateful decoder for one stream of ``encoding`` (evt3, mono or trigger).

    Raises DecodeError naming the encoding and the known ones when it is unknown, or when the
    sensor size is not positive."""
    key = str(encoding).strip().lower()
    if key not in DECODERS:
        raise DecodeError(
            f"unknown event encoding {encoding!r}; known encodings: {', '.join(sorted(DECODERS))}"
        )
    return DECODERS[key](width, height)
