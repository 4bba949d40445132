"""Passwords, tokens, roles and secret encryption."""
