"""Turning a refusal from a service into words for a person: a sentence, or reasons on a form's fields."""

from core.errors import DomainError, InvalidInput, first_problem


def problem_message(exc: DomainError) -> str:
    """The message of a domain error."""
    return exc.message


def add_problem(form, exc: DomainError) -> None:
    """Show a refusal on ``form``: on the field it names with the first reason for it, else as the form's error."""
    if isinstance(exc, InvalidInput):
        for name, reasons in exc.details.items():
            found = first_problem(reasons)
            if name in form.fields and found:
                form.add_error(name, found[1])
                return
    form.add_error(None, problem_message(exc))
