#!/usr/bin/env python3
"""Golden fixtures for the Recur engine, generated with real Keras 3.

Modes
-----
(default)            Generate every fixture into Tests/RecurEngineTests/Fixtures/keras/,
                     then verify them: the numpy-only reader round-trips every file, and
                     every forward fixture is reproduced by loading its checkpoint into a
                     fresh Keras model.
--check CKPT [--input X.npy --output Y.npy] [--tolerance 1e-5]
                     Read a checkpoint (for example one written by the Swift engine) with the
                     numpy-only reader, print its metadata and tensors, rebuild the Keras
                     model from the spec in the metadata, set_weights, and optionally
                     compare model.predict(X) with Y. Exits non-zero if the difference is
                     above the tolerance.
--selftest           Recompute the fixtures with a float64 pure-numpy reference (SimpleRNN,
                     LSTM, GRU with reset_after True/False, go_backwards, Bidirectional,
                     Dense) and the optimizer steps (RMSprop, Adam, SGD, clipping) from
                     TF gradients plus numpy update formulas. Documents the math.

Checkpoint format ("recur.model.v1", a safetensors file)
---------------------------------------------------------
u64 little-endian header length N | N bytes of UTF-8 JSON (starts with "{", padded with
spaces so the byte buffer starts at a multiple of 8) | byte buffer. Header entries are
"name": {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]} relative to the
buffer start, tiling the buffer in the order written (Keras get_weights() order); the
"__metadata__" entry is a string->string map with "format" and "spec" (compact JSON).
Tensor names: layers.<i>.kernel | recurrent_kernel | bias, and for Bidirectional
layers.<i>.forward.<...> / layers.<i>.backward.<...>; Dense: layers.<i>.kernel, bias.

Only numpy, keras and tensorflow are used; the safetensors package is deliberately not.
"""

import argparse
import hashlib
import json
import os
import struct
import sys
import zlib
from pathlib import Path

import numpy as np

# --------------------------------------------------------------------------------------
# Paths and constants
# --------------------------------------------------------------------------------------

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUT_DIR = REPO_ROOT / "Tests" / "RecurEngineTests" / "Fixtures" / "keras"
FORMAT = "recur.model.v1"
GATES = {"simple_rnn": 1, "lstm": 4, "gru": 3}
RECURRENT_TYPES = tuple(GATES)

# --------------------------------------------------------------------------------------
# numpy-only safetensors writer and reader
# --------------------------------------------------------------------------------------

_ST_DTYPES = {
    "F64": "<f8", "F32": "<f4", "F16": "<f2",
    "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1",
    "U64": "<u8", "U32": "<u4", "U16": "<u2", "U8": "u1", "BOOL": "?",
}


def safetensors_bytes(tensors, metadata):
    """tensors: list of (name, array) in buffer order; metadata: dict str -> str."""
    header = {}
    blobs = []
    offset = 0
    for name, array in tensors:
        if name in header or name == "__metadata__":
            raise ValueError(f"duplicate or reserved tensor name {name!r}")
        a = np.ascontiguousarray(np.asarray(array, dtype=np.float32)).astype("<f4", copy=False)
        blob = a.tobytes(order="C")
        header[name] = {
            "dtype": "F32",
            "shape": [int(d) for d in a.shape],
            "data_offsets": [offset, offset + len(blob)],
        }
        blobs.append(blob)
        offset += len(blob)
    for k, v in metadata.items():
        if not isinstance(k, str) or not isinstance(v, str):
            raise TypeError(f"metadata must be str -> str, got {k!r}: {v!r}")
    header["__metadata__"] = dict(metadata)
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode("utf-8")
    text += b" " * ((-(8 + len(text))) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(blobs)


def write_safetensors(path, tensors, metadata):
    Path(path).write_bytes(safetensors_bytes(tensors, metadata))


def _no_duplicate_keys(pairs):
    out = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"duplicate JSON key {k!r}")
        out[k] = v
    return out


def parse_safetensors(data):
    """Returns (metadata dict, list of (name, array) in buffer order). Validates the file."""
    if len(data) < 8:
        raise ValueError("file shorter than 8 bytes")
    (n,) = struct.unpack("<Q", data[:8])
    if n > 100_000_000 or 8 + n > len(data):
        raise ValueError(f"bad header length {n}")
    raw = data[8:8 + n]
    if raw[:1] != b"{":
        raise ValueError("header does not start with '{'")
    header = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicate_keys)
    metadata = header.pop("__metadata__", None) or {}
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
        raise ValueError("__metadata__ must be a string -> string map")
    buffer_len = len(data) - 8 - n
    entries = sorted(header.items(), key=lambda kv: tuple(kv[1]["data_offsets"]))
    expected_begin = 0
    tensors = []
    for name, info in entries:
        dtype = info["dtype"]
        if dtype not in _ST_DTYPES:
            raise ValueError(f"{name}: unsupported dtype {dtype}")
        shape = [int(d) for d in info["shape"]]
        begin, end = (int(v) for v in info["data_offsets"])
        if begin != expected_begin or end < begin:
            raise ValueError(f"{name}: offsets {begin},{end} do not tile the buffer")
        npdt = np.dtype(_ST_DTYPES[dtype])
        count = int(np.prod(shape, dtype=np.int64))
        if end - begin != count * npdt.itemsize:
            raise ValueError(f"{name}: byte size {end - begin} != prod({shape}) * {npdt.itemsize}")
        arr = np.frombuffer(data, dtype=npdt, count=count, offset=8 + n + begin).reshape(shape)
        tensors.append((name, arr.copy()))
        expected_begin = end
    if expected_begin != buffer_len:
        raise ValueError(f"tensors cover {expected_begin} bytes but the buffer has {buffer_len}")
    return metadata, tensors


