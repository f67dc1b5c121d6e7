"""The entity deduction env: lists, knowledge base, grammar, judges, expert and the env contract."""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import numpy as np
import pytest

from agentkit.envs import EnvError, check_env, make
from agentkit.envs.entity_deduction import (
    EntityDeductionEnv,
    ExpertQuestioner,
    KnowledgeBaseError,
    KnowledgeBaseJudge,
    LLMJudge,
    arena_score,
    load_kb,
)
from agentkit.envs.entity_deduction import kb as kb_module
from agentkit.envs.entity_deduction.grammar import last_question
from agentkit.envs.entity_deduction.judges import MAYBE, parse_reply
from agentkit.envs.entity_deduction.lists import read_list

LISTS = ("things", "celebrities")


@pytest.fixture(scope="module")
def things_judge() -> KnowledgeBaseJudge:
    return KnowledgeBaseJudge(load_kb("things"))


@pytest.fixture(scope="module")
def celebrities_judge() -> KnowledgeBaseJudge:
    return KnowledgeBaseJudge(load_kb("celebrities"))


# --- lists and knowledge base ---------------------------------------------------------------------------


def test_the_joined_upstream_line_is_split_in_two():
    names = [entry[0] for entry in read_list("things", "test")]
    assert "CelloMarshmallow" not in names
    assert names[names.index("Cello") + 1] == "Marshmallow"
    assert len(names) == 101


def test_shipped_lists_are_the_arena_files(shared_data):
    source = shared_data / "entity_deduction"
    for path in sorted(source.rglob("*.txt")):
        shipped = kb_module.resources.files("agentkit.envs.entity_deduction") / "data" / "lists"
        assert (shipped / path.relative_to(source)).read_text(encoding="utf-8") == path.read_text(encoding="utf-8")


@pytest.mark.parametrize("entity_list", LISTS)
def test_every_list_entry_is_in_the_knowledge_base_with_dozens_of_attributes(entity_list):
    kb = load_kb(entity_list)
    for split in ("train", "dev", "test"):
        for names in read_list(entity_list, split):
            if names[0] in kb.excluded:
                continue
            entity = kb.find(names[0])
            assert entity is not None and all(kb.find(name) is entity for name in names), names
            assert len(entity.facts) >= 40, (entity.name, len(entity.facts))
            assert len([value for value in entity.facts.values() if value]) >= 2, entity.name


def test_list_duplicates_share_one_entity_and_unknowable_entries_are_excluded_with_a_reason():
    kb = load_kb("celebrities")
    assert kb.find("Ghandi") is kb.find("Mahatma Gandhi")
    assert kb.find("Wolfgang Amadeus Mozart") is kb.find("Mozart")
    assert kb.find("Beyonce") is kb.find("Beyoncé Knowles")
    assert set(kb.excluded) == {"Darkling", "Isabella Rodriguez", "Sebastian Martinez"}
    assert all(reason for reason in kb.excluded.values())
    assert "Darkling" not in EntityDeductionEnv("celebrities", "train").task_ids()
    assert len(EntityDeductionEnv("things", "test").task_ids()) == 100  # two "Dumbbell" lines, one entity


def _load_with(monkeypatch, file: str, old: str, new: str):
    real = kb_module._data

    def patched(name: str) -> str:
        text = real(name)
        if name == file:
            assert old in text
            text = text.replace(old, new, 1)
        return text

    monkeypatch.setattr(kb_module, "_data", patched)
    return kb_module.load_kb.__wrapped__("things" if file.startswith("things") else "celebrities")


@pytest.mark.parametrize(
    ("file", "old", "new", "message"),
    [
        ("things_kb.txt", "Oar :: tool :: size=3 +wood", "Oar :: tool :: size=3 +wooden", "'+wooden'"),
        ("things_kb.txt", "Oar :: tool ::", "Oar :: paddle ::", "unknown category 'paddle'"),
        ("things_kb.txt", "Oar :: tool ::", "Oar | Kayak :: tool ::", "alias 'Kayak' names both"),
        ("things_kb.txt", "Oar :: tool :: size=3", "Oar :: tool :: size=9", "needs `size=0..5`"),
        ("things_kb.txt", "Colonel :: person", "Major :: person", "'Colonel' does not name exactly one"),
        ("celebrities_kb.txt", "Kajol :: 1974 :: - :: F :: India", "Kajol :: 1974 :: - :: F :: Indya", "'Indya'"),
        ("celebrities_kb.txt", "Kajol :: 1974", "Kajol :: nineteen", "years of 'Kajol'"),
    ],
)
def test_a_faulty_knowledge_base_fails_on_load_naming_the_bad_value(monkeypatch, file, old, new, message):
    with pytest.raises(KnowledgeBaseError, match=re.escape(message)):
        _load_with(monkeypatch, file, old, new)


