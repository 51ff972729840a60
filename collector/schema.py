"""The canonical Arrow schemas: the contract between the collector and the analysis layer.

Why a module of its own: analysis imports this and nothing else of the collector (design §1), so
every column the normalizer produces is declared here once, with the version number that readers
check. Bump ``SCHEMA_VERSION`` when a column changes meaning or type; adding a nullable column is a
minor bump that old readers tolerate.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs

SCHEMA_VERSION = "1.3"  # 1.2: agent_events, tools_offered; 1.3: sample_rate
SCHEMA_VERSION_KEY = b"driftline.schema_version"
DATASET_KEY = b"driftline.dataset"

_TS = pa.timestamp("ns", tz="UTC")
_STRMAP = pa.map_(pa.string(), pa.string())
# One agent-semantics event. kind: decision type, signal type, failure type or memory type; label: the
# selected option, signal code, failure code or memory key; value: a signal's value, whether a memory read
# found something or a write overwrote; ref: the span id of the step a failure came from; hash / chars: of
# a failure message, a memory value or the final answer (never their text).
AGENT_EVENT = pa.struct(
    [
        pa.field("name", pa.string()),
        pa.field("time", _TS),
        pa.field("kind", pa.string()),
        pa.field("label", pa.string()),
        pa.field("candidates", pa.list_(pa.string())),
        pa.field("reason", pa.string()),
        pa.field("confidence", pa.float64()),
        pa.field("value", pa.bool_()),
        pa.field("weight", pa.float64()),
        pa.field("ref", pa.string()),
        pa.field("hash", pa.string()),
        pa.field("chars", pa.int64()),
    ]
)

SPAN_FIELDS: list[pa.Field] = [
    pa.field("trace_id", pa.string(), nullable=False),
    pa.field("span_id", pa.string(), nullable=False),
    pa.field("parent_span_id", pa.string()),
    pa.field("name", pa.string()),
    pa.field("kind", pa.string()),
    pa.field("status_code", pa.string()),
    pa.field("status_message", pa.string()),
    pa.field("start_time", _TS),
    pa.field("end_time", _TS),
    pa.field("duration_ms", pa.float64()),
    pa.field("service_name", pa.string()),
    pa.field("service_version", pa.string()),
    pa.field("environment", pa.string()),
    pa.field("scope_name", pa.string()),
    pa.field("scope_version", pa.string()),
    pa.field("agent_name", pa.string()),
    pa.field("agent_id", pa.string()),
    pa.field("agent_version", pa.string()),
    pa.field("operation", pa.string()),
    pa.field("provider", pa.string()),
    pa.field("request_model", pa.string()),
    pa.field("response_model", pa.string()),
    pa.field("temperature", pa.float64()),
    pa.field("max_tokens", pa.int64()),
    pa.field("input_tokens", pa.int64()),
    pa.field("output_tokens", pa.int64()),
    pa.field("cache_read_tokens", pa.int64()),
    pa.field("cache_write_tokens", pa.int64()),
    pa.field("reasoning_tokens", pa.int64()),
    pa.field("finish_reasons", pa.list_(pa.string())),
    pa.field("response_id", pa.string()),
    pa.field("cost_reported", pa.float64()),
    pa.field("cost_currency", pa.string()),
    pa.field("prompt_hash", pa.string()),
    pa.field("tool_name", pa.string()),
    pa.field("tool_call_id", pa.string()),
    pa.field("tool_type", pa.string()),
    pa.field("tool_args_hash", pa.string()),
    pa.field("input_hash", pa.string()),
    pa.field("output_hash", pa.string()),
    pa.field("input_chars", pa.int64()),
    pa.field("output_chars", pa.int64()),
    pa.field("input_content", pa.string()),
    pa.field("output_content", pa.string()),
    pa.field("error_type", pa.string()),
    pa.field("conversation_id", pa.string()),
    pa.field("user_id", pa.string()),
    pa.field("outcome", pa.string()),
    pa.field("attributes", _STRMAP),
    pa.field("resource_attributes", _STRMAP),
    pa.field("convention", pa.string()),
    pa.field("received_at", _TS),
    # decisions, quality signals, failures, memory operations and the final answer the span recorded
    # (instrumentation/semantics.py), typed: the analysis aggregates them per run without parsing JSON
    pa.field("agent_events", pa.list_(AGENT_EVENT)),
    # the tools a model call offered the model (names), whichever convention listed them
    pa.field("tools_offered", pa.list_(pa.string())),
    # the share of traces the app kept (setup(sample_rate=…), OTel's parent-based ratio sampler); NULL =
    # not sampled. Reports scale counts and totals back by 1 / sample_rate and say the data were sampled.
    pa.field("sample_rate", pa.float64()),
]

LOG_FIELDS: list[pa.Field] = [
    pa.field("trace_id", pa.string()),
    pa.field("span_id", pa.string()),
    pa.field("time", _TS),
    pa.field("observed_time", _TS),
    pa.field("severity_number", pa.int32()),
    pa.field("severity_text", pa.string()),
    pa.field("event_name", pa.string()),
    pa.field("body_hash", pa.string()),
    pa.field("body_chars", pa.int64()),
    pa.field("body", pa.string()),
    pa.field("service_name", pa.string()),
    pa.field("service_version", pa.string()),
    pa.field("environment", pa.string()),
    pa.field("scope_name", pa.string()),
    pa.field("attributes", _STRMAP),
    pa.field("resource_attributes", _STRMAP),
    pa.field("received_at", _TS),
]


# Inference and label events (the driftline.ml.* convention, instrumentation/ml/convention.py). The
# fixed columns are below; each feature is a column of its own named FEATURE_PREFIX + its dotted name
# (float64 for numbers, bool, or string — string when a batch mixes kinds) and each segment key a
# string column SEGMENT_PREFIX + key, so SQL reads a feature as a column and a query reads only the
# columns it names. Files of one dataset differ in their feature columns: readers take the union by
# name (DuckDB ``union_by_name``; compaction unifies schemas the same way). A prediction or label is
# kept twice when it can be: as a number (``prediction``: numbers, booleans as 1/0) and as a class
# (``prediction_class``: strings, booleans as "true"/"false").
FEATURE_PREFIX = "feature."
SEGMENT_PREFIX = "segment."

INFERENCE_FIELDS: list[pa.Field] = [
    pa.field("time", _TS),
    pa.field("model", pa.string()),
    pa.field("model_version", pa.string()),
    pa.field("request_id", pa.string()),
    pa.field("prediction", pa.float64()),
    pa.field("prediction_class", pa.string()),
    pa.field("probabilities", pa.map_(pa.string(), pa.float64())),
    pa.field("latency_ms", pa.float64()),
    pa.field("nonfinite", pa.int64()),
    pa.field("trace_id", pa.string()),
    pa.field("span_id", pa.string()),
    pa.field("service_name", pa.string()),
    pa.field("service_version", pa.string()),
    pa.field("environment", pa.string()),
    pa.field("received_at", _TS),
]

LABEL_FIELDS: list[pa.Field] = [
    pa.field("time", _TS),
    pa.field("request_id", pa.string()),
    pa.field("model", pa.string()),
    pa.field("label", pa.float64()),
    pa.field("label_class", pa.string()),
    pa.field("trace_id", pa.string()),
    pa.field("span_id", pa.string()),
    pa.field("service_name", pa.string()),
    pa.field("environment", pa.string()),
    pa.field("received_at", _TS),
]


def _schema(fields: list[pa.Field], dataset: str) -> pa.Schema:
    return pa.schema(fields, metadata={SCHEMA_VERSION_KEY: SCHEMA_VERSION.encode(), DATASET_KEY: dataset.encode()})


SPAN_SCHEMA = _schema(SPAN_FIELDS, "spans")
LOG_SCHEMA = _schema(LOG_FIELDS, "logs")
INFERENCE_SCHEMA = _schema(INFERENCE_FIELDS, "inferences")
LABEL_SCHEMA = _schema(LABEL_FIELDS, "labels")

# Dataset name -> (schema, the column its date/hour partition comes from).
DATASETS: dict[str, tuple[pa.Schema, str]] = {
    "spans": (SPAN_SCHEMA, "start_time"),
    "logs": (LOG_SCHEMA, "time"),
    "inferences": (INFERENCE_SCHEMA, "time"),
    "labels": (LABEL_SCHEMA, "time"),
}
# Datasets whose files carry columns beyond their fixed schema (one per feature): read them by name.
OPEN_DATASETS = ("inferences",)


def unify(tables: list[pa.Table]) -> pa.Table:
    """One table from tables whose columns differ (features appear and disappear, a feature's kind
    changes): missing columns become null, a column whose kinds disagree becomes string."""
    kinds: dict[str, set[pa.DataType]] = {}
    for t in tables:
        for f in t.schema:
            kinds.setdefault(f.name, set()).add(f.type)
    target: dict[str, pa.DataType] = {}
    for name, types in kinds.items():
        types.discard(pa.null())
        if len(types) <= 1:
            target[name] = next(iter(types)) if types else pa.null()
        elif all(pa.types.is_floating(t) or pa.types.is_integer(t) or pa.types.is_boolean(t) for t in types):
            target[name] = pa.float64()
        else:
            target[name] = pa.string()
    out = []
    for t in tables:
        columns = []
        for name, typ in target.items():
            if name in t.column_names:
                col = t.column(name)
                columns.append(col if col.type == typ else _cast(col, typ))
            else:
                columns.append(pa.nulls(t.num_rows, typ))
        out.append(pa.Table.from_arrays(columns, names=list(target)))
    return pa.concat_tables(out)


def _cast(column: pa.ChunkedArray, typ: pa.DataType) -> pa.ChunkedArray:
    if pa.types.is_string(typ) and pa.types.is_boolean(column.type):
        return pa.chunked_array(
            [pa.array([None if v is None else ("true" if v else "false") for v in column.to_pylist()])]
        )
    return column.cast(typ)


# The partition layout every writer and reader uses: <dataset>/date=YYYY-MM-DD/hour=HH/<file>.parquet,
# hours in UTC, by the row's time column (DATASETS). Nothing else spells it.
PARTITION_FORMAT = "date=%Y-%m-%d/hour=%H"
PARTITION_GLOB = "{dataset}/date=*/hour=*/*.parquet"
HOUR_S = 3600


def partition_name(t: datetime | int) -> str:
    """The partition of a time, or of an hour bucket (hours since the epoch): ``date=…/hour=…``."""
    if isinstance(t, int):
        t = datetime.fromtimestamp(t * HOUR_S, tz=UTC)
    return t.astimezone(UTC).strftime(PARTITION_FORMAT)


def partition_start(name: str) -> datetime | None:
    """The first instant of partition ``name`` (``date=…/hour=…``); None for any other path."""
    parts = name.strip("/").split("/")
    if len(parts) != 2 or not parts[0].startswith("date=") or not parts[1].startswith("hour="):
        return None
    try:
        return datetime.strptime(f"{parts[0]}/{parts[1]}", PARTITION_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None


def partitions_between(start: datetime, end: datetime) -> list[str]:
    """The partitions from the one holding ``start`` to the one holding ``end``."""
    hours, t = [], start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    while t <= end:
        hours.append(partition_name(t))
        t += timedelta(hours=1)
    return hours


# Two spans with one (trace_id, span_id) are copies (a retry) when these agree, and a conflict
# (reused ids: one of them is hidden by every reader's deduplication) when they do not.
# What two columns mean, for everyone who reads them. A provider-reported cost (cost_reported) without
# a currency is in US dollars. input_tokens holds what the source reported: OpenTelemetry GenAI,
# OpenInference and OpenLLMetry count the cache reads and writes in it (their Anthropic
# instrumentations add Anthropic's cache_read/cache_creation tokens, as OpenAI's prompt_tokens already
# include cached ones); the Vercel AI SDK (convention "vercel_ai") passes the provider's own count
# through, and Anthropic's input_tokens excludes the cache. A count below its own cache tokens cannot
# include them, whatever the convention.
DEFAULT_COST_CURRENCY = "USD"
INPUT_TOKENS_EXCLUDE_CACHE: tuple[str, ...] = ("vercel_ai",)

CONFLICT_COLUMNS = ("name", "start_time", "end_time")

# Which copy of a span every reader keeps (the spans view, the run derivation, compaction, export):
# the first received; copies received at the same instant are ordered by their own content, never by
# which file or receiver holds them, so every reader, before and after a compaction, keeps the same row.
COPY_KEY = ("trace_id", "span_id")
COPY_ORDER = ("received_at", *CONFLICT_COLUMNS)
# The same rule for the other datasets a view deduplicates: an inference by (model, request id, time),
# a label event by (request id, model, time); at one received_at, by what they say.
COPY_RULES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "spans": (COPY_KEY, COPY_ORDER),
    "inferences": (("model", "request_id", "time"), ("received_at", "model_version", "prediction", "prediction_class")),
    "labels": (("request_id", "model", "time"), ("received_at", "label", "label_class")),
}


def first_copy_window(dataset: str = "spans") -> str:
    """The window that numbers the copies of a row of ``dataset``, the kept one first. Ordered by one
    row value: DuckDB sorts one composite key markedly faster than several keys."""
    key, order = COPY_RULES[dataset]
    return f"PARTITION BY {', '.join(key)} ORDER BY ({', '.join(order)})"


FIRST_COPY_WINDOW = first_copy_window("spans")


def first_copies_sql(relation: str) -> str:
    """``relation`` (a FROM clause over span rows) with one row per span: the copy the rule keeps."""
    return f"SELECT * FROM {relation} QUALIFY row_number() OVER ({FIRST_COPY_WINDOW}) = 1"


def drop_copies(table: pa.Table) -> pa.Table:
    """``table`` without the copies of a span that the rule does not keep. A copy is a row with the
    same (trace_id, span_id) and the same CONFLICT_COLUMNS; two different spans that reuse ids are both
    kept, so ``span_id_conflicts`` can still show them (and the spans view applies the rule to them).
    Row order is kept."""
    if table.num_rows == 0:
        return table
    order = pc.sort_indices(table, sort_keys=[(c, "ascending") for c in COPY_ORDER]).to_numpy()  # stable
    group = [*COPY_KEY, *CONFLICT_COLUMNS]
    ranked = table.select(group).take(order).append_column("_rank", pa.array(np.arange(len(order)), pa.int64()))
    first = ranked.group_by(group, use_threads=False).aggregate([("_rank", "min")]).column("_rank_min").to_numpy()
    return table.take(np.sort(order[first]))


def schema_version_of(metadata: dict[bytes, bytes] | None) -> str | None:
    """The schema version a Parquet file was written with (None for files not written by Driftline)."""
    if not metadata:
        return None
    raw = metadata.get(SCHEMA_VERSION_KEY)
    return raw.decode() if raw else None


# Runs derived where the spans arrive (a receiver, when it closes an hour) or by ``driftline runs rebuild``:
# RUNS_DIR/<partition>/<group>-r<digest>.parquet, where a group is the receiver instance whose span
# files it derived (or one file that is no receiver's: a compacted or imported file). Each file
# records the span files it was derived from (name -> size) and its derivation's salt (the run SQL,
# the copy rule, the prices): a reader uses an hour's runs files only when they account for every
# span file of the hour exactly once and were derived as the reader would derive them.
RUNS_DIR = "runs"
# RUNS_DIR/CROSSING_DIR holds the runs of traces cut in two by per-hour derivation (analysis/run_crossing.py);
# the run cache keeps its own under <cache>/runs/ in the same layout (CACHE_DIR for a local root).
CROSSING_DIR = "_crossing"
CACHE_DIR = "_cache"
RUNS_SOURCES_KEY = b"driftline.runs_from"
RUNS_SALT_KEY = b"driftline.runs_salt"
# A compacted file names the files it merged (name -> [size, rows]): see collector/sink/compact.py.
COMPACTED_FROM_KEY = b"driftline.compacted_from"
COMPACTED_PREFIX = "compact-"
_RECEIVER_FILE = re.compile(r"^(?P<instance>.+?)-(?:[0-9a-f]{16}-)?\d{12}\.parquet$")


def derived_from_hour(base: str, partition: str) -> list[str]:
    """The directories under the root path ``base`` that hold runs derived from the spans of
    ``partition``: what goes when those spans are erased or expire (a reader derives them again)."""
    return [
        f"{base}/{RUNS_DIR}/{partition}",
        f"{base}/{RUNS_DIR}/{CROSSING_DIR}",
        f"{base}/{CACHE_DIR}/{RUNS_DIR}/{partition}",
        f"{base}/{CACHE_DIR}/{RUNS_DIR}/{CROSSING_DIR}",
    ]


def span_file_group(name: str) -> str:
    """Whose runs a span file's runs are: the receiver instance that wrote it (``<instance>-<epoch>-
    <seq>.parquet``), or the file's own stem when no receiver wrote it (compacted, imported)."""
    m = None if name.startswith(COMPACTED_PREFIX) else _RECEIVER_FILE.match(name)
    return m.group("instance") if m else name.removesuffix(".parquet")


