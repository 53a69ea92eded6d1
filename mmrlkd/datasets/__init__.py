from .digit_pairs import DigitPairs, make_digit_pairs
from .efficient_exploration_dataset import (EfficientExplorationDataset,
                                            mix_images)

__all__ = [
    'DigitPairs', 'make_digit_pairs', 'EfficientExplorationDataset',
    'mix_images'
]
