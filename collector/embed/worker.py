"""The embeddings-only mode's embedding process: spooled answers → vectors in the data root.

Why a process of its own, scheduled as idle (``SCHED_IDLE``) with one inference thread: embedding is
CPU-heavy; in the receiver's process it would compete with the Export path for the GIL, in the
normalizer workers it would hold up segments. Here it only takes CPU time the ack path and the
normalizers leave; under a sustained overload the spool's budget drops new samples instead.

It polls the spool, embeds each file's answers (the text parts of GenAI message JSON, as the diff
does, PII-scrubbed unless the receiver runs with --no-scrub-pii: the scrubbing happens here, not in
the normalizers), writes their vectors under ``<data>/embeddings/<model>/`` keyed by the span's
``output_hash`` (a file named after the spool file, so a crash between the write and the delete
rewrites the same file), then deletes the spool file — the text is gone. It leaves when the receiver
stops or dies.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

from driftline.collector.embed import spool
from driftline.collector.embed.model import Embedder, EmbedderConfig, SemanticUnavailable
from driftline.collector.embed.store import put
from driftline.collector.embed.text import answer_text
from driftline.instrumentation.scrub import scrub

log = logging.getLogger("driftline.collector.embed")
POLL_S = 0.25


def _exit_with_parent(parent: int) -> None:
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, name="driftline-embed-parent-watch", daemon=True).start()


def idle() -> None:
    """Run only on CPU time nobody else wants: SCHED_IDLE where Linux offers it (the embedding then
    takes nothing from a saturated receiver), else the lowest nice level."""
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except (AttributeError, OSError):
        with contextlib.suppress(OSError):
            os.nice(19)


def drain_once(directory: Path, root: str, model: Embedder, scrub_pii: bool = True) -> int:
    """Embed every spooled file once; the number of answers embedded."""
    done = 0
    for path in spool.pending(directory):
        items = list(spool.read(path))
        if items:
            keys = [h for h, _ in items]
            texts = [answer_text(t) for _, t in items]
            if scrub_pii:
                texts = [scrub(t) for t in texts]
            put(root, model, keys, texts, name=path.name.removesuffix(spool.SUFFIX))
        path.unlink(missing_ok=True)
        done += len(items)
    return done


def run(
    directory: str, root: str, config: EmbedderConfig, stop: Any, embedded: Any, parent: int, scrub_pii: bool = True
) -> None:
    """The process's loop (``multiprocessing`` target): ``stop`` an Event, ``embedded`` a shared counter."""
    _exit_with_parent(parent)
    idle()
    try:
        model = Embedder(config, threads=1)
    except SemanticUnavailable as exc:  # answers stay spooled (bounded by the budget) until a restart fixes it
        log.error("embeddings-only mode cannot embed: %s", exc)
        return
    folder = Path(directory)
    while not stop.is_set():
        try:
            n = drain_once(folder, root, model, scrub_pii)
        except OSError as exc:  # a full disk: the spool keeps the answers, try again shortly
            log.warning("embedding spooled answers failed (%s); retrying", exc)
            n = 0
        if n:
            with embedded.get_lock():
                embedded.value += n
        else:
            stop.wait(POLL_S)
