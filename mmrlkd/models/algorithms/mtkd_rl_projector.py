"""Projects the student's feature map onto one teacher's (MTKD-RL)."""
import torch.nn as nn
import torch.nn.functional as F


def resize_to(feature, size):
    """Average-pool a larger map, bilinearly upsample a smaller one.

    Height and width are handled together, as in the official ``TransFeat``:
    a map larger than ``size`` in height is pooled, otherwise interpolated.
    """
    if tuple(feature.shape[-2:]) == tuple(size):
        return feature
    if feature.shape[-2] > size[0]:
        return F.adaptive_avg_pool2d(feature, size)
    return F.interpolate(
        feature, size=size, mode='bilinear', align_corners=False)


class FeatureProjector(nn.Module):
    """Resize to the teacher's H x W, then Conv1x1 (bias) + BN + ReLU.

    Trained by the student's optimizer. Every teacher's projection starts
    from the student's own map (the official loop resized the already
    resized map for the next teacher, which only matters when the teachers'
    sizes differ).

    Args:
        student_channels (int): Channels of the student's map.
        teacher_channels (int): Channels of the teacher's map.
    """

    def __init__(self, student_channels, teacher_channels):
        super().__init__()
        self.conv = nn.Conv2d(student_channels, teacher_channels, 1)
        self.bn = nn.BatchNorm2d(teacher_channels)

    def forward(self, feature, size):
        """Project an (N, C_s, H, W) map to (N, C_t, *size)."""
        return F.relu(self.bn(self.conv(resize_to(feature, size))))
