"""One factory for the stream decoders (the encodings of event_camera_msgs/EventPacket and of
Prophesee .raw files)."""
from __future__ import annotations

from had_ros.errors import DecodeError
from had_ros.events.codec import StreamDecoder
from had_ros.events.evt2 import Evt2Decoder, Evt21Decoder
from had_ros.events.evt3 import Evt3Decoder
from had_ros.events.libcaer import LibcaerCmpDecoder, LibcaerDecoder
from had_ros.events.mono import MonoDecoder, TriggerDecoder

DECODERS: dict[str, type[StreamDecoder]] = {
    "evt3": Evt3Decoder,            # Prophesee EVT 3.0 (metavision_driver, IMX636/Gen4 .raw)
    "evt2": Evt2Decoder,            # Prophesee EVT 2.0 (Gen3 .raw files)
    "evt21": Evt21Decoder,          # Prophesee EVT 2.1
    "mono": MonoDecoder,
    "trigger": TriggerDecoder,
    "libcaer": LibcaerDecoder,      # libcaer_driver (DAVIS, DVXplorer), uncompressed
    "libcaer_cmp": LibcaerCmpDecoder,  # libcaer_driver, compressed
}


def make_decoder(encoding: str, width: int, height: int, **options) -> StreamDecoder:
    """A fresh stateful decoder for one stream of ``encoding`` (see DECODERS); ``options`` go to
    its constructor (for example ``backend`` for evt3, ``endianness`` for evt21).

    Raises DecodeError naming the encoding and the known ones when it is unknown, or when the
    sensor size is not positive."""
    key = str(encoding).strip().lower()
    if key not in DECODERS:
        raise DecodeError(
            f"unknown event encoding {encoding!r}; known encodings: {', '.join(sorted(DECODERS))}"
        )
    return DECODERS[key](width, height, **options)
