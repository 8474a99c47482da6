"""metacurate.training on the CPU: the tiny open_clip model trains, checkpoints, resumes bit for
bit, and scores above chance zero-shot on synthetic colour concepts (tests/imagegen.py)."""

import io
import json
import os
import random
import socket
import subprocess
import sys
from pathlib import Path

import imagegen
import numpy as np
import open_clip
import pytest
import torch
import webdataset as wds

from metacurate.errors import InputError, OutputError
from metacurate.loader import torch as loader
from metacurate.training import checkpoint, recipe
from metacurate.training.data import Pairs
from metacurate.training.model import create_clip, tiny_models
from metacurate.training.train import TrainConfig, train  # noqa: E402
from metacurate.training.zeroshot import evaluate  # noqa: E402

TINY = "metacurate-tiny-vit"
CONCEPTS = list(imagegen.COLOURS)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Two torch threads on two shared cores stall each other when other work runs (steps
    measured 10x slower); one thread keeps this file's time steady."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def shuffled_pairs(count: int, seed: int = 0) -> Pairs:
    """``count`` pairs, in a different (seeded) order each epoch."""
    pairs = list(imagegen.pairs(CONCEPTS, count, seed))

    def samples(epoch: int):
        order = list(range(count))
        random.Random(epoch).shuffle(order)
        return (pairs[i] for i in order)

    return Pairs(samples, count)


def config(**overrides) -> TrainConfig:
    settings = dict(model=TINY, batch_size=16, lr=1e-3, warmup=2, log_every=1)
    return TrainConfig(**settings | overrides)


def log_lines(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]


# --- model and recipe ------------------------------------------------------------------------


@pytest.mark.parametrize("name", tiny_models())
def test_tiny_configs_ship_with_the_package(name):
    clip = create_clip(name)
    size = clip.model.visual.image_size[0]
    images = torch.stack([clip.eval_transform(img) for img, _ in imagegen.pairs(CONCEPTS, 2)])
    assert images.shape[-1] == size
    out = clip.model(images, clip.tokenizer(["a red square", "blue"]))
    assert out["image_features"].shape == out["text_features"].shape


def test_unknown_model_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="unknown model 'no-such-model'"):
        create_clip("no-such-model")
    with pytest.raises(InputError, match="no such model config file"):
        create_clip(str(tmp_path / "missing.json"))


def test_lr_and_warmup_scale_with_the_batch():
    assert recipe.scaled_lr(32_768) == pytest.approx(5e-4)
    assert recipe.scaled_lr(16_384) == pytest.approx(2.5e-4)
    assert recipe.scaled_lr(64) == pytest.approx(5e-5)  # the floor
    assert recipe.scaled_warmup(390_625) == 2_000  # the paper's run
    assert recipe.scaled_warmup(100) == 5


def test_weight_decay_spares_gains_biases_and_logit_scale():
    model = create_clip(TINY).model
    optim = recipe.optimizer(model, lr=1e-3)
    ids = {id(p): n for n, p in model.named_parameters()}
    no_decay, decay = ({ids[id(p)] for p in g["params"]} for g in optim.param_groups)
    assert optim.param_groups[1]["weight_decay"] == 0.2
    assert {"logit_scale", "visual.class_embedding", "ln_final.weight"} <= no_decay
    assert {"visual.conv1.weight", "token_embedding.weight", "text_projection"} <= decay
    assert not any(".bias" in name for name in decay)
    defaults = optim.defaults
    assert (defaults["betas"], defaults["eps"]) == ((0.9, 0.98), 1e-6)


def test_schedule_warms_up_then_decays_to_zero():
    param = torch.nn.Parameter(torch.zeros(1))
    optim = torch.optim.AdamW([param], lr=1.0)
    schedule = recipe.cosine_schedule(optim, warmup=4, total_steps=20)
    lrs = []
    for _ in range(20):
        lrs.append(schedule.get_last_lr()[0])
        optim.step()
        schedule.step()
    assert lrs[:4] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    assert lrs[4:] == sorted(lrs[4:], reverse=True)
    assert lrs[-1] < 0.01


# --- training and checkpoints ------------------------------------------------------------------


