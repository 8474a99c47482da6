import numpy as np
import pyarrow as pa
import pytest

from metacurate.counting import count_ids, t_for_tail_fraction, tail_fraction


def test_count_ids():
    ids = pa.array([[0, 2], [2], [], [1, 2]], pa.list_(pa.int32()))
    assert count_ids(ids, 4).tolist() == [1, 1, 3, 0]
    assert count_ids(ids, 4).dtype == np.uint64


def test_tail_fraction_and_back():
    counts = np.array([0, 1, 1, 2, 5, 10, 100], dtype=np.uint64)  # total 119
    assert tail_fraction(counts, 3) == pytest.approx(4 / 119)
    assert tail_fraction(counts, 6) == pytest.approx(9 / 119)
    assert tail_fraction(counts, 101) == 1.0
    for t in [2, 3, 6, 11, 101]:
        assert t_for_tail_fraction(counts, tail_fraction(counts, t)) == t
    assert t_for_tail_fraction(counts, 0.05) == 6  # smallest t whose tail holds >= 5%
    assert t_for_tail_fraction(counts, 1.0) == 101
    assert t_for_tail_fraction(counts, 0.0) == 1


def test_tail_fraction_of_nothing():
    assert tail_fraction(np.zeros(3, np.uint64), 10) == 0.0
    assert t_for_tail_fraction(np.zeros(3, np.uint64), 0.5) == 1
