"""Request and response bodies of API version 1; their examples and descriptions become /docs.

JSON fields are strict where a lax parse would hide a client's mistake: a digit of 3.5, "3" or true is
rejected, not rounded or coerced, a latent coordinate of true or "0.5" likewise, and non-finite numbers
(JSON's NaN and Infinity) are never accepted. A number with no fraction, 3.0, is an integer, as JSON Schema
has it: the schema says "integer", and a client or fuzzer that writes 3.0 means 3.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi.exceptions import RequestValidationError
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from app.openapi import LIMIT_KEY
from model.config import CVAEConfig
from model.numbers import MAX_DIGITS, MAX_HEIGHT, MIN_HEIGHT, number_labels
from model.synthetic import MAX_TEMPERATURE


def _integral_number(value: Any) -> Any:
    """3.0 -> 3; anything else as it came, for the strict integer check."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


# After the constraints, so that they stay minimum and maximum in the JSON schema.
INTEGRAL = BeforeValidator(_integral_number)
# Seeds stay below 2^53 so that they survive a round trip through JavaScript's numbers.
MAX_SEED = 2**53 - 1
# The bounds of each value a request gives, once: the strict JSON fields below and the query and form
# parameters of app/routes/ take them from here.
DIGIT_BOUNDS: dict[str, Any] = {"ge": 0, "le": 9}
SEED_BOUNDS: dict[str, Any] = {"ge": 0, "le": MAX_SEED}
TEMPERATURE_BOUNDS: dict[str, Any] = {"gt": 0, "le": MAX_TEMPERATURE, "allow_inf_nan": False}
CONFIDENCE_BOUNDS: dict[str, Any] = {"ge": 0, "le": 1, "allow_inf_nan": False}
Digit = Annotated[
    int,
    Field(strict=True, **DIGIT_BOUNDS),
    INTEGRAL,
    Field(description="the older name of `label`, read when `label` is left out", examples=[7]),
]
# Its maximum in the served schema is the largest class number of the served models (app/openapi.py).
Label = Annotated[
    int,
    Field(strict=True, ge=0),
    INTEGRAL,
    Field(
        description="the class, 0 to K-1 of the model (GET /v1/models names each model's classes); this or "
        "its older name digit is required",
        examples=[7],
        json_schema_extra={LIMIT_KEY: "max_label"},
    ),
]
# An enum of the served models' names in the served schema.
MODEL_NAMES = {LIMIT_KEY: "model_names"}
# An enum of the served models that write numbers: those whose classes are the digits.
NUMBER_MODELS = {LIMIT_KEY: "number_models"}
MODEL_DESCRIPTION = "which served model (GET /v1/models); left out, the default model"
NUMBER_MODEL_DESCRIPTION = f"{MODEL_DESCRIPTION}; only a model whose classes are the digits writes numbers"
ModelName = Annotated[
    str, Field(min_length=1, max_length=200, description=MODEL_DESCRIPTION, json_schema_extra=MODEL_NAMES)
]

Seed = Annotated[
    int, Field(strict=True, **SEED_BOUNDS), INTEGRAL, Field(description="seed of the latent draw")
]
Temperature = Annotated[
    float,
    Field(
        strict=True,
        **TEMPERATURE_BOUNDS,
        description="scales the prior's standard deviation",
        examples=[1.0],
    ),
]
MIN_CONFIDENCE_DESCRIPTION = (
    "only images that the model's classifier reads as the label with at least this probability, the first "
    "n of the seed's latents that pass; at most CVAE_MAX_DRAWS are drawn (422 when fewer pass); "
    "null: every image, as drawn"
)
MinConfidence = Annotated[float, Field(strict=True, **CONFIDENCE_BOUNDS, examples=[0.9])]
# The prior is N(0, I): coordinates beyond this are meaningless, and would overflow float32 on the way in.
LATENT_BOUND = 1e4
LatentCoordinate = Annotated[
    float, Field(strict=True, ge=-LATENT_BOUND, le=LATENT_BOUND, allow_inf_nan=False)
]
# The served schema gives these their limits from the checkpoint and the settings (app/openapi.py).
_LATENT_VECTOR = Field(
    description="one latent vector of latent_dim numbers", json_schema_extra={LIMIT_KEY: "latent_dim"}
)
Latent = Annotated[list[LatentCoordinate], _LATENT_VECTOR]
# In answers, without the bound: the path between two in-bound latents can step outside it.
LatentAnswer = Annotated[list[float], _LATENT_VECTOR]
AT_MOST_MAX_N = {LIMIT_KEY: "max_n"}
Base64PNG = Annotated[str, Field(description="base64 of a 28x28 8-bit grayscale PNG, white digit on black")]
Probabilities = Annotated[list[float], Field(description="one per class of the model, in label order")]

