"""Notifications: what to tell whom (messages), how it reads (templates, render) and how it
travels (channels). Pure except for the channels; the outbox lives in the store (kamflow/).
"""
