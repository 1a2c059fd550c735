"""The SAM 3 family's input rule: SAM 2.1's (the image squashed to S x S = 1008 x 1008, aspect not
kept, antialiased bilinear on 0-1 floats; masks resized straight back to the original size), with
SAM 3's normalisation (x / 255 - 0.5) / 0.5, i.e. (x - 127.5) / 127.5 on the 0-255 scale."""

from ..sam2.processing import SquareProcessing


class Sam3Processing(SquareProcessing):
    pixel_mean = (127.5, 127.5, 127.5)
    pixel_std = (127.5, 127.5, 127.5)
    family_label = "SAM 3"