def test_training_lowers_the_loss_on_a_fixed_batch(tmp_path):
    batch = list(imagegen.pairs(CONCEPTS, 32))
    data = Pairs(lambda epoch: batch * 10, 32 * 10)
    train(data, tmp_path, config(batch_size=32, warmup=1), device="cpu")
    losses = [line["loss"] for line in log_lines(tmp_path)]
    assert len(losses) == 10
    assert all(map(torch.isfinite, torch.tensor(losses)))
    assert losses[-1] < 0.8 * losses[0]


def test_checkpoints_and_log(tmp_path):
    last = train(shuffled_pairs(64), tmp_path, config(epochs=2, save_every=3), device="cpu")
    folder = tmp_path / "checkpoints"
    assert last == folder / "epoch_2.pt"
    assert sorted(p.name for p in folder.iterdir()) == [
        "epoch_1.pt",
        "epoch_2.pt",
        "step_3.pt",
        "step_6.pt",
    ]
    saved = torch.load(last, weights_only=True)
    assert set(saved) == {
        "format", "model_name", "model_config", "config", "epoch", "epoch_step", "step",
        "total_steps", "model", "optimizer", "scheduler", "scaler", "loader", "rng",
    }  # fmt: skip
    assert (saved["epoch"], saved["epoch_step"], saved["step"], saved["total_steps"]) == (
        2,
        0,
        8,
        8,
    )
    assert saved["model_name"] == TINY and saved["config"]["batch_size"] == 16
    lines = log_lines(tmp_path)
    assert [line["step"] for line in lines] == list(range(1, 9))
    assert set(lines[0]) == {"step", "epoch", "loss", "lr", "samples_per_s"}