def read_safetensors(path):
    return parse_safetensors(Path(path).read_bytes())


# --------------------------------------------------------------------------------------
# Model spec helpers (shared by the Keras builder, the names and the numpy reference)
# --------------------------------------------------------------------------------------

def rnn(kind, units, return_sequences=False, go_backwards=False, dropout=0.0,
        recurrent_dropout=0.0, bidirectional=False, merge_mode="concat", reset_after=True):
    layer = {
        "type": kind,
        "units": units,
        "return_sequences": return_sequences,
        "go_backwards": go_backwards,
        "dropout": float(dropout),
        "recurrent_dropout": float(recurrent_dropout),
        "bidirectional": bidirectional,
        "merge_mode": merge_mode,
    }
    if kind == "gru":
        layer["reset_after"] = reset_after
    return layer


def bi(kind, units, merge_mode="concat", **kw):
    return rnn(kind, units, bidirectional=True, merge_mode=merge_mode, **kw)


def dense(units):
    return {"type": "dense", "units": units}


def dropout(rate):
    return {"type": "dropout", "rate": float(rate)}


def spec_json(spec):
    return json.dumps(spec, separators=(",", ":"))


def layer_output_dim(layer, in_dim):
    t = layer["type"]
    if t == "dropout":
        return in_dim
    if t == "dense":
        return layer["units"]
    if layer["bidirectional"] and layer["merge_mode"] == "concat":
        return 2 * layer["units"]
    return layer["units"]


def expected_tensors(spec):
    """[(name, shape)] in Keras get_weights() order for a model spec."""
    out = []
    in_dim = spec["input_features"]
    for i, layer in enumerate(spec["layers"]):
        t = layer["type"]
        if t == "dense":
            out += [(f"layers.{i}.kernel", [in_dim, layer["units"]]),
                    (f"layers.{i}.bias", [layer["units"]])]
        elif t in RECURRENT_TYPES:
            h = layer["units"]
            gh = GATES[t] * h
            bias = [2, gh] if (t == "gru" and layer["reset_after"]) else [gh]
            prefixes = [f"layers.{i}.forward.", f"layers.{i}.backward."] if layer["bidirectional"] else [f"layers.{i}."]
            for p in prefixes:
                out += [(p + "kernel", [in_dim, gh]), (p + "recurrent_kernel", [h, gh]), (p + "bias", bias)]
        elif t != "dropout":
            raise ValueError(f"unknown layer type {t!r}")
        in_dim = layer_output_dim(layer, in_dim)
    return out


# --------------------------------------------------------------------------------------
# Keras side
# --------------------------------------------------------------------------------------

_keras = None


def init_keras():
    """Import TF/Keras once, single-threaded and deterministic."""
    global _keras
    if _keras is not None:
        return _keras
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    tf.config.experimental.enable_op_determinism()
    tf.get_logger().setLevel("ERROR")  # silence tf.function retracing warnings
    import keras
    if keras.backend.backend() != "tensorflow":
        raise SystemExit("this script expects KERAS_BACKEND=tensorflow")
    _keras = keras
    return keras


def keras_layer(layer, return_state=False):
    keras = init_keras()
    t = layer["type"]
    if t == "dense":
        return keras.layers.Dense(layer["units"])  # linear activation
    if t == "dropout":
        return keras.layers.Dropout(layer["rate"])
    cls = {"simple_rnn": keras.layers.SimpleRNN, "lstm": keras.layers.LSTM, "gru": keras.layers.GRU}[t]
    kw = dict(units=layer["units"], return_sequences=layer["return_sequences"],
              go_backwards=layer["go_backwards"], dropout=layer["dropout"],
              recurrent_dropout=layer["recurrent_dropout"], return_state=return_state)
    if t == "gru":
        kw["reset_after"] = layer["reset_after"]
    if layer["bidirectional"]:
        return keras.layers.Bidirectional(cls(**kw), merge_mode=layer["merge_mode"])
    return cls(**kw)


def build_model(spec, timesteps, seed, return_state=False):
    """Sequential model for a spec (functional with return_state for a single RNN layer)."""
    keras = init_keras()
    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    if return_state:
        assert len(spec["layers"]) == 1 and spec["layers"][0]["type"] in RECURRENT_TYPES
        inp = keras.Input((timesteps, spec["input_features"]))
        outs = keras_layer(spec["layers"][0], return_state=True)(inp)
        return keras.Model(inp, list(outs))
    model = keras.Sequential([keras.Input((timesteps, spec["input_features"]))]
                             + [keras_layer(l) for l in spec["layers"]])
    return model


