"""ExecuTorch bundles (.pte) on ``executorch.runtime``: the one backend that imports torch.

ExecuTorch's Python bindings take and return ``torch.Tensor`` values in positional order; this module
maps them to and from the manifest's named inputs and outputs. ``threads`` resizes ExecuTorch's
process-wide thread pool (the bindings expose no per-program setting).

A loaded method owns its planned memory (inputs, activations, outputs), so two concurrent calls on one
method would share it. The backend keeps a pool of loaded programs, one per concurrent call
(``runtime/instances.py``); ``Program.load_method`` caches per program, so each instance is a program
of its own. Programs are loaded from the bytes ``read_bundle`` verified, with ExecuTorch's full
flatbuffer verification (``InternalConsistency``), and every step of loading (the program, then each
method) is inside the error handling: a damaged program is a ``BundleError``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from neurolite_sdk.runtime.backends import Backend, ModelTensor, native_message, register_backend
from neurolite_sdk.runtime.bundle import Bundle, Signature
from neurolite_sdk.runtime.errors import BundleError, ModelRunError

SCALAR_TYPES = {0: "uint8", 1: "int8", 3: "int32", 4: "int64", 5: "float16", 6: "float32", 11: "bool"}  # c10
IDENTIFIER = b"ET12"  # the file identifier of executorch/schema/program.fbs


class _Flatbuffer:
    """Bounds-checked reads of a flatbuffer: enough to walk a .pte's tables, vectors and strings."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def _int(self, pos: int, size: int, signed: bool = False) -> int:
        if pos < 0 or pos + size > len(self.data):
            raise ValueError(f"offset {pos} past the end of the file")
        return int.from_bytes(self.data[pos:pos + size], "little", signed=signed)

    def target(self, pos: int) -> int:
        """Where the unsigned offset stored at ``pos`` points (tables, vectors and strings)."""
        return pos + self._int(pos, 4)

    def field(self, table: int, index: int) -> int | None:
        vtable = table - self._int(table, 4, signed=True)
        slot = 4 + 2 * index
        if slot + 2 > self._int(vtable, 2):
            return None
        offset = self._int(vtable + slot, 2)
        return table + offset if offset else None

    def tables(self, table: int, index: int) -> list[int]:
        """The tables (or strings) of the vector in field ``index`` of ``table``."""
        pos = self.field(table, index)
        if pos is None:
            return []
        vector = self.target(pos)
        count = self._int(vector, 4)
        if vector + 4 + 4 * count > len(self.data):
            raise ValueError(f"a vector of {count} entries past the end of the file")
        return [self.target(vector + 4 + 4 * i) for i in range(count)]

    def string(self, table: int, index: int) -> None:
        """Check the string in field ``index`` of ``table`` (if any) is UTF-8."""
        pos = self.field(table, index)
        if pos is not None:
            start = self.target(pos)
            length = self._int(start, 4)
            if start + 4 + length > len(self.data):
                raise ValueError("a string past the end of the file")
            self.data[start + 4:start + 4 + length].decode("utf-8")

    def text(self, table: int, index: int) -> str | None:
        pos = self.field(table, index)
        if pos is None:
            return None
        start = self.target(pos)
        return self.data[start + 4:start + 4 + self._int(start, 4)].decode("utf-8")

    def table(self, table: int, index: int) -> int | None:
        pos = self.field(table, index)
        return None if pos is None else self.target(pos)