_PNG_EXAMPLE = "iVBORw0KGgoAAAANSUhEUgAAABwAAAAcCAAAAABXZoBIAAAA..."


class RequestBody(BaseModel):
    """Unknown fields are refused, so a misspelt option fails loudly instead of being ignored."""

    model_config = ConfigDict(extra="forbid")


class LabelledRequest(RequestBody):
    """A request for one class of one model: `label`, or its older name `digit` (label_or_digit refuses
    neither, and both that disagree). Typed without None, so that the schema does not offer null; left out,
    a field is None. (Neither field is required in the schema: one that said "label or digit" would need an
    anyOf, which client generators turn into an untyped body.)"""

    model: ModelName = Field(None)
    label: Label = Field(None)
    digit: Digit = Field(None)


class SampleRequest(LabelledRequest):
    n: Annotated[int, Field(strict=True, ge=1), INTEGRAL] = Field(
        1,
        description="how many images, at most CVAE_MAX_N (default 256)",
        json_schema_extra=AT_MOST_MAX_N,
    )
    seed: Seed | None = Field(None, description="the same seed gives the same images; null: chosen at random")
    temperature: Temperature = 1.0
    min_confidence: MinConfidence | None = Field(None, description=MIN_CONFIDENCE_DESCRIPTION)

    model_config = ConfigDict(json_schema_extra={"examples": [{"digit": 7, "n": 4, "seed": 42}]})


class Answer(BaseModel):
    """Which model answered, and for which class."""

    model: str = Field(description="the model's name")
    label: int
    digit: int = Field(description="the same as label (its older name)")
    class_name: str = Field(description="the name of the class, e.g. '7' or 'Sneaker'")


class SampleResponse(Answer):
    n: int
    seed: int = Field(description="the seed used: pass it again for the same images")
    temperature: float
    draws: int = Field(
        description="how many of the seed's latents were drawn to find these images: n without min_confidence"
    )
    images: list[Base64PNG] = Field(examples=[[_PNG_EXAMPLE]])
    latents: list[LatentAnswer] = Field(description="the z of each image; /v1/decode turns them back into it")


class DecodeRequest(LabelledRequest):
    z: list[Latent] = Field(
        min_length=1, description="1 to CVAE_MAX_N latent vectors", json_schema_extra=AT_MOST_MAX_N
    )

    # The example fits the default latent_dim; /v1/model tells the served model's.
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"digit": 3, "z": [[0.0] * CVAEConfig().latent_dim]}]}
    )


class ImagesResponse(BaseModel):
    images: list[Base64PNG] = Field(examples=[[_PNG_EXAMPLE]])


class InterpolateRequest(LabelledRequest):
    """Two end points, as seeds of the prior or as latent vectors, and the number of images between.

    Exactly one of `seeds` and `z` is given, never as null: the schema says so (oneOf), the check enforces it.
    """

    seeds: tuple[Seed, Seed] = Field(None, description="two seeds, drawn as in /v1/sample")
    z: tuple[Latent, Latent] = Field(None, description="or two latent vectors")
    steps: Annotated[int, Field(strict=True, ge=2, le=64), INTEGRAL] = Field(
        8, description="images on the path, both ends included"
    )
    temperature: Temperature = 1.0

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"digit": 2, "seeds": [1, 2], "steps": 8}],
            "oneOf": [{"required": ["seeds"]}, {"required": ["z"]}],
        }
    )

    @model_validator(mode="after")
    def _one_kind_of_end_points(self) -> InterpolateRequest:
        if (self.seeds is None) == (self.z is None):
            raise ValueError("give either seeds or z, not both or neither")
        return self


class InterpolateResponse(Answer):
    steps: int
    images: list[Base64PNG] = Field(examples=[[_PNG_EXAMPLE]])
    latents: list[LatentAnswer]


def _number_text(text: str) -> str:
    number_labels(text)  # its ValueError names what a number may be
    return text


NUMBER_PATTERN = "^[0-9]+$"
NUMBER_TEXT_DESCRIPTION = f"the number to write: 1 to {MAX_DIGITS} of the digits 0-9"
NumberText = Annotated[
    str,
    Field(strict=True, min_length=1, max_length=MAX_DIGITS),
    AfterValidator(_number_text),
    Field(
        description=NUMBER_TEXT_DESCRIPTION, examples=["2026"], json_schema_extra={"pattern": NUMBER_PATTERN}
    ),
]
HEIGHT_BOUNDS: dict[str, Any] = {"ge": MIN_HEIGHT, "le": MAX_HEIGHT}
# A written number's digits, as GET /v1/dataset's min_length and max_length ask them.
LENGTH_BOUNDS: dict[str, Any] = {"ge": 1, "le": MAX_DIGITS}
HEIGHT_DESCRIPTION = f"the image's height in pixels, {MIN_HEIGHT} (as MNIST's digits) to {MAX_HEIGHT}"
Box = Annotated[
    list[int],
    Field(
        min_length=4,
        max_length=4,
        description="a digit's ink as [x0, y0, x1, y1] in pixels, x1 and y1 exclusive (as Pillow's crop)",
    ),
]