def model_layers(model):
    return [l for l in model.layers if type(l).__name__ != "InputLayer"]


def model_tensors(model, spec):
    """[(name, array)] in get_weights() order, checking Keras' variable paths and shapes."""
    expected = expected_tensors(spec)
    layers = model_layers(model)
    assert len(layers) == len(spec["layers"]), (len(layers), len(spec["layers"]))
    variables = []
    for layer in layers:
        variables += list(layer.weights)
    assert len(variables) == len(expected), ([v.path for v in variables], expected)
    out = []
    for v, (name, shape) in zip(variables, expected):
        leaf = name.rsplit(".", 1)[1]
        path = v.path
        assert path.rsplit("/", 1)[1] == leaf, (path, name)
        if ".forward." in name:
            assert "/forward_" in path, (path, name)
        if ".backward." in name:
            assert "/backward_" in path, (path, name)
        arr = np.asarray(v.numpy(), dtype=np.float32)
        assert list(arr.shape) == shape, (name, arr.shape, shape)
        out.append((name, arr))
    return out


def randomize_biases(model, rng):
    """Overwrite every bias (RNN biases incl. GRU's recurrent row, Dense biases) with N(0,1)*0.3."""
    for layer in model_layers(model):
        for v in layer.weights:
            if v.path.rsplit("/", 1)[1] == "bias":
                v.assign(rng.standard_normal(v.shape).astype(np.float32) * np.float32(0.3))


def set_model_tensors(model, spec, tensors):
    """tensors: dict name -> array. Uses set_weights in get_weights() order."""
    expected = expected_tensors(spec)
    missing = [n for n, _ in expected if n not in tensors]
    if missing:
        raise ValueError(f"checkpoint lacks tensors {missing}")
    weights = []
    for name, shape in expected:
        a = np.asarray(tensors[name], dtype=np.float32)
        if list(a.shape) != shape:
            raise ValueError(f"{name}: shape {list(a.shape)} but the spec needs {shape}")
        weights.append(a)
    model.set_weights(weights)


def base_metadata(spec, kind):
    keras = init_keras()
    import tensorflow as tf
    return {
        "format": FORMAT,
        "spec": spec_json(spec),
        "fixture": kind,
        "keras_version": keras.__version__,
        "tensorflow_version": tf.__version__,
        "backend": keras.backend.backend(),
    }


def case_seed(name):
    return zlib.crc32(name.encode("utf-8")) & 0x7FFFFFFF


def save_npy(path, array):
    np.save(path, np.ascontiguousarray(np.asarray(array, dtype="<f4")), allow_pickle=False)


# --------------------------------------------------------------------------------------
# Fixture definitions
# --------------------------------------------------------------------------------------

def forward_cases():
    S = lambda layers, F=3: {"input_features": F, "layers": layers}
    c = []
    c.append(("simple_rnn", S([rnn("simple_rnn", 5), dense(2)]), {}))
    c.append(("simple_rnn_backwards_seq", S([rnn("simple_rnn", 4, return_sequences=True, go_backwards=True)]), {}))
    c.append(("simple_rnn_backwards", S([rnn("simple_rnn", 4, go_backwards=True), dense(1)]), {}))
    c.append(("lstm", S([rnn("lstm", 6), dense(1)]), {}))
    c.append(("lstm_stacked", S([rnn("lstm", 5, return_sequences=True), rnn("lstm", 4), dense(1)]), {}))
    c.append(("gru", S([rnn("gru", 5), dense(1)]), {}))
    c.append(("gru_reset_before", S([rnn("gru", 5, reset_after=False), dense(1)]), {}))
    c.append(("gru_stacked_seq", S([rnn("gru", 4, return_sequences=True),
                                    rnn("gru", 3, return_sequences=True, reset_after=False)]), {}))
    c.append(("bi_lstm_concat", S([bi("lstm", 4), dense(1)]), {}))
    c.append(("bi_gru_sum_seq_bi_rnn_ave", S([bi("gru", 3, "sum", return_sequences=True),
                                              bi("simple_rnn", 3, "ave"), dense(1)]), {}))
    c.append(("bi_lstm_mul_seq", S([bi("lstm", 3, "mul", return_sequences=True), rnn("lstm", 2), dense(1)]), {}))
    c.append(("bi_gru_reset_before_concat_seq", S([bi("gru", 3, return_sequences=True, reset_after=False)]), {}))
    c.append(("dropouts_ignored", S([rnn("lstm", 4, dropout=0.2, recurrent_dropout=0.3, return_sequences=True),
                                     dropout(0.5), rnn("gru", 3, recurrent_dropout=0.5), dropout(0.5), dense(1)]), {}))
    c.append(("gru_lecture_size", S([rnn("gru", 32), dense(1)], F=13), {"B": 8, "T": 120}))
    c.append(("lstm_dense_on_sequence", S([rnn("lstm", 3, return_sequences=True), dense(2)]), {}))
    c.append(("lstm_state", S([rnn("lstm", 4)]), {"return_state": ["output", "state_h", "state_c"]}))
    c.append(("gru_state", S([rnn("gru", 3, go_backwards=True)]), {"return_state": ["output", "state_h"]}))
    c.append(("simple_rnn_state", S([rnn("simple_rnn", 4, go_backwards=True)]), {"return_state": ["output", "state_h"]}))
    c.append(("lstm_backwards_seq", S([rnn("lstm", 4, return_sequences=True, go_backwards=True)]), {}))
    c.append(("gru_reset_before_backwards", S([rnn("gru", 4, reset_after=False, go_backwards=True), dense(1)]), {}))
    # The lecture's shapes, so the kernels' full 16-lane paths are compared with Keras too.
    c.append(("lstm_lecture_size", S([rnn("lstm", 32), dense(1)], F=14), {"B": 8, "T": 120}))
    c.append(("simple_rnn_lecture_size", S([rnn("simple_rnn", 32), dense(1)], F=1), {"B": 8, "T": 120}))
    c.append(("bilstm_lecture_size", S([bi("lstm", 16), dense(1)], F=14), {"B": 8, "T": 120}))
    return c


