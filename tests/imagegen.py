"""Tiny synthetic image-text data for training and zero-shot tests and benchmarks.

Each concept is a colour: an image of concept "red" is a red shape on a red-tinted background,
with jittered shades, size and position, and its captions name the colour in varied words. A
tiny CLIP learns these in a few hundred steps, so a zero-shot score above chance is a real
signal that training and evaluation are wired correctly.
"""

import random
from collections.abc import Iterator, Sequence
from pathlib import Path

from PIL import Image, ImageDraw

COLOURS = {
    "red": (220, 30, 30),
    "green": (30, 180, 40),
    "blue": (30, 60, 220),
    "yellow": (240, 220, 30),
    "purple": (140, 40, 170),
    "orange": (250, 140, 20),
    "black": (15, 15, 15),
    "white": (240, 240, 240),
}
SHAPES = ("square", "circle", "blob")
CAPTIONS = (
    "a photo of a {c}.",
    "a {c} {s}",
    "{c}",
    "something {c} on a {c} background",
    "the colour {c}",
    "a {s} painted {c}",
)


def image(concept: str, rng: random.Random, size: int = 32) -> tuple[Image.Image, str]:
    """One image of ``concept`` and the shape drawn on it."""
    base = COLOURS[concept]
    background = _jitter(base, rng, 40)
    img = Image.new("RGB", (size, size), background)
    shape = rng.choice(SHAPES)
    half = rng.randint(size // 5, size // 2 - 2)
    cx, cy = rng.randint(half, size - half), rng.randint(half, size - half)
    box = (cx - half, cy - half, cx + half, cy + half)
    draw = ImageDraw.Draw(img)
    fill = _jitter(base, rng, 25)
    if shape == "square":
        draw.rectangle(box, fill=fill)
    elif shape == "circle":
        draw.ellipse(box, fill=fill)
    else:
        draw.polygon([(cx, cy - half), (cx + half, cy + half), (cx - half, cy + half)], fill=fill)
    return img, shape


def pairs(
    concepts: Sequence[str], count: int, seed: int = 0, size: int = 32
) -> Iterator[tuple[Image.Image, str]]:
    """``count`` (image, caption) pairs over ``concepts`` in turn, the same for the same seed."""
    rng = random.Random(seed)
    for i in range(count):
        concept = concepts[i % len(concepts)]
        img, shape = image(concept, rng, size)
        yield img, rng.choice(CAPTIONS).format(c=concept, s=shape)


def write_image_folder(
    root: Path, concepts: Sequence[str], per_class: int, seed: int = 0, size: int = 32
) -> Path:
    """An ImageFolder (``root/<concept>/<n>.png``) of ``per_class`` images per concept."""
    rng = random.Random(seed)
    for concept in concepts:
        folder = root / concept
        folder.mkdir(parents=True, exist_ok=True)
        for n in range(per_class):
            image(concept, rng, size)[0].save(folder / f"{n}.png")
    return root


def _jitter(rgb: tuple[int, int, int], rng: random.Random, amount: int) -> tuple[int, ...]:
    return tuple(min(255, max(0, v + rng.randint(-amount, amount))) for v in rgb)
