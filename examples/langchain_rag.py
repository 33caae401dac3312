"""LangChain RAG over a user's long-term memory: a retriever on Weaviate feeds an LCEL chain.

A user's notes go into AgentMemVectorStore (their own Weaviate tenant). With no embedding model
the store searches with BM25, so the question shares words with the note it should find. The
retriever's top 2 notes fill the prompt's `Context:`, and the model answers from them.

Run it with `.venv/bin/python examples/langchain_rag.py` (zero-config local servers, or the
AGENTMEM_* environment variables). Set OPENAI_API_KEY to use a real model instead of the script.
"""

from __future__ import annotations

import uuid

from langchain_core.documents import Document
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnablePassthrough
from models import langchain_model

from agentmem import AgentMem, forget_user
from langchain_agentmem import AgentMemVectorStore

PROMPT = ChatPromptTemplate.from_messages(
    [
        ("system", "Answer the question from the context only."),
        ("human", "Context:\n{context}\n\nQuestion: {question}"),
    ]
)


def one_per_line(docs: list[Document]) -> str:
    return "\n".join(doc.page_content for doc in docs)


def main() -> None:
    user_id = f"ada-{uuid.uuid4().hex[:6]}"
    with AgentMem() as mem:
        notes = AgentMemVectorStore(mem, tenant=user_id)  # no embedding: BM25
        notes.add_texts(
            [
                "Ada's flight to Lisbon leaves on Friday at 9:40",
                "Ada prefers an aisle seat on long flights",
                "Ada's cat Turing is fed by the neighbour while she travels",
            ]
        )
        retriever = notes.as_retriever(search_kwargs={"k": 2})
        question = "When does Ada's flight to Lisbon leave?"
        for doc in retriever.invoke(question):
            print(f"retrieved: {doc.page_content}")

        chain = (
            {"context": retriever | one_per_line, "question": RunnablePassthrough()}
            | PROMPT
            | langchain_model()
            | StrOutputParser()
        )
        print(f"answer: {chain.invoke(question)}")
        forget_user(user_id, memory=mem)  # drops the user's tenant: their notes are gone


if __name__ == "__main__":
    main()