def optimizer_cases():
    S = lambda layers: {"input_features": 3, "layers": layers}
    rms = lambda lr, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False, clipnorm=None, global_clipnorm=None: {
        "name": "rmsprop", "learning_rate": lr, "rho": rho, "momentum": momentum, "epsilon": epsilon,
        "centered": centered, "clipnorm": clipnorm, "global_clipnorm": global_clipnorm}
    adam = lambda lr, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False, clipnorm=None, global_clipnorm=None: {
        "name": "adam", "learning_rate": lr, "beta_1": beta_1, "beta_2": beta_2, "epsilon": epsilon,
        "amsgrad": amsgrad, "clipnorm": clipnorm, "global_clipnorm": global_clipnorm}
    sgd = lambda lr, momentum=0.0, nesterov=False, clipnorm=None, global_clipnorm=None: {
        "name": "sgd", "learning_rate": lr, "momentum": momentum, "nesterov": nesterov,
        "clipnorm": clipnorm, "global_clipnorm": global_clipnorm}
    return [
        ("opt_rmsprop_gru", S([rnn("gru", 4), dense(1)]), rms(0.01), "mse"),
        ("opt_adam_lstm", S([rnn("lstm", 4), dense(1)]), adam(0.01), "mse"),
        ("opt_rmsprop_clipnorm_bilstm", S([bi("lstm", 3), dense(1)]), rms(0.01, clipnorm=0.1), "mae"),
        ("opt_adam_global_clipnorm_stacked",
         S([rnn("simple_rnn", 4, return_sequences=True), rnn("gru", 3, reset_after=False), dense(1)]),
         adam(0.01, global_clipnorm=0.05), "huber"),
        ("opt_sgd_momentum_gru", S([rnn("gru", 3), dense(1)]), sgd(0.05, momentum=0.9), "mse"),
        ("opt_sgd_nesterov_rnn", S([rnn("simple_rnn", 3), dense(1)]), sgd(0.05, momentum=0.9, nesterov=True), "mse"),
        ("opt_rmsprop_centered_momentum_lstm", S([rnn("lstm", 3), dense(1)]),
         rms(0.005, momentum=0.5, centered=True), "mse"),
    ]


OPT_STEPS = 3


def keras_optimizer(cfg):
    keras = init_keras()
    kw = {k: v for k, v in cfg.items() if k != "name"}
    cls = {"rmsprop": keras.optimizers.RMSprop, "adam": keras.optimizers.Adam, "sgd": keras.optimizers.SGD}[cfg["name"]]
    opt = cls(**kw)
    got = opt.get_config()
    for k, v in kw.items():  # the recorded config is exactly what Keras uses
        if isinstance(v, float):
            assert abs(float(got[k]) - v) <= 1e-6 * abs(v), (k, got[k], v)
        else:
            assert got[k] == v, (k, got[k], v)
    assert got.get("weight_decay") is None and got.get("clipvalue") is None and not got.get("use_ema")
    assert got.get("gradient_accumulation_steps") is None and got.get("loss_scale_factor") is None
    return opt


def keras_loss(name):
    keras = init_keras()
    return {"mse": keras.losses.MeanSquaredError(), "mae": keras.losses.MeanAbsoluteError(),
            "huber": keras.losses.Huber(delta=1.0)}[name]


# --------------------------------------------------------------------------------------
# Generation
# --------------------------------------------------------------------------------------

