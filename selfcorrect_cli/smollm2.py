"""Placeholder until the real-model module lands: no aliases yet."""


def resolve_model_path(path: str) -> str:
    return path
