"""One switch for where a run computes: `device=auto|cpu|cuda` moves the model, generation and the
SAE's Lightning training together; without a GPU, asking for CUDA is one line before any work.
Checked without a GPU: the accelerator each setting gives the SAE trainer, as composed."""

import subprocess
import sys

import pytest
import torch
from hydra.utils import instantiate

from causalgear.preflight import compose

NO_GPU = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal where no CUDA device is visible")


@pytest.mark.parametrize(("device", "accelerator"), [("cpu", "cpu"), ("cuda", "gpu"),
                                                     ("auto", "gpu" if torch.cuda.is_available() else "cpu")])
def test_the_root_device_gives_the_sae_trainer_its_accelerator_and_the_model_its_device(device, accelerator):
    cfg = compose([f"device={device}"])
    assert cfg.trainer.accelerator == accelerator and cfg.model.device == device


def test_a_part_named_alone_keeps_its_own_setting():
    cfg = compose(["device=cuda", "model.device=cpu", "trainer=cpu"])
    assert cfg.model.device == "cpu" and cfg.trainer.accelerator == "cpu"


@NO_GPU
def test_device_auto_trains_on_the_cpu_here():
    from lightning.pytorch.accelerators import CPUAccelerator

    trainer = instantiate(compose([]).trainer, logger=False, enable_checkpointing=False)
    assert isinstance(trainer.accelerator, CPUAccelerator)


@NO_GPU
@pytest.mark.parametrize(("override", "named"), [("device=cuda", "device='cuda'"),
                                                 ("model.device=cuda", "model.device='cuda'"),
                                                 ("trainer=gpu", "trainer.accelerator='gpu'")])
def test_cuda_without_a_gpu_is_refused_in_one_line(tmp_path, override, named):
    proc = subprocess.run([sys.executable, "-m", "causalgear", "harvest", override], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert named in lines[0] and "no CUDA device is visible here" in lines[0]
