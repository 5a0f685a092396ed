"""The Python peer of `dl4j convert model.zip model.safetensors` for the end-to-end benchmark.

What a team would hand-write with zipfile + numpy + safetensors: read the DL4J zip, decode the
ND4J arrays in coefficients.bin and updaterState.bin, split them per parameter as the network
configuration lays them out, and save the same tensor names and shapes `dl4j` writes
(`<layer>_<key>` in logical shape, `updater.<layer>_<key>.m|v` for Adam).

Usage: python python_peer.py MODEL.zip OUT.safetensors

Supported (enough for the benchmark models): MultiLayerNetwork with Dense/Output/RnnOutput,
Convolution and LSTM layers, f32/f64/f16 arrays, no updater or one global Adam.
"""

import json
import struct
import sys
import zipfile

import numpy as np
from safetensors.numpy import save_file

# ND4J dtype names -> big-endian numpy dtypes.
DTYPES = {"FLOAT": ">f4", "DOUBLE": ">f8", "HALF": ">f2"}
LONG_LENGTH = {"LONG_SHAPE", "MIXED_DATA_TYPES"}


def read_utf(buf, pos):
    (n,) = struct.unpack_from(">H", buf, pos)
    return buf[pos + 2 : pos + 2 + n].decode("ascii"), pos + 2 + n


def read_header(buf, pos):
    """A DataBuffer header: allocation mode, element count (int32 or int64), type name."""
    mode, pos = read_utf(buf, pos)
    if mode in LONG_LENGTH:
        (length,) = struct.unpack_from(">q", buf, pos)
        pos += 8
    else:
        (length,) = struct.unpack_from(">i", buf, pos)
        pos += 4
    dtype, pos = read_utf(buf, pos)
    return length, dtype, pos


def read_nd4j(buf):
    """Decodes an Nd4j.write stream holding a vector; returns a 1-D big-endian view."""
    length, stype, pos = read_header(buf, 0)
    width = {"LONG": ">i8", "INT": ">i4"}[stype]
    shape_info = np.frombuffer(buf, dtype=width, count=length, offset=pos)
    pos += length * np.dtype(width).itemsize
    rank = int(shape_info[0])
    shape = [int(x) for x in shape_info[1 : 1 + rank]]
    if rank > 2 or (rank == 2 and min(shape) != 1):
        raise ValueError(f"expected a vector, found shape {shape}")
    length, dtype, pos = read_header(buf, pos)
    if dtype not in DTYPES:
        raise ValueError(f"unsupported data type {dtype}")
    return np.frombuffer(buf, dtype=DTYPES[dtype], count=length, offset=pos)


def layer_params(layer):
    """(key, logical shape, 'f' or 'c') in DL4J's flattened order."""
    cls = layer["@class"].rsplit(".", 1)[-1]
    n_in, n_out = layer.get("nin"), layer.get("nout")
    if cls in ("DenseLayer", "OutputLayer", "RnnOutputLayer"):
        return [("W", (n_in, n_out), "f"), ("b", (n_out,), "c")]
    if cls == "ConvolutionLayer":
        kh, kw = layer["kernelSize"]
        return [("b", (n_out,), "c"), ("W", (n_out, n_in, kh, kw), "c")]
    if cls == "LSTM":
        return [
            ("W", (n_in, 4 * n_out), "f"),
            ("RW", (n_out, 4 * n_out), "f"),
            ("b", (4 * n_out,), "c"),
        ]
    if cls in ("SubsamplingLayer", "GlobalPoolingLayer", "DropoutLayer", "ActivationLayer"):
        return []
    raise ValueError(f"layer type {cls} is not supported")


def split(flat, offset, shape, order):
    """One parameter as a little-endian C-contiguous array (f-order weights are transposed)."""
    n = int(np.prod(shape))
    piece = flat[offset : offset + n]
    if order == "f":
        piece = piece.reshape(shape[::-1]).T
    else:
        piece = piece.reshape(shape)
    return np.ascontiguousarray(piece, dtype=piece.dtype.newbyteorder("<"))


def main(src, dst):
    with zipfile.ZipFile(src) as z:
        config = json.loads(z.read("configuration.json"))
        params = read_nd4j(z.read("coefficients.bin"))
        names = set(z.namelist())
        state = read_nd4j(z.read("updaterState.bin")) if "updaterState.bin" in names else None

    layout = []  # (name, shape, order, offset)
    offset = 0
    updaters = set()
    for i, conf in enumerate(config["confs"]):
        layer = conf["layer"]
        for key, shape, order in layer_params(layer):
            layout.append((f"{i}_{key}", shape, order, offset))
            offset += int(np.prod(shape))
            updaters.add(json.dumps(layer.get("iupdater"), sort_keys=True))
    if offset != params.size:
        raise ValueError(f"configuration has {offset} params, coefficients.bin {params.size}")

    tensors = {}
    for name, shape, order, off in layout:
        tensors[name] = split(params, off, shape, order)
    if state is not None:
        # One global Adam is a single updater block: m for every parameter, then v.
        kinds = {json.loads(u)["@class"].rsplit(".", 1)[-1] for u in updaters}
        if kinds != {"Adam"} or len(updaters) != 1 or state.size != 2 * offset:
            raise ValueError("only a single global Adam updater is supported")
        for piece, base in (("m", 0), ("v", offset)):
            for name, shape, order, off in layout:
                tensors[f"updater.{name}.{piece}"] = split(state, base + off, shape, order)

    save_file(tensors, dst, metadata={"configuration.json": json.dumps(config)})


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python_peer.py MODEL.zip OUT.safetensors")
    main(sys.argv[1], sys.argv[2])
