"""Text helpers for byte slices: where a slice of UTF-8 text may start or end without cutting a character.

Logs are read in byte ranges (a tail, a page before an offset, the bytes written since the last poll), and a range
can begin or end inside a multi-byte character. Every such slice is trimmed here, so the rule lives in one place.
"""

from __future__ import annotations

#: A UTF-8 character is at most four bytes long: a lead byte and up to three continuation bytes.
_MAX_CONTINUATION = 3


def _is_continuation(byte: int) -> bool:
    return byte & 0xC0 == 0x80


def _sequence_length(lead: int) -> int:
    """How many bytes the character starting with ``lead`` has; 1 for ASCII and for bytes no character starts with."""
    if lead >> 5 == 0b110:
        return 2
    if lead >> 4 == 0b1110:
        return 3
    if lead >> 3 == 0b11110:
        return 4
    return 1


def utf8_boundary(data: bytes, index: int, *, forward: bool = False) -> int:
    """Return the position nearest ``index`` in ``data`` that does not fall inside a UTF-8 character.

    Backward (the default) it is ``index`` when the character before it is whole, else the start of the character
    that ``index`` cuts (at most 3 bytes back): the end of a slice whose last character is not all there yet.
    ``index == len(data)`` is allowed; the bytes after the end are taken to be missing.

    Forward it is the first position at or after ``index`` that is not a continuation byte (at most 3 bytes on):
    the start of a slice taken from the middle of a stream, whose first character began before it.

    Bytes that are not valid UTF-8 are never trimmed (decoding replaces them). Raises ValueError when ``index`` is
    outside ``0..len(data)``.
    """
    if not 0 <= index <= len(data):
        raise ValueError(f"index {index} is outside 0..{len(data)}")
    if forward:
        end = min(index + _MAX_CONTINUATION, len(data))
        while index < end and _is_continuation(data[index]):
            index += 1
        return index
    for back in range(1, min(_MAX_CONTINUATION + 1, index) + 1):
        byte = data[index - back]
        if _is_continuation(byte):
            continue  # look further back for the lead byte
        return index - back if back < _sequence_length(byte) else index
    return index
