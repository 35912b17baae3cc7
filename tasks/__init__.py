"""Playbook steps become tasks: cadences, RACI routing, the task status rules, the audit chain.

Pure like the engine: the store lives in the composition root (kamflow/).
"""
