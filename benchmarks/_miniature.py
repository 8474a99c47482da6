"""A long-tailed pool of generated image-text pairs for ``bench_miniature.py``.

Each concept has its own name (a common noun that CLIP's tokenizer keeps as one token) and its
own visual signature: a background colour, a pattern drawn over it in a darker shade, and a
shape in a second colour. Two concepts differ in at least two of these four attributes, so no
single attribute names a concept and the name's text embedding has to be learnt concept by
concept, from that concept's own pairs. That is what makes the tail hard and balancing matter.

An image is a recipe, (concept, render seed): rendered on demand, with the position, size and
shades of its parts jittered by the seed, so a pool of any size costs no disk and an image shown
twice is the same image (as a re-seen web image is), while fresh renders (held-out evaluation)
are new images of the same concepts. Concept k (counted from 0) is drawn with probability
proportional to (k + 1) ** -zipf.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
from PIL import Image, ImageDraw

# Concrete nouns, each one token for open_clip's tokenizer, none in the caption templates below.
_NOUNS = """anchor banjo cactus kettle lantern violin tiger rabbit turtle penguin dolphin camel zebra
giraffe parrot owl eagle spider beetle snail lobster octopus shark whale horse donkey goat sheep pig
cow fox wolf bear lion monkey frog lizard snake duck goose swan pigeon candle bottle bucket hammer
shovel ladder wheel bicycle tractor rocket balloon kite drum guitar piano trumpet flute helmet jacket
boot glove scarf umbrella wallet basket pillow blanket mirror clock lamp chair sofa shelf barrel
cannon sword shield arrow crown necklace feather leaf tulip rose cherry lemon banana apple pear grape
melon onion carrot potato pumpkin mushroom bread cheese cookie cake pizza burger sandwich teapot
spoon fork knife plate bowl cup jar vase tent castle bridge tower lighthouse windmill volcano island
iceberg desert canyon waterfall glacier cloud rainbow comet planet moon snowman robot dragon unicorn
ghost pirate wizard knight"""
NAMES = _NOUNS.split()

PALETTE = (
    (220, 40, 40),
    (40, 170, 60),
    (40, 70, 220),
    (235, 210, 40),
    (150, 50, 180),
    (245, 140, 30),
    (40, 190, 200),
    (235, 235, 235),
)
SHAPES = ("circle", "square", "triangle", "diamond", "cross", "ring", "bar", "plus")
PATTERNS = ("plain", "rows", "columns", "checks", "dots", "diagonals")

# Alt-text-like captions that name their concept; the noun alone is what matching finds.
CAPTIONS = (
    "a photo of the {c}",
    "{c}",
    "my {c}",
    "the {c} we saw yesterday",
    "close-up of a {c}",
    "{c} for sale, free shipping",
    "an old {c} in the garden",
    "picture: {c}",
    "{c} | stock image",
    "look at this {c}!",
    "a small {c} next to a wall",
    "vintage {c} poster",
)
# Captions that name no concept: matching drops them (and an image with no other text).
JUNK = (
    "IMG_{n}.jpg",
    "click to enlarge",
    "untitled-{n}",
    "thumbnail",
    "product image {n}",
    "banner ad",
    "photo by our team",
    "download now",
)
SECOND_TEXT = 0.25  # share of images with a second text (an alt and a title)


@dataclass(frozen=True)
class Concept:
    name: str
    background: int  # index in PALETTE
    pattern: int  # index in PATTERNS
    foreground: int  # index in PALETTE, never the background's
    shape: int  # index in SHAPES


def make_concepts(count: int, seed: int = 0) -> list[Concept]:
    """``count`` concepts with distinct names and signatures at least two attributes apart."""
    if not 2 <= count <= len(NAMES):
        raise ValueError(f"between 2 and {len(NAMES)} concepts, got {count}")
    rng = random.Random(seed)
    names = rng.sample(NAMES, count)
    signatures: list[tuple[int, int, int, int]] = []
    while len(signatures) < count:
        background, foreground = rng.sample(range(len(PALETTE)), 2)
        candidate = (
            background,
            rng.randrange(len(PATTERNS)),
            foreground,
            rng.randrange(len(SHAPES)),
        )
        if all(_distance(candidate, other) >= 2 for other in signatures):
            signatures.append(candidate)
    return [Concept(name, *signature) for name, signature in zip(names, signatures, strict=True)]


def _distance(a: tuple, b: tuple) -> int:
    return sum(x != y for x, y in zip(a, b, strict=True))


def render(concept: Concept, seed: str | int, size: int) -> Image.Image:
    """One image of ``concept``; the same for the same seed."""
    rng = random.Random(seed)
    background = _jitter(PALETTE[concept.background], rng, 25)
    img = Image.new("RGB", (size, size), background)
    draw = ImageDraw.Draw(img)
    shade = tuple(int(v * 0.55) for v in background)
    _pattern(draw, PATTERNS[concept.pattern], shade, size, rng)
    half = rng.randint(size // 5, size // 3)
    cx, cy = rng.randint(half, size - half), rng.randint(half, size - half)
    fill = _jitter(PALETTE[concept.foreground], rng, 25)
    _shape(draw, SHAPES[concept.shape], (cx, cy, half), fill, size)
    return img


def _pattern(draw: ImageDraw.ImageDraw, kind: str, colour, size: int, rng: random.Random) -> None:
    period = max(4, size // 6)
    phase = rng.randrange(period)
    width = max(1, period // 2)
    if kind == "rows":
        for y in range(phase - period, size, period):
            draw.rectangle((0, y, size, y + width - 1), fill=colour)
    elif kind == "columns":
        for x in range(phase - period, size, period):
            draw.rectangle((x, 0, x + width - 1, size), fill=colour)
    elif kind == "checks":
        for y in range(phase - period, size, period):
            for x in range(phase - period, size, period):
                if ((x + y - 2 * phase) // period) % 2 == 0:
                    draw.rectangle((x, y, x + period - 1, y + period - 1), fill=colour)
    elif kind == "dots":
        r = max(1, period // 4)
        for y in range(phase - period, size, period):
            for x in range(phase - period, size, period):
                draw.ellipse((x - r, y - r, x + r, y + r), fill=colour)
    elif kind == "diagonals":
        for d in range(phase - size, size * 2, period):
            draw.line((d, 0, d - size, size), fill=colour, width=width)


def _shape(draw: ImageDraw.ImageDraw, kind: str, where: tuple, fill, size: int) -> None:
    cx, cy, h = where
    box = (cx - h, cy - h, cx + h, cy + h)
    thick = max(2, h // 2)
    if kind == "circle":
        draw.ellipse(box, fill=fill)
    elif kind == "square":
        draw.rectangle(box, fill=fill)
    elif kind == "triangle":
        draw.polygon([(cx, cy - h), (cx + h, cy + h), (cx - h, cy + h)], fill=fill)
    elif kind == "diamond":
        draw.polygon([(cx, cy - h), (cx + h, cy), (cx, cy + h), (cx - h, cy)], fill=fill)
    elif kind == "cross":
        draw.line((cx - h, cy - h, cx + h, cy + h), fill=fill, width=thick)
        draw.line((cx - h, cy + h, cx + h, cy - h), fill=fill, width=thick)
    elif kind == "ring":
        draw.ellipse(box, outline=fill, width=max(2, h // 3))
    elif kind == "bar":
        draw.rectangle((cx - h, cy - thick // 2, cx + h, cy + thick // 2), fill=fill)
    else:  # plus, with a diamond core
        draw.rectangle((cx - h, cy - 1, cx + h, cy + 1), fill=fill)
        draw.rectangle((cx - 1, cy - h, cx + 1, cy + h), fill=fill)
        q = h // 2
        draw.polygon([(cx, cy - q), (cx + q, cy), (cx, cy + q), (cx - q, cy)], fill=fill)


def _jitter(rgb: tuple[int, int, int], rng: random.Random, amount: int) -> tuple[int, ...]:
    return tuple(min(255, max(0, v + rng.randint(-amount, amount))) for v in rgb)


def image_seed(pool_seed: int, image: int) -> str:
    """The render seed of pool image ``image`` (held-out images use other strings)."""
    return f"pool:{pool_seed}:{image}"


def zipf_probabilities(count: int, exponent: float) -> np.ndarray:
    weights = np.arange(1, count + 1, dtype=np.float64) ** -exponent
    return weights / weights.sum()


@dataclass(frozen=True)
class Pool:
    """Per image: the concept it shows and its texts. Image i's url is ``url(i)``."""

    concept: np.ndarray
    texts: list[list[str]]
    seed: int

    def table(self) -> pa.Table:
        """One (url, text) row per text, as alt texts arrive from a crawl."""
        rows = [(url(i), text) for i, texts in enumerate(self.texts) for text in texts]
        return pa.table({"url": [u for u, _ in rows], "text": [t for _, t in rows]})


