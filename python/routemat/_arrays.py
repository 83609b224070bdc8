"""NumPy arrays and PyTorch CPU tensors as routemat_rows views, zero-copy.

Neither NumPy nor PyTorch is imported here: an object is recognised as an
array of one of them only when that library is already imported (it could not
exist otherwise), so NumPy-only use never imports torch.
"""

import ctypes
import operator
import sys

from ._lib import BF16, F16, F32, F64, INT32, INT64, RoutematError, RoutematTypeError

NUMPY, TORCH = "numpy", "torch"
VALUE_NAMES = ("float32", "float64", "bfloat16", "float16")  # by routemat_value_type

_from_buffer = ctypes.c_char.from_buffer
_addressof = ctypes.addressof
_np_types = {}  # numpy dtype -> (routemat_value_type, itemsize), filled on first use
_torch_types = {}  # torch dtype -> routemat_value_type, filled on first use
# NumPy has no bfloat16, so its arrays are f32, f64 or f16.
_NP_TYPES_TEXT = "float32, float64 or float16"
_TORCH_TYPES_TEXT = "float32, float64, bfloat16 or float16"


def _numpy_value_types(np):
    if not _np_types:
        _np_types[np.dtype(np.float32)] = (F32, 4)
        _np_types[np.dtype(np.float64)] = (F64, 8)
        _np_types[np.dtype(np.float16)] = (F16, 2)
    return _np_types


def _torch_value_types(torch):
    if not _torch_types:
        _torch_types.update({torch.float32: F32, torch.float64: F64, torch.bfloat16: BF16,
                             torch.float16: F16})
    return _torch_types


def _dtype_name(dtype):
    text = str(dtype)
    return text[6:] if text.startswith("torch.") else text


def _layout(name, rows, width, row_stride, inner_stride, itemsize_or_none):
    """The element stride between rows; raises for layouts the C ABI cannot take.

    Strides are in elements, except when itemsize_or_none is given: then they
    are in bytes (NumPy) and must be multiples of it.
    """
    size = itemsize_or_none
    if size is not None and rows > 0:
        if width > 1 and inner_stride != size:
            if inner_stride % size:
                raise RoutematError(f"{name}: rows must be contiguous along d (inner stride of "
                                    f"{inner_stride} bytes, elements are {size} bytes)")
            inner_stride //= size
        elif width > 1:
            inner_stride = 1
        if rows > 1 and row_stride % size:
            raise RoutematError(f"{name}: the row stride of {row_stride} bytes is not a multiple "
                                f"of the element size ({size} bytes)")
        row_stride //= size
    if width < 1:
        raise RoutematError(f"{name}: rows of width {width}; routemat needs d >= 1",
                            "ROUTEMAT_ERROR_SHAPE_MISMATCH")
    if rows == 0:
        return width  # no row: no stride is used
    if width > 1 and inner_stride != 1:
        raise RoutematError(f"{name}: rows must be contiguous along d (inner stride "
                            f"{inner_stride})")
    if rows == 1:
        return width  # a single row: its stride is never used
    if row_stride < width:
        if row_stride < 0:
            raise RoutematError(f"{name}: rows must go forward in memory (row stride "
                                f"{row_stride})")
        raise RoutematError(f"{name}: rows overlap (row stride {row_stride} < width {width})")
    return row_stride


def value_view(x, name, output=False):
    """(data, rows, width, stride, value_type, kind, ndim) of a 1-D or 2-D float array.

    kind is NUMPY or TORCH. An output must be writable and, for a tensor, not
    require grad (routemat writes it behind autograd's back). The common
    layouts are checked inline; _layout handles the rest and the errors.
    """
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(x, torch.Tensor):
        if not x.is_cpu:
            raise RoutematError(f"{name}: tensor on {x.device}; routemat runs on CPU tensors")
        if x.layout is not torch.strided:
            raise RoutematError(f"{name}: a {x.layout} tensor; routemat takes strided (dense) "
                                "tensors")
        dt = x.dtype
        if dt is torch.float32:  # the common case first, without a dict lookup
            vtype = F32
        else:
            vtype = (_torch_types or _torch_value_types(torch)).get(dt)
            if vtype is None:
                raise RoutematTypeError(f"{name}: dtype {_dtype_name(dt)} is not "
                                        f"{_TORCH_TYPES_TEXT}")
        shape = x.shape
        nd = len(shape)
        if nd == 1:
            rows, width = shape[0], 1
            stride = x.stride(0)
            if stride < 1:
                stride = _layout(name, rows, 1, stride, 1, None)
        elif nd == 2:
            rows, width = shape
            stride, s1 = x.stride()
            if s1 != 1 or stride < width or width < 1:
                stride = _layout(name, rows, width, stride, s1, None)
        else:
            raise RoutematError(f"{name}: a {nd}-D tensor; routemat takes 1-D (d = 1) or 2-D "
                                "(rows x d) tensors", "ROUTEMAT_ERROR_SHAPE_MISMATCH")
        if output and x.requires_grad:
            raise RoutematError(f"{name}: the tensor requires grad; routemat writes outputs in "
                                "place, outside autograd (use routemat.autograd for gradients)")
        return x.data_ptr(), rows, width, stride, vtype, TORCH, nd
    np = sys.modules.get("numpy")
    if np is not None and isinstance(x, np.ndarray):
        try:
            vtype, size = (_np_types or _numpy_value_types(np))[x.dtype]
        except KeyError:
            raise RoutematTypeError(f"{name}: dtype {x.dtype} is not {_NP_TYPES_TEXT}") from None
        shape = x.shape
        nd = len(shape)
        if nd == 1:
            rows, width = shape[0], 1
            stride = x.strides[0]
            if stride == size:
                stride = 1
            else:
                stride = _layout(name, rows, 1, stride, size, size)
        elif nd == 2:
            rows, width = shape
            s0, s1 = x.strides
            if s1 == size and s0 % size == 0 and s0 >= width * size and width >= 1:
                stride = s0 // size
            else:
                stride = _layout(name, rows, width, s0, s1, size)
        else:
            raise RoutematError(f"{name}: a {nd}-D array; routemat takes 1-D (d = 1) or 2-D "
                                "(rows x d) arrays", "ROUTEMAT_ERROR_SHAPE_MISMATCH")
        try:  # a writable contiguous array's address, three times as fast as x.ctypes.data
            data = _addressof(_from_buffer(x))
        except (TypeError, ValueError, BufferError):  # read-only, strided or empty
            if output and not x.flags.writeable:
                raise RoutematError(f"{name}: the array is read-only") from None
            data = x.ctypes.data
        return data, rows, width, stride, vtype, NUMPY, nd
    raise RoutematTypeError(f"{name}: a {type(x).__module__}.{type(x).__qualname__} is not a "
                            "NumPy array or a PyTorch CPU tensor")


