"""Exceptions raised by the ML library.

They live in one dependency-free module so that the numpy-only scorers and
the TensorFlow training code can share them without importing each other.
"""


class InvalidParams(ValueError):
    """Recipe parameters failed validation.

    ``errors`` maps each offending field name to a message that names the
    allowed range or choices, ready to show next to a form field.
    """

    def __init__(self, errors: dict[str, str]):
        self.errors = dict(errors)
        detail = "; ".join(f"{name}: {message}" for name, message in sorted(self.errors.items()))
        super().__init__(f"invalid parameters: {detail}")


class UnknownRecipe(KeyError):
    """No recipe is registered under the requested name."""

    def __init__(self, name: str, valid_names: list[str]):
        self.name = name
        self.valid_names = list(valid_names)
        super().__init__(name)

    def __str__(self) -> str:
        return f"unknown recipe {self.name!r}; valid recipes: {', '.join(self.valid_names)}"


class DataError(ValueError):
    """The training data cannot be used; the message says what to change."""


class TrainingCancelled(Exception):
    """Training stopped because ``should_cancel()`` returned True."""

    def __init__(self, epoch: int | None = None, total_epochs: int | None = None):
        # Without epochs: cancelled between steps that are not epochs (auto's candidates, saving the artifact).
        self.epoch = epoch
        self.total_epochs = total_epochs
        where = f" after epoch {epoch} of {total_epochs}" if epoch is not None else ""
        super().__init__(f"training cancelled{where}")


class ArtifactError(Exception):
    """A saved model directory is missing, corrupt or from an incompatible version."""


class UnknownUser(KeyError):
    """The scorer cannot score this user (not seen in training and no usable history)."""

    def __str__(self) -> str:
        return f"unknown user {self.args[0]!r}" if self.args else "unknown user"


class UnknownItem(KeyError):
    """The scorer does not know this item."""

    def __str__(self) -> str:
        return f"unknown item {self.args[0]!r}" if self.args else "unknown item"


class UnsupportedOperation(NotImplementedError):
    """The recipe behind this scorer does not offer the requested operation."""


class PredictionInputError(ValueError):
    """A row passed to ``predict`` is missing a column or holds an unusable value."""

    def __init__(self, row: int, column: str, reason: str):
        self.row = row
        self.column = column
        self.reason = reason
        super().__init__(f"row {row}, column {column!r}: {reason}")