def generate_forward(out_dir, name, spec, opts, written):
    B, T, F = opts.get("B", 4), opts.get("T", 7), spec["input_features"]
    seed = case_seed(name)
    rng = np.random.default_rng(seed)
    state_names = opts.get("return_state")
    model = build_model(spec, T, seed, return_state=bool(state_names))
    randomize_biases(model, rng)
    x = rng.standard_normal((B, T, F)).astype(np.float32)
    outputs = model.predict(x, verbose=0, batch_size=B)
    if not isinstance(outputs, (list, tuple)):
        outputs = [outputs]
    outputs = [np.asarray(o, dtype=np.float32) for o in outputs]
    tensors = model_tensors(model, spec)
    meta = base_metadata(spec, "forward")
    meta["case"] = name
    if state_names:
        meta["return_state"] = "true"
        meta["outputs"] = json.dumps(state_names, separators=(",", ":"))
    write_safetensors(out_dir / f"{name}.safetensors", tensors, meta)
    written[f"{name}.safetensors"] = (meta, tensors)
    save_npy(out_dir / f"{name}.input.npy", x)
    written[f"{name}.input.npy"] = x
    suffixes = state_names or ["output"]
    for suffix, o in zip(suffixes, outputs, strict=True):
        save_npy(out_dir / f"{name}.{suffix}.npy", o)
        written[f"{name}.{suffix}.npy"] = o
    print(f"  forward   {name:34s} x{list(x.shape)} -> " + ", ".join(f"{s}{list(o.shape)}" for s, o in zip(suffixes, outputs)))


def loss_numpy(name, pred, y):
    e = np.asarray(pred, np.float64) - np.asarray(y, np.float64)
    if name == "mse":
        per = e ** 2
    elif name == "mae":
        per = np.abs(e)
    elif name == "huber":
        a = np.abs(e)
        per = np.where(a <= 1.0, 0.5 * e ** 2, 1.0 * a - 0.5 * 1.0 ** 2)
    else:
        raise ValueError(name)
    return float(per.mean(axis=-1).mean())


def generate_optimizer(out_dir, name, spec, opt_cfg, loss_name, written):
    B, T, F = 8, 6, spec["input_features"]
    seed = case_seed(name)
    rng = np.random.default_rng(seed)
    model = build_model(spec, T, seed)
    randomize_biases(model, rng)
    x = rng.standard_normal((B, T, F)).astype(np.float32)
    y = rng.standard_normal((B, 1)).astype(np.float32)
    before = model_tensors(model, spec)
    pred0 = model.predict(x, verbose=0, batch_size=B)
    model.compile(optimizer=keras_optimizer(opt_cfg), loss=keras_loss(loss_name), jit_compile=False)
    losses = []
    for _ in range(OPT_STEPS):
        r = model.train_on_batch(x, y)
        losses.append(float(r[0] if isinstance(r, (list, tuple)) else r))
    # train_on_batch reports the loss of the forward pass before that step's update.
    assert abs(losses[0] - loss_numpy(loss_name, pred0, y)) < 1e-6 * max(1.0, losses[0]), (losses[0], loss_numpy(loss_name, pred0, y))
    after = model_tensors(model, spec)
    meta = base_metadata(spec, "optimizer")
    meta.update({
        "case": name,
        "optimizer": json.dumps(opt_cfg, separators=(",", ":")),
        "loss": loss_name,
        "steps": str(OPT_STEPS),
        "losses": json.dumps(losses, separators=(",", ":")),
        "batch_size": str(B),
    })
    if loss_name == "huber":
        meta["huber_delta"] = "1.0"
    write_safetensors(out_dir / f"{name}.safetensors", before, meta)
    write_safetensors(out_dir / f"{name}.after.safetensors", after, meta)
    save_npy(out_dir / f"{name}.x.npy", x)
    save_npy(out_dir / f"{name}.y.npy", y)
    written[f"{name}.safetensors"] = (meta, before)
    written[f"{name}.after.safetensors"] = (meta, after)
    written[f"{name}.x.npy"] = x
    written[f"{name}.y.npy"] = y
    extra = ""
    if loss_name == "huber":
        err = np.abs(np.asarray(pred0, np.float64) - y)
        extra = f" (|err|>delta for {int((err > 1.0).sum())}/{err.size} samples at step 0)"
    print(f"  optimizer {name:34s} losses={['%.6f' % l for l in losses]}{extra}")


def generate(out_dir):
    keras = init_keras()
    out_dir.mkdir(parents=True, exist_ok=True)
    for p in sorted(out_dir.iterdir()):  # start clean; only our own file kinds
        if p.suffix in (".npy", ".safetensors"):
            p.unlink()
    print(f"Keras {keras.__version__} ({keras.backend.backend()}), numpy {np.__version__} -> {out_dir}")
    written = {}
    for name, spec, opts in forward_cases():
        generate_forward(out_dir, name, spec, opts, written)
    for name, spec, opt_cfg, loss_name in optimizer_cases():
        generate_optimizer(out_dir, name, spec, opt_cfg, loss_name, written)
    verify(out_dir, written)


