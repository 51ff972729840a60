"""The drift report as plain dataclasses — the one structure every renderer and the JSON schema share.

Why plain dataclasses: ``dataclasses.asdict`` gives the JSON document (validated against
``report.schema.json``), and renderers stay pure functions of this structure.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

SCHEMA_VERSION = "1.0"


SEMANTIC_EFFECT = "centroid_cosine_distance"  # the semantic dimension's effect (analysis/semantic/drift.py)


@dataclass
class DimensionResult:
    name: str
    title: str
    kind: str  # numeric | category | labels
    unit: str
    weight: float
    floor: float
    block: float
    n_baseline: int
    n_candidate: int
    test: str
    statistic: float
    p_value: float
    p_adjusted: float
    effect_name: str  # rate_difference | median_shift | mean_shift | mean_difference
    effect: float
    ci_low: float
    ci_high: float
    focus: str | None  # the category or label the effect is about
    baseline_value: float | None  # the focus rate, or the baseline median/mean
    candidate_value: float | None
    distance: float  # Jensen-Shannon distance (categorical) or KS statistic (numeric), in [0, 1]
    score: float  # this dimension's drift in [0, 1] (beyond the floor, saturating at block)
    status: str = "unchanged"  # moved | negligible | unchanged | no data
    severity: str | None = None  # block | review, for moved dimensions
    segment: str | None = None
    echo_of: str | None = None  # moved on the same runs as this (more important) dimension: reported once
    baseline_distribution: dict[str, Any] = field(default_factory=dict)  # for charts
    candidate_distribution: dict[str, Any] = field(default_factory=dict)


@dataclass
class SideSummary:
    label: str
    selector: dict[str, Any]
    runs: int
    start: str | None
    end: str | None
    versions: list[str]
    agents: list[str]
    environments: list[str]
    unit: str = "runs"  # what ``runs`` counts: runs of an agent, or inferences of a model
    # sampled data (setup(sample_rate=…)): the rates the side's runs were kept at, and the number of
    # runs they stand for (the sum of 1 / rate); None when nothing was sampled
    sample_rates: list[float] | None = None
    runs_estimated: float | None = None


@dataclass
class ConfigChange:
    key: str  # models | snapshots | temperature | max_tokens | tools | prompts
    kind: str  # changed | added | removed | silent_model_update
    baseline: list[str]
    candidate: list[str]
    note: str


@dataclass
class Hypothesis:
    rule: str
    text: str
    evidence: float  # ranking key: weight x drift beyond the floor x -log10(adjusted p), capped
    dimension: str | None
    cites: list[str] = field(default_factory=list)  # configuration changes the hypothesis points at


@dataclass
class CostSummary:
    currency: str
    baseline_mean: float | None
    candidate_mean: float | None
    delta_per_10k_runs: float | None
    baseline_sources: dict[str, int]  # LLM calls by cost source: reported / table / unpriced
    candidate_sources: dict[str, int]
    unpriced_models: list[str]
    pricing_version: str


@dataclass
class SegmentResult:
    key: str
    value: str
    n_baseline: int
    n_candidate: int
    verdict: str
    moved: list[str]
    note: str = ""


@dataclass
class Verdict:
    verdict: str  # stable | review | block | insufficient
    score: float
    score_low: float
    score_high: float
    reasons: list[str]
    next_steps: list[str]
    runs_needed: dict[str, int] = field(default_factory=dict)


# --- a model's performance against its labels (``driftline diff --model``; analysis/ml/performance.py) ---


@dataclass
class PerformanceMetric:
    name: str
    title: str
    value: float | None
    ci_low: float | None
    ci_high: float | None
    baseline: float | None = None
    difference: float | None = None
    diff_low: float | None = None
    diff_high: float | None = None
    p_value: float | None = None
    p_adjusted: float | None = None
    status: str = "unchanged"  # worse | better | negligible | unchanged | provisional | insufficient
    estimated: float | None = None
    est_low: float | None = None
    est_high: float | None = None
    estimation_error: float | None = None  # realised minus estimated, once the window's labels are in


@dataclass
class PerformanceWindow:
    label: str
    start: str | None
    end: str | None
    inferences: int
    labelled: int
    coverage: float
    delay_median_s: float | None
    delay_p90_s: float | None
    provisional: bool
    metrics: list[PerformanceMetric] = field(default_factory=list)


@dataclass
class ModelPerformance:
    task: str  # binary | multiclass | regression
    positive: str | None
    window: str
    coverage_threshold: float
    baseline: PerformanceWindow
    windows: list[PerformanceWindow]
    warnings: list[str] = field(default_factory=list)
    estimation: str | None = None  # how unlabelled windows are estimated (None: they are not)
    segments: list[PerformanceWindow] = field(default_factory=list)  # --by: each segment against its own baseline


# --- what the answers are about (the semantic dimension's themes; analysis/semantic/topics.py) ---


@dataclass
class Theme:
    theme: int  # 1-based id, stable within one report
    terms: list[str]  # most characteristic words (class-based TF-IDF)
    examples: list[str]  # most representative answers of the theme (either side)
    share_baseline: float
    share_candidate: float
    ci_low: float  # candidate - baseline share, interval simultaneous over the themes
    ci_high: float
    change: str  # grew | shrank | steady (the interval clears 2 points, or not)
    baseline_answers: list[str]  # the comparer: each side's answers nearest the theme's centre
    candidate_answers: list[str]


@dataclass
class NovelAnswer:
    text: str
    similarity: float  # cosine to the nearest baseline answer
    theme: int


@dataclass
class SemanticSummary:
    model: str
    texts_baseline: int
    texts_candidate: int
    themes: list[Theme]
    novel: list[NovelAnswer]  # candidate answers least like any baseline answer


# --- an explanation of the report, by an LLM or, as its fallback, by the rules (analysis/explain/) ---


@dataclass
class Cause:
    cause: str
    evidence: list[str]  # ids of the report's facts it rests on: dimensions, hypotheses, changes, themes


@dataclass
class Explanation:
    source: str  # llm | rules
    summary: str
    severity: str  # low | medium | high
    causes: list[Cause]
    next_steps: list[str]
    model: str | None = None  # the LLM that wrote it (source llm)
    fallback_reason: str | None = None  # why the rules explain instead (source rules)


@dataclass
class Report:
    generated_at: str
    data_root: str
    baseline: SideSummary
    candidate: SideSummary
    verdict: Verdict
    dimensions: list[DimensionResult]
    hypotheses: list[Hypothesis]
    configuration_changes: list[ConfigChange]
    configuration: dict[str, dict[str, Any]]  # per side: models, snapshots, parameters, tools, prompts
    cost: CostSummary | None
    segments: list[SegmentResult]
    segment_dimensions: list[DimensionResult]
    settings: dict[str, Any]
    baseline_record: dict[str, Any] | None = None
    performance: ModelPerformance | None = None  # models with labels (or estimates) only
    semantic: SemanticSummary | None = None  # themes of stored answers (the semantic dimension) only
    explanation: Explanation | None = None  # --explain only
    schema_version: str = SCHEMA_VERSION
    kind: str = "driftline.diff"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def moved(self) -> list[DimensionResult]:
        return [d for d in self.dimensions if d.status == "moved"]

    @property
    def negligible(self) -> list[DimensionResult]:
        return [d for d in self.dimensions if d.status == "negligible"]
