"""Run ONNX graphs under the interpreter's onnxruntime (1.12.1 in build/ort112-venv).

usage: run_graphs.py OUT_DIR MODEL.onnx INPUTS.npz [MODEL.onnx INPUTS.npz ...]
Writes OUT_DIR/<model stem>.npz with every output, and OUT_DIR/version.txt. String inputs
arrive as numpy unicode arrays (npz cannot hold objects without pickle) and are fed as objects.
"""

import os
import sys

import numpy as np
import onnxruntime as ort

out_dir, pairs = sys.argv[1], sys.argv[2:]
with open(os.path.join(out_dir, "version.txt"), "w") as fh:
    fh.write(ort.__version__)
for model_path, inputs_path in zip(pairs[::2], pairs[1::2]):
    session = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])
    with np.load(inputs_path) as npz:
        feeds = {k: (v.astype(object) if v.dtype.kind == "U" else v) for k, v in npz.items()}
    names = [o.name for o in session.get_outputs()]
    stem = os.path.splitext(os.path.basename(model_path))[0]
    np.savez(os.path.join(out_dir, stem + ".npz"), **dict(zip(names, session.run(names, feeds))))
