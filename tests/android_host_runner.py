"""A bundle's own runtime behind a pipe, for the Android library's host tests (tests/test_android_host.py).

``python tests/android_host_runner.py BUNDLE`` loads the bundle with ``neurolite_sdk.runtime`` and
answers one JSON line per call: ``{"signature": NAME, "inputs": {NAME: {"dtype", "shape", "data"}}}`` ->
``{"outputs": {NAME: {"dtype", "shape", "data"}}}`` (or ``{"error": MESSAGE}``). The Kotlin harness
uses it where LiteRT, ONNX Runtime or ExecuTorch run on a phone, so that the library's planner,
padding, stitching, softmax, self-test and benchmark run against the real exported graph.
"""

from __future__ import annotations

import json
import sys

import numpy as np

from neurolite_sdk.runtime import load


def main(path: str) -> int:
    predictor = load(path, threads=1)
    backend = predictor.backend
    print(f"python {type(backend).__name__} {backend.version()}", flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        try:
            inputs = {name: np.asarray(t["data"], dtype=t["dtype"]).reshape(t["shape"])
                      for name, t in request["inputs"].items()}
            outputs = backend.run(request["signature"], inputs)
            reply = {"outputs": {name: {"dtype": str(v.dtype), "shape": list(v.shape),
                                        "data": v.reshape(-1).tolist()} for name, v in outputs.items()}}
        except Exception as exc:  # noqa: BLE001 (every failure goes back to the caller as its message)
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        print(json.dumps(reply), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
