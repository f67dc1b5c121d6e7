"""`agentkit serve` on the catalogue's real model with a LoRA adapter and a served model name, answering the
real `openai` client with the token ids HF + PEFT give. One server, in this module's only test."""

import socket

import pytest

from agentkit.rollout.hf_backend import HFBackend
from agentkit.rollout.openai_backend import OpenAIBackend
from agentkit.rollout.sampling import SamplingParams
from agentkit.serve import free_port
from tests.test_serving import Served, running

pytestmark = pytest.mark.slow

PROMPTS = [
    [{"role": "system", "content": "You answer in one short sentence."},
     {"role": "user", "content": "What is the capital of France?"}],
    [{"role": "system", "content": "You play a text game. Reply with one command."},
     {"role": "user", "content": "You are in a kitchen. There is a red key on the table. What do you do?"}],
]  # fmt: skip


def test_served_adapter_and_base_model_answer_the_openai_client_under_their_names(
    real_model_dir, save_random_lora, tmp_path
):
    from openai import OpenAI

    adapter = save_random_lora(real_model_dir, tmp_path / "agent", seed=2)
    served = Served(real_model_dir, adapter, free_port(), tmp_path / "serve.log", ("--served-model-name", "smollm2"))
    params = SamplingParams(max_tokens=24)
    with running(served):
        with OpenAI(base_url=served.url, api_key="EMPTY") as client:
            assert {m.id for m in client.models.list().data} == {"smollm2", "agent"}  # not the folder path
        with OpenAIBackend("agent", base_url=served.url) as remote:
            tuned = remote.generate(PROMPTS, params)
        with OpenAIBackend("smollm2", base_url=served.url) as remote:
            base = remote.generate(PROMPTS, params)
    with pytest.raises(OSError):  # stopping `agentkit serve` stopped the vLLM server it started
        socket.create_connection(("127.0.0.1", served.port), timeout=5).close()
    local = HFBackend(str(real_model_dir), adapter=str(adapter), threads=2).generate(PROMPTS, params)
    for (http,), (hf,) in zip(tuned, local, strict=True):
        assert http.error is None
        assert (http.token_ids, http.text, http.finish_reason) == (hf.token_ids, hf.text, hf.finish_reason)
        assert "<|im_end|>" not in http.text
    assert all(reply.error is None for (reply,) in base)
    assert [reply.token_ids for (reply,) in base] != [reply.token_ids for (reply,) in tuned]
    assert "Paris" in base[0][0].text
