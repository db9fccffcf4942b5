from tools_helpers import tiny_data  # noqa: F401  (session fixture)
