"""Parts shared by the wavelayers image and video codecs.

- :mod:`.container`: the ``WLIC`` file format (header, streams, CRC32) and atomic file writes.
- :mod:`.imageio`: loading images as RGB tensors (with the conversion rules) and saving PNGs.
- :mod:`.metrics`: RGB 8-bit PSNR, MS-SSIM and bits per pixel.
- :mod:`.bdrate`: Bjontegaard BD-rate / BD-PSNR (piecewise cubic or cubic polynomial).
- :mod:`.classic`: JPEG, WebP, JPEG 2000 and AVIF through Pillow at matched rates.
- :mod:`.results`: CompressAI-format results JSON, published anchor curves and R-D plots.
- :mod:`.datasets`: image folders and the photos bundled with scikit-image.
- :mod:`.entropy_models`: the slice-wise entropy models (3DWeChARM, WeChARM, ChWP).

Submodules are imported on demand (``from .compression import metrics`` inside the package), so loading
one does not pull in CompressAI, matplotlib or scikit-image.
"""
