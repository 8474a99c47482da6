"""Zero-shot classification over an ImageFolder (one sub-folder of images per class), with
open_clip's ``build_zero_shot_classifier``; fully offline.

Class names are the folder names with underscores as spaces, or the lines of ``classnames.txt``
in the folder (one per class, in the sorted folder order, as ImageNet's human-readable names
are kept). Each class's text embedding is the mean over prompt templates: OpenAI's 80 ImageNet
templates by default. Besides top-1 and top-5 the result has each class's top-1, for reporting
head and tail concepts apart.
"""

from collections.abc import Callable, Sequence
from pathlib import Path

import open_clip
import torch
from PIL import Image
from torch.utils.data import DataLoader
from torchvision.datasets import ImageFolder

from metacurate.errors import InputError
from metacurate.training import precision as precisions
from metacurate.training.checkpoint import load_clip
from metacurate.training.model import Clip

CLASSNAMES_FILE = "classnames.txt"
TEMPLATE_SETS = {
    "openai": open_clip.OPENAI_IMAGENET_TEMPLATES,
    "openai-simple": open_clip.SIMPLE_IMAGENET_TEMPLATES,
    "simple": ("a photo of a {c}.",),
}


def evaluate(
    model: Clip | Path | str,
    folder: Path | str,
    templates: str | Sequence[str | Callable] = "openai",
    batch_size: int = 256,
    num_workers: int = 0,
    device: str | torch.device = "cpu",
    precision: str = "fp32",
) -> dict:
    """Zero-shot accuracy of ``model`` (a ``Clip`` or a checkpoint path) on ``folder``.

    ``templates``: a name in ``TEMPLATE_SETS``, a text file of templates (one per line), or a
    sequence of strings with ``{c}`` (or ``{}``) for the class name, or callables. ``device``:
    where a checkpoint is loaded (a ``Clip`` is used where it is). Returns {"top1", "top5",
    "images", "classes", "templates", "per_class": [{"class", "folder", "images", "top1"},
    ...]}; with fewer than 5 classes top-5 is top-all (1.0).
    """
    clip = model if isinstance(model, Clip) else load_clip(model, device)
    device = next(clip.model.parameters()).device  # a given Clip is used where it is
    precisions.check(precision, device)
    dataset = image_folder(Path(folder), clip.eval_transform)
    names = class_names(Path(folder), dataset.classes)
    prompts = resolve_templates(templates)
    was_training = clip.model.training
    clip.model.eval()
    try:
        with torch.no_grad(), precisions.autocast(precision, device):
            classifier = open_clip.build_zero_shot_classifier(
                clip.model, clip.tokenizer, names, prompts, device=device
            )
            ranks = _predictions(clip.model, classifier, dataset, batch_size, num_workers, device)
    finally:
        clip.model.train(was_training)
    return _scores(ranks, torch.tensor(dataset.targets), names, dataset.classes, len(prompts))


def image_folder(folder: Path, transform: Callable) -> ImageFolder:
    if not folder.is_dir():
        raise InputError(f"{folder}: no such folder")
    try:
        return ImageFolder(folder, transform=transform, loader=_open_image)
    except FileNotFoundError as err:  # no class folders, or none with an image
        raise InputError(
            f"{folder}: not an image folder (one sub-folder per class): {err}"
        ) from None


def _open_image(path: str):
    """An image as RGB; one that cannot be read is a one-line error naming it (a score that
    silently left it out would not be the folder's)."""
    try:
        with Image.open(path) as image:
            return image.convert("RGB")
    except (OSError, SyntaxError, ValueError) as err:  # PIL's errors for damaged files
        raise InputError(f"{path}: not a readable image ({err})") from None


def class_names(folder: Path, classes: list[str]) -> list[str]:
    names_file = folder / CLASSNAMES_FILE
    if not names_file.is_file():
        return [name.replace("_", " ") for name in classes]
    names = [line.strip() for line in names_file.read_text(encoding="utf-8").splitlines()]
    names = [name for name in names if name]
    if len(names) != len(classes):
        raise InputError(
            f"{names_file}: {len(names)} class names for {len(classes)} class folders "
            "(one name a line, in the sorted folder order)"
        )
    return names


def resolve_templates(templates: str | Sequence[str | Callable]) -> list[Callable]:
    if isinstance(templates, str):
        templates = _named_templates(templates)
    if not templates:
        raise InputError("no prompt templates")
    # A template string may name the class {c} or leave it positional {}: format fills both.
    return [t if callable(t) else (lambda c, t=t: t.format(c, c=c)) for t in templates]


def _named_templates(name: str) -> Sequence[str | Callable]:
    if name in TEMPLATE_SETS:
        return TEMPLATE_SETS[name]
    path = Path(name)
    if not path.is_file():
        raise InputError(
            f"unknown templates {name!r}: use {', '.join(TEMPLATE_SETS)} or a text file of "
            "templates, one a line with {c} for the class name"
        )
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _predictions(model, classifier, dataset, batch_size, num_workers, device) -> torch.Tensor:
    """Each image's classes, best first (the top 5 at most)."""
    k = min(5, classifier.shape[1])
    loader = DataLoader(dataset, batch_size=batch_size, num_workers=num_workers)
    ranks = []
    for images, _ in loader:
        features = model.encode_image(images.to(device), normalize=True)
        ranks.append((features @ classifier).topk(k, dim=1).indices.cpu())
    return torch.cat(ranks)


def _scores(ranks, targets, names, folders, n_templates) -> dict:
    hits = ranks == targets[:, None]
    top1 = hits[:, 0].float()
    per_class = []
    for index, (name, folder) in enumerate(zip(names, folders, strict=True)):
        mine = targets == index
        # ImageFolder refuses a class folder without images: no class here is empty.
        per_class.append(
            {
                "class": name,
                "folder": folder,
                "images": int(mine.sum()),
                "top1": float(top1[mine].mean()),
            }
        )
    return {
        "top1": float(top1.mean()),
        "top5": float(hits.any(dim=1).float().mean()),
        "images": len(targets),
        "classes": len(names),
        "templates": n_templates,
        "per_class": per_class,
    }
