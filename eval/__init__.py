"""Reasoning benchmarks: declarative tasks (`tasks`), answer grading (`grader`), the procedural arithmetic
benchmark (`arithmetic`), metrics (`metrics`) and grading of predictions files (`bench_eval`)."""
