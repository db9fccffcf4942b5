from tools_helpers import runtime_venv, tiny_data  # noqa: F401  (session fixtures)