def check_program_strings(data: bytes) -> None:
    """Every name in a .pte that ExecuTorch may print is UTF-8, the file says it is a program, and each XNNPACK
    delegate's header and graph identifier are what XNNPACK expects.

    ExecuTorch logs through its Python bindings, which decode each log line as UTF-8 and abort the process
    (``std::terminate``) when that fails: a damaged program whose identifier, method, operator, backend or
    constant names are not UTF-8 would kill the process instead of raising. Field numbers follow
    ``executorch/schema/program.fbs``. Raises ``ValueError`` (or ``UnicodeDecodeError``) when it is not so.
    """
    if data[4:8] != IDENTIFIER:
        raise ValueError(f"file identifier {data[4:8]!r}, expected {IDENTIFIER!r}")
    fb = _Flatbuffer(data)
    program = fb.target(0)
    for plan in fb.tables(program, 1):  # execution_plan
        fb.string(plan, 0)  # name
        meta = fb.table(plan, 1)  # container_meta_type
        if meta is not None:
            fb.string(meta, 0)
            fb.string(meta, 1)
        for value in fb.tables(plan, 2):  # values: EValue { val: KernelTypes } (type in slot 0, table in slot 1)
            kind = fb.field(value, 0)
            kind = fb._int(kind, 1) if kind is not None else 0
            item = fb.table(value, 1)
            if item is None:
                continue
            if kind == 6:  # String
                fb.string(item, 0)
            elif kind == 5:  # Tensor: extra_tensor_info.fully_qualified_name
                extra = fb.table(item, 9)
                if extra is not None:
                    fb.string(extra, 1)
        for chain in fb.tables(plan, 5):  # chains: stacktrace [FrameList { items: [Frame] }]
            for frames in fb.tables(chain, 3):
                for frame in fb.tables(frames, 0):
                    for index in (0, 2, 3):  # filename, name, context
                        fb.string(frame, index)
        for operator in fb.tables(plan, 6):  # operators: name, overload
            fb.string(operator, 0)
            fb.string(operator, 1)
        for delegate in fb.tables(plan, 7):  # delegates: id, processed, compile_specs [CompileSpec { key }]
            fb.string(delegate, 0)
            for spec in fb.tables(delegate, 2):
                fb.string(spec, 0)
            if fb.text(delegate, 0) == "XnnpackBackend":
                _check_xnnpack_payload(_delegate_payload(fb, program, delegate))
    for named in fb.tables(program, 7):  # named_data: key
        fb.string(named, 0)


def _delegate_payload(fb: _Flatbuffer, program: int, delegate: int) -> bytes:
    """A delegate's processed bytes: inline in the program, or a segment after it (extended header)."""
    where = fb.table(delegate, 1)  # processed: BackendDelegateDataReference { location, index }
    if where is None:
        raise ValueError("a delegate without its data")
    location = fb.field(where, 0)
    index_at = fb.field(where, 1)
    inline = location is None or fb._int(location, 1) == 0
    index = fb._int(index_at, 4) if index_at is not None else 0
    if inline:
        blobs = fb.tables(program, 3)  # backend_delegate_data: [BackendDelegateInlineData { data: [ubyte] }]
        if index >= len(blobs):
            raise ValueError(f"delegate data {index} of {len(blobs)}")
        at = fb.field(blobs[index], 0)
        if at is None:
            return b""
        vector = fb.target(at)
        return fb.data[vector + 4:vector + 4 + fb._int(vector, 4)]
    segments = fb.tables(program, 4)  # segments: [DataSegment { offset, size }]
    if index >= len(segments) or fb.data[8:12] != b"eh00":
        raise ValueError(f"delegate segment {index} of {len(segments)} (or no extended header)")
    base = fb._int(24, 8)  # extended header: magic, length, program_size, segment_base_offset
    offset, size = (fb._int(f, 8) if (f := fb.field(segments[index], i)) is not None else 0 for i in (0, 1))
    if base + offset + size > len(fb.data):
        raise ValueError(f"delegate segment {index} past the end of the file")
    return fb.data[base + offset:base + offset + size]


def _check_xnnpack_payload(payload: bytes) -> None:
    """The XNNPACK delegate's header (``XH00``, backends/xnnpack/serialization) and the identifier of the graph
    flatbuffer it points at (``XN00``/``XN01``): XNNPACK logs a wrong identifier's raw bytes, and the bindings
    abort on those that are not UTF-8."""
    if payload[4:8] != b"XH00" or len(payload) < 30:
        raise ValueError(f"XNNPACK delegate header {payload[4:8]!r}, expected b'XH00'")
    flatbuffer = int.from_bytes(payload[10:14], "little")
    size = int.from_bytes(payload[14:18], "little")
    constants = int.from_bytes(payload[18:22], "little")
    constants_size = int.from_bytes(payload[22:30], "little")
    if flatbuffer + size > len(payload) or constants + constants_size > len(payload):
        raise ValueError("XNNPACK delegate header points past its data")
    if payload[flatbuffer + 4:flatbuffer + 8] not in (b"XN00", b"XN01"):
        raise ValueError(f"XNNPACK graph identifier {payload[flatbuffer + 4:flatbuffer + 8]!r}, expected b'XN01'")
    fb = _Flatbuffer(payload[flatbuffer:flatbuffer + size])  # XNNGraph (backends/xnnpack/serialization)
    graph = fb.target(0)
    fb.string(graph, 0)  # version
    for entry in fb.tables(graph, 8):  # constant_data: [ConstantDataOffset { offset, size, named_key }]
        fb.string(entry, 2)
        if not fb.text(entry, 2):  # stored in this payload: the range must be inside its constant data
            start, length = (fb._int(f, 8) if (f := fb.field(entry, i)) is not None else 0 for i in (0, 1))
            if start + length > constants_size:
                raise ValueError(f"XNNPACK constant at {start} (+{length}) past its {constants_size} bytes")


