"""The Entity-Deduction Arena's 20 questions (things and celebrities) with an offline knowledge-base judge."""

from agentkit.envs.entity_deduction.env import EntityDeductionEnv, arena_score
from agentkit.envs.entity_deduction.expert import ExpertQuestioner
from agentkit.envs.entity_deduction.judges import Judge, Judgement, KnowledgeBaseJudge, LLMJudge
from agentkit.envs.entity_deduction.kb import KnowledgeBase, KnowledgeBaseError, load_kb

__all__ = [
    "EntityDeductionEnv",
    "ExpertQuestioner",
    "Judge",
    "Judgement",
    "KnowledgeBase",
    "KnowledgeBaseError",
    "KnowledgeBaseJudge",
    "LLMJudge",
    "arena_score",
    "load_kb",
]