def verify(out_dir, written):
    print("Verifying ...")
    files = sorted(p for p in out_dir.iterdir() if p.suffix in (".npy", ".safetensors"))
    assert sorted(p.name for p in files) == sorted(written), "unexpected files in the fixture directory"
    total = 0
    for p in files:
        data = p.read_bytes()
        total += len(data)
        if p.suffix == ".safetensors":
            # Reader round-trip: parse, compare with what was written, re-serialise byte for byte.
            meta, tensors = parse_safetensors(data)
            wmeta, wtensors = written[p.name]
            assert meta == wmeta, p.name
            assert [n for n, _ in tensors] == [n for n, _ in wtensors], p.name
            for (n, a), (_, b) in zip(tensors, wtensors):
                assert a.dtype == np.float32 and np.array_equal(a, b), (p.name, n)
            assert safetensors_bytes(tensors, meta) == data, p.name
            (n,) = struct.unpack("<Q", data[:8])
            assert (8 + n) % 8 == 0
            assert [n for n, _ in tensors] == [n for n, _ in expected_tensors(json.loads(meta["spec"]))]
        else:
            a = np.load(p, allow_pickle=False)
            assert a.dtype == np.dtype("<f4") and a.flags.c_contiguous and np.array_equal(a, written[p.name]), p.name
    # Every forward fixture is reproduced by a fresh Keras model loaded from the checkpoint.
    for name, spec, opts in forward_cases():
        d = check(out_dir / f"{name}.safetensors", out_dir / f"{name}.input.npy",
                  out_dir / f"{name}.output.npy", tolerance=0.0, quiet=True)
        print(f"  reload {name:34s} max|diff| = {d:.3g}")
    for name, *_ in optimizer_cases():
        for suffix in ("", ".after"):
            check(out_dir / f"{name}{suffix}.safetensors", quiet=True)
    print(f"{len(files)} files, {total} bytes total")
    assert total < 2_000_000, "fixtures exceed 2 MB"
    digest = hashlib.sha256()
    for p in files:
        digest.update(p.name.encode() + b"\0" + hashlib.sha256(p.read_bytes()).digest())
    print(f"fixture set sha256 {digest.hexdigest()}")


# --------------------------------------------------------------------------------------
# --check
# --------------------------------------------------------------------------------------

def check(ckpt, input_path=None, output_path=None, tolerance=1e-5, quiet=False):
    meta, tensors = read_safetensors(ckpt)
    if not quiet:
        print(f"{ckpt}")
        print("metadata:")
        for k in sorted(meta):
            print(f"  {k}: {meta[k]}")
        print("tensors (buffer order):")
        for n, a in tensors:
            print(f"  {n:40s} {a.dtype} {list(a.shape)}")
    if meta.get("format") != FORMAT:
        raise SystemExit(f"unexpected format {meta.get('format')!r}, expected {FORMAT!r}")
    spec = json.loads(meta["spec"])
    named = dict(tensors)
    extra = [n for n, _ in tensors if n not in {e for e, _ in expected_tensors(spec)}]
    if extra and not quiet:
        print(f"note: tensors not used by the model: {extra}")
    x = np.load(input_path, allow_pickle=False) if input_path else None
    timesteps = int(x.shape[1]) if x is not None else None
    model = build_model(spec, timesteps, seed=0)
    set_model_tensors(model, spec, named)
    # What we set is what Keras holds.
    for (n, a) in model_tensors(model, spec):
        assert np.array_equal(a, named[n]), n
    if not quiet:
        print(f"Keras model rebuilt from spec and loaded: {model.count_params()} parameters")
    if x is None:
        return 0.0
    pred = np.asarray(model.predict(np.asarray(x, np.float32), verbose=0, batch_size=x.shape[0]), np.float32)
    if output_path is None:
        if not quiet:
            print(f"prediction shape {list(pred.shape)}")
        return 0.0
    want = np.load(output_path, allow_pickle=False)
    if pred.shape != want.shape:
        raise SystemExit(f"shape mismatch: Keras {pred.shape} vs file {want.shape}")
    diff = float(np.max(np.abs(pred.astype(np.float64) - want.astype(np.float64)))) if pred.size else 0.0
    if not quiet:
        print(f"max |keras - expected| = {diff:.3g} (tolerance {tolerance:g})")
    if diff > tolerance:
        if quiet:
            raise AssertionError(f"{ckpt}: max diff {diff} > {tolerance}")
        sys.exit(1)
    return diff


# --------------------------------------------------------------------------------------
# --selftest: float64 numpy reference (documents the math)
# --------------------------------------------------------------------------------------

def sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


