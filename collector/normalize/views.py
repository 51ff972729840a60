"""A "view" of the OTLP trace request in which ``Span.attributes`` is ``repeated bytes``.

Why: every attribute is a length-delimited ``KeyValue`` on the wire, so declaring the field as
``bytes`` parses the same input but hands each attribute to Python as its raw encoded bytes, made in
C. Those bytes repeat across spans far more than they vary (``gen_ai.operation.name=chat``, model and
provider names...), so the normalizer decodes and classifies each distinct attribute once and looks
it up afterwards. The receiver's ack path keeps the standard classes and validates every byte
before anything reaches this view.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.resource.v1 import resource_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from driftline.collector.otlp import MalformedRequest


def _proto(module: Any) -> descriptor_pb2.FileDescriptorProto:
    fdp = descriptor_pb2.FileDescriptorProto()
    module.DESCRIPTOR.CopyToProto(fdp)
    return fdp


def _build() -> type:
    pool = descriptor_pool.DescriptorPool()  # private pool: the standard classes stay untouched
    pool.Add(_proto(common_pb2))
    pool.Add(_proto(resource_pb2))
    trace = _proto(trace_pb2)
    span = next(m for m in trace.message_type if m.name == "Span")
    attributes = next(f for f in span.field if f.name == "attributes")
    attributes.type = descriptor_pb2.FieldDescriptorProto.TYPE_BYTES
    attributes.ClearField("type_name")
    pool.Add(trace)
    service = _proto(trace_service_pb2)
    del service.service[:]
    pool.Add(service)
    name = "opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest"
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(name))


TraceRequestView = _build()


def parse_traces(payload: bytes) -> Any:
    try:
        return TraceRequestView.FromString(payload)
    except Exception as exc:  # DecodeError and friends, as in otlp.parse
        raise MalformedRequest(f"not a valid OTLP traces protobuf message: {exc}") from exc


def as_view(request: Any) -> Any:
    """Accept a standard ``ExportTraceServiceRequest`` too (tests, embedders)."""
    return (
        request if isinstance(request, TraceRequestView) else TraceRequestView.FromString(request.SerializeToString())
    )
