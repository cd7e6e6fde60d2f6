"""The UTF-8 boundary helper every log slice is trimmed with (pure: no database)."""

from __future__ import annotations

import pytest

from striv.core.text import utf8_boundary

# One character of each length: 1, 2, 3 and 4 bytes.
TEXT = "aé€😀"
DATA = TEXT.encode()
STARTS = [0, 1, 3, 6, 10]  # where each character starts, and the end


def test_backward_keeps_every_whole_character_and_drops_a_cut_one():
    # Cutting the text after n bytes keeps the characters that are whole within them.
    assert [utf8_boundary(DATA[:n], n) for n in range(len(DATA) + 1)] == [0, 1, 1, 3, 3, 3, 6, 6, 6, 6, 10]


@pytest.mark.parametrize("char", ["é", "€", "😀"])
def test_backward_at_each_byte_of_a_multibyte_character_goes_to_its_start(char):
    data = b"ab" + char.encode() + b"c"
    for index in range(2, 2 + len(char.encode())):
        assert utf8_boundary(data, index) == 2
    assert utf8_boundary(data, 2 + len(char.encode())) == 2 + len(char.encode())


@pytest.mark.parametrize("char", ["é", "€", "😀"])
def test_backward_at_the_end_of_a_partial_character_holds_it_back(char):
    encoded = char.encode()
    for cut in range(1, len(encoded)):
        data = b"ab" + encoded[:cut]
        assert utf8_boundary(data, len(data)) == 2
    assert utf8_boundary(b"ab" + encoded, 2 + len(encoded)) == 2 + len(encoded)


@pytest.mark.parametrize("char", ["é", "€", "😀"])
def test_forward_from_inside_a_character_skips_its_continuation_bytes(char):
    encoded = char.encode()
    for cut in range(1, len(encoded)):
        assert utf8_boundary(encoded[cut:] + b"x", 0, forward=True) == len(encoded) - cut
    assert utf8_boundary(encoded + b"x", 0, forward=True) == 0


def test_forward_from_a_position_in_the_middle():
    assert [utf8_boundary(DATA, n, forward=True) for n in range(len(DATA) + 1)] == [0, 1, 3, 3, 6, 6, 6, 10, 10, 10, 10]


def test_ascii_is_never_moved():
    for index in range(4):
        assert utf8_boundary(b"abc", index) == index
        assert utf8_boundary(b"abc", index, forward=True) == index


def test_empty_data():
    assert utf8_boundary(b"", 0) == 0
    assert utf8_boundary(b"", 0, forward=True) == 0


@pytest.mark.parametrize(
    "data",
    [
        b"ab\xff",  # a byte no character starts with
        b"ab\xf8",
        b"ab\x80\x80\x80\x80",  # continuation bytes without a lead byte
        b"ab\xc3\xa9\xa9",  # a stray continuation byte after a whole character
    ],
)
def test_invalid_bytes_at_the_end_are_not_held_back(data):
    assert utf8_boundary(data, len(data)) == len(data)


def test_forward_skips_at_most_three_continuation_bytes():
    assert utf8_boundary(b"\x80\x80\x80\x80x", 0, forward=True) == 3


@pytest.mark.parametrize("index", [-1, 4])
def test_an_index_outside_the_data_is_an_error(index):
    with pytest.raises(ValueError, match="outside"):
        utf8_boundary(b"abc", index)