class NumberRequest(RequestBody):
    """A number to write in one hand: from the seed's style, as /v1/sample's first image of that seed, or
    from a given style z (the `mu` that /v1/encode gave for a digit of your own)."""

    text: NumberText
    model: Annotated[
        str,
        Field(
            min_length=1,
            max_length=200,
            description=NUMBER_MODEL_DESCRIPTION,
            json_schema_extra=NUMBER_MODELS,
        ),
    ] = Field(None)
    seed: Seed | None = Field(
        None, description="the same seed gives the same image; it also draws each digit's small variation"
    )
    temperature: Temperature = 1.0
    z: Latent = Field(None, description="the style; left out: drawn from the seed at the temperature")
    height: Annotated[int, Field(strict=True, **HEIGHT_BOUNDS), INTEGRAL] = Field(
        MIN_HEIGHT, description=HEIGHT_DESCRIPTION
    )

    model_config = ConfigDict(json_schema_extra={"examples": [{"text": "2026", "seed": 7}]})


class NumberResponse(BaseModel):
    model: str = Field(description="the model's name")
    text: str
    seed: int = Field(description="the seed used: pass it again for the same image")
    temperature: float
    height: int
    image: str = Field(
        description="base64 of an 8-bit grayscale PNG of the whole number, white on black, `height` pixels "
        "high",
        examples=[_PNG_EXAMPLE],
    )
    z: LatentAnswer = Field(description="the style every digit was written in (before its own small step)")
    boxes: list[Box] = Field(description="each digit's box, left to right")


class ReadDigit(BaseModel):
    """One digit of a number read from an upload."""

    digit: int = Field(description="the digit the classifier reads")
    probabilities: Probabilities = Field(description="the classifier's probability of each digit")
    is_digit: bool | None = Field(
        description="whether this piece looks like a handwritten digit (as /v1/reconstruct's is_digit); "
        "null for a model without an OOD calibration"
    )
    ood_score: float | None = Field(description="as /v1/reconstruct's ood_score")
    box: Box = Field(description="where it is, in the upright upload's pixels")
    input: Base64PNG = Field(description="the piece as the model read it, in MNIST's form")


class ReadResponse(BaseModel):
    model: str = Field(description="the model's name")
    text: str = Field(description="the digits read, left to right", examples=["2026"])
    confidence: float = Field(
        description="the product of each digit's highest probability: how sure the classifier is of the "
        "whole number (it knows nothing of a digit missed or a mark taken for one)"
    )
    is_number: bool | None = Field(
        description="whether every digit read looks like a handwritten digit (null when uncalibrated)"
    )
    digits: list[ReadDigit] = Field(description="each digit, left to right")


class DigitDecision(Answer):
    digit_source: Literal["given", "inferred"] = Field(description="whether the label was given or inferred")
    probabilities: Probabilities = Field(description="the model's classifier's probability of each class")
    elbo_probabilities: Probabilities | None = Field(
        None, description="softmax of the CVAE's ELBO under each label (only when inferred)"
    )
    is_digit: bool | None = Field(
        description="whether the upload looks like this model's training data (for the digits model: a "
        "digit); false: the answer is the model's best guess about something it was not made for. "
        "null for a model without an OOD calibration (cvae-calibrate)"
    )
    ood_score: float | None = Field(
        description="how unlike the training data the upload is (about 0 typical, higher stranger); "
        "is_digit is ood_score <= the model's threshold (GET /v1/model); null when uncalibrated"
    )
    notes: list[str] = Field(
        description="what preprocessing did that the uploader should know of, in words: printed lines "
        "(squared or ruled paper, a box) removed, more than one digit-sized mark found; empty for most "
        "uploads",
        examples=[["printed lines (ruled or squared paper, a box or a border) were removed"]],
    )


class EncodeResponse(DigitDecision):
    mu: list[float] = Field(description="mean of q(z|x, digit)")
    logvar: list[float] = Field(description="log-variance of q(z|x, digit)")


class Loss(BaseModel):
    """The loss terms at the posterior mean, in nats: elbo = -(rec + kld)."""

    rec: float
    kld: float
    elbo: float


