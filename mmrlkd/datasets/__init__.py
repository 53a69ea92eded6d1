from .digit_pairs import DigitPairs, make_digit_pairs

__all__ = ['DigitPairs', 'make_digit_pairs']