def np_recurrent(kind, x, K, U, b, go_backwards, reset_after=True):
    """One direction. Returns (outputs in *processing* order [B,T,H], h_T, c_T or None).

    Gate blocks along the fused G*H axis: LSTM i, f, c, o; GRU z, r, h.
    Row-vector convention: pre-activations are x_t @ K + h_{t-1} @ U + b.
    """
    B, T, _ = x.shape
    H = U.shape[0]
    h = np.zeros((B, H))
    c = np.zeros((B, H))
    outs = []
    steps = range(T - 1, -1, -1) if go_backwards else range(T)  # go_backwards: read x[T-1] first
    for t in steps:
        xt = x[:, t, :]
        if kind == "simple_rnn":
            h = np.tanh(xt @ K + b + h @ U)
        elif kind == "lstm":
            z = xt @ K + h @ U + b
            i, f, g, o = (z[:, k * H:(k + 1) * H] for k in range(4))
            c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
            h = sigmoid(o) * np.tanh(c)
        elif kind == "gru" and reset_after:
            # bias [2, 3H]: row 0 input bias, row 1 recurrent bias (inside the reset product).
            xp = xt @ K + b[0]
            hp = h @ U + b[1]
            z = sigmoid(xp[:, :H] + hp[:, :H])
            r = sigmoid(xp[:, H:2 * H] + hp[:, H:2 * H])
            hh = np.tanh(xp[:, 2 * H:] + r * hp[:, 2 * H:])
            h = z * h + (1.0 - z) * hh
        elif kind == "gru":
            # bias [3H]; the reset gate multiplies h_{t-1} before the candidate matmul.
            xp = xt @ K + b
            z = sigmoid(xp[:, :H] + h @ U[:, :H])
            r = sigmoid(xp[:, H:2 * H] + h @ U[:, H:2 * H])
            hh = np.tanh(xp[:, 2 * H:] + (r * h) @ U[:, 2 * H:])
            h = z * h + (1.0 - z) * hh
        else:
            raise ValueError(kind)
        outs.append(h)
    return np.stack(outs, axis=1), h, (c if kind == "lstm" else None)


def np_forward(spec, tensors, x, want_states=False):
    """Inference forward of a spec in float64. Dropout layers and RNN dropouts are identities."""
    W = {n: np.asarray(a, np.float64) for n, a in tensors.items()}
    y = np.asarray(x, np.float64)
    states = (None, None)  # (h_T, c_T) of the last plain (non-bidirectional) recurrent layer
    for i, layer in enumerate(spec["layers"]):
        t = layer["type"]
        if t == "dropout":
            continue
        if t == "dense":
            y = y @ W[f"layers.{i}.kernel"] + W[f"layers.{i}.bias"]  # also on [B,T,in]
            continue
        ra = layer.get("reset_after", True)

        def run(prefix, go_backwards):
            return np_recurrent(t, y, W[prefix + "kernel"], W[prefix + "recurrent_kernel"],
                                W[prefix + "bias"], go_backwards, ra)

        if not layer["bidirectional"]:
            seq, h, c = run(f"layers.{i}.", layer["go_backwards"])
            # return_sequences keeps processing order (reversed for go_backwards);
            # otherwise the last processed step (after reading x[0] when go_backwards).
            y = seq if layer["return_sequences"] else h
            states = (h, c)
        else:
            assert not layer["go_backwards"], "Keras 3 rejects Bidirectional(go_backwards=True)"
            fs, fh, _ = run(f"layers.{i}.forward.", False)
            bs, bh, _ = run(f"layers.{i}.backward.", True)
            if layer["return_sequences"]:
                yf, yb = fs, bs[:, ::-1, :]  # backward sequence flipped back to chronological order
            else:
                yf, yb = fh, bh  # backward: state after reading x[0]
            m = layer["merge_mode"]
            y = {"concat": lambda: np.concatenate([yf, yb], axis=-1), "sum": lambda: yf + yb,
                 "mul": lambda: yf * yb, "ave": lambda: (yf + yb) / 2.0}[m]()
    return (y, states) if want_states else y


def np_optimizer_steps(cfg, grads_fn, weights, steps):
    """Keras 3 update rules in float64. grads_fn(weights) -> (loss, grads). Returns (losses, weights)."""
    w = [np.asarray(a, np.float64).copy() for a in weights]
    slots = [dict(m=np.zeros_like(a), v=np.zeros_like(a), g=np.zeros_like(a)) for a in w]
    lr = cfg["learning_rate"]
    losses = []
    for it in range(steps):
        loss, grads = grads_fn(w)
        losses.append(loss)
        g = [np.asarray(a, np.float64) for a in grads]
        if cfg.get("clipnorm"):  # per tensor: g * c / max(|g|, c)
            cn = cfg["clipnorm"]
            g = [a * cn / max(np.sqrt((a * a).sum()), cn) for a in g]
        elif cfg.get("global_clipnorm"):  # all tensors by c / max(|all|, c)
            cn = cfg["global_clipnorm"]
            norm = np.sqrt(sum((a * a).sum() for a in g))
            g = [a * (cn * min(1.0 / norm, 1.0 / cn)) for a in g]
        for k, (wk, gk, s) in enumerate(zip(w, g, slots)):
            if cfg["name"] == "rmsprop":
                rho, eps, mu = cfg["rho"], cfg["epsilon"], cfg["momentum"]
                s["v"] = rho * s["v"] + (1 - rho) * gk * gk
                if cfg["centered"]:
                    s["g"] = rho * s["g"] + (1 - rho) * gk
                    denom = s["v"] - s["g"] ** 2 + eps  # epsilon inside the sqrt
                else:
                    denom = s["v"] + eps
                inc = lr * gk / np.sqrt(denom)
                if mu > 0:
                    s["m"] = mu * s["m"] + inc
                    w[k] = wk - s["m"]
                else:
                    w[k] = wk - inc
            elif cfg["name"] == "adam":
                b1, b2, eps = cfg["beta_1"], cfg["beta_2"], cfg["epsilon"]
                tt = it + 1
                alpha = lr * np.sqrt(1 - b2 ** tt) / (1 - b1 ** tt)
                s["m"] = s["m"] + (gk - s["m"]) * (1 - b1)
                s["v"] = s["v"] + (gk * gk - s["v"]) * (1 - b2)
                w[k] = wk - s["m"] * alpha / (np.sqrt(s["v"]) + eps)  # "epsilon hat" form
            elif cfg["name"] == "sgd":
                mu = cfg["momentum"]
                if mu:
                    s["m"] = mu * s["m"] - lr * gk
                    w[k] = wk + (mu * s["m"] - lr * gk if cfg["nesterov"] else s["m"])
                else:
                    w[k] = wk - lr * gk
            else:
                raise ValueError(cfg["name"])
    return losses, w


