"""Request bodies: documented by FastAPI from their model, validated by the API.

Why not a plain FastAPI body parameter: FastAPI validates the parsed JSON in pydantic's
lax Python mode, where ``true`` passes for the integer 1 and ``"1.5"`` for a number, so the
API would accept bodies its own OpenAPI document calls invalid. So the body parameter is
declared ``SkipValidation`` (FastAPI still documents the model's schema and parses the
JSON) and :func:`strict_body` validates the raw JSON strictly, nested models included.
The job spec goes through the spec loader instead, for its field-by-field messages
(:func:`benchfarm.api.routers.jobs.job_spec_body`).

No ``from __future__ import annotations`` here: the dependency's body annotation names
the model of each call, which FastAPI must see as an object, not as a string.
"""

from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

from fastapi import Body, Request
from pydantic import BaseModel, SkipValidation, ValidationError

from benchfarm.api.errors import describe_errors
from benchfarm.errors import UserInputError

ModelT = TypeVar("ModelT", bound=BaseModel)


def strict_body(model: type[ModelT]) -> Callable[..., Awaitable[ModelT]]:
    """A FastAPI dependency returning the request's JSON body as ``model``, validated strictly.

    The dependency raises UserInputError (422) naming each field that is wrong; FastAPI
    answers 422 itself for a missing body or one that is not JSON.
    """

    async def parse(request: Request, body: Annotated[model, SkipValidation, Body()]) -> ModelT:  # type: ignore[valid-type]
        try:
            return model.model_validate_json(await request.body(), strict=True)
        except ValidationError as exc:
            raise UserInputError("invalid request: " + describe_errors(exc.errors(), prefix="body"),
                                 hint=f"the body is a JSON {model.__name__} object (see /docs)") from None

    parse.__name__ = f"{model.__name__.lower()}_body"
    return parse