@register_backend("executorch")
class ExecutorchBackend(Backend):
    """Loaded programs, each with a method per signature."""

    package = "executorch.runtime"
    distribution = "executorch"
    extra = "executorch"

    def __init__(self, bundle: Bundle, threads: int | None = None, instances: int | None = None) -> None:
        super().__init__(bundle, threads, instances)
        self.runtime = self.import_runtime()
        import torch

        self._torch = torch
        if threads is not None:
            from executorch.extension.pybindings.portable_lib import _unsafe_reset_threadpool

            _unsafe_reset_threadpool(threads)
        self._start_pool()

    def _open(self) -> dict[str, Any]:
        bundle = self.bundle
        data = bundle.read(bundle.entry_name)
        try:
            check_program_strings(data)
        except ValueError as exc:  # UnicodeDecodeError included
            raise BundleError(f"{bundle.entry}: not a valid ExecuTorch program ({exc})") from None
        try:
            program = self.runtime.Runtime.get().load_program(
                data, verification=self.runtime.Verification.InternalConsistency)
            missing = [s.name for s in bundle.signatures if s.name not in program.method_names]
            if missing:
                raise BundleError(f"{bundle.entry}: methods {', '.join(missing)} are in the manifest but not in "
                                  f"the program (it has: {', '.join(sorted(program.method_names))})")
            return {"program": program, "methods": {s.name: program.load_method(s.name) for s in bundle.signatures}}
        except BundleError:
            raise
        except Exception as exc:  # the bindings raise RuntimeError/ValueError for unreadable programs
            raise BundleError(f"{bundle.entry}: ExecuTorch cannot load it ({native_message(exc)})") from exc

    def _metadata(self, instance: dict[str, Any]) -> Mapping[str, str]:
        """The program's constant methods (exporters/executorch.py writes one per metadata key)."""
        program = instance["program"]
        found = {}
        for name in sorted(program.method_names):
            if name.startswith("neurolite_"):
                value = program.load_method(name).execute([])
                found[name] = value[0] if len(value) == 1 and isinstance(value[0], str) else repr(value)
        return found

    def _tensors(self, instance: dict[str, Any], signature: Signature) -> dict[str, ModelTensor]:
        meta = instance["methods"][signature.name].metadata
        counts = (meta.num_inputs(), meta.num_outputs())
        if counts != (len(signature.inputs), len(signature.outputs)):
            raise BundleError(f"{self.bundle.entry}: method {signature.name!r} takes {counts[0]} inputs and returns "
                              f"{counts[1]} outputs; the manifest declares {len(signature.inputs)} and "
                              f"{len(signature.outputs)}")
        infos = [meta.input_tensor_meta(i) for i in range(counts[0])]
        infos += [meta.output_tensor_meta(i) for i in range(counts[1])]
        return {spec.name: ModelTensor(tuple(int(d) for d in info.sizes()),
                                       SCALAR_TYPES.get(int(info.dtype()), f"scalar type {int(info.dtype())}"))
                for spec, info in zip((*signature.inputs, *signature.outputs), infos, strict=True)}

    def _run(self, instance: dict[str, Any], signature: Signature,
             inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        args = [self._torch.from_numpy(inputs[t.name]) for t in signature.inputs]
        outputs = instance["methods"][signature.name].execute(args)
        if len(outputs) != len(signature.outputs):
            raise ModelRunError(f"{self.bundle.entry}: method {signature.name!r} returned {len(outputs)} outputs, the "
                              f"manifest declares {len(signature.outputs)}")
        return {t.name: value.numpy() for t, value in zip(signature.outputs, outputs, strict=True)}
