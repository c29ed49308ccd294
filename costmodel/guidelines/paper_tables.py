"""ShuffleNet V2's guideline experiments, Tables 1–4 (Ma et al., ECCV 2018, arXiv:1807.11164).

Speeds as the paper reports them: GPU (GeForce GTX 1080Ti) in batches per second, ARM (Snapdragon 810)
in images per second (Tables 3 and 4 label that column "CPU"). Each row gives the speeds of the
×1, ×2 and ×4 width versions of the benchmark network. Transcribed by hand from the paper's tables;
every input is 56×56 and every block is stacked 10 times.
"""

from __future__ import annotations

from typing import Any

SOURCE = "Ma, Zhang, Zheng, Sun. ShuffleNet V2, ECCV 2018 (arXiv:1807.11164), Tables 1-4"

# Table 1 (G1): ratio c1:c2 → ((c1, c2) GPU, GPU ×1/×2/×4, (c1, c2) ARM, ARM ×1/×2/×4)
TABLE1: dict[str, dict[str, Any]] = {
    "1:1": {"gpu_channels": (128, 128), "gpu": (1480, 723, 232), "arm_channels": (32, 32), "arm": (76.2, 21.7, 5.3)},
    "1:2": {"gpu_channels": (90, 180), "gpu": (1296, 586, 206), "arm_channels": (22, 44), "arm": (72.9, 20.5, 5.1)},
    "1:6": {"gpu_channels": (52, 312), "gpu": (876, 489, 189), "arm_channels": (13, 78), "arm": (69.1, 17.9, 4.6)},
    "1:12": {"gpu_channels": (36, 432), "gpu": (748, 392, 163), "arm_channels": (9, 108), "arm": (57.6, 15.1, 4.4)},
}

# Table 2 (G2): groups g → (c GPU, GPU ×1/×2/×4, c ARM, ARM ×1/×2/×4)
TABLE2: dict[int, dict[str, Any]] = {
    1: {"gpu_channels": 128, "gpu": (2451, 1289, 437), "arm_channels": 64, "arm": (40.0, 10.2, 2.3)},
    2: {"gpu_channels": 180, "gpu": (1725, 873, 341), "arm_channels": 90, "arm": (35.0, 9.5, 2.2)},
    4: {"gpu_channels": 256, "gpu": (1026, 644, 338), "arm_channels": 128, "arm": (32.9, 8.7, 2.1)},
    8: {"gpu_channels": 360, "gpu": (634, 445, 230), "arm_channels": 180, "arm": (27.8, 7.5, 1.8)},
}

# Table 3 (G3): structure → GPU at c = 128/256/512, ARM ("CPU") at c = 64/128/256
TABLE3_GPU_CHANNELS = (128, 256, 512)
TABLE3_ARM_CHANNELS = (64, 128, 256)
TABLE3: dict[str, dict[str, Any]] = {
    "1-fragment": {"gpu": (2446, 1274, 434), "arm": (40.2, 10.1, 2.3)},
    "2-fragment-series": {"gpu": (1790, 909, 336), "arm": (38.6, 10.1, 2.2)},
    "4-fragment-series": {"gpu": (752, 745, 349), "arm": (38.4, 10.1, 2.3)},
    "2-fragment-parallel": {"gpu": (1537, 803, 320), "arm": (33.4, 9.1, 2.2)},
    "4-fragment-parallel": {"gpu": (691, 572, 292), "arm": (35.0, 8.4, 2.1)},
}

# Table 4 (G4): (ReLU, shortcut) → GPU and ARM ("CPU") at c = 32/64/128
TABLE4_CHANNELS = (32, 64, 128)
TABLE4: dict[tuple[bool, bool], dict[str, Any]] = {
    (True, True): {"gpu": (2427, 2066, 1436), "arm": (56.7, 16.9, 5.0)},
    (True, False): {"gpu": (2647, 2256, 1735), "arm": (61.9, 18.8, 5.2)},
    (False, True): {"gpu": (2672, 2121, 1458), "arm": (57.3, 18.2, 5.1)},
    (False, False): {"gpu": (2842, 2376, 1782), "arm": (66.3, 20.2, 5.4)},
}
