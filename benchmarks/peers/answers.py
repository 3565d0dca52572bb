"""The same answers or no measurement: each server's /v1/sample answers against cvae-serve's.

A peer that answered differently (other images, other latents) would be measured doing other work. The
answers are compared parsed (the frameworks space their JSON differently), which still compares every
base64 PNG byte for byte. Each request is sent alone, then all of them at once twice over, so that the
batching servers decode it beside others: an image must not depend on its batch.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from benchmarks.serving_servers import Server

# (label, n, seed): the measured requests (a 7, seed 1, n=1 and n=64) and a few others.
CHECKS = ((7, 1, 1), (0, 1, 2), (3, 1, 12345), (7, 64, 1), (9, 64, 99))


class AnswerMismatchError(RuntimeError):
    """A server answered a request otherwise than cvae-serve."""


def _ask(server: Server, check: tuple[int, int, int]) -> Any:
    label, n, seed = check
    return server.post_json("/v1/sample", {"label": label, "n": n, "seed": seed})


def reference_answers(server: Server) -> dict[tuple[int, int, int], Any]:
    """cvae-serve's answer to each check request."""
    return {check: _ask(server, check) for check in CHECKS}


def _differences(answer: Any, reference: dict[str, Any]) -> list[str]:
    if not isinstance(answer, dict):
        return [f"not an object: {str(answer)[:200]}"]
    fields = [
        key for key in sorted(reference.keys() | answer.keys()) if answer.get(key) != reference.get(key)
    ]
    if "images" in fields and len(answer.get("images", [])) == len(reference["images"]):
        pairs = zip(answer["images"], reference["images"], strict=True)
        fields.append(f"{sum(a != b for a, b in pairs)} of {len(reference['images'])} PNGs differ")
    return fields


def check_answers(server: Server, references: dict[tuple[int, int, int], Any]) -> int:
    """How many answers were checked; raises AnswerMismatchError at the first that differs."""
    alone = [(check, _ask(server, check)) for check in CHECKS]
    together = 2 * list(CHECKS)
    with ThreadPoolExecutor(len(together)) as pool:
        answers = alone + list(
            zip(together, pool.map(lambda check: _ask(server, check), together), strict=True)
        )
    for (label, n, seed), answer in answers:
        if differences := _differences(answer, references[(label, n, seed)]):
            raise AnswerMismatchError(
                f"{server.name} answers label={label} n={n} seed={seed} otherwise than cvae-serve: "
                + ", ".join(differences)
            )
    return len(answers)
