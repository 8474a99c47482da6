"""An output folder remembers the run that made it, so a re-run resumes or refuses clearly."""

import json
import shutil
from pathlib import Path

from metacurate.errors import OutputConflict
from metacurate.writers.atomic import remove_stale_temporaries, write_json


def _differences(old: dict, new: dict) -> list[str]:
    return sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))


def prepare(out_dir: Path, manifest: str, config: dict, owned: list[str], overwrite: bool) -> bool:
    """Make ``out_dir`` ready for the run described by ``config``; True if resuming one.

    ``owned`` are the names (globs allowed) this stage writes there: --overwrite removes only
    those, never anything else the folder holds.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest_path = out_dir / manifest
    leftovers = [p for pattern in owned for p in out_dir.glob(pattern)]
    if manifest_path.exists() and not overwrite:
        old = json.loads(manifest_path.read_text("utf-8"))
        if old == config:
            remove_stale_temporaries(out_dir)
            return True
        raise OutputConflict(
            f"{out_dir} holds a different run (differs in: {', '.join(_differences(old, config))});"
            " use --overwrite to replace it or choose another --out"
        )
    if leftovers and not overwrite:
        raise OutputConflict(
            f"{out_dir} already holds outputs ({leftovers[0].name}, ...) from an unknown run;"
            " use --overwrite to replace them or choose another --out"
        )
    for path in leftovers:
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    write_json(manifest_path, config)
    return False
