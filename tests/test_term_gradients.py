"""train.term_gradients: each of G's loss terms' gradient on G, measured at a checkpoint that holds D."""

from __future__ import annotations

import torch

from biglearn import objectives
from biglearn.config import BigLearnConfig
from train import term_gradients
from train.loop import INFERENCE_FILE, RESUME_FILE

from .test_recipe import DIGITS, train


def test_each_terms_gradient_is_its_own_and_d_gets_none(generator, discriminator, tiny_config):
    config = BigLearnConfig(model=tiny_config)
    images = torch.rand(6, 1, tiny_config.height, tiny_config.width) * 2 - 1
    labels = torch.tensor([0, 1, 2, 0, 1, -1])
    torch.manual_seed(3)
    got = term_gradients.term_gradients(generator, discriminator, images, labels, config)
    assert set(got) == {"g_total", "g_div", "label_ce"}
    size = sum(p.numel() for p in generator.parameters())
    assert all(g.shape == (size,) and torch.isfinite(g).all() for _, g in got.values())
    assert all(p.grad is None for p in discriminator.parameters()) and all(
        p.requires_grad for p in discriminator.parameters())
    # the mode-seeking gradient by hand, from the same draws
    torch.manual_seed(3)
    from biglearn.masks import sample_tasks
    tasks = sample_tasks(6, tiny_config.num_patches, config.masks, has_label=labels >= 0)
    fakes = objectives.draw_fakes(generator, images, tasks, labels, config.loss)
    objectives.generator_losses(discriminator, fakes, tasks, labels, config.loss)
    div = objectives.mode_seeking(generator, images, fakes, tasks, labels, config.loss)
    div.backward()  # into .grad: another route than the module's autograd.grad
    want = torch.cat([(torch.zeros_like(p) if p.grad is None else p.grad).flatten() for p in generator.parameters()])
    assert got["g_div"][0] == div.item()
    assert torch.allclose(got["g_div"][1], want, atol=1e-6) and want.norm() > 0


def test_the_summary_is_the_median_ratio_and_cosine():
    adv, term = torch.tensor([3.0, 4.0]), torch.tensor([0.0, 1.0])  # lengths 5 and 1, cosine 0.8
    batches = [{"g_total": (2.0, adv * k), "g_div": (0.1 * k, term)} for k in (1.0, 2.0, 3.0)]
    rows = {r["term"]: r for r in term_gradients.summarise(batches)}
    assert set(rows) == {"g_total", "g_div"}  # no label term measured, no row
    assert rows["g_div"]["adv_over_term"] == 10.0 and rows["g_div"]["grad_norm"] == 1.0
    assert abs(rows["g_div"]["cos_adv"] - 0.8) < 1e-6 and abs(rows["g_div"]["value"] - 0.2) < 1e-6
    assert rows["g_total"]["adv_over_term"] == 1.0


def test_the_command_reads_a_resume_file_and_refuses_one_without_d(tmp_path, capsys):
    assert train(tmp_path / "run", "--steps", "2") == 0
    capsys.readouterr()
    assert term_gradients.main([str(tmp_path / "run" / RESUME_FILE), "--data", str(DIGITS), "--batches", "2",
                    "--batch-size", "4"]) == 0
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.startswith("| g_")]
    assert [line.split("|")[1].strip() for line in lines] == ["g_total", "g_div"]
    assert "| label_ce |" in out and "2 batches of 4" in out
    assert term_gradients.main([str(tmp_path / "run" / INFERENCE_FILE), "--data", str(DIGITS)]) == 2
    assert "expected a biglearn-resume file" in capsys.readouterr().err
    assert term_gradients.main([str(tmp_path / "run" / RESUME_FILE), "--data", str(DIGITS), "--batch-size", "1"]) == 2
    err = capsys.readouterr().err
    assert "error:" in err and "--batch-size" in err and "Traceback" not in err
