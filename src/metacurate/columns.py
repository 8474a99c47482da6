"""Zero-copy NumPy views of Arrow string columns, the input layout of every kernel."""

import numpy as np
import pyarrow as pa


def string_buffers(array: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(data uint8, offsets int64 of len n + 1, valid bool) of a string or binary column.

    Copies only when the layout needs it (chunked input, 32-bit offsets, string views).
    """
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if not (pa.types.is_large_string(array.type) or pa.types.is_large_binary(array.type)):
        binary = pa.types.is_binary(array.type) or pa.types.is_binary_view(array.type)
        array = array.cast(pa.large_binary() if binary else pa.large_string())
    _, offsets_buf, data_buf = array.buffers()
    start = array.offset
    offsets = np.frombuffer(offsets_buf, dtype=np.int64)[start : start + len(array) + 1]
    data = np.zeros(0, np.uint8) if data_buf is None else np.frombuffer(data_buf, dtype=np.uint8)
    if array.null_count == 0:
        valid = np.ones(len(array), dtype=np.bool_)
    else:
        valid = array.is_valid().to_numpy(zero_copy_only=False)
    return data, offsets, valid