def test_a_phrasing_claimed_by_two_attributes_fails_on_load(monkeypatch):
    with pytest.raises(KnowledgeBaseError, match="maps to both"):
        _load_with(monkeypatch, "things_attributes.json", '"is it sugary"', '"is it alive"')


# --- grammar and knowledge-base judge --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "answer"),
    [
        ("Is it an animal?", "Yes"),
        ("is the entity a MAMMAL", "No"),
        ("Does it have feathers?", "Yes"),
        ("Can it fly?", "No"),
        ("Can't it fly?", "Yes"),
        ("Is it not man-made?", "Yes"),
        ("Is it natural?", "Yes"),
        ("Is it bigger than a breadbox?", "Yes"),
        ("Is it smaller than a breadbox?", "No"),
        ("Is it usually found in Africa?", "Maybe"),  # ambiguous, so no attribute claims it: never guessed
        ("Is it an ostrich?", "Bingo!"),
        ("Ostriches?", "Bingo!"),
        ("Is it a penguin?", "No"),  # names another entity
        ("Is it a bird?", "Yes"),
        ("Is it an African animal?", "Yes"),
        ("Is it a wild animal?", "Yes"),
    ],
)
def test_things_judge_answers(things_judge, question, answer):
    assert things_judge.judge(things_judge.kb.entity("Ostrich"), question).answer == answer


@pytest.mark.parametrize(
    ("question", "answer"),
    [
        ("Is this person a woman?", "Yes"),
        ("Is he a man?", "No"),
        ("Was she born before 1900?", "Yes"),
        ("Was the person born in the 19th century?", "Yes"),
        ("Was she born in 1867?", "Yes"),
        ("Was she born in the 1860s?", "Yes"),
        ("Did she live in the 20th century?", "Yes"),
        ("Is she still alive?", "No"),
        ("Did she win a Nobel Prize?", "Yes"),
        ("Is she Polish?", "Yes"),
        ("Is this person from Europe?", "Yes"),
        ("Is she an actress?", "Maybe"),
        ("Is this person a scientist?", "Yes"),
        ("Is it marie curie?", "Bingo!"),
        ("Is it Albert Einstein?", "No"),
    ],
)
def test_celebrities_judge_answers(celebrities_judge, question, answer):
    assert celebrities_judge.judge(celebrities_judge.kb.entity("Marie Curie"), question).answer == answer


def test_a_name_that_is_also_an_adjective_is_a_guess_only_with_an_article(things_judge):
    tiger = things_judge.kb.entity("Tiger")
    assert things_judge.judge(tiger, "Is it orange?").answer == "Maybe"  # a colour question it cannot answer
    assert things_judge.judge(tiger, "Is it an orange?").answer == "No"
    assert things_judge.judge(things_judge.kb.entity("Orange"), "Is it an orange?").answer == "Bingo!"


@pytest.mark.parametrize(
    ("person", "question", "answer"),
    [
        ("Barack Obama", "Was he a US president?", "Yes"),
        ("Nelson Mandela", "Was he a US president?", "No"),
        ("Barack Obama", "Has this person won the Nobel Peace Prize?", "Yes"),
        ("Barack Obama", "Is the person fictional?", "No"),
        ("Confucius", "Was this person born before 500 BC?", "Yes"),
        ("Confucius", "Was he born in the 6th century BC?", "Yes"),
        ("Hikaru Utada", "Is this person a man?", "No"),
        ("Hikaru Utada", "Is this person a woman?", "Maybe"),  # non-binary
    ],
)
def test_derived_flags_years_and_unknown_values(celebrities_judge, person, question, answer):
    assert celebrities_judge.judge(celebrities_judge.kb.entity(person), question).answer == answer


