"""Queries and writes: each function takes a connection and never commits."""
