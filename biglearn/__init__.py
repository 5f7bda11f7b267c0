"""biglearn: the BigLearn-GAN, one universal model for every joint, conditional and marginal of image patches.

    m = biglearn.load("assets/mnist-cpu.safetensors")
    samples = m.complete(images, source, seeds=[0, 1, 2])   # (B, 3, C, H, W) in [0, 1]

See `biglearn.load` for the inference API, DESIGN.md for the model and objectives.
"""

from . import masks, objectives, patches
from .checkpoint import CheckpointError
from .config import BigLearnConfig, LossConfig, MaskConfig, ModelConfig
from .discriminator import UniversalDiscriminator
from .generator import UniversalGenerator
from .inference import BigLearnModel, load, save
from .presets import PRESETS, get_preset

__all__ = [
    "BigLearnConfig", "BigLearnModel", "CheckpointError", "LossConfig", "MaskConfig", "ModelConfig", "PRESETS",
    "UniversalDiscriminator", "UniversalGenerator", "get_preset", "load", "masks", "objectives", "patches", "save",
]