def test_a_failed_checkpoint_write_leaves_no_file(tmp_path, monkeypatch):
    def half_write(obj, f):
        f.write(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", half_write)
    with pytest.raises(Exception, match="epoch_1.pt"):
        train(shuffled_pairs(32), tmp_path, config(), device="cpu")
    assert list((tmp_path / "checkpoints").iterdir()) == []


@pytest.mark.parametrize("resume_from", ["epoch_1.pt", "step_6.pt"])
def test_resume_repeats_the_uninterrupted_run(tmp_path, resume_from):
    data = shuffled_pairs(64)
    whole = train(data, tmp_path / "whole", config(epochs=2, save_every=3), device="cpu")
    resumed = train(
        data,
        tmp_path / "resumed",
        config(epochs=2),
        resume=tmp_path / "whole" / "checkpoints" / resume_from,
        device="cpu",
    )
    a, b = torch.load(whole, weights_only=True), torch.load(resumed, weights_only=True)
    assert a["step"] == b["step"] == 8
    for name, tensor in a["model"].items():
        assert torch.equal(tensor, b["model"][name]), name
    for index, state in a["optimizer"]["state"].items():
        assert torch.equal(state["exp_avg"], b["optimizer"]["state"][index]["exp_avg"])


def test_resume_refuses_a_different_plan(tmp_path):
    last = train(shuffled_pairs(32), tmp_path / "a", config(), device="cpu")
    with pytest.raises(InputError, match="planned 2 steps, this one 4"):
        train(shuffled_pairs(32), tmp_path / "b", config(epochs=2), resume=last, device="cpu")


def write_shards(folder: Path, count: int, shards: int) -> tuple[str, "np.ndarray"]:
    """img2dataset-like WebDataset shards of colour images, each text matching its colour's
    metadata entry; (the shard pattern, the entry counts)."""
    folder.mkdir()
    entries = []
    for s in range(shards):
        with wds.TarWriter(str(folder / f"{s:05d}.tar")) as tar:
            for i, (img, text) in enumerate(imagegen.pairs(CONCEPTS, count // shards, seed=s)):
                png = io.BytesIO()
                img.save(png, format="PNG")
                entry = CONCEPTS.index(next(c for c in CONCEPTS if c in text))
                meta = {
                    "url": f"https://x.org/{s}/{i}.png",
                    "texts": [text],
                    "entry_ids": [[entry]],
                }
                tar.write({"__key__": f"{s}{i:06d}", "png": png.getvalue(), "json": meta})
                entries.append(entry)
    return str(folder / f"{{00000..{shards - 1:05d}}}.tar"), np.bincount(entries).astype(np.uint64)


def test_the_balanced_loader_plugs_in_and_resumes_mid_epoch(tmp_path):
    pattern, counts = write_shards(tmp_path / "shards", 96, shards=2)

    def dataset():  # t above every count: each pair is kept, so an epoch is all 96
        return loader.BalancedDataset(pattern, counts, t=1_000, seed=3)

    settings = config(epochs=2, save_every=4)
    whole = train(dataset(), tmp_path / "whole", settings, device="cpu")
    saved = torch.load(whole, weights_only=True)
    assert saved["step"] == 12 and saved["loader"]["epoch"] == 1
    mid_epoch = tmp_path / "whole" / "checkpoints" / "step_8.pt"  # 2 of epoch 1's 6 steps done
    assert torch.load(mid_epoch, weights_only=True)["loader"]["done"]
    resumed = train(dataset(), tmp_path / "resumed", settings, resume=mid_epoch, device="cpu")
    a, b = saved["model"], torch.load(resumed, weights_only=True)["model"]
    assert all(torch.equal(a[name], b[name]) for name in a)


class _Overestimated(loader.BalancedDataset):
    """An epoch whose draws give fewer samples than its expected size (as half of all epochs
    do, by a little)."""

    def expected_epoch_size(self) -> float:
        return 150.0


def test_an_epoch_short_of_its_expected_size_goes_round_again_and_resumes(tmp_path):
    pattern, counts = write_shards(tmp_path / "shards", 96, shards=2)  # 6 batches of 16

    def dataset():
        return _Overestimated(pattern, counts, t=1_000, seed=3)

    settings = config(epochs=2, save_every=8, warmup=1)
    whole = train(dataset(), tmp_path / "whole", settings, device="cpu")
    lines = log_lines(tmp_path / "whole")
    assert [line["step"] for line in lines] == list(range(1, 19))  # 150 // 16 = 9 steps an epoch
    saved = torch.load(whole, weights_only=True)
    assert saved["step"] == 18 and saved["scheduler"]["last_epoch"] == 18  # the schedule's end
    # Step 8 is the second round of epoch 0 (its steps 7 to 9): resuming there repeats the run.
    resumed = train(
        dataset(), tmp_path / "resumed", settings, resume=tmp_path / "whole/checkpoints/step_8.pt"
    )
    a, b = saved["model"], torch.load(resumed, weights_only=True)["model"]
    assert all(torch.equal(a[name], b[name]) for name in a)


def test_bad_training_input(tmp_path):
    with pytest.raises(InputError, match="less than one batch"):
        train(shuffled_pairs(8), tmp_path, config(), device="cpu")
    with pytest.raises(InputError, match="needs a GPU"):
        train(shuffled_pairs(32), tmp_path, config(precision="amp"), device="cpu")
    with pytest.raises(TypeError, match="cannot train on a list"):
        train([1, 2], tmp_path, config(), device="cpu")
    with pytest.raises(InputError, match="no such checkpoint"):
        train(shuffled_pairs(32), tmp_path, config(), resume=tmp_path / "nope.pt", device="cpu")
    (tmp_path / "log.jsonl").mkdir()  # stands for any log that cannot be written: a full disk
    with pytest.raises(OutputError, match="log.jsonl: cannot write"):
        train(shuffled_pairs(32), tmp_path, config(), device="cpu")


def test_two_processes_under_torchrun_through_the_command(tmp_path):
    """The README's ``torchrun -m metacurate train``: DDP on gloo over the balanced loader;
    ClipLoss gathers both ranks' features, the checkpoint merges both ranks' loader progress,
    rank 0 alone writes and prints the summary."""
    pattern, counts = write_shards(tmp_path / "shards", 64, shards=2)
    np.save(tmp_path / "entry_counts.npy", counts)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2"]
    command += ["--master_addr=127.0.0.1", f"--master_port={port}", "-m", "metacurate", "train"]
    command += ["--data", pattern, "--counts", str(tmp_path), "--t", "1000", "--model", TINY]
    command += ["--batch-size", "8", "--save-every", "2", "--out", str(tmp_path / "out")]
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    saved = torch.load(tmp_path / "out" / "checkpoints" / "step_2.pt", weights_only=True)
    assert saved["step"] == 2 and len(saved["rng"]) == 2
    assert len(saved["loader"]["done"]) == 2  # both ranks' shards
    ended = torch.load(tmp_path / "out" / "checkpoints" / "epoch_1.pt", weights_only=True)
    assert ended["step"] == 4  # 64 samples, a global batch of 16
    assert (done.stdout + done.stderr).count("checkpoint") == 1


# --- zero-shot -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def colour_folder(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("colours")
    return imagegen.write_image_folder(root, CONCEPTS, per_class=6, seed=99)


def test_zero_shot_scores_are_fractions(colour_folder):
    torch.manual_seed(0)
    scores = evaluate(create_clip(TINY), colour_folder)
    assert 0 <= scores["top1"] <= scores["top5"] <= 1
    assert (scores["images"], scores["classes"], scores["templates"]) == (48, 8, 80)
    assert [c["folder"] for c in scores["per_class"]] == sorted(CONCEPTS)
    assert all(c["images"] == 6 and 0 <= c["top1"] <= 1 for c in scores["per_class"])


def test_training_beats_chance_zero_shot(colour_folder, tmp_path):
    torch.manual_seed(0)
    before = evaluate(create_clip(TINY), colour_folder, templates="simple")
    last = train(shuffled_pairs(640, seed=1), tmp_path, config(batch_size=32, epochs=3, warmup=5))
    after = evaluate(last, colour_folder, templates=["a photo of a {c}.", "{}"])
    chance = 1 / len(CONCEPTS)
    assert after["top1"] > max(3 * chance, before["top1"] + 0.2)
    assert after["top5"] >= after["top1"]


def test_class_names_from_classnames_txt(colour_folder, tmp_path):
    folder = tmp_path / "named"
    imagegen.write_image_folder(folder, ["red", "blue"], per_class=2)
    (folder / "red").rename(folder / "dark_red")
    (folder / "blue").rename(folder / "sky_blue")
    assert [c["class"] for c in evaluate(create_clip(TINY), folder)["per_class"]] == [
        "dark red",
        "sky blue",
    ]
    (folder / "classnames.txt").write_text("crimson\nazure\n")
    scores = evaluate(create_clip(TINY), folder, templates="simple")
    assert [c["class"] for c in scores["per_class"]] == ["crimson", "azure"]
    assert scores["top5"] == 1.0  # two classes: the top 5 holds every class


def test_bad_zero_shot_input(tmp_path, colour_folder):
    clip = create_clip(TINY)
    with pytest.raises(InputError, match="no such folder"):
        evaluate(clip, tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="not an image folder"):
        evaluate(clip, tmp_path / "empty")
    (tmp_path / "hollow" / "cat").mkdir(parents=True)
    with pytest.raises(InputError, match="not an image folder"):
        evaluate(clip, tmp_path / "hollow")
    with pytest.raises(InputError, match="unknown templates 'fancy'"):
        evaluate(clip, colour_folder, templates="fancy")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="not a readable checkpoint"):
        evaluate(tmp_path / "junk.pt", colour_folder)
    named = tmp_path / "named"
    imagegen.write_image_folder(named, ["red", "blue"], per_class=1)
    (named / "classnames.txt").write_text("one\n")
    with pytest.raises(InputError, match="1 class names for 2 class folders"):
        evaluate(clip, named)
    (named / "classnames.txt").unlink()
    (named / "red" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(InputError, match=r"red/broken.png: not a readable image"):
        evaluate(clip, named)


def test_torch_stays_inside_the_training_package():
    code = "import sys, metacurate, metacurate.training; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
    # Every command starts by importing the CLI: torch and webdataset (1.6 s) only when used.
    code = "import sys, metacurate.cli; assert not {'torch', 'webdataset'} & set(sys.modules)"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_checkpoint_loads_where_its_model_is_not_registered(tmp_path, monkeypatch):
    config_file = tmp_path / "my-clip.json"
    config_file.write_text(
        (Path(checkpoint.__file__).parent / "configs" / f"{TINY}.json").read_text()
    )
    last = train(shuffled_pairs(16), tmp_path / "out", config(model=str(config_file)), device="cpu")
    # As in a fresh process that never saw my-clip.json.
    monkeypatch.delitem(open_clip.factory._MODEL_CONFIGS, "my-clip")
    assert checkpoint.load_clip(last).name == "my-clip"
