"""Retrieval through Haystack (InMemoryBM25Retriever in a pipeline) and LlamaIndex (a vector index on
MockEmbedding): both retrievers' spans must say how many documents they returned, and which."""

from __future__ import annotations

import os

os.environ.setdefault("OPENINFERENCE_HIDE_EMBEDDING_VECTORS", "true")

from _harness import main, question

TEXTS = ["Refunds take five days.", "Shipping is free over 50 EUR.", "Order 42 ships Monday."]


def haystack_rag(args, i: int) -> str:
    from haystack import Document, Pipeline
    from haystack.components.builders import ChatPromptBuilder
    from haystack.components.generators.chat import OpenAIChatGenerator
    from haystack.components.retrievers.in_memory import InMemoryBM25Retriever
    from haystack.dataclasses import ChatMessage
    from haystack.document_stores.in_memory import InMemoryDocumentStore
    from haystack.utils import Secret

    store = InMemoryDocumentStore()
    store.write_documents([Document(content=t) for t in TEXTS])
    template = [ChatMessage.from_user("{% for d in documents %}{{ d.content }} {% endfor %}{{ query }}")]
    pipe = Pipeline()
    pipe.add_component("retriever", InMemoryBM25Retriever(document_store=store, top_k=2))
    pipe.add_component("prompt", ChatPromptBuilder(template=template, required_variables=["query", "documents"]))
    pipe.add_component(
        "llm", OpenAIChatGenerator(model="rag", api_base_url=args.llm, api_key=Secret.from_token("test"))
    )
    pipe.connect("retriever.documents", "prompt.documents")
    pipe.connect("prompt.prompt", "llm.messages")
    out = pipe.run({"retriever": {"query": "order free"}, "prompt": {"query": question(i)}})
    return out["llm"]["replies"][0].text or ""


def llamaindex_rag(args, i: int) -> str:
    from llama_index.core import Document, VectorStoreIndex
    from llama_index.core.embeddings import MockEmbedding

    index = VectorStoreIndex.from_documents([Document(text=t) for t in TEXTS], embed_model=MockEmbedding(embed_dim=8))
    nodes = index.as_retriever(similarity_top_k=2).retrieve(question(i))
    return " ".join(n.get_content() for n in nodes)


def run(args, i: int) -> str:
    return haystack_rag(args, i) if i % 2 == 0 else llamaindex_rag(args, i)


if __name__ == "__main__":
    main(run)