@pytest.mark.parametrize(
    ("turn", "question"),
    [
        ("Animals seem likely. Is it a mammal?", "Is it a mammal?"),
        ("It is big.\nIs it a whale?", "Is it a whale?"),
        ("Is it J.K. Rowling?", "Is it J.K. Rowling?"),
        ("So not an actor. Is it Robert Downey Jr.?", "Is it Robert Downey Jr.?"),
        ("Is it a dog", "Is it a dog"),
    ],
)
def test_only_the_last_question_of_a_turn_is_judged(turn, question):
    assert last_question(turn) == question


def test_thinking_aloud_before_the_question_is_fine():
    env = EntityDeductionEnv("things", "test")
    env.reset(options={"task_id": "Tiger"})
    assert env.step("Big animals are common in this list. Is it a feline?")[0] == "Yes"


def test_accents_and_aliases_name_the_entity(celebrities_judge):
    beyonce = celebrities_judge.kb.entity("Beyoncé")
    assert celebrities_judge.judge(beyonce, "is it beyonce knowles").answer == "Bingo!"
    assert celebrities_judge.judge(beyonce, "My guess is Beyonce.").answer == "Bingo!"


@pytest.mark.parametrize("entity_list", LISTS)
def test_every_expert_question_is_answerable_consistently_for_every_entity(entity_list):
    kb = load_kb(entity_list)
    judge = KnowledgeBaseJudge(kb)
    expert = ExpertQuestioner(kb, judge)
    assert len(expert.attributes) >= 100
    for name, question in zip(expert.attributes, expert.questions, strict=True):
        answers = [judge.judge(entity, question).answer for entity in kb.entities]
        assert answers == [judge.judge(entity, question).answer for entity in kb.entities]  # same every time
        expected = ["Yes" if entity.facts[name] else "No" for entity in kb.entities]
        bingo = [answer == "Bingo!" for answer in answers]  # "Is it a dog?" to the entity Dog
        assert [a for a, b in zip(answers, bingo, strict=True) if not b] == [
            e for e, b in zip(expected, bingo, strict=True) if not b
        ], question


# --- expert and env ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("entity_list", LISTS)
def test_check_env(entity_list):
    report = check_env(make("entity_deduction", entity_list=entity_list, split="test"), seeds=(0, 1))
    assert report.mean_expert_return > 0.7


@pytest.mark.parametrize("entity_list", LISTS)
def test_expert_solves_at_least_95_percent_of_test_entities_within_20_questions(entity_list):
    env = make("entity_deduction", entity_list=entity_list, split="test")
    wins = 0
    for task_id in env.task_ids():
        env.reset(options={"task_id": task_id})
        pool = set(env._expert.questions)
        done = False
        while not done:
            question = env.expert_action()
            assert question in pool or question.startswith("Is it "), question
            _, reward, terminated, truncated, info = env.step(question)
            done = terminated or truncated
        wins += info["won"]
        assert info["unmapped_questions"] == 0
    assert wins >= 0.95 * len(env.task_ids())


def test_expert_takes_over_a_game_started_by_someone_else():
    env = make("entity_deduction", entity_list="things", split="test")
    env.reset(options={"task_id": "Violin" if "Violin" in env.task_ids() else "Guitar"})
    for question in ("Is it purple?", "Is it alive?", "Is it a musical instrument?"):
        env.step(question)
    for _ in range(17):
        _, _, terminated, truncated, info = env.step(env.expert_action())
        if terminated or truncated:
            break
    assert info["won"]


def test_expert_decision_explains_its_question():
    env = make("entity_deduction", entity_list="things", split="test")
    env.reset(options={"task_id": "Sloth"})
    question, thought = env.expert_decision()
    assert question == env.expert_action()
    assert thought.startswith(f"{len(env.kb.entities)} candidates fit the answers so far")
    while not env.step(question)[2]:
        question, thought = env.expert_decision()
    assert thought.startswith("Only ") and "Sloth" in thought


def test_score_reward_truncation_and_info():
    assert arena_score(3) == 1.0 and arena_score(5) == 1.0 and arena_score(20) == pytest.approx(0.7)
    env = make("entity_deduction", entity_list="things", split="test", max_turns=3)
    obs, info = env.reset(options={"task_id": "Tiger"})
    assert "thing" in obs and "3 questions" in obs and info["won"] is False
    _, reward, terminated, truncated, info = env.step("Does it glow in the dark at parties?")
    assert (reward, terminated, truncated, info["unmapped_questions"], info["answer"]) == (0.0, False, False, 1, MAYBE)
    env.step("Is it a feline?")
    _, reward, terminated, truncated, info = env.step("Is it a lion?")
    assert (reward, terminated, truncated, info["won"], info["score"]) == (0.0, False, True, False, 0.0)
    with pytest.raises(EnvError, match="after the episode ended"):
        env.step("Is it a tiger?")
    env.reset(options={"task_id": "Tiger"})
    _, reward, terminated, _, info = env.step("Is it a tiger?")
    assert terminated and info["won"] and reward == info["score"] == 1.0


