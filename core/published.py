"""Published numbers shown beside a comparison as clearly labelled reference rows, never as our results.

Source: Lu et al., "BiLT", AAAI 2025, Tables 1, 2, 4, 5 (mean over 5 seeds; top-1 accuracy in %,
mistake severity and HD@k as LCA heights, lower is better), as collected in the reference material
(METHOD.md §11). The HAFrame paper's own tables could not be reached, so none of its numbers appear.
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PublishedRow", "PUBLISHED", "SOURCE"]

SOURCE = "BiLT (Lu et al., AAAI 2025), published"


@dataclass(frozen=True)
class PublishedRow:
    dataset: str
    levels: int
    num_classes: int
    method: str
    top1: float
    mistake_severity: float
    hdist_1: float
    hdist_5: float
    hdist_20: float

    def metrics(self) -> dict[str, float]:
        """The row under the metrics schema's keys."""
        return {"top1": self.top1, "mistake_severity": self.mistake_severity, "hdist@1": self.hdist_1,
                "hdist@5": self.hdist_5, "hdist@20": self.hdist_20}


PUBLISHED = (
    PublishedRow("FGVC-Aircraft", 3, 100, "cross-entropy", 79.35, 2.12, 0.44, 2.10, 2.67),
    PublishedRow("FGVC-Aircraft", 3, 100, "HAFrame", 80.52, 2.01, 0.39, 1.75, 2.45),
    PublishedRow("CIFAR-100", 5, 100, "cross-entropy", 77.85, 2.35, 0.52, 2.25, 3.18),
    PublishedRow("CIFAR-100", 5, 100, "HAFrame", 77.71, 2.21, 0.49, 1.11, 2.18),
    PublishedRow("iNat19", 7, 1010, "cross-entropy", 70.66, 2.29, 0.67, 1.98, 3.41),
    PublishedRow("iNat19", 7, 1010, "HAFrame", 70.89, 2.06, 0.60, 1.14, 1.74),
    PublishedRow("tieredImageNet-H", 12, 608, "cross-entropy", 73.63, 6.95, 1.83, 5.69, 7.34),
    PublishedRow("tieredImageNet-H", 12, 608, "CRM", 73.54, 6.89, 1.82, 4.82, 6.03),
    PublishedRow("tieredImageNet-H", 12, 608, "HAFrame", 74.00, 6.89, 1.79, 4.94, 6.15),
)