def url(image: int) -> str:
    return f"https://img.test/{image}.png"


def image_of(url_: str) -> int:
    return int(url_.rsplit("/", 1)[1].split(".", 1)[0])


def make_pool(
    concepts: list[Concept], images: int, zipf: float, noise: float, unmatched: float, seed: int
) -> Pool:
    """``images`` images of Zipf-distributed concepts, each with one text (two for
    ``SECOND_TEXT`` of them). A text names its image's concept, or with probability ``noise``
    another concept (drawn from the same Zipf law: wrong captions mention popular things more
    often too), or with probability ``unmatched`` nothing."""
    if noise + unmatched >= 1:
        raise ValueError("noise + unmatched must be below 1")
    rng = np.random.default_rng(seed)
    p = zipf_probabilities(len(concepts), zipf)
    shown = rng.choice(len(concepts), size=images, p=p)
    counts = 1 + (rng.random(images) < SECOND_TEXT)
    texts = []
    for concept, n in zip(shown, counts, strict=True):
        texts.append([_caption(concepts, int(concept), p, noise, unmatched, rng) for _ in range(n)])
    return Pool(shown, texts, seed)


def _caption(concepts, concept, p, noise, unmatched, rng) -> str:
    u = rng.random()
    if u < unmatched:
        return JUNK[rng.integers(len(JUNK))].format(n=rng.integers(100_000))
    if u < unmatched + noise:
        concept = int(rng.choice(len(concepts), p=p))
    return CAPTIONS[rng.integers(len(CAPTIONS))].format(c=concepts[concept].name)


def write_eval_folder(root: Path, concepts: list[Concept], per_class: int, size: int) -> Path:
    """An ImageFolder (``root/<name>/<n>.png``) of fresh renders, ``per_class`` per concept."""
    for concept in concepts:
        folder = root / concept.name
        folder.mkdir(parents=True, exist_ok=True)
        for n in range(per_class):
            render(concept, f"eval:{concept.name}:{n}", size).save(folder / f"{n}.png")
    return root