def test_reset_by_seed_is_deterministic_and_covers_the_split():
    env = EntityDeductionEnv("celebrities", "dev")
    picks = [env.reset(seed=seed)[1]["task_id"] for seed in range(40)]
    assert picks == [env.reset(seed=seed)[1]["task_id"] for seed in range(40)]
    assert len(set(picks)) > 20 and set(picks) <= set(env.task_ids())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"entity_list": "animals"}, "entity_list='animals'"),
        ({"split": "validation"}, "split='validation'"),
        ({"max_turns": 0}, "max_turns=0"),
        ({"judge": "gpt"}, "judge='gpt'"),
        ({"judge": "llm"}, "judge_options"),
    ],
)
def test_bad_arguments_are_clear_errors(kwargs, message):
    with pytest.raises(EnvError, match=message):
        EntityDeductionEnv(**kwargs)


def test_unknown_task_id_is_a_clear_error():
    with pytest.raises(EnvError, match="task_id='Tiger' is not an entity of things/train"):
        EntityDeductionEnv("things", "train").reset(options={"task_id": "Tiger"})


# --- LLM judge against a fake judge server ------------------------------------------------------------------


class FakeJudgeServer:
    """A fake judge server on 127.0.0.1 speaking the chat-completions protocol with canned replies."""

    def __init__(self, replies: list[str]) -> None:
        self.replies = list(replies)
        self.requests: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append(body)
                payload = json.dumps({
                    "id": "fake", "object": "chat.completion", "created": 0, "model": body["model"],
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": server.replies.pop(0)}}],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                }).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> FakeJudgeServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def test_reply_parsing():
    replies = ("Yes.", "no", " Maybe, hard to say", "**No**", "Yesterday", "", "I think yes")
    assert [parse_reply(reply) for reply in replies] == ["Yes", "No", "Maybe", "No", None, None, None]


def test_llm_judge_over_the_fake_server_parses_replies_and_counts_malformed_ones(caplog):
    with FakeJudgeServer(["Yes.", "No, it is not.", "As an AI I cannot answer that"]) as server:
        env = EntityDeductionEnv("things", "test", judge="llm",
                                 judge_options={"base_url": server.url, "model": "judge-model", "timeout": 10})
        env.reset(options={"task_id": "Tiger"})
        assert env.step("Is it an animal?")[0] == "Yes"
        assert env.step("Is it blue?")[0] == "No"
        observation, _, _, _, info = env.step("Is it dangerous?")
        assert observation == "Maybe" and info["unmapped_questions"] == 1 and env.judge.malformed_replies == 1
        _, reward, terminated, _, info = env.step("Is it a tiger?")  # the name is checked without the model
        assert terminated and info["won"] and reward == 1.0
    assert len(server.requests) == 3
    request = server.requests[0]
    assert request["model"] == "judge-model" and request["temperature"] <= 0.3
    assert "Tiger" in request["messages"][0]["content"] and request["messages"][1]["content"] == "Is it an animal?"
    assert "malformed reply" in caplog.text


def test_llm_judge_unreachable_endpoint_is_a_clear_error():
    judge = LLMJudge("http://127.0.0.1:9/v1", "judge-model", timeout=2)
    with pytest.raises(EnvError, match="LLM judge at http://127.0.0.1:9/v1"):
        judge.judge(load_kb("things").entity("Tiger"), "Is it an animal?")


def test_expert_candidates_narrow_with_answers():
    kb = load_kb("things")
    expert = ExpertQuestioner(kb)
    everyone = expert.candidates([])
    narrowed = expert.candidates([("Is it an animal?", "Yes"), ("Can it fly?", "No")])
    assert everyone.all() and 0 < narrowed.sum() < everyone.sum()
    names = {kb.entities[i].name for i in np.flatnonzero(narrowed)}
    assert "Ostrich" in names and "Parrot" not in names and "Chair" not in names
