"""The stack_dir fixture of the stack-file tests, for the compat tests too."""

from tests.unit.spec.conftest import stack_dir  # noqa: F401