def runs_file_name(group: str, digest: str) -> str:
    return f"{group}-r{digest}.parquet"


_RUNS_FILE = re.compile(r"(?P<group>.+)-r(?P<digest>[0-9a-f]{16})\.parquet")


def runs_file_parts(name: str) -> tuple[str, str] | None:
    """(group, digest) of a runs file's name (``runs_file_name``), or None for any other name."""
    m = _RUNS_FILE.fullmatch(name)
    return (m["group"], m["digest"]) if m else None


def is_runs_file_of(name: str, group: str) -> bool:
    """Is ``name`` a runs file of ``group`` (not of a group whose name merely starts the same)?"""
    parts = runs_file_parts(name)
    return parts is not None and parts[0] == group


# The on-disk layout readers need besides the columns: where a root lives and which files are
# unfinished writes (a file name containing TMP_MARK is never read).
TMP_MARK = ".tmp-"


def is_finished_parquet(path: str) -> bool:
    """A Parquet file readers may read: a sink's unfinished write carries TMP_MARK until its rename."""
    return path.endswith(".parquet") and TMP_MARK not in path


def filesystem(root: str) -> tuple[pafs.FileSystem, str]:
    """A pyarrow filesystem and base path: local directories by default, ``s3://`` and friends too."""
    if "://" in root:
        fs, path = pafs.FileSystem.from_uri(root)
        return fs, path.rstrip("/")
    return pafs.LocalFileSystem(), os.path.abspath(root)
