"""POST /v1/read: the digits of a photo or scan of a written number, left to right (model/reading.py).

The upload is decoded and its candidate digits found in the preprocessing pool, read by the classifier in a
batch with concurrent requests, and the digits of the best cutting analysed as /v1/reconstruct's uploads
are (their probabilities and is_digit), in the model threads.
"""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import Form, Request

from app.dependencies import models_of
from app.routes import v1_router
from app.routes.numbers import number_writer
from app.routes.uploads import UPLOAD_ERRORS, Upload
from app.schemas import NUMBER_MODEL_DESCRIPTION, NUMBER_MODELS, ReadDigit, ReadResponse

router = v1_router("uploads", UPLOAD_ERRORS)

NumberModel = Annotated[str, Form(description=NUMBER_MODEL_DESCRIPTION, json_schema_extra=NUMBER_MODELS)]


@router.post("/read", response_model=ReadResponse, summary="The digits of a written number, left to right")
async def read(file: Upload, request: Request, model: NumberModel = None) -> ReadResponse:
    reader = number_writer(models_of(request), model, "body", does="read")
    found = await reader.read(await file.read())
    digits = [
        ReadDigit(
            digit=each.analysis.digit,
            probabilities=each.analysis.probabilities,
            is_digit=each.analysis.is_digit,
            ood_score=each.analysis.ood_score,
            box=each.box,
            input=each.analysis.input_png,
        )
        for each in found
    ]
    verdicts = [digit.is_digit for digit in digits]
    return ReadResponse(
        model=reader.name,
        text="".join(reader.class_names[digit.digit] for digit in digits),
        confidence=round(math.prod(max(digit.probabilities) for digit in digits), 6),
        is_number=None if None in verdicts else all(verdicts),
        digits=digits,
    )
