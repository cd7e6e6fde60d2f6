"""Validators shared by the models of several apps."""

from django.core.validators import RegexValidator

# The identity of executions, dimensions and values in state files, URLs and the API.
KEY_VALIDATOR = RegexValidator(
    r"^[A-Za-z0-9][A-Za-z0-9_-]*$", "Use letters, digits, '_' and '-', starting with a letter or digit."
)