def selftest(out_dir):
    print(f"Self-test against fixtures in {out_dir}")
    worst = {}
    for name, spec, opts in forward_cases():
        meta, tensors = read_safetensors(out_dir / f"{name}.safetensors")
        assert json.loads(meta["spec"]) == spec, name
        x = np.load(out_dir / f"{name}.input.npy")
        y, (h, c) = np_forward(spec, dict(tensors), x, want_states=True)
        diffs = {"output": np.abs(y - np.load(out_dir / f"{name}.output.npy")).max()}
        if opts.get("return_state"):
            diffs["state_h"] = np.abs(h - np.load(out_dir / f"{name}.state_h.npy")).max()
            if c is not None:
                diffs["state_c"] = np.abs(c - np.load(out_dir / f"{name}.state_c.npy")).max()
        d = max(diffs.values())
        worst[name] = d
        print(f"  numpy forward   {name:34s} " + " ".join(f"{k}={v:.2e}" for k, v in diffs.items()))
    for name in ("lstm", "gru", "gru_reset_before"):
        assert worst[name] < 1e-6, (name, worst[name])
    bad = {k: v for k, v in worst.items() if v > 1e-5}
    assert not bad, bad

    # Optimizer steps: gradients from TF autodiff (float32), updates in numpy float64.
    import tensorflow as tf
    for name, spec, cfg, loss_name in optimizer_cases():
        meta, before = read_safetensors(out_dir / f"{name}.safetensors")
        _, after = read_safetensors(out_dir / f"{name}.after.safetensors")
        assert json.loads(meta["optimizer"]) == cfg and meta["loss"] == loss_name
        x = np.load(out_dir / f"{name}.x.npy")
        y = np.load(out_dir / f"{name}.y.npy")
        model = build_model(spec, x.shape[1], seed=0)
        loss_fn = keras_loss(loss_name)
        names = [n for n, _ in before]

        def grads_fn(w):
            set_model_tensors(model, spec, {n: a.astype(np.float32) for n, a in zip(names, w)})
            pred = np_forward(spec, dict(zip(names, w)), x)
            with tf.GradientTape() as tape:
                loss = loss_fn(y, model(x, training=True))
            grads = tape.gradient(loss, model.trainable_variables)
            assert abs(float(loss) - loss_numpy(loss_name, pred, y)) < 1e-5
            return loss_numpy(loss_name, pred, y), [g.numpy() for g in grads]

        losses, w = np_optimizer_steps(cfg, grads_fn, [a for _, a in before], int(meta["steps"]))
        want_losses = json.loads(meta["losses"])
        dl = max(abs(a - b) for a, b in zip(losses, want_losses))
        dw = max(np.abs(a - b).max() for a, (_, b) in zip(w, after))
        moved = max(np.abs(a - b).max() for (_, a), (_, b) in zip(before, after))
        print(f"  numpy optimizer {name:34s} losses {dl:.2e}  weights {dw:.2e}  (max step {moved:.3g})")
        assert dl < 1e-5 and dw < 1e-5, (name, dl, dw)
    print("self-test passed")


# --------------------------------------------------------------------------------------

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out-dir", type=Path, default=DEFAULT_OUT_DIR)
    ap.add_argument("--check", type=Path, metavar="CHECKPOINT.safetensors")
    ap.add_argument("--input", type=Path, metavar="X.npy")
    ap.add_argument("--output", type=Path, metavar="Y.npy")
    ap.add_argument("--tolerance", type=float, default=1e-5)
    ap.add_argument("--selftest", action="store_true")
    args = ap.parse_args(argv)
    if args.check:
        if args.output and not args.input:
            ap.error("--output needs --input")
        check(args.check, args.input, args.output, args.tolerance)
    elif args.selftest:
        init_keras()
        selftest(args.out_dir)
    else:
        generate(args.out_dir)


if __name__ == "__main__":
    main()
