"""LangGraph human-in-the-loop: an agent pauses before a sensitive tool, a restarted process resumes.

A `create_agent` agent may call `send_email`, but HumanInTheLoopMiddleware interrupts before that
tool runs. The paused state is a checkpoint in Redis (AgentMemCheckpointSaver). Then, as a new
process would, a NEW saver and a newly built agent resume the same thread_id with the human's
decision. `user_id` in `configurable` makes the thread the user's: `forget_user` deletes it, and
another user naming the same thread id is refused. Thread ids are global, so the id starts with
the user's.

Run it with `.venv/bin/python examples/langgraph_hitl.py` (zero-config local servers, or the
AGENTMEM_* environment variables). Set OPENAI_API_KEY to use a real model instead of the script.
"""

from __future__ import annotations

import uuid

from langchain.agents import create_agent
from langchain.agents.middleware import HumanInTheLoopMiddleware
from langchain_core.tools import tool
from langgraph.types import Command
from models import langchain_model

from agentmem import AgentMem, CheckpointStore, OwnershipError, forget_user
from langchain_agentmem import AgentMemCheckpointSaver


@tool
def send_email(to: str, body: str) -> str:
    """Send an email to `to`."""
    return f"email sent to {to}: {body!r}"


def build_agent(mem: AgentMem):  # type: ignore[no-untyped-def]
    """What every process builds: the same agent, on a saver of its own."""
    return create_agent(
        langchain_model(),
        tools=[send_email],
        checkpointer=AgentMemCheckpointSaver(mem),
        middleware=[HumanInTheLoopMiddleware(interrupt_on={"send_email": True})],
    )


def main() -> None:
    run = uuid.uuid4().hex[:6]
    user_id = f"ada-{run}"
    thread_id = f"{user_id}:hitl"  # one namespace of thread ids per user
    config = {"configurable": {"thread_id": thread_id, "user_id": user_id}}
    with AgentMem() as mem:
        ask = {"messages": [("user", "Email bob@example.com: the report is ready")]}
        paused = build_agent(mem).invoke(ask, config)
        action = paused["__interrupt__"][0].value["action_requests"][0]
        ran = sum(message.type == "tool" for message in paused["messages"])
        print(f"paused before {action['name']} {action['args']}, tools run so far: {ran}")
        print(f"threads of {user_id}: {CheckpointStore(mem).threads(user_id=user_id)}")

        # Later, in another process: a new saver and a new agent, the same thread_id.
        approve = Command(resume={"decisions": [{"type": "approve"}]})
        try:  # another user cannot resume (or read) ada's thread
            intruder = {"configurable": {"thread_id": thread_id, "user_id": f"eve-{run}"}}
            build_agent(mem).invoke(approve, intruder)
        except OwnershipError as exc:
            print(f"another user was refused: {type(exc).__name__}")
        done = build_agent(mem).invoke(approve, config)
        print(f"tool after approval: {done['messages'][-2].text}")
        print(f"agent: {done['messages'][-1].text}")

        report = forget_user(user_id, memory=mem, longterm=False)  # this example uses Redis only
        print(f"forgot {user_id}: threads {report.threads}")


if __name__ == "__main__":
    main()