def empty_like_rows(kind, like, rows, width, ndim):
    """A new uninitialised (rows,) or (rows, width) array of like's library and dtype."""
    shape = (rows,) if ndim == 1 else (rows, width)
    if kind == NUMPY:
        return sys.modules["numpy"].empty(shape, like.dtype)
    return sys.modules["torch"].empty(shape, dtype=like.dtype)


def index_array(idx, name="idx", copy=False):
    """(kept, data, length, index_type): a 1-D int32/int64 array the map can point at.

    kept is the array whose memory the map reads: idx itself when it is already
    a contiguous 1-D int32/int64 CPU array (and copy is false), else a copy.
    Other sequences go through numpy.asarray (or torch.tensor when NumPy is missing).
    """
    np = sys.modules.get("numpy")
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(idx, torch.Tensor):
        if not idx.is_cpu:
            raise RoutematError(f"{name}: tensor on {idx.device}; routemat runs on CPU tensors")
        if idx.layout is not torch.strided:
            raise RoutematError(f"{name}: a {idx.layout} tensor; routemat takes strided (dense) "
                                "tensors")
        dt = idx.dtype
        if dt is torch.int32:
            itype = INT32
        elif dt is torch.int64:
            itype = INT64
        else:
            raise RoutematTypeError(f"{name}: dtype {_dtype_name(dt)} is not int32 or int64 "
                                    "(indices must be integers)")
        if idx.dim() != 1:
            raise RoutematError(f"{name}: a {idx.dim()}-D tensor; the index map is 1-D",
                                "ROUTEMAT_ERROR_SHAPE_MISMATCH")
        kept = idx.detach()
        if copy:
            kept = kept.clone(memory_format=torch.contiguous_format)
        elif not kept.is_contiguous():
            kept = kept.contiguous()
        return kept, kept.data_ptr(), kept.shape[0], itype
    if np is None or not isinstance(idx, np.ndarray):
        if not isinstance(idx, (list, tuple, range)) and not hasattr(idx, "__array__"):
            raise RoutematTypeError(f"{name}: a {type(idx).__qualname__} is not an index array "
                                    "(a NumPy array, a PyTorch tensor or a sequence of ints)")
        if np is None:
            try:
                import numpy as np
            except ImportError:
                if torch is None:
                    raise
                # torch without numpy: the sequence becomes a tensor (int64 when empty).
                values = list(idx)
                tensor = torch.tensor(values) if values else torch.zeros(0, dtype=torch.int64)
                return index_array(tensor, name)
        arr = np.asarray(idx)
        if arr.size == 0 and arr.dtype.kind == "f":
            arr = arr.astype(np.int64)  # np.asarray([]) is float64
        idx, copy = arr, False
    dt = idx.dtype
    if dt == np.int32 and dt.isnative:
        itype = INT32
    elif dt == np.int64 and dt.isnative:
        itype = INT64
    else:
        raise RoutematTypeError(f"{name}: dtype {dt} is not int32 or int64 (indices must be "
                                "integers)")
    if idx.ndim != 1:
        raise RoutematError(f"{name}: a {idx.ndim}-D array; the index map is 1-D",
                            "ROUTEMAT_ERROR_SHAPE_MISMATCH")
    if copy or not idx.flags.c_contiguous:
        idx = np.array(idx, order="C", copy=True)
    return idx, idx.ctypes.data, idx.shape[0], itype


def as_int(value, name):
    try:
        return operator.index(value)
    except TypeError:
        raise RoutematTypeError(f"{name}: {value!r} is not an integer") from None