class ReconstructResponse(EncodeResponse):
    input: Base64PNG = Field(description="the upload after MNIST-style preprocessing")
    reconstruction: Base64PNG = Field(description="decoded from the posterior mean")
    loss: Loss


class TransferResponse(DigitDecision):
    input: Base64PNG = Field(description="the upload after MNIST-style preprocessing")
    images: list[Base64PNG] = Field(description="the upload's style as every class of the model, in order")


class ClassifierInfo(BaseModel):
    name: str
    metrics: dict[str, Any]


class DataInfo(BaseModel):
    """The data the model was trained and evaluated on."""

    name: str
    train_size: int | None = None
    test_size: int | None = None
    licence: str | None = None
    sha256: str | None = None


class OodInfo(BaseModel):
    """How is_digit is decided for this model: calibrated on its own held-out data (cvae-calibrate)."""

    threshold: float = Field(description="is_digit is ood_score <= threshold")
    flag_rate: float = Field(description="share of held-out real data above threshold (CVAE_OOD_FLAG_RATE)")
    features: list[str] = Field(description="the measures the score takes the largest standardised value of")
    data: str | None = Field(None, description="the held-out data it was calibrated on")
    calibration_images: int | None = None
    check_images: int | None = Field(None, description="further held-out images the rate was checked on")
    check_flagged: float | None = Field(None, description="the share of those flagged at the default rate")


class ModelInfo(BaseModel):
    """The model card: what the model is, what it learned from, how well it does, what it cannot do."""

    name: str
    intended_use: str | None = Field(None, description="what the model is for, in plain words")
    limits: list[str] = Field(description="what the model cannot do, in plain words")
    data: DataInfo | None = Field(description="the training data and its licence")
    ood: OodInfo | None = Field(description="the calibration behind is_digit; null when uncalibrated")
    class_names: list[str] = Field(description="the name of each label, in order")
    architecture: str
    latent_dim: int
    num_classes: int
    image_size: int
    device: str
    precision: str = Field(description="what generated images are decoded in (CVAE_PRECISION); uploads: fp32")
    loss: str
    metrics: dict[str, Any] = Field(description="the evaluation recorded in the checkpoint's config.json")
    classifier: ClassifierInfo


class ModelsResponse(BaseModel):
    default: str = Field(description="the model a request gets when it names none")
    models: list[ModelInfo]


class Status(BaseModel):
    status: str = Field(examples=["ok"])


class ErrorResponse(BaseModel):
    detail: str | list[dict[str, Any]] = Field(examples=["no ink found: the image is blank"])


NO_SUCH_MODEL = {"model": ErrorResponse, "description": "no model of that name is served"}
# What every /v1 operation that takes a body and a model can answer, beside its own errors.
REQUEST_ERRORS: dict[int | str, dict[str, Any]] = {
    404: NO_SUCH_MODEL,
    408: {"model": ErrorResponse, "description": "the body did not arrive in time"},
    422: {"model": ErrorResponse},
    503: {"model": ErrorResponse},
}


def request_error(loc: tuple[str | int, ...], msg: str, value: Any) -> RequestValidationError:
    """A 422 in FastAPI's own format, for checks that need the settings or the model (limits, latent_dim)."""
    return RequestValidationError([{"type": "value_error", "loc": loc, "msg": msg, "input": value}])


def check_at_most(value: int, limit: int, loc: tuple[str, ...]) -> None:
    if value > limit:
        raise request_error(loc, f"Input should be less than or equal to {limit}", value)


def label_or_digit(label: int | None, digit: int | None, where: str, required: bool = True) -> int | None:
    """The class a request asks for: `label`, or its older name `digit`. A 422 in the request's `where`
    (body or query) where both are given and disagree, or, when the class is `required`, where neither is:
    a request that silently got class 0 would look answered."""
    if label is not None and digit is not None and label != digit:
        message = f"label {label} and digit {digit} disagree: give one of them (digit is label's older name)"
        raise request_error((where, "digit"), message, digit)
    chosen = digit if label is None else label
    if chosen is None and required:
        raise request_error((where, "label"), "give the class: label (or its older name, digit)", None)
    return chosen


def check_label(label: int, num_classes: int, model: str, loc: tuple[str, ...]) -> None:
    if label >= num_classes:
        raise request_error(loc, f"model {model} has the classes 0 to {num_classes - 1}", label)


def check_latents(rows: list[list[float]], latent_dim: int, loc: tuple[str, ...]) -> None:
    """Each row must have latent_dim numbers; the error names the first row that does not."""
    for i, row in enumerate(rows):
        if len(row) != latent_dim:
            raise request_error(
                (*loc, i), f"each latent vector needs {latent_dim} numbers, got {len(row)}", row
            )
