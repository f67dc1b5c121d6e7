"""Behavior handbook and behavior-conditioned SFT (Didolkar et al., 2025, "Metacognitive Reuse: Turning
Recurring LLM Reasoning Into Concise Behaviors", arXiv:2509.13237).

The algorithm, step by step, and where each step lives:

1. the teacher solves training problems, reflects on its traces and extracts reusable procedures as
   `name: instruction` behaviors (`behaviors.extract_handbook`; the handbook itself, merged and validated,
   is `handbook.Handbook`; `teacher.build_handbook` runs it for a run folder);
2. behavior-conditioned inference: retrieve behaviors for a problem by topic, BM25 or embeddings and put
   them before its prompt (`behaviors.make_retriever`, `behaviors.select_behaviors`,
   `behaviors.conditioned_prompt`; `teacher.Conditioner`);
3. the teacher writes traces with the behaviors in its prompt; wrong answers are dropped
   (`teacher.make_traces`);
4. behavior-conditioned SFT: the student learns question -> trace WITHOUT the behaviors in its prompt
   (`student.train`), from its base (`student.build_warm_start`);
5. held-out accuracy and completion length of student and teacher, plain and conditioned
   (`student.evaluate`, `student.score`).

At tiny scale a rule-based teacher stands in for a real one (`scripted_teacher.ScriptedArithmeticTeacher`).
`config.BehaviorSFTConfig` holds every setting; `recipes/behavior_sft.py` is the command line.
"""
